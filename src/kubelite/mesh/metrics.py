"""Prometheus metrics for a mesh service: what it serves, what it calls, how its policies act.

One `MeshMetrics` owns its own `CollectorRegistry` (not the global default),
so tests can build many without "duplicated timeseries" errors, and `/metrics`
serves exactly what the service declares plus process metrics. Names follow
Prometheus conventions (`_total`, `_seconds`, base units); label values are
bounded: routes are templates, upstreams are service names.

Breaker state is a gauge per (breaker, state) with 1 for the current state,
the shape Envoy and resilience4j export, so a dashboard can plot the state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubelite.mesh.breaker import EjectionEvent, StateChange

__all__ = ["METRICS", "MeshMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MeshMetrics:
    """Every metric kubelite.mesh records, in one registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.process_collector import ProcessCollector

        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        self.server_requests = Counter(
            "kubelite_http_server_requests_total", "Requests served, per route and status.",
            ["method", "route", "code"], registry=r,
        )  # fmt: skip
        self.server_latency = Histogram(
            "kubelite_http_server_request_duration_seconds", "Time to serve a request.",
            ["method", "route"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.server_in_flight = Gauge(
            "kubelite_http_server_requests_in_flight", "Requests being served now.", registry=r
        )
        self.upstream_requests = Counter(
            "kubelite_upstream_requests_total", "Calls to other services, per outcome.",
            ["upstream", "code"], registry=r,
        )  # fmt: skip
        self.upstream_latency = Histogram(
            "kubelite_upstream_request_duration_seconds", "Time of a call to another service, retries included.",
            ["upstream"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "kubelite_upstream_retries_total", "Retries sent to other services.", ["upstream"],
            registry=r,
        )  # fmt: skip
        self.rejected = Counter(
            "kubelite_upstream_rejected_total",
            "Calls refused locally (breaker open, throttled, bulkhead full, no endpoints, deadline).",
            ["upstream", "reason"], registry=r,
        )  # fmt: skip
        self.breaker_state = Gauge(
            "kubelite_circuit_breaker_state", "1 for the breaker's current state.",
            ["breaker", "state"], registry=r,
        )  # fmt: skip
        self.breaker_transitions = Counter(
            "kubelite_circuit_breaker_transitions_total", "Breaker state changes.",
            ["breaker", "from_state", "to_state"], registry=r,
        )  # fmt: skip
        self.ejections = Counter(
            "kubelite_outlier_ejections_total", "Endpoints ejected by outlier detection.",
            ["upstream"], registry=r,
        )  # fmt: skip
        self.config_reloads = Counter(
            "kubelite_config_reloads_total", "Config changes applied or refused.",
            ["config", "result"], registry=r,
        )  # fmt: skip
        self.grpc_requests = Counter(
            "kubelite_grpc_server_requests_total", "gRPC calls served, per method and code.",
            ["method", "code"], registry=r,
        )  # fmt: skip
        self.grpc_latency = Histogram(
            "kubelite_grpc_server_request_duration_seconds", "Time to serve a gRPC call.",
            ["method"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip

    def breaker_created(self, name: str) -> None:
        from kubelite.mesh.breaker import State

        for state in State:
            self.breaker_state.labels(name, state.value).set(1 if state is State.CLOSED else 0)

    def on_breaker_change(self, change: StateChange) -> None:
        for state in (change.from_state, change.to_state):
            self.breaker_state.labels(change.name, state.value).set(
                1 if state is change.to_state else 0
            )
        self.breaker_transitions.labels(
            change.name, change.from_state.value, change.to_state.value
        ).inc()

    def on_ejection(self, upstream: str) -> Callable[[EjectionEvent], None]:
        """A listener counting `upstream`'s outlier ejections."""
        counter = self.ejections.labels(upstream)

        def listener(event: EjectionEvent) -> None:
            if event.action == "eject":
                counter.inc()

        return listener

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Lazy:
    """The process-wide metrics, built on first use so importing the SDK stays light."""

    _instance: MeshMetrics | None = None

    def __call__(self) -> MeshMetrics:
        if self._instance is None:
            self._instance = MeshMetrics()
        return self._instance


METRICS = _Lazy()
