"""Adaptive throttling: Google SRE client-side load shedding, as go-zero does it.

A breaker flips between all and nothing; the adaptive throttle instead drops a
growing *share* of calls as the upstream's success rate falls, so some traffic
keeps probing and recovery is smooth. Over a rolling window (10 s in 40 buckets)
it counts requests and accepts and rejects locally with probability

    (requests - protection - w * accepts) / (requests + 1)

where w starts at K = 1.5 and sinks towards 1.1 the longer the window's newest
buckets hold only failures; `protection` (5) spares low traffic. As in go-zero,
the ratio shrinks by the share of trailing all-success buckets (recovery is
softened), a call is let through at least once a second (a probe), and a local
rejection counts as a request that was not accepted.

Same interface as `CircuitBreaker`: `try_acquire()` raises `ThrottledError`
(a `CircuitOpenError`), then `on_success`/`on_failure`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kubelite.mesh.breaker import Permit, State
from kubelite.mesh.clock import SYSTEM_CLOCK, Clock
from kubelite.mesh.errors import ThrottledError

__all__ = ["AdaptiveThrottle"]

WINDOW = 10.0
BUCKETS = 40
K = 1.5
MIN_K = 1.1
PROTECTION = 5
FORCE_PASS = 1.0


class _Bucket:
    __slots__ = ("total", "success", "failure", "drop")

    def __init__(self) -> None:
        self.total = self.success = self.failure = self.drop = 0

    def reset(self) -> None:
        self.total = self.success = self.failure = self.drop = 0


class AdaptiveThrottle:
    """go-zero's googlebreaker with an injectable clock and random source."""

    __slots__ = (
        "name", "k", "_now", "_random", "_buckets", "_interval", "_offset", "_last",
        "_total", "_accepts", "_last_pass", "_permit",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        *,
        k: float = K,
        window: float = WINDOW,
        buckets: int = BUCKETS,
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] | None = None,
    ) -> None:
        if k < MIN_K:
            raise ValueError(f"k must be at least {MIN_K}")
        self.name = name
        self.k = k
        self._now = clock.now
        self._random = rng or random.random
        self._buckets = [_Bucket() for _ in range(buckets)]
        self._interval = window / buckets
        self._offset = 0
        self._last = self._now()
        self._total = 0
        self._accepts = 0
        self._last_pass = 0.0
        self._permit = Permit(State.CLOSED)

    # -- the BreakerPolicy interface ---------------------------------------------------

    def try_acquire(self) -> Permit:
        ratio = self.drop_ratio()
        if ratio <= 0:
            return self._permit
        now = self._now()
        if self._last_pass > 0 and now - self._last_pass > FORCE_PASS:
            self._last_pass = now
            return self._permit
        ratio *= (len(self._buckets) - self._trailing(working=True)) / len(self._buckets)
        if self._random() < ratio:
            self._add("drop")
            raise ThrottledError(self.name, ratio)
        self._last_pass = now
        return self._permit

    def on_success(self, duration: float, permit: Permit | None = None) -> None:
        self._add("success")

    def on_failure(self, duration: float, permit: Permit | None = None) -> None:
        self._add("failure")

    def on_cancel(self, permit: Permit | None = None) -> None:
        return None

    # -- the arithmetic ----------------------------------------------------------------

    def drop_ratio(self) -> float:
        """The SRE drop probability before recovery softening (<= 0: no drops)."""
        self._advance()
        total = self._total
        # w never goes below MIN_K, so this bound skips the bucket scan when idle.
        if total - PROTECTION - MIN_K * self._accepts <= 0:
            return 0.0
        failing = self._trailing(working=False)
        w = max(self.k - (self.k - MIN_K) * failing / len(self._buckets), MIN_K)
        return (total - PROTECTION - w * self._accepts) / (total + 1)

    def history(self) -> tuple[int, int]:
        """(accepts, requests) in the current window."""
        self._advance()
        return self._accepts, self._total

    def _trailing(self, *, working: bool) -> int:
        # Oldest to newest, like go-zero's Reduce: the run of buckets at the end
        # holding only successes (working) or only failures (failing).
        run = 0
        n = len(self._buckets)
        for i in range(1, n + 1):
            b = self._buckets[(self._offset + i) % n]
            good, bad = (b.success, b.failure) if working else (b.failure, b.success)
            if bad > 0:
                run = 0
            elif good > 0:
                run += 1
        return run

    def _add(self, kind: str) -> None:
        self._advance()
        b = self._buckets[self._offset]
        b.total += 1
        self._total += 1
        if kind == "success":
            b.success += 1
            self._accepts += 1
        elif kind == "failure":
            b.failure += 1
        else:
            b.drop += 1

    def _advance(self) -> None:
        """Roll the window to now: reset the buckets that time has passed."""
        now = self._now()
        span = int((now - self._last) / self._interval)
        if span <= 0:
            return
        n = len(self._buckets)
        for i in range(1, min(span, n) + 1):
            b = self._buckets[(self._offset + i) % n]
            self._total -= b.total
            self._accepts -= b.success
            b.reset()
        self._offset = (self._offset + span) % n
        self._last = now - (now - self._last) % self._interval
