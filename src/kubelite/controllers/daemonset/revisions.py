"""A DaemonSet's ControllerRevisions: upstream's constructHistory and cleanupHistory.

Built on the history shared with StatefulSets. The current template always
has a revision, numbered past every older one (an old template coming back
is renumbered, not copied); duplicates of it are merged into the newest;
revisions beyond revisionHistoryLimit go, oldest first, unless a pod still
carries their hash. The data is kept in the form kubectl compares byte for
byte, so `kubectl rollout undo` recognises the live template.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from kubelite.apiserver import errors
from kubelite.controllers import history
from kubelite.controllers.objects import Obj, labels, meta

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

DEFAULT_HISTORY_LIMIT = 10
REVISION = ("apps/v1", "ControllerRevision")


def new_revision(ds: Obj, number: int, collisions: int) -> Obj:
    """The shared revision, its data as Go marshals the template for kubectl's
    comparison: keys sorted, the template's zero `creationTimestamp` as null."""
    revision = history.new_revision(ds, number, collisions)
    template = revision["data"]["spec"]["template"]
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    revision["data"] = orjson.loads(history.raw(revision["data"]))
    hash_ = history.hash_of(revision["data"], collisions)
    revision["metadata"]["name"] = history.revision_name(meta(ds)["name"], hash_)
    revision["metadata"]["labels"][history.HASH_LABEL] = hash_
    return revision


async def construct(
    client: LocalClient,
    ds: Obj,
    revisions: list[Obj],
    claimed_pods: Callable[[], Awaitable[list[Obj]]],
) -> tuple[Obj, list[Obj], int]:
    """(current revision, the older ones, collision count) from the set's claimed revisions."""
    collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
    wanted = new_revision(ds, 0, collisions)
    current = history.find_equal(history.sort_revisions(revisions), wanted)
    old = [r for r in revisions if not history.equal(r, wanted)]
    number = max((history.number(r) for r in old), default=0) + 1
    if not current:
        made, collisions = await _create(
            client, ds, new_revision(ds, number, collisions), collisions
        )
        return made, old, collisions
    keep = current[-1]  # the highest revision number
    for duplicate in current[:-1]:
        await _merge_duplicate(client, duplicate, keep, await claimed_pods())
    if history.number(keep) < number:
        keep = await _renumber(client, keep, number)
    return keep, old, collisions


async def _create(client: LocalClient, ds: Obj, wanted: Obj, collisions: int) -> tuple[Obj, int]:
    """A name taken by other data bumps the collision count (and so the hash)."""
    while True:
        candidate = new_revision(ds, history.number(wanted), collisions)
        try:
            return await client.create(candidate), collisions
        except errors.AlreadyExists:
            existing = await client.get(*REVISION, meta(candidate)["name"], meta(ds)["namespace"])
            if history.equal(existing, candidate):
                return existing, collisions
            collisions += 1


async def _renumber(client: LocalClient, revision: Obj, number: int) -> Obj:
    def bump(live: Obj) -> Obj:
        live["revision"] = number
        return live

    return await client.mutate(*REVISION, meta(revision)["name"], bump, meta(revision)["namespace"])


async def _merge_duplicate(client: LocalClient, duplicate: Obj, keep: Obj, pods: list[Obj]) -> None:
    """dedupCurHistories: pods move to the kept revision's hash, the duplicate goes."""
    keep_hash = labels(keep).get(history.HASH_LABEL, "")
    for pod in pods:
        if labels(pod).get(history.HASH_LABEL) != keep_hash:
            patch = {"metadata": {"labels": {history.HASH_LABEL: keep_hash}}}
            with contextlib.suppress(errors.NotFound):
                await client.patch("v1", "Pod", meta(pod)["name"], patch, meta(pod)["namespace"])
    with contextlib.suppress(errors.NotFound):
        await client.delete(*REVISION, meta(duplicate)["name"], meta(duplicate)["namespace"])


async def clean_up(client: LocalClient, ds: Obj, pods: list[Obj], old: list[Obj]) -> None:
    """Old revisions beyond revisionHistoryLimit go, oldest first, unless a pod uses them."""
    limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
    to_kill = len(old) - (DEFAULT_HISTORY_LIMIT if limit is None else int(limit))
    live = {labels(p).get(history.HASH_LABEL) for p in pods}
    for revision in history.sort_revisions(old):
        if to_kill <= 0:
            return
        if labels(revision).get(history.HASH_LABEL) in live:
            continue
        with contextlib.suppress(errors.NotFound):
            await client.delete(*REVISION, meta(revision)["name"], meta(revision)["namespace"])
        to_kill -= 1
