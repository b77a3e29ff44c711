"""Watch streams: the store's events, filtered and shaped as kube-apiserver sends them.

A watch with `sendInitialEvents=true` (which a watch with no resourceVersion,
or "0", defaults to: WatchList is on in 1.32) first replays the current
objects as synthetic ADDED events, then, if it allows bookmarks, sends a
BOOKMARK annotated `k8s.io/initial-events-end: "true"` at the revision that
state was read at, and then follows live changes. A watch from a revision
replays what happened after it, or ends in a 410 `Expired` ERROR event when
that history was compacted — which is what makes informers relist. With a
selector, an object that stops matching arrives as DELETED and one that starts
matching as ADDED, so a filtered watcher's picture stays exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors, listoptions
from kubelite.apiserver.rest import RestStorage, Selectors
from kubelite.store import Compacted, WatchClosed

BOOKMARK_INTERVAL_S = 30.0
PRE_TIMEOUT_BOOKMARK_S = 2.0


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK | ERROR
    obj: dict[str, Any] | None = None
    raw: bytes | None = None  # the stored bytes, when the object is unchanged


@dataclass(frozen=True)
class WatchRequest:
    resource: ResourceType
    namespace: str | None
    selectors: Selectors
    resource_version: str | None
    bookmarks: bool = False
    timeout_s: float | None = None
    # None: as upstream defaults it, True exactly when resource_version is unset or "0".
    send_initial_events: bool | None = None

    def __post_init__(self) -> None:
        # Refused here, while the handler can still answer with a Status: once the
        # stream has begun, a 200 has gone out.
        listoptions.revision(self.resource_version or "")


INITIAL_EVENTS_END = "k8s.io/initial-events-end"


MAX_BATCH = 256  # events handed on together when they are already queued


async def watch(storage: RestStorage, req: WatchRequest) -> AsyncIterator[WatchEvent]:
    async for batch in watch_batches(storage, req):
        for event in batch:
            yield event


async def watch_batches(storage: RestStorage, req: WatchRequest) -> AsyncIterator[list[WatchEvent]]:
    """The watch as lists of the events ready at once (never empty).

    A server writing a watch response flushes once per list, as kube-apiserver
    flushes only when no further event is pending.
    """
    rt = req.resource
    prefix = rt.prefix(req.namespace)
    initial: list[WatchEvent] = []
    send_initial = req.send_initial_events
    if send_initial is None:
        send_initial = req.resource_version in (None, "", "0")
    try:
        if send_initial:
            # The state at a revision not older than the one asked for: the store
            # reaching it is what upstream's watch cache waits up to 3 s for.
            wanted = listoptions.revision(req.resource_version or "0")
            await _await_revision(storage, wanted)
            if wanted > storage.store.revision:
                timeout = errors.Timeout.too_large_resource_version(
                    wanted, storage.store.revision, listoptions.TOO_LARGE_RETRY_S
                )
                yield [WatchEvent("ERROR", obj=timeout.status())]
                return
            listed = storage.list(rt, req.namespace, req.selectors)
            start = listed.resource_version
            initial = [WatchEvent("ADDED", raw=kv.value) for kv in listed.items]
            if req.bookmarks:
                initial.append(_bookmark(rt, start, initial_events_end=True))
        else:
            start = listoptions.revision(req.resource_version or "0")  # 0: from now
            storage.watch_start(rt, start)
        watcher = storage.store.watch(prefix, after_revision=start)
    except (Compacted, errors.Gone) as exc:
        yield [_expired(storage, exc)]
        return
    deadline = time.monotonic() + req.timeout_s if req.timeout_s else None
    try:
        for i in range(0, len(initial), MAX_BATCH):
            yield initial[i : i + MAX_BATCH]
        async for batch in _follow(storage, watcher, req, deadline):
            yield batch
    finally:
        watcher.close()


def _next_bookmark(now: float, deadline: float | None) -> float | None:
    """When the next bookmark goes, as upstream's cache watcher times them: every
    interval, and two seconds before the watch's timeout (so a client restarts its
    watch from a fresh resourceVersion); None when that moment has passed."""
    due = now + BOOKMARK_INTERVAL_S
    if deadline is not None:
        due = min(due, deadline - PRE_TIMEOUT_BOOKMARK_S)
    return due if due > now else None


async def _follow(
    storage: RestStorage, watcher: Any, req: WatchRequest, deadline: float | None
) -> AsyncIterator[list[WatchEvent]]:
    bookmark_at = _next_bookmark(time.monotonic(), deadline) if req.bookmarks else None
    while True:
        now = time.monotonic()
        wait = BOOKMARK_INTERVAL_S
        if deadline is not None:
            wait = min(wait, deadline - now)
            if wait <= 0:
                return
        if bookmark_at is not None:
            wait = min(wait, max(0.0, bookmark_at - now))
        try:
            # Events already queued are taken without a timer: a timed wait per
            # event is what a busy watch would otherwise spend most on.
            event = watcher.next_nowait()
            if event is None and not await watcher.wait(wait):
                now = time.monotonic()
                if bookmark_at is not None and now >= bookmark_at:
                    yield [_bookmark(req.resource, storage.store.revision)]
                    bookmark_at = _next_bookmark(now, deadline)
                continue
            if event is None:
                continue
        except (StopAsyncIteration, WatchClosed):
            return
        except Compacted as exc:
            yield [_expired(storage, exc)]
            return
        batch: list[WatchEvent] = []
        while event is not None:
            shaped = _shape(event, req.selectors)
            if shaped is not None:
                batch.append(shaped)
            if len(batch) >= MAX_BATCH:
                break
            try:
                event = watcher.next_nowait()
            except (StopAsyncIteration, WatchClosed, Compacted):
                break  # the next turn reports how the watch ended
        if batch:
            yield batch


def _shape(event: Any, selectors: Selectors) -> WatchEvent | None:
    if selectors.empty:
        return WatchEvent(event.type, raw=event.kv.value)
    now = selectors.matches(event.kv.obj())
    before = event.prev is not None and selectors.matches(event.prev.obj())
    if event.type == "ADDED":
        return WatchEvent("ADDED", raw=event.kv.value) if now else None
    if event.type == "DELETED":
        return WatchEvent("DELETED", raw=event.kv.value) if (before or now) else None
    if now and before:
        return WatchEvent("MODIFIED", raw=event.kv.value)
    if now:
        return WatchEvent("ADDED", raw=event.kv.value)
    if before:
        # Out of the selection: the object as it was (as it matched), at the event's
        # resourceVersion, as upstream's cache watcher sends it.
        left = event.prev.obj()
        left.setdefault("metadata", {})["resourceVersion"] = str(event.kv.revision)
        return WatchEvent("DELETED", obj=left)
    return None


def _bookmark(rt: ResourceType, revision: int, *, initial_events_end: bool = False) -> WatchEvent:
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_events_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return WatchEvent(
        "BOOKMARK",
        obj={"kind": rt.kind, "apiVersion": rt.api_version, "metadata": metadata},
    )


async def _await_revision(storage: RestStorage, wanted: int) -> None:
    if wanted <= storage.store.revision:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + listoptions.TOO_LARGE_WAIT_S
    while wanted > storage.store.revision and loop.time() < deadline:
        await asyncio.sleep(0.05)


def _expired(storage: RestStorage, exc: Exception) -> WatchEvent:
    if isinstance(exc, errors.Gone):
        status = exc.status()
    else:
        requested = getattr(exc, "requested", "?")
        err = errors.Gone(
            f"too old resource version: {requested} ({storage.store.compact_revision})"
        )
        status = err.status()
    return WatchEvent("ERROR", obj=status)


async def aclose(gen: AsyncIterator[Any]) -> None:
    with contextlib.suppress(Exception):
        await gen.aclose()  # type: ignore[attr-defined]
