"""A CRD's status: which names it may use, whether it is served, what was stored.

The API server computes it on every write of the CRD, in one step, what
upstream's naming and establishing controllers do in two: names another
CRD of the group (or a built-in type) already uses are refused with
`NamesAccepted=False` and upstream's reasons; otherwise the CRD is
`Established` and its types are served under `acceptedNames`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubelite.api.crd.types import storage_version
from kubelite.api.registry import ResourceType

Obj = dict[str, Any]


class _Names:
    """The resource and kind names already taken in a group."""

    def __init__(self) -> None:
        self.resources: set[str] = set()
        self.kinds: set[str] = set()

    def add_crd(self, crd: Obj) -> None:
        accepted = (crd.get("status") or {}).get("acceptedNames") or {}
        for key in ("plural", "singular"):
            if accepted.get(key):
                self.resources.add(accepted[key])
        self.resources.update(accepted.get("shortNames") or [])
        for key in ("kind", "listKind"):
            if accepted.get(key):
                self.kinds.add(accepted[key])

    def add_type(self, rt: ResourceType) -> None:
        self.resources.update((rt.plural, rt.singular, *rt.short_names))
        self.kinds.update((rt.kind, rt.list_kind))


def _taken(
    group: str, name: str, others: Iterable[Obj], builtins: Iterable[ResourceType]
) -> _Names:
    taken = _Names()
    for other in others:
        spec = other.get("spec") or {}
        if spec.get("group") == group and other["metadata"]["name"] != name:
            taken.add_crd(other)
    for rt in builtins:
        if rt.group == group:
            taken.add_type(rt)
    return taken


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _fresh(requested: str, accepted: str, taken: set[str]) -> bool:
    return not requested or requested == accepted or requested not in taken


def accepted_names(crd: Obj, taken: _Names) -> tuple[Obj, Obj]:
    """(acceptedNames, NamesAccepted condition without time) as the naming controller decides.

    Names are checked in upstream's order (plural, singular, short names, kind,
    list kind); like upstream, the last conflict found names the reason.
    """
    requested = (crd.get("spec") or {}).get("names") or {}
    old = dict((crd.get("status") or {}).get("acceptedNames") or {})
    new = dict(old)
    problem: tuple[str, str] | None = None
    for key, reason, pool in (
        ("plural", "PluralConflict", taken.resources),
        ("singular", "SingularConflict", taken.resources),
    ):
        if _fresh(requested.get(key, ""), old.get(key, ""), pool):
            if requested.get(key):
                new[key] = requested[key]
        else:
            problem = (reason, f'"{requested[key]}" is already in use')
    shorts = requested.get("shortNames") or []
    clash = [s for s in shorts if s not in (old.get("shortNames") or []) and s in taken.resources]
    if clash:
        problem = ("ShortNamesConflict", f'"{clash[0]}" is already in use')
    elif shorts:
        new["shortNames"] = list(shorts)
    else:
        new.pop("shortNames", None)
    for key, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        if _fresh(requested.get(key, ""), old.get(key, ""), taken.kinds):
            if requested.get(key):
                new[key] = requested[key]
        else:
            problem = (reason, f'"{requested[key]}" is already in use')
    if requested.get("categories"):
        new["categories"] = list(requested["categories"])
    else:
        new.pop("categories", None)
    new.setdefault("plural", "")
    new.setdefault("kind", "")
    if problem is None:
        return new, {"status": "True", "reason": "NoConflicts", "message": "no conflicts found"}
    return new, {"status": "False", "reason": problem[0], "message": problem[1]}


def compute_status(
    crd: Obj, *, others: Iterable[Obj], builtins: Iterable[ResourceType], now: str
) -> Obj:
    """The status to store with `crd` (which carries its previous status, if any)."""
    name = str(crd["metadata"]["name"])
    group = str((crd.get("spec") or {}).get("group") or "")
    old = crd.get("status") or {}
    names, accepted = accepted_names(crd, _taken(group, name, others, builtins))
    conditions = [
        _condition(
            "NamesAccepted", accepted["status"], accepted["reason"], accepted["message"], now
        )
    ]
    if accepted["status"] == "True" or _was_established(old):
        conditions.append(
            _condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                now,
            )
        )
    else:
        conditions.append(
            _condition("Established", "False", "NotAccepted", "not all names are accepted", now)
        )
    if (crd.get("metadata") or {}).get("deletionTimestamp"):
        conditions.append(
            _condition(
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
                now,
            )
        )
    stored = list(old.get("storedVersions") or [])
    version = storage_version(crd)
    if version and version not in stored:
        stored.append(version)
    return {
        "conditions": [_keep_time(c, old) for c in conditions],
        "acceptedNames": names,
        "storedVersions": stored,
    }


def _was_established(status: Obj) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _keep_time(cond: Obj, old_status: Obj) -> Obj:
    for old in old_status.get("conditions") or []:
        if old.get("type") == cond["type"] and old.get("status") == cond["status"]:
            return {
                **cond,
                "lastTransitionTime": old.get("lastTransitionTime", cond["lastTransitionTime"]),
            }
    return cond
