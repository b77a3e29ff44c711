"""The collector's own metrics, as zipkin-server exposes them at ``/metrics`` and ``/prometheus``.

Dashboards and alerts written for zipkin-server read these (is anything reporting,
are messages or spans being dropped), so the names, tags and meanings are Zipkin's
(``MicrometerCollectorMetrics``): per transport (``http`` for Zipkin intake,
``otel/http`` for OTLP/HTTP) the counters ``zipkin_collector.messages``,
``messages_dropped``, ``bytes``, ``spans`` and ``spans_dropped``, and the gauges
``message_spans`` and ``message_bytes`` (the last message's). ``/metrics`` is the
JSON of zipkin-server's ``ZipkinMetricsController``; ``/prometheus`` uses the names
Micrometer's Prometheus registry gives those meters (``zipkin_collector_messages_total``
and so on, with a ``transport`` label).

Intake updates plain attributes on the event loop thread: no locks, no registry on
the hot path. ``prometheus_client`` is loaded by the first scrape only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

HTTP: Final = "http"
OTEL_HTTP: Final = "otel/http"
PROMETHEUS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# (attribute, Micrometer meter name, description) in zipkin's registration order.
_COUNTERS: Final = (
    ("messages", "zipkin_collector.messages", "cumulative amount of messages received"),
    (
        "messages_dropped",
        "zipkin_collector.messages_dropped",
        "cumulative amount of messages received that were later dropped",
    ),
    ("bytes", "zipkin_collector.bytes", "cumulative amount of bytes received"),
    ("spans", "zipkin_collector.spans", "cumulative amount of spans received"),
    (
        "spans_dropped",
        "zipkin_collector.spans_dropped",
        "cumulative amount of spans received that were later dropped",
    ),
)
_GAUGES: Final = (
    ("message_spans", "zipkin_collector.message_spans", "count of spans per message"),
    (
        "message_bytes",
        "zipkin_collector.message_bytes",
        "size of a message containing serialized spans",
    ),
)


class TransportMetrics:
    """One transport's meters. Intake adds to ``messages`` and the ``*_dropped``
    counters directly; bytes and spans go through the two methods, which also set
    the last-message gauges as zipkin's ``incrementBytes``/``incrementSpans`` do."""

    __slots__ = (
        "bytes",
        "message_bytes",
        "message_spans",
        "messages",
        "messages_dropped",
        "spans",
        "spans_dropped",
        "transport",
    )

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.messages = 0
        self.messages_dropped = 0
        self.bytes = 0
        self.spans = 0
        self.spans_dropped = 0
        self.message_spans = 0
        self.message_bytes = 0

    def increment_bytes(self, size: int) -> None:
        self.message_bytes = size
        self.bytes += size

    def increment_spans(self, count: int) -> None:
        self.message_spans = count
        self.spans += count


class CollectorMetrics:
    """The meters of every transport built with it; share one between the Zipkin and
    the OTLP app so the Zipkin port's ``/metrics`` shows both."""

    def __init__(self) -> None:
        self._transports: dict[str, TransportMetrics] = {}
        self._registry: Any = None

    def for_transport(self, transport: str) -> TransportMetrics:
        """The transport's meters, registered (at zero) on first use, as zipkin
        registers them when a collector is built."""
        meters = self._transports.get(transport)
        if meters is None:
            meters = self._transports[transport] = TransportMetrics(transport)
        return meters

    def transports(self) -> list[TransportMetrics]:
        return list(self._transports.values())

    def as_json(self) -> dict[str, float]:
        """zipkin-server's ``GET /metrics``: ``counter.<name>.<transport>`` and
        ``gauge.<name>.<transport>``, as doubles."""
        out: dict[str, float] = {}
        for meters in self._transports.values():
            for attribute, name, _ in _COUNTERS:
                out[f"counter.{name}.{meters.transport}"] = float(getattr(meters, attribute))
            for attribute, name, _ in _GAUGES:
                out[f"gauge.{name}.{meters.transport}"] = float(getattr(meters, attribute))
        return out

    def prometheus_text(self) -> bytes:
        """The Prometheus text exposition (0.0.4) of the meters, named as Micrometer names them."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry(auto_describe=False)
            registry.register(_PrometheusCollector(self))
            self._registry = registry
        from prometheus_client import generate_latest

        return generate_latest(self._registry)


class _PrometheusCollector:
    """A ``prometheus_client`` collector reading the meters at scrape time."""

    def __init__(self, metrics: CollectorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        transports = self._metrics.transports()
        for attribute, name, description in _COUNTERS:
            # Micrometer: dots become underscores, counters end in _total.
            counter = CounterMetricFamily(
                name.replace(".", "_") + "_total", description, labels=["transport"]
            )
            for meters in transports:
                counter.add_metric([meters.transport], float(getattr(meters, attribute)))
            yield counter
        for attribute, name, description in _GAUGES:
            gauge = GaugeMetricFamily(name.replace(".", "_"), description, labels=["transport"])
            for meters in transports:
                gauge.add_metric([meters.transport], float(getattr(meters, attribute)))
            yield gauge
