"""OpenTelemetry tracing for mesh services, configured from the standard OTEL_* variables.

The node agent sets `OTEL_SERVICE_NAME` and the collector address
(`OTEL_EXPORTER_ZIPKIN_ENDPOINT`, e.g. http://127.0.0.1:9411/api/v2/spans, or
`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. http://127.0.0.1:4318); pointing either at
a real Zipkin or Jaeger needs no code change. `setup_tracing()` installs:

- a `TracerProvider` whose resource carries `service.name` (the SDK reads
  `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`); `OTEL_SDK_DISABLED=true`
  makes it a no-op that exports nothing (propagation still works, as the spec says);
- the sampler `OTEL_TRACES_SAMPLER` names (with `OTEL_TRACES_SAMPLER_ARG`),
  read by the SDK; unset, kubelite's default is `parentbased_traceidratio`: a
  request that arrives sampled stays sampled, new traces are sampled at
  `OTEL_TRACES_SAMPLER_ARG` (default 1.0);
- a batch span processor per exporter. `OTEL_TRACES_EXPORTER` picks them
  (`otlp`, `zipkin`, `console`, `none`, or any installed exporter's entry point
  name), each finding its collector the SDK's way
  (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` before `OTEL_EXPORTER_OTLP_ENDPOINT`,
  `OTEL_EXPORTER_ZIPKIN_ENDPOINT`). Unset, kubelite's default exports to
  whichever of those collector addresses is set (the cluster's collector);
- propagation that *extracts* W3C `traceparent`/`tracestate` and B3 in both
  single (`b3`) and multi-header (`X-B3-*`) forms, whatever the caller spoke,
  and *injects* what `OTEL_PROPAGATORS` lists (default `tracecontext,baggage`;
  any installed propagator, e.g. `b3` single and `b3multi`), so a mesh service
  sits in a Zipkin/B3 shop as well as in an OpenTelemetry one.
  B3 sampling decisions hold as openzipkin/b3-propagation defines them: a
  deny without ids (`b3: 0`, `X-B3-Sampled: 0`) makes the request's trace
  unsampled (not recorded, `sampled=0` downstream), and a debug flag
  (`b3: ...-d`, `X-B3-Flags: 1`) implies sampled, is carried with the trace
  (as the `kubelite-b3=d` tracestate entry, so it crosses W3C hops too), is
  injected again as `-d` / `X-B3-Flags: 1`, and only such spans are exported
  with Zipkin's `debug: true`.
  As everywhere in the spec, a variable set to the empty string counts as unset.

Server spans come from the ASGI middleware `App` installs (without the
middleware's per-message "http send"/"http receive" children) and from the
gRPC server interceptor; client spans from `traced_transport` around the mesh
HTTP transport (one span per logical call, the chosen endpoint is recorded by
the transport beneath) and from OpenTelemetry's gRPC client interceptors on
each endpoint's channel (one span per try). Client spans carry `peer.service`,
the callee's service name, which Zipkin shows as the remote service. The
OpenTelemetry Python Zipkin exporter does not map it to `remoteEndpoint` (the
spec says it should, and the Java and .NET exporters do), so the exporter
installed here adds that mapping, the same ranking the collector applies to OTLP.
Code written against OpenTracing works through `opentracing_tracer()` (the
OpenTelemetry shim). All OpenTelemetry imports are inside functions: importing
the SDK stays light.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "MeshPropagator",
    "grpc_client_interceptors",
    "opentracing_tracer",
    "select_exporters",
    "setup_tracing",
    "shutdown_tracing",
    "traced_transport",
    "zipkin_exporter",
]

log = logging.getLogger(__name__)
_state: dict[str, Any] = {}
_DEFAULT_PROPAGATORS = "tracecontext,baggage"
_OTLP_PROTOCOLS = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
# The tracestate entry that carries a B3 debug decision from span to span.
DEBUG_STATE_KEY, DEBUG_STATE_VALUE = "kubelite-b3", "d"


def _env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated OTEL_* list; empty (or only blanks) means unset, as the spec says."""
    text = os.environ.get(name, "").strip() or default
    return [item.strip() for item in text.split(",") if item.strip()]


def _entry_point(group: str, name: str) -> Any | None:
    from importlib.metadata import entry_points

    found = list(entry_points(group=group, name=name))
    return found[0].load() if found else None


def _propagators(names: Sequence[str]) -> list[Any]:
    """The installed propagators by entry point name, as OpenTelemetry loads OTEL_PROPAGATORS."""
    if any(name.lower() == "none" for name in names):
        return []  # "none" switches propagation off, as in opentelemetry.propagate
    out = []
    for name in names:
        factory = _entry_point("opentelemetry_propagator", name)
        if factory is None:
            from importlib.metadata import entry_points

            known = sorted({ep.name for ep in entry_points(group="opentelemetry_propagator")})
            raise ValueError(f"unknown propagator {name!r} (known: {', '.join(known)})")
        out.append(factory())
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
            ctx = self._extract_b3(carrier, context, getter)
        return self._baggage.extract(carrier, ctx, getter)

    def _extract_b3(self, carrier: Any, context: Any, getter: Any) -> Any:
        from opentelemetry import trace

        ctx = self._b3.extract(carrier, context, getter)
        found = trace.get_current_span(ctx).get_span_context()
        single = (_first(getter.get(carrier, "b3")) or "").strip().lower()
        if found.is_valid:
            parts = single.split("-")
            debug = (len(parts) >= 3 and parts[2] == "d") if single else (
                _first(getter.get(carrier, "x-b3-flags")) == "1")  # fmt: skip
            return _with_span_context(found, context, debug=True) if debug else ctx
        sampled = (_first(getter.get(carrier, "x-b3-sampled")) or "").strip().lower()
        if single == "0" or (not single and sampled in ("0", "false")):
            # A deny without ids: this trace is not recorded, and says so downstream.
            # The ids are made up (the caller sent none); an unsampled trace never shows them.
            from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

            ids = RandomIdGenerator()
            denied = trace.SpanContext(ids.generate_trace_id(), ids.generate_span_id(),
                                       is_remote=True, trace_flags=trace.TraceFlags(0))  # fmt: skip
            return trace.set_span_in_context(trace.NonRecordingSpan(denied), context)
        return ctx

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        from opentelemetry import trace
        from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
        from opentelemetry.propagators.textmap import default_setter

        setter = setter or default_setter
        span_context = trace.get_current_span(context).get_span_context()
        debug = span_context.is_valid and is_debug(span_context)
        for propagator in self._inject:
            if not (debug and isinstance(propagator, B3MultiFormat)):
                propagator.inject(carrier, context, setter)
                continue
            # Debug implies accept: `-d` in place of the sampled field, or X-B3-Flags
            # instead of X-B3-Sampled (openzipkin/b3-propagation).
            trace_id = trace.format_trace_id(span_context.trace_id)
            span_id = trace.format_span_id(span_context.span_id)
            if isinstance(propagator, B3SingleFormat):
                setter.set(carrier, "b3", f"{trace_id}-{span_id}-d")
            else:
                setter.set(carrier, "x-b3-traceid", trace_id)
                setter.set(carrier, "x-b3-spanid", span_id)
                setter.set(carrier, "x-b3-flags", "1")

    @property
    def fields(self) -> set[str]:
        fields: set[str] = set()
        for p in [self._w3c, self._b3, self._baggage, *self._inject]:
            fields |= set(p.fields)
        return fields | {"x-b3-flags"}


def _first(values: Any) -> str | None:
    if values is None or isinstance(values, str):
        return values
    return next(iter(values), None)


def is_debug(span_context: Any) -> bool:
    """Whether the trace carries a B3 debug decision (see `MeshPropagator`)."""
    return bool(span_context.trace_state.get(DEBUG_STATE_KEY) == DEBUG_STATE_VALUE)


def _with_span_context(found: Any, context: Any, *, debug: bool) -> Any:
    from opentelemetry import trace

    state = found.trace_state
    if debug:
        state = state.update(DEBUG_STATE_KEY, DEBUG_STATE_VALUE) if DEBUG_STATE_KEY in state \
            else state.add(DEBUG_STATE_KEY, DEBUG_STATE_VALUE)  # fmt: skip
    flags = trace.TraceFlags(found.trace_flags | trace.TraceFlags.SAMPLED)
    carried = trace.SpanContext(found.trace_id, found.span_id, is_remote=True,
                                trace_flags=flags, trace_state=state)  # fmt: skip
    return trace.set_span_in_context(trace.NonRecordingSpan(carried), context)


def zipkin_exporter(endpoint: str | None = None) -> Any:
    """OpenTelemetry's Zipkin JSON exporter, plus the spec's `remoteEndpoint` for client spans.

    Without `endpoint` the exporter reads `OTEL_EXPORTER_ZIPKIN_ENDPOINT` itself.
    """
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder

    from kubelite.tracing.otlp import remote_endpoint

    class RemoteEndpointEncoder(JsonV2Encoder):
        """JSON v2 with `remoteEndpoint` from `peer.service`, `server.address`, ... (spec ranking)."""

        @staticmethod
        def _encode_debug(span_context: Any) -> Any:
            # Zipkin's debug is "force this trace", not "sampled" (what the base encodes).
            return True if is_debug(span_context) else None

        def _encode_span(self, span: Any, encoded_local_endpoint: Any) -> dict[str, Any]:
            encoded: dict[str, Any] = super()._encode_span(span, encoded_local_endpoint)
            if encoded.get("kind") in ("CLIENT", "PRODUCER"):
                remote = remote_endpoint(dict(span.attributes or {}))
                if remote:
                    encoded["remoteEndpoint"] = remote
            return encoded

    exporter: Any = ZipkinExporter(endpoint=endpoint)  # JSON v2, the default protocol
    exporter.encoder = RemoteEndpointEncoder(exporter.encoder.max_tag_value_length)
    return exporter


def _otlp_exporter(base: str | None = None) -> Any:
    """OTLP/HTTP; without `base` the exporter resolves the OTEL_EXPORTER_OTLP_* endpoint itself."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if base is None:
        return OTLPSpanExporter()
    url = base if base.rstrip("/").endswith("/v1/traces") else base.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=url)


def _named_exporter(name: str) -> Any | None:
    """One `OTEL_TRACES_EXPORTER` entry; an unknown one is logged and ignored (the spec's rule)."""
    if name in ("zipkin", "zipkin_json"):
        return zipkin_exporter()
    if name == "otlp":
        protocol = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
            or "http/protobuf"
        )
        name = _OTLP_PROTOCOLS.get(protocol, "")
        if not name:
            log.warning("tracing: OTLP protocol %r is not supported; no OTLP export", protocol)
            return None
        if name == "otlp_proto_http":
            return _otlp_exporter()
    factory = _entry_point("opentelemetry_traces_exporter", name)
    if factory is None:
        log.warning("tracing: no span exporter named %r is installed; ignored", name)
        return None
    return factory()


def select_exporters(
    *, zipkin_endpoint: str | None = None, otlp_endpoint: str | None = None
) -> list[Any]:
    """The span exporters: the code's endpoints, else OTEL_TRACES_EXPORTER, else kubelite's default.

    kubelite's default (OTEL_TRACES_EXPORTER unset) exports to each collector
    whose address the environment gives: Zipkin, OTLP, both, or none.
    """
    if zipkin_endpoint or otlp_endpoint:  # code wins over the environment
        chosen = [zipkin_exporter(zipkin_endpoint)] if zipkin_endpoint else []
        return chosen + ([_otlp_exporter(otlp_endpoint)] if otlp_endpoint else [])
    names = _env_list("OTEL_TRACES_EXPORTER")
    if names:
        named = (_named_exporter(n) for n in names if n.lower() != "none")
        return [exporter for exporter in named if exporter is not None]
    env = os.environ
    found = [zipkin_exporter()] if env.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "").strip() else []
    if any(env.get(k, "").strip() for k in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                             "OTEL_EXPORTER_OTLP_ENDPOINT")):  # fmt: skip
        found.append(_otlp_exporter())
    return found


def _sampler(sample_ratio: float | None) -> Any | None:
    """The code's ratio; else None, for the SDK to read OTEL_TRACES_SAMPLER; else kubelite's default."""
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    if sample_ratio is not None:
        return ParentBasedTraceIdRatio(sample_ratio)
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip():
        return None
    arg = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    try:
        return ParentBasedTraceIdRatio(float(arg) if arg else 1.0)
    except ValueError:  # not a number, or outside [0, 1]: the SDK's fallback
        log.warning("tracing: OTEL_TRACES_SAMPLER_ARG %r is not a ratio; using 1.0", arg)
        return ParentBasedTraceIdRatio(1.0)


def _sdk_disabled() -> bool:
    """`OTEL_SDK_DISABLED`: only a case-insensitive "true" disables (the spec's boolean rule)."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


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
    """Install the tracer provider and propagators once per process; returns the provider.

    Arguments win over the environment: `service_name` over OTEL_SERVICE_NAME,
    `sample_ratio` over OTEL_TRACES_SAMPLER, the endpoints over
    OTEL_TRACES_EXPORTER; `exporters` are added to whatever that selects.
    """
    if "provider" in _state:
        return _state["provider"]
    from opentelemetry import propagate, trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name} if service_name else {}),
        sampler=_sampler(sample_ratio),
    )
    if not _sdk_disabled():
        found = list(exporters) + select_exporters(
            zipkin_endpoint=zipkin_endpoint, otlp_endpoint=otlp_endpoint
        )
        processor = BatchSpanProcessor if batch else SimpleSpanProcessor
        for exporter in found:
            provider.add_span_processor(processor(exporter))
    trace.set_tracer_provider(provider)
    names = (
        list(inject) if inject is not None else _env_list("OTEL_PROPAGATORS", _DEFAULT_PROPAGATORS)
    )
    propagate.set_global_textmap(MeshPropagator(names))  # type: ignore[arg-type]
    _state["provider"] = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporters (serve() calls this on exit)."""
    provider = _state.pop("provider", None)
    if provider is not None:
        provider.force_flush()
        provider.shutdown()


async def _name_http_peer(span: Any, request: Any) -> None:
    """httpx request hook: a mesh host names the callee's service (`peer.service`)."""
    from kubelite.mesh.client_http import split_service_host

    host = getattr(getattr(request, "url", None), "host", "")
    target = split_service_host(host, "") if host else None
    if target is not None and span.is_recording():
        span.set_attribute("peer.service", target[0])


def traced_transport(transport: Any) -> Any:
    """Wrap an httpx async transport so each call is a client span carrying context."""
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

    return AsyncOpenTelemetryTransport(transport, request_hook=_name_http_peer)


def grpc_client_interceptors(service: str, address: str, port: int) -> list[Any]:
    """OpenTelemetry's grpc.aio client interceptors for one endpoint's channel.

    Each try becomes a CLIENT span that carries the context onward (the global
    propagator injects into the call's metadata) and names the callee:
    `peer.service`, plus the endpoint as `network.peer.address`/`.port`.
    """
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    def name_peer(span: Any, request: Any) -> None:
        if span.is_recording():
            span.set_attribute("peer.service", service)
            span.set_attribute("network.peer.address", address)
            span.set_attribute("network.peer.port", port)

    return list(aio_client_interceptors(request_hook=name_peer))


def asgi_middleware(app: Any) -> Any:
    """Server spans for an ASGI app (context extracted with the global propagator).

    `exclude_spans` drops the middleware's INTERNAL "http send"/"http receive"
    spans (two or more per request that say nothing the server span does not).
    Only the probe and scrape paths themselves go untraced: OpenTelemetry searches
    each excluded pattern anywhere in the URL, so they are anchored.
    """
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"]
    )


UNTRACED_URLS = r"^[a-z]+://[^/]+/(healthz|readyz|metrics)/?(\?.*)?$"


def opentracing_tracer() -> Any:
    """An OpenTracing tracer that records into the OpenTelemetry provider (the shim)."""
    from opentelemetry import trace
    from opentelemetry.shim.opentracing_shim import create_tracer

    return create_tracer(trace.get_tracer_provider())
