"""The scheduler's event recorder: events are queued, a background task writes them.

Upstream's recorder hands events to a broadcaster whose goroutine writes
them to the API, so scheduling never waits on an event write; its queue is
bounded (1,000) and drops what does not fit. The same here: ``record`` only
appends to a queue, and one task drains it a batch per turn of the event
loop, yielding between batches so creates, binds and watches are not held up.

Repeats are a series, as upstream's events library makes them: the second
event like one already written (same pod, type, reason, action and message,
within six minutes) turns that event into a series of two, which
`kubectl describe` shows as `(x2 over ...)`; later repeats only count in
memory (upstream writes them back every 30 minutes). A pod that stays
unschedulable so keeps one FailedScheduling line, not one per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)
Obj = dict[str, Any]
MAX_QUEUED_EVENTS = 1000  # upstream's broadcaster queue; beyond it events are dropped
BATCH = 64  # events written per turn of the loop
SERIES_WINDOW = 360.0  # upstream finishes a series not seen again for 6 minutes
MAX_REMEMBERED = 4096  # events remembered for series, least recently seen dropped first


def _series_key(event: Obj) -> tuple[Any, ...]:
    """Upstream's isomorphic-event key, in the core/v1 fields we write."""
    regarding = event.get("involvedObject") or {}
    related = event.get("related") or {}
    return (
        regarding.get("namespace"),
        regarding.get("name"),
        regarding.get("uid"),
        related.get("uid"),
        event.get("type"),
        event.get("reason"),
        event.get("action"),
        event.get("message"),
    )


class EventRecorder:
    """A bounded queue of Event objects and the task that creates them."""

    def __init__(
        self,
        client: LocalClient,
        *,
        max_queued: int = MAX_QUEUED_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.max_queued = max_queued
        self.clock = clock
        self.queue: deque[Obj] = deque()
        self.dropped = 0
        self._waiter: asyncio.Future[None] | None = None
        # series key -> [event as first written, times seen, when last seen]
        self._seen: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()

    def record(self, event: Obj) -> None:
        """Queue ``event`` for writing; drop it (as upstream does) if the queue is full.

        A repeat of a recent event becomes (or counts into) that event's series."""
        key, now = _series_key(event), self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[2] <= SERIES_WINDOW:
            seen[1] += 1
            seen[2] = now
            self._seen.move_to_end(key)
            if seen[1] == 2:  # the series starts: written once, later counts stay here
                self._enqueue(_series_update(seen[0], event))
            return
        self._seen[key] = [event, 1, now]
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        self._enqueue(event)

    def _enqueue(self, event: Obj) -> None:
        if len(self.queue) >= self.max_queued:
            self.dropped += 1
            log.debug("event queue full, dropping %s", event.get("reason"))
            return
        self.queue.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def flush(self) -> None:
        """Write everything queued now (tests, shutdown)."""
        while self.queue:
            await self._write(self.queue.popleft())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            with self.client.batch():  # one commit for the batch
                for _ in range(min(BATCH, len(self.queue))):
                    await self._write(self.queue.popleft())
            await asyncio.sleep(0)

    async def _write(self, event: Obj) -> None:
        try:
            if event.get(_UPDATE):
                patch = {k: v for k, v in event.items() if k not in (_UPDATE, "metadata")}
                md = event["metadata"]
                await self.client.patch("v1", "Event", md["name"], patch, md.get("namespace"))
            else:
                await self.client.create_only(event)
        except errors.ApiError as exc:  # events are best effort, as upstream's recorder
            md = event.get("involvedObject") or {}
            log.debug("event for %s/%s dropped: %s", md.get("namespace"), md.get("name"), exc)


_UPDATE = "__series_update__"  # marks a queued series write (never sent as a field)


def _series_update(first: Obj, repeat: Obj) -> Obj:
    """The write that makes `first` a series of two, last seen as `repeat`."""
    return {
        _UPDATE: True,
        "metadata": {
            "name": first["metadata"]["name"],
            "namespace": first["metadata"].get("namespace"),
        },
        "count": 2,
        "lastTimestamp": repeat.get("lastTimestamp"),
        "series": {
            "count": 2,
            "lastObservedTime": repeat.get("eventTime") or repeat.get("lastTimestamp"),
        },
    }


__all__ = ["EventRecorder", "MAX_QUEUED_EVENTS"]
