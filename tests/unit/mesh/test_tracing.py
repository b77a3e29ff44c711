from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kubelite.mesh.tracing import MeshPropagator, opentracing_tracer

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def extracted(headers: dict[str, str]) -> tuple[str, str, bool]:
    ctx = MeshPropagator().extract(headers)
    sc = trace.get_current_span(ctx).get_span_context()
    return format(sc.trace_id, "032x"), format(sc.span_id, "016x"), sc.trace_flags.sampled


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": f"00-{TRACE}-{SPAN}-01"},
        {"b3": f"{TRACE}-{SPAN}-1"},
        {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Sampled": "1"},
    ],
    ids=["w3c", "b3-single", "b3-multi"],
)
def test_extracts_w3c_and_both_b3_forms(headers: dict[str, str]) -> None:
    assert extracted(headers) == (TRACE, SPAN, True)


def test_w3c_wins_when_both_are_present() -> None:
    other = "a" * 32
    headers = {"traceparent": f"00-{TRACE}-{SPAN}-01", "b3": f"{other}-{SPAN}-1"}
    assert extracted(headers)[0] == TRACE


@pytest.mark.parametrize(
    ("inject", "expected"),
    [
        (("tracecontext",), {"traceparent"}),
        (("b3",), {"b3"}),
        (("b3multi",), {"x-b3-traceid", "x-b3-spanid", "x-b3-sampled"}),
        (
            ("tracecontext", "b3multi"),
            {"traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled"},
        ),
    ],
)
def test_injection_is_configurable(inject: tuple[str, ...], expected: set[str]) -> None:
    ctx = MeshPropagator().extract({"traceparent": f"00-{TRACE}-{SPAN}-01"})
    carrier: dict[str, str] = {}
    MeshPropagator(inject).inject(carrier, ctx)
    assert {k.lower() for k in carrier} == expected


def test_unknown_propagator_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown propagator 'jaeger'"):
        MeshPropagator(("jaeger",))


def test_opentracing_code_records_through_the_shim(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    tracer = opentracing_tracer()  # an opentracing.Tracer
    with tracer.start_active_span("checkout") as outer:
        outer.span.set_tag("order.id", "42")
        with tracer.start_active_span("charge"):
            pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["charge"].parent.span_id == spans["checkout"].context.span_id
    assert spans["checkout"].attributes["order.id"] == "42"
