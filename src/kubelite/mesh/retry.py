"""Retries: when to try again, how long to wait, and how many retries to allow.

- `Backoff` is AWS's "full jitter": before retry n (0-based) sleep a uniform
  random time in [0, min(cap, base * 2**n)]. Jitter spreads retries of many
  clients apart; the random source is injectable so tests are exact.
- `RetryBudget` is Finagle's: retries may be at most `ratio` of requests over
  the last `window_s` seconds, plus a floor of `min_retries_per_s` so that low
  traffic can still retry. A budget is shared by every call to an upstream;
  it is what stops retries from multiplying load when the upstream is down.
- `RetryPolicy` says which outcomes are retryable (statuses, connection errors,
  idempotent methods only) and bundles backoff and budget.
- `call_with_retries` runs an async call under a policy and a deadline; the
  deadline caps each try and the sleeps, so retrying never outlives the caller.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kubelite.mesh.clock import SYSTEM_CLOCK, Clock, Sleep
from kubelite.mesh.deadline import Deadline
from kubelite.mesh.errors import CircuitOpenError, DeadlineExceededError

__all__ = [
    "Backoff",
    "IDEMPOTENT_METHODS",
    "NotSentError",
    "RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryPolicy",
    "call_with_retries",
]

T = TypeVar("T")

# RFC 9110 section 9.2.2: methods whose repetition has the same effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Envoy's retriable-status-codes for "gateway-error" plus 429 (shed load, try elsewhere).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class NotSentError(ConnectionError):
    """A try that failed before the request left (connection refused): safe to retry any method.

    Clients raise it (wrapping the transport's error in `original`) so the
    retry loop may repeat even a POST: nothing reached a server, as Envoy's
    `connect-failure` and gRPC's transparent retries assume.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class Backoff:
    """Delay before each retry: full jitter, or constant (no jitter)."""

    __slots__ = ("base", "cap", "mode", "_uniform")

    def __init__(
        self,
        base: float = 0.025,
        cap: float = 0.25,
        *,
        mode: Literal["full_jitter", "constant"] = "full_jitter",
        rng: random.Random | None = None,
    ) -> None:
        if base < 0 or cap < base:
            raise ValueError("need 0 <= base <= cap")
        self.base = base
        self.cap = cap
        self.mode = mode
        self._uniform = (rng or random.Random()).uniform

    @classmethod
    def constant(cls, delay: float) -> Backoff:
        return cls(delay, delay, mode="constant")

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry `attempt` (0-based)."""
        if self.mode == "constant":
            return self.base
        # Beyond 2**63 the cap has long been reached; avoid float overflow.
        return min(self.cap, self.base * 2.0 ** min(attempt, 63))

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling if self.mode == "constant" else self._uniform(0.0, ceiling)


class RetryBudget:
    """Finagle's retry budget: a token balance over a sliding window.

    Each request deposits `ratio` of a token, each retry withdraws one, and a
    reserve of `min_retries_per_s * window_s` tokens is always there. Deposits
    and withdrawals leave the window after `window_s` (ten slices, as Finagle's
    windowed adder), so the budget follows current traffic. Amounts are kept in
    thousandths to stay exact.
    """

    __slots__ = (
        "ratio", "min_retries_per_s", "window_s", "_now", "_slices", "_slice_s",
        "_head", "_sum", "_deposit", "_reserve",
    )  # fmt: skip

    _SCALE = 1000
    _SLICES = 10

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries_per_s: float = 10,
        window_s: float = 10,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not 0 <= ratio <= 1000 or min_retries_per_s < 0 or window_s <= 0:
            raise ValueError("need 0 <= ratio, 0 <= min_retries_per_s, window_s > 0")
        self.ratio = ratio
        self.min_retries_per_s = min_retries_per_s
        self.window_s = window_s
        self._now = clock.now
        self._slices = [0] * self._SLICES
        self._slice_s = window_s / self._SLICES
        self._head = int(self._now() / self._slice_s)
        self._sum = 0
        self._deposit = int(ratio * self._SCALE)
        self._reserve = int(min_retries_per_s * window_s * self._SCALE)

    def on_request(self) -> None:
        """Count one (first-attempt) request: deposits `ratio` of a retry."""
        self._add(self._deposit)

    def try_withdraw(self) -> bool:
        """Take one retry from the budget if the balance allows it."""
        if self._reserve + self._window_sum() < self._SCALE:
            return False
        self._add(-self._SCALE)
        return True

    def balance(self) -> float:
        """Retries currently available."""
        return (self._reserve + self._window_sum()) / self._SCALE

    def _add(self, amount: int) -> None:
        self._roll()
        self._slices[self._head % self._SLICES] += amount
        self._sum += amount

    def _window_sum(self) -> int:
        self._roll()
        return self._sum

    def _roll(self) -> None:
        head = int(self._now() / self._slice_s)
        if head == self._head:
            return
        for k in range(1, min(head - self._head, self._SLICES) + 1):
            i = (self._head + k) % self._SLICES
            self._sum -= self._slices[i]
            self._slices[i] = 0
        self._head = head


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how to retry. `max_attempts` counts the first try; None = no limit."""

    max_attempts: int | None = 3
    base: float = 0.025
    cap: float = 0.25
    retry_on_statuses: frozenset[int] = RETRYABLE_STATUSES
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    budget: RetryBudget | None = None
    per_try_timeout: float | None = None
    backoff_mode: Literal["full_jitter", "constant"] = "full_jitter"
    retry_on_grpc_codes: frozenset[int] = frozenset({14})  # UNAVAILABLE
    rng: random.Random | None = field(default=None, compare=False)
    backoff: Backoff = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 (it counts the first try)")
        backoff = Backoff(self.base, self.cap, mode=self.backoff_mode, rng=self.rng)
        object.__setattr__(self, "backoff", backoff)

    def can_retry_method(self, method: str) -> bool:
        return method.upper() in self.idempotent_methods

    def is_retryable(self, *, result: Any = None, error: BaseException | None = None) -> bool:
        """A connection error, a per-try timeout or a retryable status/gRPC code."""
        if error is not None:
            if isinstance(error, (DeadlineExceededError, CircuitOpenError)):
                return False
            return isinstance(error, (ConnectionError, TimeoutError))
        status = getattr(result, "status_code", None)
        if status is not None:
            return status in self.retry_on_statuses
        code = getattr(result, "grpc_status", None)
        return code is not None and code in self.retry_on_grpc_codes


async def call_with_retries(
    fn: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    deadline: Deadline | None = None,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Sleep = asyncio.sleep,
    *,
    method: str = "GET",
    idempotent: bool | None = None,
    local_timeouts: bool = True,
) -> T:
    """Call `fn(attempt)` until it gives a non-retryable outcome or retries run out.

    Whether the call may be repeated comes from `method` (HTTP) unless
    `idempotent` says so directly (gRPC, whose methods carry no such verb).
    With `local_timeouts` False the tries are not timed here: the transport
    enforces the per-try timeout and the deadline itself (gRPC's own timeout),
    so a timeout has one cause and one outcome.
    Returns the last result (possibly a retryable status once retries are
    exhausted) or raises the last error. Raises `DeadlineExceededError` when
    the deadline passes before or during a try.
    """
    if policy.budget is not None:
        policy.budget.on_request()
    attempt = 0
    while True:
        result, error = await _one_try(fn, attempt, policy, deadline, clock, local_timeouts)
        if not _should_retry(policy, method, idempotent, attempt, result, error):
            break
        delay = policy.backoff.delay(attempt)
        if deadline is not None and delay >= deadline.remaining(clock):
            break  # sleeping would outlive the caller
        if policy.budget is not None and not policy.budget.try_withdraw():
            break
        await sleep(delay)
        attempt += 1
    if error is not None:
        raise error
    return result  # type: ignore[return-value]


def _should_retry(
    policy: RetryPolicy,
    method: str,
    idempotent: bool | None,
    attempt: int,
    result: Any,
    error: BaseException | None,
) -> bool:
    if policy.max_attempts is not None and attempt + 1 >= policy.max_attempts:
        return False
    if isinstance(error, NotSentError):
        return True  # nothing was sent: no method is harmed by another try
    if not (policy.can_retry_method(method) if idempotent is None else idempotent):
        return False
    return policy.is_retryable(result=result, error=error)


async def _one_try(
    fn: Callable[[int], Awaitable[T]],
    attempt: int,
    policy: RetryPolicy,
    deadline: Deadline | None,
    clock: Clock,
    local_timeouts: bool = True,
) -> tuple[T | None, BaseException | None]:
    timeout = policy.per_try_timeout if local_timeouts else None
    if deadline is not None:
        remaining = deadline.remaining(clock)
        if remaining <= 0:
            raise DeadlineExceededError(f"attempt {attempt + 1}", overdue=-remaining)
        if local_timeouts:
            timeout = remaining if timeout is None else min(timeout, remaining)
    try:
        if timeout is None or math.isinf(timeout):
            return await fn(attempt), None
        async with asyncio.timeout(timeout):
            return await fn(attempt), None
    except asyncio.CancelledError:
        raise
    except DeadlineExceededError:
        raise
    except TimeoutError as exc:
        if deadline is not None and deadline.remaining(clock) <= 0:
            raise DeadlineExceededError(f"attempt {attempt + 1}") from exc
        return None, exc
    except Exception as exc:
        return None, exc
