"""Breaker states come from the latest breaker Event per (pod, upstream)."""

from __future__ import annotations

from typing import Any

from dash_builders import make_event, make_pod

from kubelite.dashboard.breakers import breaker_states


def _change(
    pod: dict[str, Any], upstream: str, before: str, after: str, seconds_ago: int
) -> dict[str, Any]:
    reason = {"open": "CircuitBreakerOpened", "half_open": "CircuitBreakerHalfOpen",
              "closed": "CircuitBreakerClosed"}[after]  # fmt: skip
    return make_event(
        pod,
        reason=reason,
        message=f"circuit breaker {upstream}: {before} -> {after} (failure rate 60% >= 50%)",
        type_="Warning" if after == "open" else "Normal",
        seconds_ago=seconds_ago,
    )


def test_latest_state_per_pod_and_upstream() -> None:
    orders = make_pod("orders-1", labels={"app": "orders"})
    pods = {("default", "orders-1"): orders}
    events = [
        _change(orders, "default/payments", "closed", "open", 30),
        _change(orders, "default/payments", "open", "half_open", 20),
        _change(orders, "default/payments", "half_open", "closed", 10),
        _change(orders, "default/stock", "closed", "open", 5),
    ]
    states = breaker_states(events, pods)
    # Open first, then closed; the payments breaker went through three changes.
    assert [(x.upstream, x.state, x.previous, x.transitions) for x in states] == [
        ("default/stock", "open", "closed", 1),
        ("default/payments", "closed", "half_open", 3),
    ]
    assert states[0].service == "orders"
    assert states[0].reason == "failure rate 60% >= 50%"


def test_breakers_of_pods_that_are_gone_are_left_out() -> None:
    gone = make_pod("orders-old")
    assert breaker_states([_change(gone, "default/payments", "closed", "open", 5)], {}) == []


def test_other_events_are_ignored() -> None:
    pod = make_pod("web")
    unrelated = make_event(pod, reason="Started", message="Started container app")
    assert breaker_states([unrelated], {("default", "web"): pod}) == []


def test_unparsable_message_keeps_the_state() -> None:
    pod = make_pod("web")
    event = make_event(pod, reason="CircuitBreakerOpened", message="something else")
    [state] = breaker_states([event], {("default", "web"): pod})
    assert (state.state, state.upstream, state.reason) == ("open", "?", "something else")
