"""Circuit breaker: stop calling an upstream that keeps failing, probe it later.

The state machine is resilience4j's: CLOSED records outcomes in a sliding
window (the last N calls, or the calls of the last N seconds) and opens when,
after at least `minimum_number_of_calls`, the failure rate or the slow-call
rate reaches its threshold. OPEN refuses calls for `wait_duration_in_open_state`
(growing by `wait_multiplier` each time a probe fails, up to
`max_wait_duration_in_open_state`), then the next call moves it to HALF_OPEN,
which lets `permitted_number_of_calls_in_half_open_state` calls through and
judges them with the same thresholds: closed again, or open again.

A breaker built with a `trip` condition instead follows sony/gobreaker (what
Dapr's `trip: consecutiveFailures > 5` means): the condition is evaluated on
`Counts` after each failure, counts reset every `counts_interval` while closed,
and in half-open any failure reopens while that many consecutive successes close.

Everything here is sync and allocation-free on the success path: the caller
asks `try_acquire()` before the call and reports `on_success(duration)` or
`on_failure(duration)` after it (`on_cancel()` when it never finished). The
async client wraps this; listeners hear every state change. Handing back the
`Permit` the call was admitted with lets the breaker ignore an outcome from an
earlier state, as gobreaker's generations do: a slow call admitted while closed
must not close (or reopen) a half-open breaker that it never probed.

Per endpoint, `OutlierDetector` does what Envoy's outlier detection does:
eject an endpoint after consecutive 5xx answers, for longer each time, while
never ejecting more than `max_ejection_percent` of the endpoints.
"""

from __future__ import annotations

import enum
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from kubelite.mesh.clock import SYSTEM_CLOCK, Clock
from kubelite.mesh.errors import CircuitOpenError

__all__ = [
    "BreakerPolicy",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "Counts",
    "EjectionEvent",
    "OutlierConfig",
    "OutlierDetector",
    "Permit",
    "State",
    "StateChange",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

# Outcome codes stored in the window: bit 0 = failed, bit 1 = slow.
_FAILED = 1
_SLOW = 2


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class StateChange:
    """One transition, handed to listeners (metrics, logs, Kubernetes Events).

    `reason` completes a sentence whose verb is the new state, for example
    "opened after 5 consecutive failures" or "closed after 1 successful trial call".
    """

    name: str
    from_state: State
    to_state: State
    at: float
    reason: str


@dataclass(slots=True)
class Counts:
    """gobreaker's request counts, the variables a `trip` condition sees."""

    requests: int = 0
    total_successes: int = 0
    total_failures: int = 0
    consecutive_successes: int = 0
    consecutive_failures: int = 0

    def clear(self) -> None:
        self.requests = self.total_successes = self.total_failures = 0
        self.consecutive_successes = self.consecutive_failures = 0


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """Breaker settings; names and defaults are resilience4j's."""

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold: float = 60.0
    sliding_window_type: Literal["count", "time"] = "count"
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    permitted_number_of_calls_in_half_open_state: int = 10
    wait_duration_in_open_state: float = 60.0
    wait_multiplier: float = 1.0
    max_wait_duration_in_open_state: float | None = None
    trip: Callable[[Counts], bool] | None = None
    counts_interval: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (0 < self.failure_rate_threshold <= 100, "failure_rate_threshold must be in (0, 100]"),
            (
                0 < self.slow_call_rate_threshold <= 100,
                "slow_call_rate_threshold must be in (0, 100]",
            ),
            (self.slow_call_duration_threshold > 0, "slow_call_duration_threshold must be > 0"),
            (self.sliding_window_type in ("count", "time"), "sliding_window_type: count or time"),
            (self.sliding_window_size >= 1, "sliding_window_size must be >= 1"),
            (self.minimum_number_of_calls >= 1, "minimum_number_of_calls must be >= 1"),
            (
                self.permitted_number_of_calls_in_half_open_state >= 1,
                "half-open permits must be >= 1",
            ),
            (self.wait_duration_in_open_state >= 0, "wait_duration_in_open_state must be >= 0"),
            (self.wait_multiplier >= 1, "wait_multiplier must be >= 1"),
            (self.counts_interval >= 0, "counts_interval must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def open_wait(self, attempt: int) -> float:
        """Open-state wait after the `attempt`-th consecutive opening (1-based)."""
        wait = self.wait_duration_in_open_state * self.wait_multiplier ** (attempt - 1)
        cap = self.max_wait_duration_in_open_state
        return wait if cap is None else min(wait, cap)


class Permit:
    """Proof that a call was admitted; one object per breaker state, not per call."""

    __slots__ = ("state",)

    def __init__(self, state: State) -> None:
        self.state = state


class BreakerPolicy(Protocol):
    """What the client needs from a breaker-like policy (breaker or throttle)."""

    name: str

    def try_acquire(self) -> Permit: ...

    def on_success(self, duration: float, permit: Permit | None = None) -> None: ...

    def on_failure(self, duration: float, permit: Permit | None = None) -> None: ...

    def on_cancel(self, permit: Permit | None = None) -> None: ...


class _TimeWindow:
    """Outcomes of the last N seconds, one bucket per second like resilience4j.

    Totals are kept current on every record so reading a rate costs nothing.
    """

    __slots__ = ("size", "buckets", "head", "calls", "failed", "slow")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buckets = [[0, 0, 0] for _ in range(size)]  # calls, failed, slow
        self.head = 0
        self.calls = self.failed = self.slow = 0

    def record(self, outcome: int, now: float) -> None:
        second = int(now)
        if second != self.head:
            self._advance(second)
        bucket = self.buckets[second % self.size]
        failed, slow = outcome & _FAILED, (outcome & _SLOW) >> 1
        bucket[0] += 1
        bucket[1] += failed
        bucket[2] += slow
        self.calls += 1
        self.failed += failed
        self.slow += slow

    def _advance(self, second: int) -> None:
        # Empty every bucket between the last recorded second and now.
        for k in range(1, min(second - self.head, self.size) + 1):
            bucket = self.buckets[(self.head + k) % self.size]
            self.calls -= bucket[0]
            self.failed -= bucket[1]
            self.slow -= bucket[2]
            bucket[0] = bucket[1] = bucket[2] = 0
        self.head = second


class CircuitBreaker:
    """A per-upstream circuit breaker with a sync core (see the module docstring).

    The count-based window stores only the sequence numbers of failed and slow
    calls: a fast success is one integer increment, which is what keeps the
    breaker's cost per call far below a lock-and-listener implementation.
    """

    __slots__ = (
        "name", "config", "_now", "_listeners", "state", "_permit", "_fast", "_seq", "_size",
        "_fails", "_slows", "_timed", "_min_calls", "_slow_threshold", "_open_until",
        "_attempts", "_half_open_left", "counts", "_counts_expiry", "_trip",
    )  # fmt: skip
    state: State
    _permit: Permit
    _fast: bool
    _seq: int
    _size: int
    _timed: _TimeWindow | None
    _min_calls: int
    _counts_expiry: float

    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        listeners: list[Callable[[StateChange], None]] | None = None,
    ) -> None:
        self.name = name
        self.config = config or CircuitBreakerConfig()
        self._now = clock.now
        self._listeners = list(listeners or [])
        self._slow_threshold = self.config.slow_call_duration_threshold
        self._trip = self.config.trip
        self.counts = Counts()
        self._fails: deque[int] = deque()
        self._slows: deque[int] = deque()
        self._attempts = 0
        self._open_until = 0.0
        self._half_open_left = 0
        self._enter_closed()

    def add_listener(self, listener: Callable[[StateChange], None]) -> None:
        self._listeners.append(listener)

    # -- the sync core ----------------------------------------------------------------

    def try_acquire(self) -> Permit:
        """Admit the call or raise `CircuitOpenError`; never waits."""
        state = self.state
        if state is State.CLOSED:
            return self._permit
        if state is State.OPEN:
            now = self._now()
            if now < self._open_until:
                raise CircuitOpenError(self.name, state.value, self._open_until - now)
            permitted = self.config.permitted_number_of_calls_in_half_open_state
            waited = self.config.open_wait(self._attempts)
            self._transition(
                State.HALF_OPEN, f"after {waited:g}s open, allowing {_calls(permitted, 'trial')}"
            )
        if self._half_open_left <= 0:
            raise CircuitOpenError(self.name, State.HALF_OPEN.value)
        self._half_open_left -= 1
        return self._permit

    def on_success(self, duration: float, permit: Permit | None = None) -> None:
        if permit is not None and permit is not self._permit:
            return  # admitted in an earlier state: not evidence about this one
        if self._fast and duration <= self._slow_threshold:
            # A fast success only lowers a count window's rates; it matters
            # once, when the window first holds the minimum number of calls.
            self._seq = seq = self._seq + 1
            if seq == self._min_calls:
                self._after_record()
            return
        self._record(_SLOW if duration > self._slow_threshold else 0)

    def on_failure(self, duration: float, permit: Permit | None = None) -> None:
        if permit is not None and permit is not self._permit:
            return  # admitted in an earlier state: not evidence about this one
        self._record(_FAILED | (_SLOW if duration > self._slow_threshold else 0))

    def on_cancel(self, permit: Permit | None = None) -> None:
        """The admitted call never finished: give a half-open permit back."""
        if self.state is State.HALF_OPEN and (permit is None or permit is self._permit):
            self._half_open_left += 1

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run a sync function through the breaker (convenience and benchmarks)."""
        if not self._fast:
            self.try_acquire()
        now = self._now
        start = now()
        try:
            result = fn(*args)
        except BaseException:
            self.on_failure(now() - start)
            raise
        self.on_success(now() - start)
        return result

    def reset(self) -> None:
        """Back to CLOSED with empty statistics (an operator action)."""
        self._attempts = 0
        self._transition(State.CLOSED, "by a reset")

    def retry_after(self) -> float | None:
        if self.state is State.OPEN:
            return max(0.0, self._open_until - self._now())
        return None

    @property
    def failure_rate(self) -> float:
        """Failure rate of the current window in percent, -1 below the minimum calls."""
        calls, failed, _ = self._totals()
        return -1.0 if calls < self._min_calls else 100.0 * failed / calls

    # -- recording --------------------------------------------------------------------

    def _record(self, outcome: int) -> None:
        if self.state is State.OPEN:
            return  # a late answer from a call admitted before the breaker opened
        if self._trip is not None:
            self._record_counts(outcome & _FAILED == 0)
            return
        if self._timed is not None:
            self._timed.record(outcome, self._now())
        else:
            self._seq += 1
            if outcome & _FAILED:
                self._fails.append(self._seq)
            if outcome & _SLOW:
                self._slows.append(self._seq)
        self._after_record()

    def _totals(self) -> tuple[int, int, int]:
        if self._timed is not None:
            return self._timed.calls, self._timed.failed, self._timed.slow
        oldest_kept = self._seq - self._size
        for marks in (self._fails, self._slows):
            while marks and marks[0] <= oldest_kept:
                marks.popleft()
        return min(self._seq, self._size), len(self._fails), len(self._slows)

    def _after_record(self) -> None:
        calls, failed, slow = self._totals()
        if calls < self._min_calls:
            return
        cfg = self.config
        above = (
            failed * 100 >= cfg.failure_rate_threshold * calls
            or slow * 100 >= cfg.slow_call_rate_threshold * calls
        )
        if self.state is State.CLOSED:
            if above:
                self._open(_rate_reason(cfg, calls, failed, slow, "over the last"))
        elif above:
            self._open(_rate_reason(cfg, calls, failed, slow, "in"))
        else:
            self._attempts = 0
            self._transition(State.CLOSED, f"after {_calls(calls, 'successful trial')}")

    def _record_counts(self, ok: bool) -> None:
        counts = self.counts
        if self.state is State.CLOSED and self.config.counts_interval > 0:
            now = self._now()
            if now >= self._counts_expiry:
                counts.clear()
                self._counts_expiry = now + self.config.counts_interval
        counts.requests += 1
        if ok:
            counts.total_successes += 1
            counts.consecutive_successes += 1
            counts.consecutive_failures = 0
            if self.state is State.HALF_OPEN and counts.consecutive_successes >= self._min_calls:
                self._attempts = 0
                ok_calls = _calls(counts.consecutive_successes, "successful trial")
                self._transition(State.CLOSED, f"after {ok_calls}")
            return
        counts.total_failures += 1
        counts.consecutive_failures += 1
        counts.consecutive_successes = 0
        if self.state is State.HALF_OPEN:
            self._open("after a failed trial call")
        elif self._trip is not None and self._trip(counts):
            self._open(_counts_reason(counts))

    # -- transitions ------------------------------------------------------------------

    def _open(self, reason: str) -> None:
        self._attempts += 1
        self._open_until = self._now() + self.config.open_wait(self._attempts)
        self._transition(State.OPEN, reason)

    def _reset_window(self, size: int, min_calls: int, timed: bool) -> None:
        self._seq = 0
        self._size = size
        self._fails.clear()
        self._slows.clear()
        self._timed = _TimeWindow(size) if timed else None
        self._min_calls = min_calls
        self.counts.clear()

    def _enter_closed(self) -> None:
        cfg = self.config
        timed = cfg.sliding_window_type == "time"
        size = cfg.sliding_window_size
        min_calls = cfg.minimum_number_of_calls
        self._reset_window(size, min_calls if timed else min(min_calls, size), timed)
        self._counts_expiry = self._now() + cfg.counts_interval
        self.state = State.CLOSED
        self._fast = not timed and self._trip is None
        self._permit = Permit(State.CLOSED)

    def _enter_half_open(self) -> None:
        permitted = self.config.permitted_number_of_calls_in_half_open_state
        self._reset_window(permitted, permitted, False)
        self._half_open_left = permitted
        self.state = State.HALF_OPEN
        self._permit = Permit(State.HALF_OPEN)

    def _transition(self, to: State, reason: str) -> None:
        before = self.state
        self._fast = False
        if to is State.CLOSED:
            self._enter_closed()
        elif to is State.HALF_OPEN:
            self._enter_half_open()
        else:
            self.state = State.OPEN
            self._permit = Permit(State.OPEN)  # outcomes of earlier calls are stale now
        change = StateChange(self.name, before, to, self._now(), reason)
        log.info("circuit breaker %s: %s -> %s (%s)", self.name, before, to, reason)
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("circuit breaker %s: state listener failed", self.name)


def _calls(n: int, kind: str) -> str:
    return f"{n} {kind} call{'' if n == 1 else 's'}"


def _rate_reason(cfg: CircuitBreakerConfig, calls: int, failed: int, slow: int, where: str) -> str:
    """Why a window tripped, in numbers: "after a failure rate of 60% over the last 10 calls"."""
    if failed * 100 >= cfg.failure_rate_threshold * calls:
        what, rate, threshold = "failure", 100 * failed / calls, cfg.failure_rate_threshold
    else:
        what, rate, threshold = "slow-call", 100 * slow / calls, cfg.slow_call_rate_threshold
    return f"after a {what} rate of {rate:.0f}% {where} {calls} calls (threshold {threshold:g}%)"


def _counts_reason(counts: Counts) -> str:
    """Why a trip condition fired: "after 5 consecutive failures"."""
    streak = counts.consecutive_failures
    text = f"after {streak} consecutive failure{'' if streak == 1 else 's'}"
    if counts.total_failures != streak or counts.requests != streak:
        text += f" ({counts.total_failures} of {counts.requests} requests failed)"
    return text


# -- per-endpoint: outlier detection --------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutlierConfig:
    """Envoy outlier detection settings (consecutive errors); Envoy's defaults."""

    consecutive_5xx: int = 5
    consecutive_gateway_failure: int = 5
    enforcing_consecutive_5xx: int = 100
    enforcing_consecutive_gateway_failure: int = 0
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_time_jitter: float = 0.0
    max_ejection_percent: int = 10
    always_eject_one_host: bool = False

    def __post_init__(self) -> None:
        if self.max_ejection_time < self.base_ejection_time:
            raise ValueError("max_ejection_time cannot be smaller than base_ejection_time")
        if not 0 <= self.max_ejection_percent <= 100:
            raise ValueError("max_ejection_percent must be in [0, 100]")


@dataclass(frozen=True, slots=True)
class EjectionEvent:
    """An endpoint left or re-entered the load-balancing set."""

    endpoint: object
    action: Literal["eject", "uneject"]
    reason: str
    num_ejections: int
    at: float


class _Monitor:
    __slots__ = (
        "consecutive_5xx", "consecutive_gateway", "ejected", "num_ejections",
        "backoff", "last_ejection", "last_unejection", "jitter",
    )  # fmt: skip

    def __init__(self) -> None:
        self.consecutive_5xx = 0
        self.consecutive_gateway = 0
        self.ejected = False
        self.num_ejections = 0
        self.backoff = 0
        self.last_ejection = 0.0
        self.last_unejection: float | None = None
        self.jitter = 0.0


class OutlierDetector:
    """Ejects endpoints that keep failing, the way Envoy's outlier detector does.

    `consecutive_5xx` 5xx answers (or local failures, mapped to 503/504) in a
    row eject an endpoint if that keeps the ejected share within
    `max_ejection_percent` (counting the new one; `always_eject_one_host` lets
    the first through anyway). An ejection lasts `base_ejection_time` times the
    endpoint's ejection multiplier, at most `max_ejection_time`; the multiplier
    grows with each ejection and shrinks by one per `interval` the endpoint
    stays healthy. Endpoints return only at an interval sweep, as in Envoy:
    `filter` runs the sweep when one is due, so no timer task is needed.
    """

    def __init__(
        self,
        config: OutlierConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] | None = None,
        listeners: list[Callable[[EjectionEvent], None]] | None = None,
    ) -> None:
        self.config = config or OutlierConfig()
        self._now = clock.now
        self._random = rng or random.random
        self._listeners = list(listeners or [])
        self._monitors: dict[object, _Monitor] = {}
        self._seen: object = None
        self._active = 0
        self._next_sweep = self._now() + self.config.interval

    def add_listener(self, listener: Callable[[EjectionEvent], None]) -> None:
        self._listeners.append(listener)

    def set_endpoints(self, endpoints: list | tuple) -> None:
        """Track membership: new endpoints get monitors, removed ones are forgotten."""
        self._seen = endpoints
        keep = set(endpoints)
        for endpoint in [e for e in self._monitors if e not in keep]:
            if self._monitors.pop(endpoint).ejected:
                self._active -= 1
        for endpoint in endpoints:
            self._monitors.setdefault(endpoint, _Monitor())

    def filter(self, endpoints: list | tuple) -> list:
        """The endpoints not ejected; runs a due sweep first."""
        if endpoints is not self._seen:
            self.set_endpoints(endpoints)
        if self._now() >= self._next_sweep:
            self.sweep()
        if not self._active:
            return list(endpoints)
        monitors = self._monitors
        return [e for e in endpoints if not monitors[e].ejected]

    def is_ejected(self, endpoint: object) -> bool:
        monitor = self._monitors.get(endpoint)
        return monitor is not None and monitor.ejected

    def ejected_count(self) -> int:
        return self._active

    def record(self, endpoint: object, status: int) -> None:
        """Report an HTTP status (or the status a local failure maps to).

        Once membership is known, an answer from an endpoint that has left it
        (a call still in flight when discovery removed it) is dropped, as Envoy
        drops a removed host's monitor: a ghost must not take an ejection slot.
        """
        monitor = self._monitors.get(endpoint)
        if monitor is None:
            if self._seen is not None:
                return
            monitor = self._monitors[endpoint] = _Monitor()
        if status < 500:
            monitor.consecutive_5xx = monitor.consecutive_gateway = 0
            return
        if status in (502, 503, 504):
            monitor.consecutive_gateway += 1
            if monitor.consecutive_gateway == self.config.consecutive_gateway_failure:
                self._detected(endpoint, monitor, "consecutive_gateway_failure")
        else:
            monitor.consecutive_gateway = 0
        monitor.consecutive_5xx += 1
        if monitor.consecutive_5xx == self.config.consecutive_5xx:
            self._detected(endpoint, monitor, "consecutive_5xx")

    def on_local_failure(self, endpoint: object, *, timeout: bool = False) -> None:
        """A connect failure counts as 503, a timeout as 504 (Envoy, no split)."""
        self.record(endpoint, 504 if timeout else 503)

    def sweep(self) -> None:
        """The interval timer: return endpoints whose ejection ran out; decay multipliers."""
        now = self._now()
        cfg = self.config
        self._next_sweep = now + cfg.interval
        for endpoint, monitor in self._monitors.items():
            if monitor.ejected:
                served = min(cfg.base_ejection_time * monitor.backoff, cfg.max_ejection_time)
                if served + monitor.jitter <= now - monitor.last_ejection:
                    self._uneject(endpoint, monitor, now)
        for monitor in self._monitors.values():
            if (
                not monitor.ejected
                and monitor.last_unejection is not None
                and now - monitor.last_unejection >= cfg.interval
                and monitor.backoff
            ):
                monitor.backoff -= 1

    def _detected(self, endpoint: object, monitor: _Monitor, kind: str) -> None:
        if not monitor.ejected:
            self._maybe_eject(endpoint, monitor, kind)
        if kind == "consecutive_5xx":
            monitor.consecutive_5xx = 0
        else:
            monitor.consecutive_gateway = 0

    def _maybe_eject(self, endpoint: object, monitor: _Monitor, kind: str) -> None:
        cfg = self.config
        percent = 100.0 * (self._active + 1) / max(1, len(self._monitors))
        allowed = percent <= cfg.max_ejection_percent
        if cfg.always_eject_one_host and self._active == 0:
            allowed = True
        enforcing = (
            cfg.enforcing_consecutive_5xx
            if kind == "consecutive_5xx"
            else cfg.enforcing_consecutive_gateway_failure
        )
        if not allowed or self._random() * 100 >= enforcing:
            return
        now = self._now()
        self._active += 1
        monitor.ejected = True
        monitor.num_ejections += 1
        monitor.last_ejection = now
        monitor.jitter = self._random() * cfg.max_ejection_time_jitter
        if (
            monitor.backoff * cfg.base_ejection_time
            < cfg.max_ejection_time + cfg.base_ejection_time
        ):
            monitor.backoff += 1
        self._emit(EjectionEvent(endpoint, "eject", kind, monitor.num_ejections, now))

    def _uneject(self, endpoint: object, monitor: _Monitor, now: float) -> None:
        self._active -= 1
        monitor.ejected = False
        monitor.consecutive_5xx = monitor.consecutive_gateway = 0
        monitor.last_unejection = now
        self._emit(
            EjectionEvent(endpoint, "uneject", "ejection time elapsed", monitor.num_ejections, now)
        )

    def _emit(self, event: EjectionEvent) -> None:
        log.info(
            "outlier detection: %s %s (%s, ejections=%d)",
            event.action, event.endpoint, event.reason, event.num_ejections,
        )  # fmt: skip
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("outlier detection: listener failed")
