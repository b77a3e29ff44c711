from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kubelite.mesh import tracing
from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.metrics import MeshMetrics
from kubelite.mesh.serve import App
from kubelite.mesh.tracing import MeshPropagator, opentracing_tracer, traced_transport
from kubelite.mesh.upstream import CallPolicy

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


# -- setup_tracing and the OTEL_* variables ---------------------------------------------

OTEL_VARS = (
    "OTEL_PROPAGATORS", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME",
)  # fmt: skip
ZIPKIN = "http://zipkin.test:9411/api/v2/spans"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """setup_tracing without touching this process's globals: what it installs lands here."""
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    got: dict[str, Any] = {}
    monkeypatch.setattr(tracing, "_state", {})
    monkeypatch.setattr(trace, "set_tracer_provider", lambda p: got.__setitem__("provider", p))
    monkeypatch.setattr(propagate, "set_global_textmap", lambda t: got.__setitem__("textmap", t))
    return got


def setup(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tracing.setup_tracing("svc", batch=False, **kwargs)


def exporters_of(provider: Any) -> list[tuple[str, str | None]]:
    found = [p.span_exporter for p in provider._active_span_processor._span_processors]
    return [
        (type(e).__name__, getattr(e, "endpoint", None) or getattr(e, "_endpoint", None))
        for e in found
    ]


@pytest.mark.parametrize(
    ("env", "injected"),
    [
        ({"OTEL_PROPAGATORS": ""}, {"traceparent"}),  # empty is unset: tracecontext,baggage
        ({"OTEL_PROPAGATORS": " "}, {"traceparent"}),
        ({"OTEL_PROPAGATORS": "b3, tracecontext"}, {"b3", "traceparent"}),
        ({"OTEL_PROPAGATORS": "b3multi"}, {"x-b3-traceid", "x-b3-spanid", "x-b3-sampled"}),
        ({"OTEL_PROPAGATORS": "none"}, set()),
    ],
    ids=["empty", "blank", "list-with-spaces", "b3multi", "none"],
)
def test_propagators_follow_otel_propagators(
    installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
    injected: set[str],
) -> None:  # fmt: skip
    setup(env, monkeypatch)
    carrier: dict[str, str] = {}
    ctx = MeshPropagator().extract({"traceparent": f"00-{TRACE}-{SPAN}-01"})
    installed["textmap"].inject(carrier, ctx)
    assert {k.lower() for k in carrier} == injected


@pytest.mark.parametrize(
    ("env", "description"),
    [
        ({}, "ParentBased{root:TraceIdRatioBased{1.0}"),  # kubelite's default
        ({"OTEL_TRACES_SAMPLER_ARG": "0.25"}, "ParentBased{root:TraceIdRatioBased{0.25}"),
        ({"OTEL_TRACES_SAMPLER_ARG": "lots"}, "ParentBased{root:TraceIdRatioBased{1.0}"),
        ({"OTEL_TRACES_SAMPLER": ""}, "ParentBased{root:TraceIdRatioBased{1.0}"),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, "AlwaysOffSampler"),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, "ParentBased{root:AlwaysOnSampler"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
            "TraceIdRatioBased{0.5}",
        ),
    ],
    ids=["default", "ratio-arg", "bad-arg", "empty", "always-off", "parentbased-on", "ratio"],
)
def test_sampler_follows_otel_traces_sampler(
    installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
    description: str,
) -> None:  # fmt: skip
    provider = setup(env, monkeypatch)
    assert provider.sampler.get_description().startswith(description)


def test_sample_ratio_argument_wins(
    installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = setup({"OTEL_TRACES_SAMPLER": "always_off"}, monkeypatch, sample_ratio=0.1)
    assert provider.sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{0.1}")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN}, [("ZipkinExporter", ZIPKIN)]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
         [("OTLPSpanExporter", "http://c:4318/v1/traces")]),  # the base gets the signal path
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"},
         [("OTLPSpanExporter", "http://c:4318/custom")]),  # the per-signal one is used as is
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b"},
         [("OTLPSpanExporter", "http://t/x")]),  # and takes precedence
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN},
         [("OTLPSpanExporter", "http://localhost:4318/v1/traces")]),  # the SDK's default address
        ({"OTEL_TRACES_EXPORTER": "zipkin,console", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN},
         [("ZipkinExporter", ZIPKIN), ("ConsoleSpanExporter", None)]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN}, []),
        ({"OTEL_TRACES_EXPORTER": "", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN},
         [("ZipkinExporter", ZIPKIN)]),  # empty is unset: kubelite's default
        ({"OTEL_TRACES_EXPORTER": "carrier-pigeon"}, []),  # unknown: warned about, ignored
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN}, []),
        ({"OTEL_SDK_DISABLED": "yes", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN},
         [("ZipkinExporter", ZIPKIN)]),  # only "true" disables
    ],
    ids=["nothing", "zipkin", "otlp-base", "otlp-traces", "otlp-traces-wins", "exporter-otlp",
         "exporter-list", "exporter-none", "exporter-empty", "exporter-unknown", "sdk-disabled",
         "sdk-not-disabled"],
)  # fmt: skip
def test_exporters_follow_the_otel_variables(
    installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
    expected: list[tuple[str, str | None]],
) -> None:  # fmt: skip
    assert exporters_of(setup(env, monkeypatch)) == expected


def test_endpoint_arguments_win_over_the_environment(
    installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    provider = setup(env, monkeypatch, zipkin_endpoint=ZIPKIN)
    assert exporters_of(provider) == [("ZipkinExporter", ZIPKIN)]


def test_disabled_sdk_records_nothing_but_still_propagates(
    installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = setup({"OTEL_SDK_DISABLED": "true"}, monkeypatch)
    assert not provider.get_tracer("t").start_span("x").is_recording()
    assert isinstance(installed["textmap"], MeshPropagator)


def test_zipkin_export_names_the_remote_service() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("get /checkout", kind=trace.SpanKind.SERVER):
        attributes = {"peer.service": "orders", "server.port": 8080, "http.method": "GET"}
        with tracer.start_as_current_span("GET", kind=trace.SpanKind.CLIENT, attributes=attributes):
            pass
        with tracer.start_as_current_span("GET", kind=trace.SpanKind.CLIENT):
            pass  # nothing names the callee: no remoteEndpoint
    zipkin = tracing.zipkin_exporter(ZIPKIN)
    encoded = json.loads(zipkin.encoder.serialize(exporter.get_finished_spans(), zipkin.local_node))
    remotes = [(s["kind"], s.get("remoteEndpoint")) for s in encoded]
    assert remotes == [
        ("CLIENT", {"serviceName": "orders", "port": 8080}),
        ("CLIENT", None),
        ("SERVER", None),
    ]


# -- spans from the mesh's own server and clients ----------------------------------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The mesh's instrumentation records here; context travels as W3C and B3 single."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setattr(tracing, "_state", {"provider": provider})  # setup_tracing: done
    monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", MeshPropagator(["tracecontext", "b3"]))
    return exporter


def test_server_span_joins_and_client_span_names_the_callee(
    recorded: InMemorySpanExporter,
) -> None:
    sent: list[httpx.Request] = []

    def orders(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=[])

    mesh_transport = MeshTransport(
        discovery=StaticDiscovery({"orders": [Endpoint("10.0.0.1", 8080)]}),
        policy=CallPolicy(retry=None, breaker=None, outlier=None),
        inner=httpx.MockTransport(orders),
    )
    client = httpx.AsyncClient(base_url="http://orders", transport=traced_transport(mesh_transport))

    async def checkout(request: Request) -> PlainTextResponse:
        await client.get("/orders")
        return PlainTextResponse("ok")

    app = App(Starlette(routes=[Route("/checkout", checkout)]), metrics=MeshMetrics())

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as caller:
            return await caller.get("/checkout", headers={"b3": f"{TRACE}-{SPAN}-1"})

    assert asyncio.run(main()).status_code == 200
    spans = {s.kind.name: s for s in recorded.get_finished_spans()}
    # One server span (no "http send"/"http receive" children) and one client span.
    assert sorted(spans) == ["CLIENT", "SERVER"] and len(recorded.get_finished_spans()) == 2
    server, call = spans["SERVER"], spans["CLIENT"]
    assert {format(s.context.trace_id, "032x") for s in (server, call)} == {TRACE}
    assert server.parent is not None and format(server.parent.span_id, "016x") == SPAN
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert call.attributes is not None and call.attributes["peer.service"] == "orders"
    span_id = format(call.context.span_id, "016x")
    assert sent[0].headers["traceparent"] == f"00-{TRACE}-{span_id}-01"
    assert sent[0].headers["b3"] == f"{TRACE}-{span_id}-1"


def test_only_the_probe_and_scrape_paths_go_untraced() -> None:
    from opentelemetry.util.http import parse_excluded_urls

    from kubelite.mesh.tracing import UNTRACED_URLS

    excluded = parse_excluded_urls(UNTRACED_URLS)
    for url in ("http://shop/healthz", "http://shop/readyz", "http://shop/metrics?x=1"):
        assert excluded.url_disabled(url), url
    for url in ("http://shop/reports/metrics-daily", "http://metrics-api/orders"):
        assert not excluded.url_disabled(url), url


def test_lines_logged_after_the_server_span_ends_carry_its_ids(
    recorded: InMemorySpanExporter,
) -> None:
    """The server's traceback line comes once the tracing middleware has ended the
    span; it still names the request's trace, so the error joins its trace."""
    import logging

    from kubelite.mesh.logs import TraceContextFilter

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("boom")

    app = App(Starlette(routes=[Route("/boom", boom)]), metrics=MeshMetrics())
    lines: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lines.append  # type: ignore[method-assign]
    handler.addFilter(TraceContextFilter())
    log = logging.getLogger("kubelite.test.server")
    log.addHandler(handler)

    async def as_a_server_runs_it(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except RuntimeError:
            log.error("Exception in ASGI application", exc_info=True)

    async def main() -> None:
        transport = httpx.ASGITransport(app=as_a_server_runs_it)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as caller:
            await caller.get("/boom", headers={"traceparent": f"00-{TRACE}-{SPAN}-01"})

    try:
        asyncio.run(main())
        log.warning("after the request")  # outside any request: no ids
    finally:
        log.removeHandler(handler)
    [server] = recorded.get_finished_spans()
    first, after = lines
    assert first.trace_id == TRACE  # type: ignore[attr-defined]
    assert first.span_id == format(server.context.span_id, "016x")  # type: ignore[attr-defined]
    assert after.trace_id == "" and after.span_id == ""  # type: ignore[attr-defined]


# -- B3 sampling decisions: deny without ids, debug ----------------------------------------


def _through_the_mesh(headers: dict[str, str]) -> httpx.Request:
    """A request with `headers` reaches a mesh service, which calls `orders`; the call sent."""
    sent: list[httpx.Request] = []

    def orders(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    mesh_transport = MeshTransport(
        discovery=StaticDiscovery({"orders": [Endpoint("10.0.0.1", 8080)]}),
        policy=CallPolicy(retry=None, breaker=None, outlier=None),
        inner=httpx.MockTransport(orders),
    )
    client = httpx.AsyncClient(base_url="http://orders", transport=traced_transport(mesh_transport))

    async def checkout(request: Request) -> PlainTextResponse:
        await client.get("/orders")
        return PlainTextResponse("ok")

    app = App(Starlette(routes=[Route("/checkout", checkout)]), metrics=MeshMetrics())

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as caller:
            assert (await caller.get("/checkout", headers=headers)).status_code == 200

    asyncio.run(main())
    return sent[0]


@pytest.mark.parametrize(
    "headers", [{"b3": "0"}, {"X-B3-Sampled": "0"}, {"x-b3-sampled": "false"}],
    ids=["b3-single", "b3-multi", "b3-multi-false"],
)  # fmt: skip
def test_a_b3_deny_without_ids_is_honoured_and_propagated(
    recorded: InMemorySpanExporter, headers: dict[str, str]
) -> None:
    sent = _through_the_mesh(headers)
    assert recorded.get_finished_spans() == ()
    assert sent.headers["traceparent"].endswith("-00")
    assert sent.headers["b3"].endswith("-0")


@pytest.mark.parametrize(
    "headers",
    [
        {"b3": f"{TRACE}-{SPAN}-d"},
        {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Flags": "1"},
        {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Sampled": "0", "X-B3-Flags": "1"},
    ],
    ids=["b3-single", "b3-multi", "b3-multi-flags-win"],
)
def test_a_b3_debug_flag_is_sampled_propagated_and_exported_as_debug(
    recorded: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> None:
    sent = _through_the_mesh(headers)
    spans = recorded.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACE}
    assert len(spans) == 2
    assert sent.headers["traceparent"].endswith("-01")
    assert sent.headers["b3"].endswith("-d")
    zipkin = tracing.zipkin_exporter(ZIPKIN)
    encoded = json.loads(zipkin.encoder.serialize(spans, zipkin.local_node))
    assert [s.get("debug") for s in encoded] == [True, True]
    # The next hop speaks B3 multi: X-B3-Flags, and no X-B3-Sampled beside it (the spec).
    monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", MeshPropagator(["b3multi"]))
    sent = _through_the_mesh({"traceparent": sent.headers["traceparent"],
                              "tracestate": sent.headers["tracestate"]})  # fmt: skip
    assert sent.headers["x-b3-flags"] == "1" and "x-b3-sampled" not in sent.headers


def test_an_ordinary_sampled_span_is_not_exported_as_debug(
    recorded: InMemorySpanExporter,
) -> None:
    sent = _through_the_mesh({"b3": f"{TRACE}-{SPAN}-1"})
    assert sent.headers["b3"].endswith("-1")
    zipkin = tracing.zipkin_exporter(ZIPKIN)
    encoded = json.loads(zipkin.encoder.serialize(recorded.get_finished_spans(), zipkin.local_node))
    assert len(encoded) == 2 and all("debug" not in s for s in encoded)
