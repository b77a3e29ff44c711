"""Bulkhead: cap the calls in flight to one upstream.

One slow upstream must not take every connection, task and socket of the
caller with it; the bulkhead bounds its share. The state lives in a sync core
(`try_acquire_nowait`, `release`) and only `acquire` is async, because only it
waits: with `max_wait` > 0 a caller queues (first come, first served) for up
to that long before `BulkheadFullError`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kubelite.mesh.errors import BulkheadFullError

__all__ = ["Bulkhead"]


class Bulkhead:
    """At most `max_concurrent` calls at once; optional bounded wait for a slot."""

    __slots__ = ("name", "max_concurrent", "max_wait", "in_flight", "_waiters")

    def __init__(self, name: str, max_concurrent: int, *, max_wait: float = 0.0) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def available(self) -> int:
        return self.max_concurrent - self.in_flight

    def try_acquire_nowait(self) -> bool:
        """Take a slot if one is free and nobody queues ahead."""
        if self.in_flight < self.max_concurrent and not self._waiters:
            self.in_flight += 1
            return True
        return False

    def acquire_nowait(self) -> None:
        if not self.try_acquire_nowait():
            raise BulkheadFullError(self.name, self.max_concurrent)

    def release(self) -> None:
        """Give a slot back; hands it straight to the first live waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; in_flight is unchanged
                return
        if self.in_flight <= 0:
            raise RuntimeError(f"bulkhead {self.name!r} released more than acquired")
        self.in_flight -= 1

    async def acquire(self) -> None:
        """Take a slot, waiting up to `max_wait` seconds for one."""
        if self.try_acquire_nowait():
            return
        if self.max_wait <= 0:
            raise BulkheadFullError(self.name, self.max_concurrent)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.max_wait):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # handed a slot just as the wait ran out: keep it
            raise BulkheadFullError(self.name, self.max_concurrent) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed a slot but will not use it
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
