"""POST /v1/traces: OTLP protobuf and JSON mapped the way the OTel Zipkin exporter maps them."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from tracing_builders import NOW_US, request

from kubelite.tracing import SpanStore, create_otlp_app

TRACE_ID = "5b8efff798038103d269b633813fc60c"
NOW_NS = NOW_US * 1000


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        items = [kv("", item).value for item in value]
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=items)))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def export_request() -> ExportTraceServiceRequest:
    client = Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        parent_span_id=bytes.fromhex("eee19b7ec3c1b173"),
        name="GET /Orders",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=NOW_NS,
        end_time_unix_nano=NOW_NS + 2_500_400,  # 2500.4 µs rounds to 2500
        attributes=[
            kv("http.method", "GET"),
            kv("http.status_code", 503),
            kv("retry", True),
            kv("ratio", 0.5),
            kv("hosts", ["a", "b"]),
            kv("peer.service", "Orders"),
        ],
        events=[
            Span.Event(time_unix_nano=NOW_NS + 1000, name="retry", attributes=[kv("attempt", 2)])
        ],
        status=Status(code=Status.STATUS_CODE_ERROR, message="upstream unavailable"),
        dropped_attributes_count=3,
    )
    internal = Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex("eee19b7ec3c1b173"),
        name="work",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=NOW_NS,
        end_time_unix_nano=NOW_NS + 5_000_000,
        status=Status(code=Status.STATUS_CODE_OK),
    )
    resource = Resource(
        attributes=[kv("service.name", "Checkout"), kv("service.namespace", "shop")]
    )
    scope = InstrumentationScope(name="kubelite.mesh", version="0.1")
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource,
                scope_spans=[ScopeSpans(scope=scope, spans=[client, internal])],
            )
        ]
    )


EXPECTED_CLIENT = {
    "traceId": TRACE_ID,
    "parentId": "eee19b7ec3c1b173",
    "id": "eee19b7ec3c1b174",
    "kind": "CLIENT",
    "name": "get /orders",
    "timestamp": NOW_US,
    "duration": 2500,
    "localEndpoint": {"serviceName": "checkout"},
    "remoteEndpoint": {"serviceName": "orders"},
    "annotations": [{"timestamp": NOW_US + 1, "value": '{"retry": {"attempt": 2}}'}],
    "tags": {
        "error": "upstream unavailable",
        "hosts": '["a","b"]',
        "http.method": "GET",
        "http.status_code": "503",
        "otel.dropped_attributes_count": "3",
        "otel.library.name": "kubelite.mesh",
        "otel.library.version": "0.1",
        "otel.scope.name": "kubelite.mesh",
        "otel.scope.version": "0.1",
        "otel.status_code": "ERROR",
        "peer.service": "Orders",
        "ratio": "0.5",
        "retry": "true",
        "service.name": "Checkout",
        "service.namespace": "shop",
    },
}
EXPECTED_INTERNAL = {
    "traceId": TRACE_ID,
    "id": "eee19b7ec3c1b173",
    "name": "work",
    "timestamp": NOW_US,
    "duration": 5000,
    "localEndpoint": {"serviceName": "checkout"},
    "tags": {
        "otel.library.name": "kubelite.mesh",
        "otel.library.version": "0.1",
        "otel.scope.name": "kubelite.mesh",
        "otel.scope.version": "0.1",
        "otel.status_code": "OK",
        "service.name": "Checkout",
        "service.namespace": "shop",
    },
}


def by_id(spans: list[Any]) -> dict[str, Any]:
    return {span["id"]: span for span in spans}


def otlp_json(message: ExportTraceServiceRequest, *, snake_case: bool, enum_numbers: bool) -> bytes:
    """OTLP JSON as exporters write it: hex ids instead of protobuf's base64."""
    from google.protobuf import json_format

    document = json_format.MessageToDict(
        message,
        preserving_proto_field_name=snake_case,
        use_integers_for_enums=enum_numbers,
    )
    for resource_spans in document["resource_spans" if snake_case else "resourceSpans"]:
        for scope_spans in resource_spans["scope_spans" if snake_case else "scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in (
                    "traceId",
                    "spanId",
                    "parentSpanId",
                    "trace_id",
                    "span_id",
                    "parent_span_id",
                ):
                    if key in span:
                        span[key] = __import__("base64").b64decode(span[key]).hex()
    return orjson.dumps(document)


def test_protobuf_export_maps_like_the_zipkin_exporter(store: SpanStore) -> None:
    body = export_request().SerializeToString()

    response = request(
        create_otlp_app(store),
        "POST",
        "/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    spans = by_id(store.get_trace(TRACE_ID))
    assert spans == {"eee19b7ec3c1b174": EXPECTED_CLIENT, "eee19b7ec3c1b173": EXPECTED_INTERNAL}


@pytest.mark.parametrize(
    ("snake_case", "enum_numbers"),
    [(False, False), (False, True), (True, False)],
    ids=["camelCase-enum-names", "camelCase-enum-numbers", "snake_case-enum-names"],
)
def test_json_export_maps_like_protobuf(
    store: SpanStore, snake_case: bool, enum_numbers: bool
) -> None:
    body = gzip.compress(
        otlp_json(export_request(), snake_case=snake_case, enum_numbers=enum_numbers)
    )

    response = request(
        create_otlp_app(store),
        "POST",
        "/v1/traces",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )

    assert (response.status_code, response.json()) == (200, {})
    spans = by_id(store.get_trace(TRACE_ID))
    assert spans == {"eee19b7ec3c1b174": EXPECTED_CLIENT, "eee19b7ec3c1b173": EXPECTED_INTERNAL}


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        pytest.param("application/json", b"{not json", 400, id="json-syntax"),
        pytest.param(
            "application/json",
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "01"}]}]}]}',
            400,
            id="non-hex-id",
        ),
        pytest.param("application/x-protobuf", b"\x0a\xff\xff", 400, id="truncated-protobuf"),
        pytest.param("text/plain", b"hello", 415, id="unsupported-media-type"),
    ],
)
def test_bad_export_is_refused_and_nothing_stored(
    store: SpanStore, content_type: str, body: bytes, status: int
) -> None:
    response = request(
        create_otlp_app(store),
        "POST",
        "/v1/traces",
        content=body,
        headers={"Content-Type": content_type},
    )

    assert response.status_code == status
    assert store.count() == 0
