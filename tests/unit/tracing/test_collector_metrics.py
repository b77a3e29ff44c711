"""GET /metrics and GET /prometheus: zipkin-server's collector counters, per transport."""

from __future__ import annotations

import gzip
import subprocess
import sys
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client.parser import text_string_to_metric_families
from tracing_builders import NOW_US, field, make_span, request
from v1_builders import json_span

from kubelite.tracing import SpanStore, bodies, create_otlp_app, create_zipkin_app
from kubelite.tracing.collector_metrics import CollectorMetrics

COUNTERS = ("messages", "messages_dropped", "bytes", "spans", "spans_dropped")
GAUGES = ("message_spans", "message_bytes")


def zeros(transport: str) -> dict[str, float]:
    keys = [f"counter.zipkin_collector.{name}.{transport}" for name in COUNTERS]
    keys += [f"gauge.zipkin_collector.{name}.{transport}" for name in GAUGES]
    return dict.fromkeys(keys, 0.0)


def expected(transport: str = "http", **values: float) -> dict[str, float]:
    """The whole /metrics answer for one transport: zeros but for ``values``."""
    out = zeros(transport)
    for name, value in values.items():
        kind = "gauge" if name in GAUGES else "counter"
        out[f"{kind}.zipkin_collector.{name}.{transport}"] = float(value)
    return out


def metrics_of(app: Any) -> dict[str, float]:
    response = request(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result: dict[str, float] = response.json()
    assert all(isinstance(value, float) for value in result.values())
    return result


def post(app: Any, path: str, body: bytes, **headers: str) -> int:
    return request(app, "POST", path, content=body, headers=headers).status_code


def two_spans() -> bytes:
    return orjson.dumps([make_span(id="1" * 16), make_span(id="2" * 16, parent="1" * 16)])


# -- zipkin proto3 (ListOfSpans), built by hand ------------------------------------------------


def proto_spans(count: int) -> bytes:
    return b"".join(
        field(1, field(1, bytes.fromhex("a" * 32)) + field(3, i.to_bytes(8, "big")))
        for i in range(1, count + 1)
    )


def otlp_export(count: int) -> bytes:
    spans = [
        Span(
            trace_id=bytes.fromhex("b" * 32),
            span_id=i.to_bytes(8, "big"),
            name="work",
            start_time_unix_nano=NOW_US * 1000,
            end_time_unix_nano=NOW_US * 1000 + 1000,
        )
        for i in range(1, count + 1)
    ]
    message = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return message.SerializeToString()


# -- /metrics ----------------------------------------------------------------------------------


def test_meters_are_registered_at_zero_from_start_up(store: SpanStore) -> None:
    assert metrics_of(create_zipkin_app(store)) == zeros("http")
    shared = CollectorMetrics()
    app = create_zipkin_app(store, metrics=shared)
    create_otlp_app(store, metrics=shared)
    assert metrics_of(app) == {**zeros("http"), **zeros("otel/http")}


def test_json_batch_counts_message_bytes_and_spans(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    body = two_spans()
    assert post(app, "/api/v2/spans", body, **{"Content-Type": "application/json"}) == 202
    one = len(body)
    assert metrics_of(app) == expected(
        messages=1, bytes=one, spans=2, message_spans=2, message_bytes=one
    )
    small = orjson.dumps([make_span(id="3" * 16)])
    assert post(app, "/api/v2/spans", small) == 202
    assert metrics_of(app) == expected(
        messages=2, bytes=one + len(small), spans=3, message_spans=1, message_bytes=len(small)
    )
    assert len(store.get_trace("a" * 16)) == 3


def test_json_batch_off_the_fast_path_counts_too(store: SpanStore) -> None:
    """Non-canonical JSON (here: an extra field) goes through the careful decoder."""
    body = orjson.dumps([make_span(unknown=[1, 2]), make_span(id="2" * 16, kind="CLIENT")])
    assert post(app := create_zipkin_app(store), "/api/v2/spans", body) == 202
    assert metrics_of(app) == expected(
        messages=1, bytes=len(body), spans=2, message_spans=2, message_bytes=len(body)
    )


def test_proto3_batch_counts(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    body = proto_spans(3)
    assert post(app, "/api/v2/spans", body, **{"Content-Type": "application/x-protobuf"}) == 202
    assert metrics_of(app) == expected(
        messages=1, bytes=len(body), spans=3, message_spans=3, message_bytes=len(body)
    )


def test_v1_batch_counts_under_http(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    body = orjson.dumps([json_span(trace="1", id="3", parent=None, timestamp=NOW_US)])
    assert post(app, "/api/v1/spans", body, **{"Content-Type": "application/json"}) == 202
    assert metrics_of(app) == expected(
        messages=1, bytes=len(body), spans=1, message_spans=1, message_bytes=len(body)
    )


@pytest.mark.parametrize("path", ["/api/v2/spans", "/api/v1/spans"])
@pytest.mark.parametrize("body", [b"[]", b""], ids=["empty-list", "empty-body"])
def test_empty_batch_is_a_message_of_no_bytes_and_no_spans(
    store: SpanStore, path: str, body: bytes
) -> None:
    """As zipkin: ``[]`` is emptied before its bytes are counted, and an empty list never
    reaches the span count, so the last message's span gauge keeps its value."""
    app = create_zipkin_app(store)
    first = two_spans()
    assert post(app, "/api/v2/spans", first) == 202
    assert post(app, path, body) == 202
    assert metrics_of(app) == expected(
        messages=2, bytes=len(first), spans=2, message_spans=2, message_bytes=0
    )


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        pytest.param("/api/v2/spans", b"{not json", {}, id="v2-not-a-list"),
        pytest.param("/api/v2/spans", b'[{"traceId": "zz"}]', {}, id="v2-bad-span"),
        pytest.param(
            "/api/v2/spans",
            b"\x0a\x05abc",
            {"Content-Type": "application/x-protobuf"},
            id="v2-truncated-proto3",
        ),
        pytest.param("/api/v1/spans", b"[{]", {}, id="v1-malformed-json"),
    ],
)
def test_undecodable_body_is_a_dropped_message(
    store: SpanStore, path: str, body: bytes, headers: dict[str, str]
) -> None:
    app = create_zipkin_app(store)
    assert post(app, path, body, **headers) == 400
    # The bytes were read before decoding failed; no span was decoded.
    assert metrics_of(app) == expected(
        messages=1, messages_dropped=1, bytes=len(body), message_bytes=len(body)
    )


def test_gzip_counts_the_inflated_bytes(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    body = orjson.dumps([make_span(id=f"{i:016x}", name="x" * 200) for i in range(1, 6)])
    compressed = gzip.compress(body)
    assert len(compressed) < len(body)
    assert post(app, "/api/v2/spans", compressed, **{"Content-Encoding": "gzip"}) == 202
    assert metrics_of(app) == expected(
        messages=1, bytes=len(body), spans=5, message_spans=5, message_bytes=len(body)
    )


def test_bad_gzip_is_a_dropped_message_of_no_bytes(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    assert post(app, "/api/v2/spans", b"not gzip", **{"Content-Encoding": "gzip"}) == 400
    assert metrics_of(app) == expected(messages=1, messages_dropped=1)


def test_too_large_body_is_a_dropped_message(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    assert post(app, "/api/v2/spans", b" " * (bodies.MAX_BODY_BYTES + 1)) == 413
    assert metrics_of(app) == expected(messages=1, messages_dropped=1)


def test_too_many_spans_are_decoded_then_dropped(
    store: SpanStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bodies, "MAX_SPANS_PER_BATCH", 1)
    app = create_zipkin_app(store)
    body = two_spans()
    assert post(app, "/api/v2/spans", body) == 413
    assert metrics_of(app) == expected(
        messages=1,
        bytes=len(body),
        spans=2,
        spans_dropped=2,
        message_spans=2,
        message_bytes=len(body),
    )


@pytest.mark.parametrize("method", ["ingest_async", "ingest_wire_async"])
def test_storage_failure_drops_the_spans(
    store: SpanStore, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    async def fail(spans: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, method, fail)
    app = create_zipkin_app(store)
    # ingest_async takes the careful decoder's spans, ingest_wire_async the fast path's.
    span = make_span(unknown=1) if method == "ingest_async" else make_span()
    with pytest.raises(RuntimeError, match="disk full"):
        post(app, "/api/v2/spans", orjson.dumps([span, make_span(id="2" * 16)]))
    result = metrics_of(app)
    assert result["counter.zipkin_collector.spans.http"] == 2.0
    assert result["counter.zipkin_collector.spans_dropped.http"] == 2.0
    assert result["counter.zipkin_collector.messages_dropped.http"] == 0.0


# -- OTLP --------------------------------------------------------------------------------------


def test_otlp_export_counts_under_otel_http_on_the_zipkin_port(store: SpanStore) -> None:
    shared = CollectorMetrics()
    zipkin = create_zipkin_app(store, metrics=shared)
    otlp = create_otlp_app(store, metrics=shared)
    body = otlp_export(3)
    protobuf = {"Content-Type": "application/x-protobuf"}
    assert post(otlp, "/v1/traces", body, **protobuf) == 200
    assert post(otlp, "/v1/traces", b"\xff\xff", **protobuf) == 400
    assert post(otlp, "/v1/traces", body, **{"Content-Type": "text/plain"}) == 415
    assert post(zipkin, "/api/v2/spans", two_spans()) == 202
    result = metrics_of(zipkin)
    assert {key: value for key, value in result.items() if key.endswith(".otel/http")} == expected(
        "otel/http",
        messages=3,
        messages_dropped=2,
        bytes=len(body) + 2,
        spans=3,
        message_spans=3,
        message_bytes=2,
    )
    assert result["counter.zipkin_collector.messages.http"] == 1.0
    assert result["counter.zipkin_collector.spans.http"] == 2.0


def test_otlp_json_and_gzip_count_inflated_bytes(store: SpanStore) -> None:
    shared = CollectorMetrics()
    otlp = create_otlp_app(store, metrics=shared)
    body = orjson.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "c" * 32,
                                    "spanId": "1" * 16,
                                    "name": "op",
                                    "startTimeUnixNano": str(NOW_US * 1000),
                                    "endTimeUnixNano": str(NOW_US * 1000 + 1000),
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert post(otlp, "/v1/traces", gzip.compress(body), **headers) == 200
    assert metrics_of(create_zipkin_app(store, metrics=shared)) == {
        **expected(
            "otel/http",
            messages=1,
            bytes=len(body),
            spans=1,
            message_spans=1,
            message_bytes=len(body),
        ),
        **zeros("http"),
    }


# -- /prometheus -------------------------------------------------------------------------------

HELP = {
    "zipkin_collector_messages": "cumulative amount of messages received",
    "zipkin_collector_messages_dropped": "cumulative amount of messages received that were later dropped",
    "zipkin_collector_bytes": "cumulative amount of bytes received",
    "zipkin_collector_spans": "cumulative amount of spans received",
    "zipkin_collector_spans_dropped": "cumulative amount of spans received that were later dropped",
    "zipkin_collector_message_spans": "count of spans per message",
    "zipkin_collector_message_bytes": "size of a message containing serialized spans",
}


def test_prometheus_exposition_has_micrometer_names_labels_and_values(store: SpanStore) -> None:
    shared = CollectorMetrics()
    zipkin = create_zipkin_app(store, metrics=shared)
    otlp = create_otlp_app(store, metrics=shared)
    body = two_spans()
    assert post(zipkin, "/api/v2/spans", body) == 202
    assert post(zipkin, "/api/v2/spans", b"nope") == 400
    export = otlp_export(4)
    assert post(otlp, "/v1/traces", export, **{"Content-Type": "application/x-protobuf"}) == 200

    response = request(zipkin, "GET", "/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    assert "# HELP zipkin_collector_messages_total cumulative amount of messages received\n" in text
    assert "# TYPE zipkin_collector_messages_total counter\n" in text
    assert "# TYPE zipkin_collector_message_bytes gauge\n" in text

    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {name: family.documentation for name, family in families.items()} == HELP
    types = {name: family.type for name, family in families.items()}
    assert types == {
        name: "gauge" if name.startswith("zipkin_collector_message_") else "counter"
        for name in HELP
    }
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    http, otel = (("transport", "http"),), (("transport", "otel/http"),)
    assert samples == {
        ("zipkin_collector_messages_total", http): 2.0,
        ("zipkin_collector_messages_dropped_total", http): 1.0,
        ("zipkin_collector_bytes_total", http): float(len(body) + 4),
        ("zipkin_collector_spans_total", http): 2.0,
        ("zipkin_collector_spans_dropped_total", http): 0.0,
        ("zipkin_collector_message_spans", http): 2.0,
        ("zipkin_collector_message_bytes", http): 4.0,
        ("zipkin_collector_messages_total", otel): 1.0,
        ("zipkin_collector_messages_dropped_total", otel): 0.0,
        ("zipkin_collector_bytes_total", otel): float(len(export)),
        ("zipkin_collector_spans_total", otel): 4.0,
        ("zipkin_collector_spans_dropped_total", otel): 0.0,
        ("zipkin_collector_message_spans", otel): 4.0,
        ("zipkin_collector_message_bytes", otel): float(len(export)),
    }
    # A second scrape reads the meters again (the registry is kept, not the values).
    assert post(zipkin, "/api/v2/spans", body) == 202
    again = request(zipkin, "GET", "/prometheus").text
    assert 'zipkin_collector_messages_total{transport="http"} 3.0' in again


# -- the routes --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/prometheus"])
def test_routes_are_get_only(store: SpanStore, path: str) -> None:
    app = create_zipkin_app(store)
    response = request(app, "POST", path, content=b"{}")
    assert response.status_code == 405
    assert "POST" not in response.headers["allow"]
    # Probing the metrics is not intake.
    assert metrics_of(app) == zeros("http")


def test_metrics_answer_cross_origin_requests(store: SpanStore) -> None:
    app = create_zipkin_app(store)
    for path in ("/metrics", "/prometheus"):
        response = request(app, "GET", path, headers={"Origin": "http://grafana.example.com"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"


def test_prometheus_client_loads_with_the_first_scrape_only() -> None:
    """The collector's start-up and idle memory do not carry prometheus_client."""
    code = (
        "import sys, tempfile, pathlib\n"
        "from kubelite.tracing.component import TracingCollector\n"
        "collector = TracingCollector(pathlib.Path(tempfile.mkdtemp()) / 's.db')\n"
        "collector.listeners()\n"
        "assert 'prometheus_client' not in sys.modules, 'loaded at start-up'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
