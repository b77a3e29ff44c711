from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest

from kubelite.mesh.clock import FakeClock
from kubelite.mesh.deadline import Deadline
from kubelite.mesh.errors import CircuitOpenError, DeadlineExceededError
from kubelite.mesh.retry import Backoff, RetryBudget, RetryPolicy, call_with_retries


@dataclass
class Response:
    status_code: int


class FixedRandom(random.Random):
    """uniform(a, b) returns b * fraction: the jitter is known exactly."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [
        pytest.param(0, 0.1, id="first-retry-base"),
        pytest.param(1, 0.2, id="doubles"),
        pytest.param(3, 0.8, id="base-times-8"),
        pytest.param(4, 1.0, id="capped"),
        pytest.param(5000, 1.0, id="huge-attempt-no-overflow"),
    ],
)
def test_full_jitter_is_uniform_below_the_ceiling(attempt, ceiling) -> None:
    # AWS full jitter: sleep = random(0, min(cap, base * 2**attempt))
    assert Backoff(0.1, 1.0).ceiling(attempt) == pytest.approx(ceiling)
    assert Backoff(0.1, 1.0, rng=FixedRandom(1.0)).delay(attempt) == pytest.approx(ceiling)
    assert Backoff(0.1, 1.0, rng=FixedRandom(0.0)).delay(attempt) == 0.0


def test_full_jitter_spreads_delays() -> None:
    backoff = Backoff(0.1, 1.0, rng=random.Random(5))
    delays = [backoff.delay(2) for _ in range(1000)]
    assert 0 <= min(delays) < 0.05 and 0.35 < max(delays) <= 0.4


def test_constant_backoff() -> None:
    assert [Backoff.constant(2.0).delay(n) for n in range(3)] == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("requests", "elapsed", "retries_allowed"),
    [
        # reserve = 10/s * 10 s = 100 retries even with no traffic
        pytest.param(0, 0, 100, id="min-retries-floor"),
        # 1000 requests deposit 0.2 each = 200, plus the reserve 100
        pytest.param(1000, 0, 300, id="twenty-percent-plus-floor"),
        # deposits older than the 10 s window are gone; the reserve stays
        pytest.param(1000, 11, 100, id="deposits-expire"),
    ],
)
def test_retry_budget(requests, elapsed, retries_allowed) -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_retries_per_s=10, window_s=10, clock=clock)
    for _ in range(requests):
        budget.on_request()
    clock.advance(elapsed)
    granted = 0
    while budget.try_withdraw():
        granted += 1
    assert granted == retries_allowed


def test_retry_budget_withdrawals_expire_too() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_retries_per_s=1, window_s=10, clock=clock)
    assert sum(budget.try_withdraw() for _ in range(20)) == 10
    clock.advance(10)
    assert budget.balance() == 10


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"result": Response(503)}, True, id="503"),
        pytest.param({"result": Response(500)}, False, id="500-not-by-default"),
        pytest.param({"result": Response(200)}, False, id="200"),
        pytest.param({"error": ConnectionResetError()}, True, id="connection-error"),
        pytest.param({"error": TimeoutError()}, True, id="per-try-timeout"),
        pytest.param({"error": DeadlineExceededError()}, False, id="deadline"),
        pytest.param({"error": CircuitOpenError("x", "open")}, False, id="breaker-open"),
        pytest.param({"error": ValueError()}, False, id="bug"),
    ],
)
def test_retryable_outcomes(kwargs, expected) -> None:
    assert RetryPolicy().is_retryable(**kwargs) is expected


class Upstream:
    """Answers from a script; each answer may advance the fake clock first."""

    def __init__(self, clock: FakeClock, script: list, cost: float = 0.0) -> None:
        self.clock, self.script, self.cost, self.attempts = clock, list(script), cost, []

    async def __call__(self, attempt: int):
        self.attempts.append(attempt)
        self.clock.advance(self.cost)
        answer = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def run(upstream, policy, *, deadline=None, method="GET"):
    clock = upstream.clock
    return asyncio.run(
        call_with_retries(upstream, policy, deadline, clock, clock.sleep, method=method)
    )


def policy(**kwargs) -> RetryPolicy:
    return RetryPolicy(base=0.1, cap=1.0, rng=FixedRandom(1.0), **kwargs)


def test_retries_until_success_with_backoff() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [Response(503), ConnectionResetError(), Response(200)])
    assert run(upstream, policy(max_attempts=3)).status_code == 200
    assert upstream.attempts == [0, 1, 2]
    assert clock.sleeps == pytest.approx([0.1, 0.2])


def test_gives_back_the_last_outcome_when_attempts_run_out() -> None:
    clock = FakeClock()
    assert run(Upstream(clock, [Response(503)] * 3), policy()).status_code == 503
    with pytest.raises(ConnectionResetError):
        run(Upstream(clock, [ConnectionResetError()] * 3), policy())


@pytest.mark.parametrize(("method", "tries"), [("POST", 1), ("PUT", 3), ("get", 3)])
def test_only_idempotent_methods_are_retried(method, tries) -> None:
    upstream = Upstream(FakeClock(), [Response(503)] * 3)
    run(upstream, policy(), method=method)
    assert len(upstream.attempts) == tries


def test_budget_stops_retries() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_retries_per_s=0.1, window_s=10, clock=clock)  # 1 retry
    upstream = Upstream(clock, [Response(503)] * 5)
    run(upstream, policy(max_attempts=5, budget=budget))
    assert len(upstream.attempts) == 2


def test_deadline_stops_before_a_sleep_it_would_outlive() -> None:
    clock = FakeClock()
    deadline = Deadline.after(0.25, clock)
    # try 0 costs 0.1 s; sleep 0.1; try 1 costs 0.1 s; the next sleep (0.2) > 0.05 left
    upstream = Upstream(clock, [Response(503)] * 5, cost=0.1)
    assert run(upstream, policy(max_attempts=5), deadline=deadline).status_code == 503
    assert len(upstream.attempts) == 2


def test_expired_deadline_raises_before_trying() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1.0, clock)
    clock.advance(2.0)
    upstream = Upstream(clock, [Response(200)])
    with pytest.raises(DeadlineExceededError):
        run(upstream, policy(), deadline=deadline)
    assert upstream.attempts == []


def test_max_attempts_validation() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
