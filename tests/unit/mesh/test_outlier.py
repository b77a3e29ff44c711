from __future__ import annotations

import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import EjectionEvent, OutlierConfig, OutlierDetector
from kubelite.mesh.clock import FakeClock


def make(n: int, clock: FakeClock, **config) -> tuple[OutlierDetector, tuple, list[EjectionEvent]]:
    events: list[EjectionEvent] = []
    detector = OutlierDetector(OutlierConfig(**config), clock=clock, listeners=[events.append])
    endpoints = tuple(Endpoint(f"127.244.0.{i + 1}", 80, name=f"pod-{i}") for i in range(n))
    detector.set_endpoints(endpoints)
    return detector, endpoints, events


def fail(detector: OutlierDetector, endpoint: Endpoint, times: int, status: int = 500) -> None:
    for _ in range(times):
        detector.record(endpoint, status)


@pytest.mark.parametrize(
    ("statuses", "ejected"),
    [
        pytest.param([500] * 5, True, id="five-5xx"),
        pytest.param([500] * 4, False, id="four-5xx"),
        pytest.param([500, 500, 200, 500, 500, 500], False, id="success-resets-streak"),
        pytest.param([500, 404, 500, 500, 500, 500], False, id="4xx-resets-streak"),
    ],
)
def test_consecutive_5xx(statuses, ejected) -> None:
    detector, eps, _ = make(2, FakeClock(), max_ejection_percent=100)
    for status in statuses:
        detector.record(eps[0], status)
    assert detector.is_ejected(eps[0]) is ejected


@pytest.mark.parametrize(
    ("hosts", "max_percent", "always_one", "ejections"),
    [
        # 1 of 10 = 10 % <= 10 %: allowed; a 2nd would be 20 %
        pytest.param(10, 10, False, 1, id="10-hosts-10pct"),
        # 1 of 5 = 20 % > 10 %: nothing may be ejected (Envoy counts the new one)
        pytest.param(5, 10, False, 0, id="5-hosts-10pct"),
        pytest.param(5, 10, True, 1, id="5-hosts-always-eject-one"),
        # 50 % of 4 = 2 hosts
        pytest.param(4, 50, False, 2, id="4-hosts-50pct"),
    ],
)
def test_max_ejection_percent(hosts, max_percent, always_one, ejections) -> None:
    detector, eps, _ = make(
        hosts, FakeClock(), max_ejection_percent=max_percent, always_eject_one_host=always_one
    )
    for endpoint in eps:
        fail(detector, endpoint, 5)
    assert detector.ejected_count() == ejections


def test_ejection_time_is_base_times_ejections() -> None:
    clock = FakeClock()
    detector, eps, events = make(
        2, clock, max_ejection_percent=100, interval=10, base_ejection_time=30
    )
    # 1st ejection lasts 30 s, 2nd (right after) 60 s, returning at the first sweep after.
    returned_after = []
    for _ in range(2):
        fail(detector, eps[0], 5)
        start = clock.now()
        while detector.is_ejected(eps[0]):
            clock.advance(10)
            detector.filter(eps)
        returned_after.append(clock.now() - start)
    assert returned_after == [30, 60]
    assert [e.action for e in events] == ["eject", "uneject", "eject", "uneject"]
    assert events[2].num_ejections == 2


def test_ejection_time_capped_by_max_ejection_time() -> None:
    clock = FakeClock()
    detector, eps, _ = make(
        2, clock, max_ejection_percent=100, interval=10, base_ejection_time=30,
        max_ejection_time=40,
    )  # fmt: skip
    for _ in range(3):
        fail(detector, eps[0], 5)
        start = clock.now()
        while detector.is_ejected(eps[0]):
            clock.advance(10)
            detector.filter(eps)
    assert clock.now() - start == 40


def test_multiplier_decays_while_healthy() -> None:
    clock = FakeClock()
    detector, eps, _ = make(2, clock, max_ejection_percent=100, interval=10, base_ejection_time=30)
    fail(detector, eps[0], 5)
    clock.advance(30)
    detector.sweep()  # back after 30 s; multiplier 1
    for _ in range(3):  # healthy sweeps decrement the multiplier to 0
        clock.advance(10)
        detector.sweep()
    fail(detector, eps[0], 5)  # multiplier back to 1: 30 s again, not 60
    clock.advance(30)
    detector.sweep()
    assert not detector.is_ejected(eps[0])


def test_filter_hides_ejected_and_sweeps_when_due() -> None:
    clock = FakeClock()
    detector, eps, _ = make(3, clock, max_ejection_percent=50, interval=10, base_ejection_time=10)
    fail(detector, eps[1], 5)
    assert [e.name for e in detector.filter(eps)] == ["pod-0", "pod-2"]
    clock.advance(10)
    assert len(detector.filter(eps)) == 3


def test_gateway_failures_only_when_enforced() -> None:
    detector, eps, _ = make(
        2, FakeClock(), max_ejection_percent=100, consecutive_5xx=100,
        enforcing_consecutive_gateway_failure=100,
    )  # fmt: skip
    fail(detector, eps[0], 5, status=503)
    fail(detector, eps[1], 5, status=500)
    assert detector.is_ejected(eps[0]) and not detector.is_ejected(eps[1])


def test_local_failures_count_as_5xx() -> None:
    detector, eps, _ = make(2, FakeClock(), max_ejection_percent=100)
    for i in range(5):
        detector.on_local_failure(eps[0], timeout=i % 2 == 0)
    assert detector.is_ejected(eps[0])


def test_removed_endpoints_free_their_ejection_slot() -> None:
    detector, eps, _ = make(2, FakeClock(), max_ejection_percent=50)
    fail(detector, eps[0], 5)
    assert detector.ejected_count() == 1
    detector.set_endpoints(eps[1:])
    assert detector.ejected_count() == 0


def test_config_rejects_max_below_base() -> None:
    with pytest.raises(ValueError, match="max_ejection_time"):
        OutlierConfig(base_ejection_time=30, max_ejection_time=10)


def test_answers_from_a_removed_endpoint_are_dropped() -> None:
    # A call to eps[0] was in flight when discovery removed it; its failures
    # must not eject a ghost that then holds the only ejection slot.
    detector, eps, events = make(3, FakeClock(), max_ejection_percent=50)
    detector.set_endpoints(eps[1:])
    fail(detector, eps[0], 5)
    assert detector.ejected_count() == 0 and not events
    fail(detector, eps[1], 5)
    assert detector.is_ejected(eps[1])
