"""A workload's history: one ControllerRevision per distinct pod template.

Shared by the StatefulSet and DaemonSet controllers, as upstream's
pkg/controller/history. A revision holds the patch that turns the owner back
into that template (`{"spec": {"template": {..., "$patch": "replace"}}}`), so
`kubectl rollout undo statefulset/NAME` (or `daemonset/NAME`) can apply it as
a strategic merge patch. It is named `OWNER-HASH` (FNV-32 of the patch bytes,
plus the collision count), labelled with the template's labels and
`controller-revision-hash: HASH`, controlled by the owner, carries the owner's
annotations, and has a revision number that grows with every new template;
going back to an old template renumbers its revision rather than making a copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from kubelite.api.patch import strategic_merge_patch
from kubelite.controllers.deployment.util import safe_encode
from kubelite.controllers.objects import Obj, copy, created_at, labels, meta, owner_ref_for

HASH_LABEL = "controller-revision-hash"
_MAX_PREFIX = 223  # leaves room for "-" and the hash within 253 characters


def fnv32(data: bytes) -> int:
    """FNV-1 (multiply, then xor), 32 bits, as Go's `fnv.New32`."""
    h = 0x811C9DC5
    for byte in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def patch_of(owner: Obj) -> dict[str, Any]:
    """The patch that restores this owner's pod template exactly."""
    template = copy(owner["spec"]["template"])
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def raw(data: Any) -> bytes:
    """The bytes a revision's data hashes and compares as (keys sorted, as Go marshals maps)."""
    out: bytes = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return out


def hash_of(data: Any, collision_count: int | None) -> str:
    content = raw(data)
    if collision_count is not None:
        content += str(collision_count).encode()
    return safe_encode(str(fnv32(content)))


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def new_revision(owner: Obj, number: int, collision_count: int) -> Obj:
    """The revision the owner's current template would be stored as."""
    data = patch_of(owner)
    hash_ = hash_of(data, collision_count)
    md: dict[str, Any] = {
        "name": revision_name(meta(owner)["name"], hash_),
        "namespace": meta(owner)["namespace"],
        "labels": {**labels(owner["spec"]["template"]), HASH_LABEL: hash_},
        "ownerReferences": [owner_ref_for(owner)],
    }
    if meta(owner).get("annotations"):
        md["annotations"] = dict(meta(owner)["annotations"])
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": md,
        "data": data,
        "revision": number,
    }


def rename_for(revision: Obj, owner: Obj, collision_count: int) -> Obj:
    """The same revision named for another collision count (after a name clash)."""
    out = copy(revision)
    out["metadata"]["name"] = revision_name(
        meta(owner)["name"], hash_of(revision["data"], collision_count)
    )
    return out


def number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name."""
    return sorted(revisions, key=lambda r: (number(r), created_at(r), meta(r)["name"]))


def next_number(revisions: list[Obj]) -> int:
    """One past the newest revision (revisions sorted oldest first)."""
    return number(revisions[-1]) + 1 if revisions else 1


def equal(a: Obj, b: Obj) -> bool:
    """Same template: equal data (the hash labels are encoded, so never compared as numbers)."""
    return raw(a.get("data")) == raw(b.get("data"))


def find_equal(revisions: list[Obj], target: Obj) -> list[Obj]:
    return [r for r in revisions if equal(r, target)]


def apply_revision(owner: Obj, revision: Obj) -> Obj:
    """The owner as it was at `revision`: its template restored from the revision's patch."""
    return strategic_merge_patch(owner, copy(revision["data"]), kind=str(owner["kind"]))


def truncatable(revisions: list[Obj], live: set[str], limit: int) -> list[Obj]:
    """The oldest revisions not in `live` (names in use), beyond `limit`."""
    history = [r for r in revisions if meta(r)["name"] not in live]
    return history[: max(0, len(history) - limit)]
