"""The scheduler's event recorder: events are queued, a background task writes them.

Upstream's recorder hands events to a broadcaster whose goroutine writes
them to the API, so scheduling never waits on an event write; its queue is
bounded (1,000) and drops what does not fit. The same here: ``record`` only
appends to a queue, and one task drains it a batch per turn of the event
loop, yielding between batches so creates, binds and watches are not held up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)
Obj = dict[str, Any]
MAX_QUEUED_EVENTS = 1000  # upstream's broadcaster queue; beyond it events are dropped
BATCH = 64  # events written per turn of the loop


class EventRecorder:
    """A bounded queue of Event objects and the task that creates them."""

    def __init__(self, client: LocalClient, *, max_queued: int = MAX_QUEUED_EVENTS) -> None:
        self.client = client
        self.max_queued = max_queued
        self.queue: deque[Obj] = deque()
        self.dropped = 0
        self._waiter: asyncio.Future[None] | None = None

    def record(self, event: Obj) -> None:
        """Queue ``event`` for writing; drop it (as upstream does) if the queue is full."""
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
            await self.client.create_only(event)
        except errors.ApiError as exc:  # events are best effort, as upstream's recorder
            md = event.get("involvedObject") or {}
            log.debug("event for %s/%s dropped: %s", md.get("namespace"), md.get("name"), exc)


__all__ = ["EventRecorder", "MAX_QUEUED_EVENTS"]
