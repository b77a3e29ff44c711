from __future__ import annotations

import pytest

from kubelite.mesh.breaker import (
    CircuitBreaker,
    CircuitBreakerConfig,
    Counts,
    State,
    StateChange,
)
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.errors import CircuitOpenError


def make_breaker(clock: FakeClock | None = None, **config) -> tuple[CircuitBreaker, list]:
    changes: list[StateChange] = []
    breaker = CircuitBreaker(
        "orders",
        CircuitBreakerConfig(**config),
        clock=clock or FakeClock(),
        listeners=[changes.append],
    )
    return breaker, changes


def feed(breaker: CircuitBreaker, outcomes: str, *, slow: float = 0.0) -> None:
    """s = success, f = failure, w = slow success; each goes through try_acquire."""
    for outcome in outcomes:
        breaker.try_acquire()
        if outcome == "f":
            breaker.on_failure(0.01)
        elif outcome == "w":
            breaker.on_success(slow)
        else:
            breaker.on_success(0.01)


COUNT = dict(sliding_window_size=10, minimum_number_of_calls=5, wait_duration_in_open_state=30)


@pytest.mark.parametrize(
    ("config", "outcomes", "state"),
    [
        # 4 failures < minimum_number_of_calls 5: no verdict yet
        pytest.param(COUNT, "ffff", State.CLOSED, id="below-minimum-calls"),
        # 5th call reaches the minimum: 5/5 = 100 % >= 50 %
        pytest.param(COUNT, "fffff", State.OPEN, id="all-failures-at-minimum"),
        # s s s f f: 2/5 = 40 % < 50 %
        pytest.param(COUNT, "sssff", State.CLOSED, id="40-percent"),
        # f f s s s f: 3/6 = 50 % >= 50 % (threshold is inclusive)
        pytest.param(COUNT, "ffsssf", State.OPEN, id="50-percent-inclusive"),
        # the 5th call is a success that completes the minimum: f f f s s -> 3/5 = 60 %
        pytest.param(COUNT, "fffss", State.OPEN, id="success-completes-minimum"),
        # window of 10: 5 old failures slide out behind 10 newer successes
        pytest.param({**COUNT, "minimum_number_of_calls": 20}, "f" * 4 + "s" * 10 + "f",
                     State.CLOSED, id="old-failures-slide-out"),
        # minimum_number_of_calls above the window size is capped to the window (10)
        pytest.param({**COUNT, "minimum_number_of_calls": 100}, "s" * 4 + "f" * 6, State.OPEN,
                     id="minimum-capped-to-window"),
        # slow calls: 3 slow of 5 = 60 % >= slow_call_rate_threshold 60
        pytest.param({**COUNT, "slow_call_rate_threshold": 60, "slow_call_duration_threshold": 1},
                     "sswww", State.OPEN, id="slow-call-rate"),
        pytest.param({**COUNT, "slow_call_rate_threshold": 80, "slow_call_duration_threshold": 1},
                     "sswww", State.CLOSED, id="slow-call-rate-below"),
    ],
)  # fmt: skip
def test_count_window_trip_conditions(config, outcomes, state) -> None:
    breaker, _ = make_breaker(**config)
    feed(breaker, outcomes, slow=2.0)
    assert breaker.state is state


def test_open_rejects_with_retry_after_then_half_open() -> None:
    clock = FakeClock()
    breaker, changes = make_breaker(clock, **COUNT)
    feed(breaker, "fffff")
    clock.advance(10)
    with pytest.raises(CircuitOpenError) as info:
        breaker.try_acquire()
    assert info.value.retry_after == pytest.approx(20)
    assert info.value.name == "orders" and info.value.state == "open"
    clock.advance(20)
    breaker.try_acquire()  # the wait elapsed: this call is a half-open probe
    assert breaker.state is State.HALF_OPEN
    assert [(c.from_state, c.to_state) for c in changes] == [
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.HALF_OPEN),
    ]


@pytest.mark.parametrize(
    ("probes", "state"),
    [
        pytest.param("sss", State.CLOSED, id="all-succeed"),
        pytest.param("ssf", State.CLOSED, id="one-of-three-fails-33pct"),
        pytest.param("sff", State.OPEN, id="two-of-three-fail-66pct"),
    ],
)
def test_half_open_judges_permitted_calls(probes, state) -> None:
    clock = FakeClock()
    breaker, _ = make_breaker(clock, **COUNT, permitted_number_of_calls_in_half_open_state=3)
    feed(breaker, "fffff")
    clock.advance(30)
    feed(breaker, probes)
    assert breaker.state is state


def test_half_open_limits_permits_and_cancel_returns_one() -> None:
    clock = FakeClock()
    breaker, _ = make_breaker(clock, **COUNT, permitted_number_of_calls_in_half_open_state=2)
    feed(breaker, "fffff")
    clock.advance(30)
    breaker.try_acquire()
    breaker.try_acquire()
    with pytest.raises(CircuitOpenError) as info:
        breaker.try_acquire()
    assert info.value.state == "half_open" and info.value.retry_after is None
    breaker.on_cancel()
    breaker.try_acquire()


@pytest.mark.parametrize(
    ("multiplier", "cap", "waits"),
    [
        pytest.param(1.0, None, [30, 30, 30], id="constant"),
        # 30, 60, 120 (x2 per failed probe)
        pytest.param(2.0, None, [30, 60, 120], id="exponential"),
        pytest.param(2.0, 45.0, [30, 45, 45], id="exponential-capped"),
    ],
)
def test_open_wait_grows_with_each_failed_probe(multiplier, cap, waits) -> None:
    clock = FakeClock()
    breaker, _ = make_breaker(
        clock,
        **COUNT,
        permitted_number_of_calls_in_half_open_state=1,
        wait_multiplier=multiplier,
        max_wait_duration_in_open_state=cap,
    )
    feed(breaker, "fffff")
    seen = []
    for _ in waits:
        seen.append(breaker.retry_after())
        clock.advance(breaker.retry_after())
        feed(breaker, "f")  # the probe fails: open again, longer
    assert seen == waits


def test_closing_resets_the_open_backoff() -> None:
    clock = FakeClock()
    breaker, _ = make_breaker(
        clock, **COUNT, permitted_number_of_calls_in_half_open_state=1, wait_multiplier=2.0
    )
    feed(breaker, "fffff")
    clock.advance(30)
    feed(breaker, "f")  # reopens for 60
    clock.advance(60)
    feed(breaker, "s")  # closes
    feed(breaker, "fffff")
    assert breaker.retry_after() == 30


def test_time_window_forgets_old_seconds() -> None:
    clock = FakeClock(start=100.0)
    breaker, _ = make_breaker(
        clock, sliding_window_type="time", sliding_window_size=5, minimum_number_of_calls=4
    )
    feed(breaker, "fff")  # second 100
    clock.advance(6)  # 106: second 100 is out of the 5 s window
    feed(breaker, "sss")
    assert breaker.state is State.CLOSED
    feed(breaker, "ff")  # 2 failures of 5 calls in window = 40 %
    assert breaker.state is State.CLOSED
    feed(breaker, "f")  # 3/6 = 50 %
    assert breaker.state is State.OPEN


def test_late_results_while_open_are_ignored() -> None:
    breaker, changes = make_breaker(**COUNT)
    feed(breaker, "fffff")
    breaker.on_failure(0.1)
    breaker.on_success(0.1)
    assert breaker.state is State.OPEN and len(changes) == 1


def test_listener_errors_do_not_break_the_caller() -> None:
    breaker, _ = make_breaker(**COUNT)

    def broken(change: StateChange) -> None:
        raise RuntimeError("metrics backend down")

    breaker.add_listener(broken)
    feed(breaker, "fffff")
    assert breaker.state is State.OPEN


def test_call_wraps_a_sync_function() -> None:
    breaker, _ = make_breaker(**COUNT)
    assert breaker.call(lambda x: x + 1, 1) == 2

    def fail() -> None:
        raise ConnectionError

    for _ in range(4):  # 1 success + 4 failures = 80 % at the minimum of 5 calls
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    with pytest.raises(CircuitOpenError):
        breaker.call(fail)


def test_reset_closes_and_clears() -> None:
    breaker, changes = make_breaker(**COUNT)
    feed(breaker, "fffff")
    breaker.reset()
    assert breaker.state is State.CLOSED and breaker.failure_rate == -1.0
    assert changes[-1].reason == "by a reset"


# -- gobreaker-style trip (Dapr) ----------------------------------------------------------


def consecutive_over(n: int):
    return lambda counts: counts.consecutive_failures > n


def test_trip_condition_opens_on_consecutive_failures() -> None:
    breaker, _ = make_breaker(trip=consecutive_over(2))
    feed(breaker, "ffsff")
    assert breaker.state is State.CLOSED  # the success broke the streak
    feed(breaker, "f")  # 3 in a row > 2
    assert breaker.state is State.OPEN


def test_trip_counts_reset_every_interval_while_closed() -> None:
    clock = FakeClock()
    breaker, _ = make_breaker(clock, trip=lambda c: c.total_failures >= 3, counts_interval=10)
    feed(breaker, "ff")
    clock.advance(10)
    feed(breaker, "ff")
    assert breaker.state is State.CLOSED and breaker.counts.total_failures == 2


@pytest.mark.parametrize(
    ("probes", "state"),
    [
        pytest.param("ss", State.CLOSED, id="max-requests-successes-close"),
        pytest.param("f", State.OPEN, id="any-failure-reopens"),
        pytest.param("s", State.HALF_OPEN, id="still-probing"),
    ],
)
def test_trip_half_open_follows_gobreaker(probes, state) -> None:
    clock = FakeClock()
    breaker, _ = make_breaker(
        clock,
        trip=consecutive_over(0),
        permitted_number_of_calls_in_half_open_state=2,
        wait_duration_in_open_state=5,
    )
    feed(breaker, "f")
    clock.advance(5)
    feed(breaker, probes)
    assert breaker.state is state


def test_counts_clear() -> None:
    counts = Counts(3, 1, 2, 0, 2)
    counts.clear()
    assert counts == Counts()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"failure_rate_threshold": 0}, id="zero-threshold"),
        pytest.param({"sliding_window_size": 0}, id="empty-window"),
        pytest.param({"wait_multiplier": 0.5}, id="shrinking-wait"),
        pytest.param({"sliding_window_type": "rolling"}, id="unknown-window-type"),
    ],
)
def test_config_validation(bad) -> None:
    with pytest.raises(ValueError):
        CircuitBreakerConfig(**bad)
