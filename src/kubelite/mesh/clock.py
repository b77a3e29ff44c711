"""Time sources for the mesh policies.

Every policy reads time through a `Clock` so that tests drive it with a
`FakeClock` and never sleep or assert on wall time. Time is monotonic seconds
as a float: policies only ever compare and subtract instants, never format them.
The production clock binds `time.monotonic` directly so the hot path pays one
C call and no Python frame.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock", "Sleep", "SYSTEM_CLOCK"]

Sleep = Callable[[float], Awaitable[None]]


class Clock(Protocol):
    """A monotonic time source, in seconds."""

    def now(self) -> float: ...


class MonotonicClock:
    """The process monotonic clock (`time.monotonic`)."""

    __slots__ = ()
    now = staticmethod(time.monotonic)


SYSTEM_CLOCK = MonotonicClock()


class FakeClock:
    """A clock that only moves when told to; `sleep` advances it instantly.

    `sleeps` records every requested sleep so tests can check backoff delays
    without waiting for them.
    """

    __slots__ = ("_now", "sleeps")

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += max(0.0, seconds)
