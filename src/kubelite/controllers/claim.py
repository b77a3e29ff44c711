"""Adopt and release: who owns a pod (or ReplicaSet) is its controller ownerReference.

As upstream's `ControllerRefManager`: an object whose controllerRef names
this owner is ours while the selector matches it, and is released (the
reference removed) when it stops matching; an orphan that matches is adopted
(a controller reference with blockOwnerDeletion added) unless the owner is
being deleted. Objects controlled by someone else are never touched. Both
writes are read-modify-write on the live object, so a concurrent adoption by
another controller turns into a no-op rather than a second controller.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from kubelite.api.selectors import LabelSelector
from kubelite.apiserver import errors
from kubelite.controllers.objects import Obj, controller_ref, deleting, labels, meta, owner_ref_for

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)


async def claim(
    client: LocalClient, owner: Obj, selector: LabelSelector, objects: list[Obj]
) -> list[Obj]:
    """The objects `owner` controls after adopting and releasing as needed."""
    uid = meta(owner)["uid"]
    out: list[Obj] = []
    for obj in objects:
        ref = controller_ref(obj)
        if ref is not None and ref.get("uid") != uid:
            continue
        matches = selector.matches(labels(obj))
        if ref is not None:
            if matches or deleting(owner) or deleting(obj):
                out.append(obj)
            else:
                await release(client, owner, obj)
            continue
        if matches and not deleting(owner) and not deleting(obj):
            adopted = await adopt(client, owner, obj)
            if adopted is not None:
                out.append(adopted)
    return out


async def adopt(client: LocalClient, owner: Obj, obj: Obj) -> Obj | None:
    uid = meta(obj).get("uid")

    def add_ref(live: dict[str, Any]) -> dict[str, Any]:
        if meta(live).get("uid") != uid or controller_ref(live) is not None:
            raise _Skip
        refs = [
            r for r in meta(live).get("ownerReferences") or [] if r.get("uid") != meta(owner)["uid"]
        ]
        live["metadata"]["ownerReferences"] = [*refs, owner_ref_for(owner)]
        return live

    try:
        return await client.mutate(
            obj["apiVersion"], obj["kind"], meta(obj)["name"], add_ref, meta(obj).get("namespace")
        )
    except (_Skip, errors.NotFound):
        return None


async def release(client: LocalClient, owner: Obj, obj: Obj) -> None:
    owner_uid = meta(owner)["uid"]

    def drop_ref(live: dict[str, Any]) -> dict[str, Any]:
        refs = meta(live).get("ownerReferences") or []
        kept = [r for r in refs if r.get("uid") != owner_uid]
        if len(kept) == len(refs):
            raise _Skip
        if kept:
            live["metadata"]["ownerReferences"] = kept
        else:
            live["metadata"].pop("ownerReferences", None)
        return live

    with contextlib.suppress(_Skip, errors.NotFound, errors.Invalid):
        await client.mutate(
            obj["apiVersion"], obj["kind"], meta(obj)["name"], drop_ref, meta(obj).get("namespace")
        )


class _Skip(Exception):
    """The live object no longer needs the change."""
