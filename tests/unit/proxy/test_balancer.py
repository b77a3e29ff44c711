"""Endpoint choice: round-robin, least-connections, ClientIP affinity, drain on removal."""

from __future__ import annotations

import pytest

from kubelite.controllers.clock import FakeClock
from kubelite.proxy.balancer import Balancer, LeastConnections
from kubelite.proxy.servicemap import Endpoint

A, B, C = Endpoint("127.244.0.2", 80), Endpoint("127.244.0.3", 80), Endpoint("127.244.0.4", 80)


def picks(bal: Balancer, n: int, client: str = "") -> list[Endpoint]:
    return [e for e in (bal.pick(client) for _ in range(n)) if e is not None]


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        pytest.param([A, B, C], [A, B, C, A, B, C], id="cycles-in-order"),
        pytest.param([C, A], [A, C, A, C, A, C], id="sorted-by-address"),
        pytest.param([], [], id="none-means-no-choice"),
    ],
)
def test_round_robin(endpoints: list[Endpoint], expected: list[Endpoint]) -> None:
    assert picks(Balancer(endpoints), 6) == expected


def test_removed_endpoint_gets_no_new_connections() -> None:
    bal = Balancer([A, B, C])
    assert picks(bal, 2) == [A, B]
    bal.update([A, C])  # B left the slice: open connections drain, new ones skip it
    assert B not in picks(bal, 10)


def test_exclude_skips_a_refusing_endpoint() -> None:
    bal = Balancer([A, B])
    assert bal.pick(exclude=[A]) == B
    assert bal.pick(exclude=[A, B]) is None


def test_least_connections_prefers_idle() -> None:
    bal = LeastConnections([A, B, C])
    bal.opened(A)
    bal.opened(A)
    bal.opened(B)
    # open: A=2, B=1, C=0 -> C; then C=1 ties B=1 -> round-robin among the tied
    first = bal.pick()
    assert first == C
    bal.opened(C)
    assert bal.pick() in (B, C)
    bal.closed(A)
    bal.closed(A)
    assert bal.pick() == A  # A=0 now


@pytest.mark.parametrize(
    ("elapsed", "same"),
    [
        pytest.param(5, True, id="within-timeout-sticks"),
        pytest.param(10, True, id="at-timeout-sticks"),
        pytest.param(11, False, id="after-timeout-rebalances"),
    ],
)
def test_client_ip_affinity(elapsed: float, same: bool) -> None:
    clock = FakeClock(0)
    bal = Balancer([A, B, C], affinity_s=10, clock=clock)
    first = bal.pick("10.0.0.1")
    assert bal.pick("10.0.0.9") != first  # another client goes round the ring
    clock.step(elapsed)
    assert (bal.pick("10.0.0.1") == first) is same


def test_affinity_dropped_when_endpoint_leaves() -> None:
    bal = Balancer([A, B], affinity_s=100, clock=FakeClock(0))
    assert bal.pick("c") == A
    bal.update([B])
    assert bal.pick("c") == B
