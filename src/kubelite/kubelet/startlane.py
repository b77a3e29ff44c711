"""One lane for the CPU-bound part of starting containers, oldest pod first.

Every pod on a node shares the agent's one event loop. Left to asyncio's
round robin, a burst of 100 pods advances in lockstep: each does its IP,
then each its volumes, then each its spawn, and the first is Running only
when nearly all are. The lane lets one pod at a time do its set-up, and
always the pod that came first (the lowest `order`), so pods reach Running
in the order they arrived and the median pod waits for half the burst, not
all of it. Only work that runs on the loop holds the lane: the holder lets
go once its spawn request is sent, so the shim's work for one pod overlaps
the agent's for the next. A pod takes the lane before its first step and
keeps it across its awaits: were it let go between steps, every other
pod's queued step would run before the pod's next one.

`idle` is set while nobody holds or waits for the lane and no pod's start
is still settling (spawned, its first status not yet written); work that
can wait (event writes) waits for it, so it does not share the loop with
the status writes that make the burst's last pods Running.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class StartLane:
    def __init__(self) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tie = itertools.count()
        self._settling: set[object] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def busy(self) -> bool:
        return self._held or bool(self._waiters) or bool(self._settling)

    def settling(self, key: object) -> None:
        """A pod's start is under way until `settled(key)`: the lane is not idle."""
        self._settling.add(key)
        self.idle.clear()

    def settled(self, key: object) -> None:
        self._settling.discard(key)
        if not self.busy:
            self.idle.set()

    async def acquire(self, order: int) -> None:
        if not self._held and not self._waiters:
            self._held = True
            self.idle.clear()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (order, next(self._tie), future))
        self.idle.clear()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted as we were cancelled: pass it on
            else:
                self._forget(future)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # handed over: still held
                return
        self._held = False
        if not self.busy:
            self.idle.set()

    def _forget(self, future: asyncio.Future[None]) -> None:
        self._waiters = [w for w in self._waiters if w[2] is not future]
        heapq.heapify(self._waiters)
        if not self.busy:
            self.idle.set()

    async def take(self, order: int) -> Releaser:
        """Acquire; what it returns lets the lane go (once), from wherever the holder is."""
        await self.acquire(order)
        return Releaser(self)


class Releaser:
    """Lets the lane go once, however often it is called."""

    def __init__(self, lane: StartLane) -> None:
        self._lane: StartLane | None = lane

    def __call__(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            lane.release()
