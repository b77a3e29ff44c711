"""Breaker state changes as Kubernetes Events: the words, and the contract the dashboard reads."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.mesh.breaker import CircuitBreakerConfig, StateChange
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.errors import CircuitOpenError
from kubelite.mesh.events import ObjectRef, event_body
from kubelite.mesh.resiliency import parse_trip
from kubelite.mesh.runtime import breaker_event
from kubelite.mesh.upstream import CallPolicy, Upstream


def drill(config: CircuitBreakerConfig) -> tuple[Upstream, list[StateChange], FakeClock]:
    """Five failures, a refused call, the open wait, one good trial call."""
    clock = FakeClock()
    changes: list[StateChange] = []
    up = Upstream("down", "shop", CallPolicy(breaker=config), clock=clock)
    up.add_breaker_listener(changes.append)
    breaker = up.breaker
    assert breaker is not None
    for _ in range(5):
        breaker.try_acquire()
        breaker.on_failure(0.01)
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire()
    clock.advance(3)
    breaker.try_acquire()
    breaker.on_success(0.01)
    return up, changes, clock


def test_consecutive_failures_drill_reads_like_a_story() -> None:
    config = CircuitBreakerConfig(
        trip=parse_trip("consecutiveFailures >= 5"),
        wait_duration_in_open_state=3,
        permitted_number_of_calls_in_half_open_state=1,
        minimum_number_of_calls=1,
    )
    up, changes, _ = drill(config)
    assert [breaker_event(up, c) for c in changes] == [
        ("CircuitBreakerOpened",
         "circuit breaker shop/down: closed -> open (after 5 consecutive failures)", "Warning"),
        ("CircuitBreakerHalfOpen",
         "circuit breaker shop/down: open -> half_open (after 3s open, allowing 1 trial call)",
         "Normal"),
        ("CircuitBreakerClosed",
         "circuit breaker shop/down: half_open -> closed (after 1 successful trial call)",
         "Normal"),
    ]  # fmt: skip


def test_failure_rate_reason_names_the_rate_window_and_threshold() -> None:
    config = CircuitBreakerConfig(
        sliding_window_size=5, minimum_number_of_calls=5, wait_duration_in_open_state=3,
        permitted_number_of_calls_in_half_open_state=1,
    )  # fmt: skip
    up, changes, _ = drill(config)
    assert changes[0].reason == "after a failure rate of 100% over the last 5 calls (threshold 50%)"
    assert changes[-1].reason == "after 1 successful trial call"


def test_events_are_what_the_dashboard_reads_back() -> None:
    from kubelite.dashboard.breakers import breaker_states

    config = CircuitBreakerConfig(trip=parse_trip("consecutiveFailures >= 5"),
                                  wait_duration_in_open_state=3, minimum_number_of_calls=1,
                                  permitted_number_of_calls_in_half_open_state=1)  # fmt: skip
    up, changes, _ = drill(config)
    ref = ObjectRef("Pod", "caller-1", "shop")
    events: list[dict[str, Any]] = []
    for change in changes[:1]:  # just opened
        reason, message, type_ = breaker_event(up, change)
        events.append(event_body(ref, reason=reason, message=message, type_=type_,
                                 component="kubelite-mesh"))  # fmt: skip
    pods = {("shop", "caller-1"): {"metadata": {"name": "caller-1", "labels": {"app": "caller"}}}}
    (state,) = breaker_states(events, pods)
    assert (state.upstream, state.state, state.previous, state.reason) == (
        "shop/down", "open", "closed", "after 5 consecutive failures",
    )  # fmt: skip


def test_recorded_events_carry_the_objects_uid_for_kubectl_describe() -> None:
    from types import SimpleNamespace

    from kubelite.mesh.events import EventRecorder

    posted: list[dict[str, Any]] = []
    reads: list[tuple[str, str]] = []

    class Core:
        def read_namespaced_pod(self, name: str, namespace: str) -> Any:
            reads.append((name, namespace))
            return SimpleNamespace(metadata=SimpleNamespace(uid="pod-uid-1"))

        def create_namespaced_event(self, namespace: str, body: dict[str, Any]) -> None:
            posted.append(body)

    access = SimpleNamespace(core=lambda: Core())
    recorder = EventRecorder(access)
    for message in ("m1", "m2"):
        recorder.record(
            ObjectRef("Pod", "orders-1", "shop"), reason="CircuitBreakerOpened", message=message
        )
    recorder.flush()
    assert [p["involvedObject"]["uid"] for p in posted] == ["pod-uid-1", "pod-uid-1"]
    assert reads == [("orders-1", "shop")]  # read once


def test_a_repeated_event_counts_up_on_the_first_one_as_client_go_correlates() -> None:
    from types import SimpleNamespace

    from kubernetes.client.exceptions import ApiException

    from kubelite.mesh.events import EventRecorder

    created: list[dict[str, Any]] = []
    patched: list[tuple[str, dict[str, Any]]] = []
    gone: set[str] = set()

    class Core:
        def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
            return SimpleNamespace(metadata=SimpleNamespace(uid="cm-uid"))

        def create_namespaced_event(self, namespace: str, body: dict[str, Any]) -> None:
            created.append(body)

        def patch_namespaced_event(self, name: str, namespace: str, body: Any, **_: Any) -> None:
            if name in gone:
                raise ApiException(status=404)
            patched.append((name, body))

    recorder = EventRecorder(SimpleNamespace(core=lambda: Core()))
    ref = ObjectRef("ConfigMap", "res", "shop")
    for message in ("refused: a", "refused: a", "refused: a", "refused: b"):
        recorder.record(ref, reason="InvalidConfig", message=message, type_="Warning")
    recorder.flush()
    first = created[0]["metadata"]["name"]
    assert [c["message"] for c in created] == ["refused: a", "refused: b"]
    assert [(name, body["count"]) for name, body in patched] == [(first, 2), (first, 3)]
    gone.add(first)  # the Event expired: the next repeat makes a new one
    recorder.record(ref, reason="InvalidConfig", message="refused: a", type_="Warning")
    recorder.flush()
    assert [c["message"] for c in created] == ["refused: a", "refused: b", "refused: a"]
