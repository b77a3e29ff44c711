"""Watcher: one watch stream, fed synchronously by the store's writes.

A watcher first yields the retained history after its start revision, then the
live events. History comes either as a ready list (from the store's in-memory
ring of recent events) or, for older revisions, as pages read from SQLite as
the consumer advances, so a watch from far back never holds the whole history
in memory. Live events are appended by the writer (`push`, on the event-loop
thread) to a bounded queue; a consumer that lets it overflow is closed with
`WatchClosed("too slow")`, as etcd and kube-apiserver end a slow watch, and the
client re-watches from the last revision it saw.

The state changes are plain synchronous methods; only `__anext__` waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubelite.store.errors import StoreError, WatchClosed
from kubelite.store.model import Event

if TYPE_CHECKING:
    # (prefix, after, until, limit) -> events with after < revision <= until
    HistoryPager = Callable[[str, int, int, int], list[Event]]

HISTORY_PAGE = 500


class Watcher:
    """An async iterator of `Event`s for keys under `prefix`, in revision order.

    Created by `Store.watch`. `close()` ends it: the next `__anext__` raises
    StopAsyncIteration. If the store closed it (overflow, store shutdown) the
    iteration raises `WatchClosed` instead.
    """

    __slots__ = (
        "prefix",
        "_backlog",
        "_pager",
        "_cursor",
        "_until",
        "_live",
        "_max_queue",
        "_skip_through",
        "_waiter",
        "_closed",
        "_error",
        "_on_close",
    )

    def __init__(
        self,
        prefix: str,
        *,
        backlog: list[Event],
        pager: HistoryPager | None,
        after_revision: int,
        until: int,
        max_queue: int,
        on_close: Callable[[Watcher], None],
    ) -> None:
        self.prefix = prefix
        self._backlog: deque[Event] = deque(backlog)
        self._pager = pager  # set while older history remains to be read from SQLite
        self._cursor = after_revision  # history read so far: revisions <= cursor
        self._until = until  # history ends here; live events come after
        self._live: deque[Event] = deque()
        self._max_queue = max_queue
        self._skip_through = max(after_revision, until)  # a watch from a future revision
        self._waiter: asyncio.Future[bool] | None = None
        self._closed = False
        self._error: StoreError | None = None
        self._on_close = on_close

    # ---- the writer's side (synchronous, event-loop thread) --------------------

    def push(self, event: Event) -> None:
        if self._closed or event.kv.revision <= self._skip_through:
            return
        if len(self._live) >= self._max_queue:
            self.fail(WatchClosed("too slow"))
            return
        self._live.append(event)
        self._wake()

    def fail(self, error: StoreError) -> None:
        """End the watch with `error`, raised by the consumer's next `__anext__`."""
        if self._closed:
            return
        self._error = error
        self._shut()

    def close(self) -> None:
        """End the watch; iteration stops. Idempotent."""
        if not self._closed:
            self._shut()

    @property
    def closed(self) -> bool:
        return self._closed

    def _shut(self) -> None:
        self._closed = True
        self._backlog.clear()
        self._live.clear()
        self._pager = None
        self._on_close(self)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    # ---- the consumer's side ---------------------------------------------------

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> Event:
        while True:
            event = self.next_nowait()
            if event is not None:
                return event
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def wait(self, timeout: float) -> bool:
        """Wait until an event may be ready or the watch ended; False on timeout.

        One future and one timer per wait, and no task: cheaper than
        ``asyncio.wait_for(__anext__())`` on a watch that is always busy.
        """
        if self._closed or self._backlog or self._live or self._pager is not None:
            return True
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def next_nowait(self) -> Event | None:
        """The next event if one is ready, else None; raises when the watch ended."""
        if self._closed:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        if not self._backlog and self._pager is not None:
            self._read_history_page()
        if self._backlog:
            return self._backlog.popleft()
        if self._live:
            return self._live.popleft()
        return None

    def _read_history_page(self) -> None:
        assert self._pager is not None
        try:
            page = self._pager(self.prefix, self._cursor, self._until, HISTORY_PAGE)
        except StoreError as exc:  # Compacted: the history was compacted under us
            self.fail(exc)
            raise
        # A short page means the history up to `until` is exhausted.
        if len(page) < HISTORY_PAGE:
            self._pager = None
        if page:
            self._cursor = page[-1].kv.revision
            self._backlog.extend(page)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
