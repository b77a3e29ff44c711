"""OpenTelemetry tracing for mesh services, configured from the standard OTEL_* variables.

The node agent sets `OTEL_SERVICE_NAME` and the collector address
(`OTEL_EXPORTER_ZIPKIN_ENDPOINT`, e.g. http://127.0.0.1:9411/api/v2/spans, or
`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. http://127.0.0.1:4318); pointing either at
a real Zipkin or Jaeger needs no code change. `setup_tracing()` installs:

- a `TracerProvider` whose resource carries `service.name`;
- parent-based ratio sampling: a request that arrives sampled stays sampled,
  new traces are sampled at `OTEL_TRACES_SAMPLER_ARG` (default 1.0);
- a batch span processor per configured exporter (spans leave off the request path);
- propagation that *extracts* W3C `traceparent`/`tracestate` and B3 in both
  single (`b3`) and multi-header (`X-B3-*`) forms, whatever the caller spoke,
  and *injects* what `OTEL_PROPAGATORS` lists (default `tracecontext,baggage`;
  also `b3` single and `b3multi`), so a mesh service sits in a Zipkin/B3 shop as
  well as in an OpenTelemetry one.

Server spans come from the ASGI middleware `App` installs, client spans from
`traced_transport` around the mesh transport (one span per logical call, the
chosen endpoint is recorded by the transport beneath). Code written against
OpenTracing works through `opentracing_tracer()` (the OpenTelemetry shim).
All OpenTelemetry imports are inside functions: importing the SDK stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "MeshPropagator",
    "opentracing_tracer",
    "setup_tracing",
    "shutdown_tracing",
    "traced_transport",
]

_state: dict[str, Any] = {}


def _propagators(names: Sequence[str]) -> list[Any]:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    known: dict[str, Callable[[], Any]] = {
        "tracecontext": TraceContextTextMapPropagator,
        "baggage": W3CBaggagePropagator,
        "b3": B3SingleFormat,
        "b3multi": B3MultiFormat,
    }
    out = []
    for name in names:
        if name == "none":
            continue
        if name not in known:
            raise ValueError(f"unknown propagator {name!r} (known: {', '.join(known)})")
        out.append(known[name]())
    return out


class MeshPropagator:
    """Extract W3C or B3 (single or multi), inject the configured formats."""

    def __init__(self, inject: Sequence[str] = ("tracecontext", "baggage")) -> None:
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.propagators.b3 import B3MultiFormat
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._w3c = TraceContextTextMapPropagator()
        self._baggage = W3CBaggagePropagator()
        self._b3 = B3MultiFormat()  # its extract also reads the single `b3` header
        self._inject = _propagators(inject)

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        from opentelemetry.propagators.textmap import default_getter
        from opentelemetry.trace import get_current_span

        if getter is None or getter is default_getter:
            getter = default_getter
            if isinstance(carrier, dict):  # header names are case-insensitive
                carrier = {str(k).lower(): v for k, v in carrier.items()}
        ctx = self._w3c.extract(carrier, context, getter)
        if not get_current_span(ctx).get_span_context().is_valid:
            ctx = self._b3.extract(carrier, context, getter)
        return self._baggage.extract(carrier, ctx, getter)

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        from opentelemetry.propagators.textmap import default_setter

        for propagator in self._inject:
            propagator.inject(carrier, context, setter or default_setter)

    @property
    def fields(self) -> set[str]:
        fields: set[str] = set()
        for p in [self._w3c, self._b3, self._baggage, *self._inject]:
            fields |= set(p.fields)
        return fields


def _exporters(zipkin: str | None, otlp: str | None) -> list[Any]:
    exporters: list[Any] = []
    if zipkin:
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        exporters.append(ZipkinExporter(endpoint=zipkin))
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = otlp if otlp.rstrip("/").endswith("/v1/traces") else otlp.rstrip("/") + "/v1/traces"
        exporters.append(OTLPSpanExporter(endpoint=url))
    return exporters


def setup_tracing(
    service_name: str | None = None,
    *,
    zipkin_endpoint: str | None = None,
    otlp_endpoint: str | None = None,
    sample_ratio: float | None = None,
    inject: Sequence[str] | None = None,
    exporters: Sequence[Any] = (),
    batch: bool = True,
) -> Any:
    """Install the tracer provider and propagators once per process; returns the provider."""
    if "provider" in _state:
        return _state["provider"]
    from opentelemetry import propagate, trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    env = os.environ
    name = service_name or env.get("OTEL_SERVICE_NAME") or "unknown_service"
    ratio = (
        sample_ratio
        if sample_ratio is not None
        else float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": name}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    found = list(exporters) + _exporters(
        zipkin_endpoint or env.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT"),
        otlp_endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    processor = BatchSpanProcessor if batch else SimpleSpanProcessor
    for exporter in found:
        provider.add_span_processor(processor(exporter))
    trace.set_tracer_provider(provider)
    names = inject or [
        n.strip() for n in env.get("OTEL_PROPAGATORS", "tracecontext,baggage").split(",")
    ]
    propagate.set_global_textmap(MeshPropagator(names))  # type: ignore[arg-type]
    _state["provider"] = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporters (serve() calls this on exit)."""
    provider = _state.pop("provider", None)
    if provider is not None:
        provider.force_flush()
        provider.shutdown()


def traced_transport(transport: Any) -> Any:
    """Wrap an httpx async transport so each call is a client span carrying context."""
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

    return AsyncOpenTelemetryTransport(transport)


def asgi_middleware(app: Any) -> Any:
    """Server spans for an ASGI app (context extracted with the global propagator)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app, excluded_urls="healthz,readyz,metrics")


def opentracing_tracer() -> Any:
    """An OpenTracing tracer that records into the OpenTelemetry provider (the shim)."""
    from opentelemetry import trace
    from opentelemetry.shim.opentracing_shim import create_tracer

    return create_tracer(trace.get_tracer_provider())
