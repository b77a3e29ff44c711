"""Small helpers over wire objects that every controller needs.

Objects are plain dicts in Kubernetes JSON shape. Caches hand out shared
dicts, so a controller `copy()`s before it changes anything; the helpers
here only read.
"""

# No `from __future__ import annotations`: the name belongs to annotations() below.
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from kubelite.api.selectors import LabelSelector, SelectorError, nothing, selector_from_dict
from kubelite.apiserver import errors
from kubelite.apiserver.meta import now_rfc3339, parse_rfc3339

Obj = dict[str, Any]


def copy(obj: Obj) -> Obj:
    out: Obj = orjson.loads(orjson.dumps(obj))
    return out


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def key_of(obj: Mapping[str, Any]) -> str:
    """`namespace/name` (or `name` for cluster-scoped objects), as client-go's key func."""
    md = meta(obj)
    ns = md.get("namespace")
    return f"{ns}/{md['name']}" if ns else str(md["name"])


def split_key(key: str) -> tuple[str | None, str]:
    ns, _, name = key.rpartition("/")
    return (ns or None), name


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


def deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def selector_of(obj: Mapping[str, Any]) -> LabelSelector:
    """The object's `spec.selector`; a broken selector matches nothing."""
    try:
        return selector_from_dict((obj.get("spec") or {}).get("selector"))
    except SelectorError:
        return nothing()


def created_at(obj: Mapping[str, Any]) -> float:
    ts = meta(obj).get("creationTimestamp")
    return parse_rfc3339(ts) if ts else 0.0


def timestamp(now: float) -> str:
    return now_rfc3339(now)


def parse_time(value: str | None) -> float | None:
    return parse_rfc3339(value) if value else None


# ---- owner references ----------------------------------------------------------


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


class OwnerCache(Protocol):
    """What owner lookups need of an informer."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]: ...


def owner_key(obj: Mapping[str, Any], kind: str, owners: OwnerCache) -> str | None:
    """The key of `obj`'s controller of `kind`, when `owners` holds that very object
    (the uid matches): upstream's resolveControllerRef."""
    ref = controller_ref(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    key = f"{meta(obj).get('namespace')}/{ref.get('name')}"
    owner = owners.get(key)
    if owner is None or meta(owner).get("uid") != ref.get("uid"):
        return None
    return key


def matching_owners(
    obj: Mapping[str, Any],
    owners: OwnerCache,
    *,
    selector: Callable[[dict[str, Any]], LabelSelector] = selector_of,
) -> list[str]:
    """Keys of the owners in `obj`'s namespace whose selector matches it: those that
    may adopt an orphan. `selector` reads an owner's selector (a map, for a
    ReplicationController)."""
    return [
        key_of(o)
        for o in owners.list(meta(obj).get("namespace"))
        if selector(o).matches(labels(obj))
    ]


def owner_ref_for(owner: Mapping[str, Any], *, controller: bool = True) -> dict[str, Any]:
    """The ownerReference a controller puts on what it creates or adopts."""
    md = meta(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def owner_uids(obj: Mapping[str, Any]) -> list[str]:
    return [r["uid"] for r in meta(obj).get("ownerReferences") or [] if r.get("uid")]


# ---- pods -------------------------------------------------------------------------


def pod_condition(pod: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def pod_ready(pod: Mapping[str, Any]) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds, as `podutil.IsPodAvailable`."""
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= now


def pod_active(pod: Mapping[str, Any]) -> bool:
    """Not terminated and not being deleted (`controller.IsPodActive`)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not deleting(pod)


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


# ---- conditions on workload status ------------------------------------------------


def get_condition(status: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return cond  # type: ignore[no-any-return]
    return None


def remove_condition(status: dict[str, Any], kind: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def namespace_terminating(exc: errors.ApiError) -> bool:
    """The refusal to create in a namespace that is being deleted (NamespaceLifecycle)."""
    return isinstance(exc, errors.Forbidden) and "being terminated" in exc.message


async def create_if_absent(client: Any, obj: Obj) -> bool:
    """Create `obj`; False when it exists already (a stale cache) or its namespace
    is gone or going away: none of those is an error for a controller."""
    try:
        await client.create(obj)
    except (errors.AlreadyExists, errors.NotFound):
        return False
    except errors.Forbidden as exc:
        if not namespace_terminating(exc):
            raise
        return False
    return True
