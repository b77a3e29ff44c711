"""Per-upstream policy state shared by the HTTP and gRPC clients.

An `Upstream` is everything a caller keeps about one service it calls: the
balancer, the service-level breaker (or adaptive throttle), per-endpoint
outlier detection, the retry budget and the bulkhead. `CallPolicy` is the
frozen description of those policies; `Upstream.set_policy` swaps them at run
time (hot reload from a Resiliency ConfigMap) and keeps the parts whose
settings did not change, so a reload does not reset a breaker that is open.

When outlier detection has ejected every endpoint, all are used again
(Envoy's panic mode): sending to a possibly sick endpoint beats sending nowhere.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from kubelite.mesh.balancers import Balancer, Endpoint, make_balancer
from kubelite.mesh.breaker import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitBreakerConfig,
    EjectionEvent,
    OutlierConfig,
    OutlierDetector,
    Permit,
    StateChange,
)
from kubelite.mesh.bulkhead import Bulkhead
from kubelite.mesh.clock import SYSTEM_CLOCK, Clock
from kubelite.mesh.deadline import Deadline
from kubelite.mesh.retry import RetryBudget, RetryPolicy
from kubelite.mesh.throttle import AdaptiveThrottle

__all__ = [
    "CallPolicy",
    "Upstream",
    "current_deadline",
    "deadline_scope",
]

# The deadline of the request being served, set by the server middleware and
# read by every client call made while serving it: this is how a deadline
# crosses a hop without the handler passing it along by hand.
current_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "kubelite_mesh_deadline", default=None
)


@contextmanager
def deadline_scope(deadline: Deadline | None) -> Iterator[None]:
    """Run a block under `deadline` (the earlier one wins when nested)."""
    outer = current_deadline.get()
    effective = deadline.earliest(outer) if deadline is not None else outer
    token = current_deadline.set(effective)
    try:
        yield
    finally:
        current_deadline.reset(token)


def _default_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=3)


@dataclass(frozen=True)
class CallPolicy:
    """How calls to one upstream are made; every part may be None (off)."""

    balancer: str = "round_robin"
    balancer_options: tuple[tuple[str, object], ...] = ()
    breaker: CircuitBreakerConfig | None = field(default_factory=CircuitBreakerConfig)
    adaptive_throttle: bool = False  # go-zero's SRE throttle instead of the breaker
    outlier: OutlierConfig | None = field(default_factory=OutlierConfig)
    retry: RetryPolicy | None = field(default_factory=_default_retry)
    retry_budget_ratio: float = 0.2
    retry_budget_min_per_s: float = 10.0
    timeout: float | None = None  # overall deadline per call, retries included
    max_concurrent: int | None = None  # bulkhead
    max_wait: float = 0.0
    hash_header: str | None = None  # request header ring_hash keys on


class Upstream:
    """The live policy objects for one service, rebuilt only where settings change."""

    def __init__(
        self,
        service: str,
        namespace: str,
        policy: CallPolicy | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_breaker_change: Sequence[Callable[[StateChange], None]] = (),
        on_ejection: Sequence[Callable[[EjectionEvent], None]] = (),
    ) -> None:
        self.service = service
        self.namespace = namespace
        self.name = f"{namespace}/{service}"
        self._clock = clock
        self._on_breaker_change = list(on_breaker_change)
        self._on_ejection = list(on_ejection)
        self.policy = CallPolicy(breaker=None, outlier=None, retry=None)
        self.balancer: Balancer = make_balancer("round_robin", service=service, namespace=namespace)
        self.breaker: BreakerPolicy | None = None
        self.outlier: OutlierDetector | None = None
        self.bulkhead: Bulkhead | None = None
        self.retry: RetryPolicy | None = None
        self.budget = RetryBudget(clock=clock)
        self.set_policy(policy or CallPolicy())

    def add_breaker_listener(self, listener: Callable[[StateChange], None]) -> None:
        """Hear state changes of this breaker and of any breaker a reload builds."""
        self._on_breaker_change.append(listener)
        if isinstance(self.breaker, CircuitBreaker):
            self.breaker.add_listener(listener)

    def set_policy(self, policy: CallPolicy) -> None:
        old = self.policy
        if (policy.balancer, policy.balancer_options) != (old.balancer, old.balancer_options):
            self.balancer = make_balancer(
                policy.balancer, service=self.service, namespace=self.namespace,
                **dict(policy.balancer_options),
            )  # fmt: skip
        if (policy.breaker, policy.adaptive_throttle) != (old.breaker, old.adaptive_throttle):
            self.breaker = self._make_breaker(policy)
        if policy.outlier != old.outlier:
            self.outlier = self._make_outlier(policy.outlier)
        if (policy.max_concurrent, policy.max_wait) != (old.max_concurrent, old.max_wait):
            self.bulkhead = (
                Bulkhead(self.name, policy.max_concurrent, max_wait=policy.max_wait)
                if policy.max_concurrent
                else None
            )
        if (policy.retry_budget_ratio, policy.retry_budget_min_per_s) != (
            old.retry_budget_ratio,
            old.retry_budget_min_per_s,
        ):
            self.budget = RetryBudget(
                policy.retry_budget_ratio, policy.retry_budget_min_per_s, clock=self._clock
            )
        retry = policy.retry
        if retry is not None and retry.budget is None:
            retry = dataclasses.replace(retry, budget=self.budget)
        self.retry = retry
        self.policy = policy

    def _make_breaker(self, policy: CallPolicy) -> BreakerPolicy | None:
        if policy.adaptive_throttle:
            return AdaptiveThrottle(self.name, clock=self._clock)
        if policy.breaker is None:
            return None
        breaker = CircuitBreaker(
            self.name, policy.breaker, clock=self._clock, listeners=self._on_breaker_change
        )
        return breaker

    def _make_outlier(self, config: OutlierConfig | None) -> OutlierDetector | None:
        if config is None:
            return None
        return OutlierDetector(config, clock=self._clock, listeners=self._on_ejection)

    def deadline(self, extra: Deadline | None = None) -> Deadline | None:
        """The call's deadline: its own timeout, the ambient one, `extra`; the earliest."""
        found = current_deadline.get()
        if extra is not None:
            found = extra.earliest(found)
        if self.policy.timeout is not None:
            found = Deadline.after(self.policy.timeout, self._clock).earliest(found)
        return found

    def choose(self, endpoints: Sequence[Endpoint], key: str | None = None) -> Endpoint:
        """Balance over the endpoints outlier detection has not ejected."""
        candidates: Sequence[Endpoint] = endpoints
        if self.outlier is not None:
            kept = self.outlier.filter(endpoints)  # type: ignore[arg-type]
            if kept:
                candidates = kept if len(kept) != len(endpoints) else endpoints
        return self.balancer.pick(candidates, key=key)

    async def admit(self) -> tuple[Permit | None, Bulkhead | None]:
        """Pass the breaker and take a bulkhead slot.

        The caller reports the outcome with the permit it got back (so a late
        answer cannot judge a later breaker state) and releases the bulkhead it
        got back (the policy may be replaced meanwhile).
        """
        breaker, bulkhead = self.breaker, self.bulkhead
        permit = breaker.try_acquire() if breaker is not None else None
        if bulkhead is not None:
            try:
                await bulkhead.acquire()
            except BaseException:
                if breaker is not None:
                    breaker.on_cancel(permit)
                raise
        return permit, bulkhead

    def record(self, endpoint: Endpoint, status: int) -> None:
        """Outlier detection sees every answer's status (local failures mapped by the caller)."""
        if self.outlier is not None:
            self.outlier.record(endpoint, status)
