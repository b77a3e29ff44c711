from __future__ import annotations

import pytest

from kubelite.mesh.clock import FakeClock
from kubelite.mesh.errors import CircuitOpenError, ThrottledError
from kubelite.mesh.throttle import AdaptiveThrottle


class Dice:
    """A random source returning a fixed value, so a drop is certain or impossible."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def make(dice: float = 0.0, clock: FakeClock | None = None) -> tuple[AdaptiveThrottle, FakeClock]:
    clock = clock or FakeClock()
    return AdaptiveThrottle("orders", clock=clock, rng=Dice(dice)), clock


def record(throttle: AdaptiveThrottle, successes: int, failures: int) -> None:
    for _ in range(successes):
        throttle.on_success(0.01)
    for _ in range(failures):
        throttle.on_failure(0.01)


@pytest.mark.parametrize(
    ("successes", "failures", "expected"),
    [
        # (total - 5 - w*accepts)/(total+1); protection spares low traffic
        pytest.param(0, 5, 0.0, id="protection-5"),
        pytest.param(100, 0, 0.0, id="all-successes"),
        # no accepts, so w does not matter: (10 - 5 - 0)/11
        pytest.param(0, 10, 5 / 11, id="ten-failures"),
        # 10 accepts, 30 failures in one mixed bucket (failing run 0, w = 1.5):
        # (40 - 5 - 15)/41
        pytest.param(10, 30, 20 / 41, id="mixed-bucket"),
    ],
)
def test_drop_ratio_formula(successes, failures, expected) -> None:
    throttle, _ = make()
    record(throttle, successes, failures)
    assert throttle.drop_ratio() == pytest.approx(expected)


def test_w_sinks_towards_min_k_with_failing_buckets() -> None:
    throttle, clock = make()
    record(throttle, 20, 0)
    for _ in range(20):  # 20 consecutive failing buckets of 250 ms
        clock.advance(0.25)
        record(throttle, 0, 2)
    # w = 1.5 - 0.4 * 20/40 = 1.3; total 60, accepts 20: (60 - 5 - 26)/61
    assert throttle.drop_ratio() == pytest.approx(29 / 61)


def test_rejects_by_probability_and_counts_the_drop() -> None:
    throttle, _ = make(dice=0.0)
    record(throttle, 0, 20)
    with pytest.raises(ThrottledError) as info:
        throttle.try_acquire()
    assert isinstance(info.value, CircuitOpenError)
    assert throttle.history() == (0, 21)  # a drop counts as a request, not an accept


def test_admits_when_dice_are_above_the_ratio() -> None:
    throttle, _ = make(dice=0.99)
    record(throttle, 0, 20)
    throttle.try_acquire()


def test_force_pass_once_a_second() -> None:
    throttle, clock = make(dice=0.99)
    record(throttle, 0, 20)
    throttle.try_acquire()  # passes by dice: marks the last pass
    throttle._random = Dice(0.0)  # from now on every dice roll drops
    clock.advance(0.5)
    with pytest.raises(ThrottledError):
        throttle.try_acquire()
    clock.advance(0.6)  # > 1 s since the last pass
    throttle.try_acquire()


def test_window_forgets_after_ten_seconds() -> None:
    throttle, clock = make()
    record(throttle, 0, 50)
    clock.advance(10)
    assert throttle.history() == (0, 0)
    assert throttle.drop_ratio() == 0.0


def test_trailing_success_buckets_soften_drops() -> None:
    throttle, clock = make(dice=0.0)
    record(throttle, 0, 30)
    for _ in range(39):  # 39 all-success buckets after the failing one
        clock.advance(0.25)
        record(throttle, 1, 0)
    # ratio = (69 - 5 - 1.5*39)/70 = 0.0786 > 0, softened by (40-39)/40 = 0.025 -> 0.00196
    throttle._random = Dice(0.002)
    throttle.try_acquire()
    throttle._random = Dice(0.0019)
    with pytest.raises(ThrottledError):
        throttle.try_acquire()
