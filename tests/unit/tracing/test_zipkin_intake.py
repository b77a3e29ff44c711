"""POST /api/v2/spans: what Zipkin accepts, how it normalizes, and what it refuses."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest
from tracing_builders import NOW_US, make_span, request

from kubelite.tracing import SpanStore, create_zipkin_app
from kubelite.tracing.bodies import MAX_SPANS_PER_BATCH


def post(store: SpanStore, body: bytes, **headers: str) -> Any:
    return request(create_zipkin_app(store), "POST", "/api/v2/spans", content=body, headers=headers)


def stored(store: SpanStore, trace: str = "a" * 16) -> list[dict[str, Any]]:
    return store.get_trace(trace)  # type: ignore[return-value]


# Each case: fields merged into a minimal valid span -> how the stored span differs
# from what was sent (None: the field is absent).
NORMALIZED = [
    pytest.param({}, {}, id="minimal-span-unchanged"),
    pytest.param(
        {"traceId": "a" * 15}, {"traceId": "0" + "a" * 15}, id="short-trace-id-padded-to-16"
    ),
    pytest.param(
        {"traceId": "0" * 16 + "a" * 16}, {"traceId": "a" * 16}, id="128-bit-zero-high-drops-to-64"
    ),
    pytest.param(
        {"traceId": "b" * 20}, {"traceId": "0" * 12 + "b" * 20}, id="long-trace-id-padded-to-32"
    ),
    pytest.param({"id": "1"}, {"id": "0" * 15 + "1"}, id="short-id-padded"),
    pytest.param({"parentId": "0" * 16}, {"parentId": None}, id="zero-parent-means-root"),
    pytest.param({"parentId": "1" * 16}, {"parentId": None}, id="self-parent-dropped"),
    pytest.param({"name": "GET /Users"}, {"name": "get /users"}, id="name-lowercased"),
    pytest.param({"name": ""}, {"name": None}, id="empty-name-dropped"),
    pytest.param(
        {"localEndpoint": {"serviceName": "FrontEnd", "ipv4": "10.0.0.1", "port": 0}},
        {"localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"}},
        id="service-lowercased-port-zero-dropped",
    ),
    pytest.param(
        {"remoteEndpoint": {"ipv6": "2001:DB8:0:0:0:0:0:1", "ipv4": "not-an-ip"}},
        {"remoteEndpoint": {"ipv6": "2001:db8::1"}},
        id="ipv6-canonical-bad-ip-ignored",
    ),
    # Endpoint.Builder.parseIp(String): the text's shape decides the family.
    pytest.param(
        {"localEndpoint": {"ipv6": "::a01:203"}},
        {"localEndpoint": {"ipv6": "::a01:203"}},
        id="hex-ipv6-stays-ipv6",
    ),
    pytest.param(
        {"localEndpoint": {"ipv4": "01.2.3.4"}},
        {"localEndpoint": {"ipv4": "01.2.3.4"}},
        id="leading-zero-ipv4-kept",
    ),
    pytest.param(
        {"localEndpoint": {"ipv6": "::10.1.2.3"}},
        {"localEndpoint": {"ipv4": "10.1.2.3"}},
        id="dotted-embedded-ipv4-is-ipv4",
    ),
    pytest.param({"duration": -5}, {"duration": None}, id="negative-duration-dropped-as-zipkin"),
    pytest.param({"timestamp": 0}, {"timestamp": None}, id="zero-timestamp-dropped"),
    pytest.param(
        {"tags": {"b": "2", "a": 1}},
        {"tags": {"a": "1", "b": "2"}},
        id="tags-sorted-numbers-as-text",
    ),
    pytest.param(
        {
            "annotations": [
                {"timestamp": 2, "value": "b"},
                {"timestamp": 1, "value": "a"},
                {"timestamp": 2, "value": "b"},
            ]
        },
        {"annotations": [{"timestamp": 1, "value": "a"}, {"timestamp": 2, "value": "b"}]},
        id="annotations-sorted-deduped",
    ),
    pytest.param(
        {"kind": "CLIENT", "shared": True}, {"shared": None}, id="shared-dropped-on-client"
    ),
    pytest.param(
        {"debug": False, "shared": False}, {"debug": None, "shared": None}, id="false-flags-omitted"
    ),
    pytest.param(
        {"unknown": [1, 2], "kind": None},
        {"unknown": None, "kind": None},
        id="unknown-fields-and-nulls-skipped",
    ),
]


@pytest.mark.parametrize(("change", "expected_change"), NORMALIZED)
def test_valid_span_is_accepted_and_normalized(
    store: SpanStore, change: dict[str, Any], expected_change: dict[str, Any]
) -> None:
    span = {**make_span(), **change}
    expected = {**make_span(), **change, **expected_change}
    expected = {key: value for key, value in expected.items() if value is not None}

    response = post(store, orjson.dumps([span]))

    assert response.status_code == 202
    trace = orjson.loads(store.trace_json(expected["traceId"]) or b"[]")
    assert trace == [expected]


# Each case: fields merged into a valid second span -> words the 400 message must hold.
INVALID = [
    pytest.param(
        {"traceId": "48485A3953BB6124"},
        ["48485A3953BB6124 should be lower-hex encoded with no prefix", "$[1].traceId"],
        id="upper-case-trace-id",
    ),
    pytest.param(
        {"traceId": "0x" + "a" * 14},
        ["should be lower-hex encoded with no prefix", "$[1].traceId"],
        id="prefixed-trace-id",
    ),
    pytest.param(
        {"traceId": "a" * 33}, ["traceId.length > 32", "$[1].traceId"], id="trace-id-too-long"
    ),
    pytest.param({"traceId": ""}, ["traceId is empty"], id="empty-trace-id"),
    pytest.param({"traceId": "0" * 16}, ["traceId is all zeros"], id="zero-trace-id"),
    pytest.param(
        {"traceId": None}, ["Expected a string but was NULL", "$[1].traceId"], id="null-trace-id"
    ),
    pytest.param(
        {"id": "g" * 16},
        ["gggggggggggggggg should be lower-hex encoded with no prefix", "$[1].id"],
        id="non-hex-id",
    ),
    pytest.param({"id": "1" * 17}, ["id.length > 16", "$[1].id"], id="id-too-long"),
    pytest.param({"id": "0" * 16}, ["id is all zeros"], id="zero-id"),
    pytest.param(
        {"parentId": "x"},
        ["x should be lower-hex encoded with no prefix", "$[1].parentId"],
        id="bad-parent-id",
    ),
    pytest.param({"parentId": "1" * 17}, ["parentId.length > 16"], id="parent-id-too-long"),
    pytest.param(
        {"kind": "BROKER"},
        ["No enum constant zipkin2.Span.Kind.BROKER", "$[1].kind"],
        id="unknown-kind",
    ),
    pytest.param(
        {"duration": "soon"},
        ["Expected a long but was soon", "$[1].duration"],
        id="non-numeric-duration",
    ),
    pytest.param(
        {"timestamp": 1.5},
        ["Expected a long but was 1.5", "$[1].timestamp"],
        id="fractional-timestamp",
    ),
    pytest.param(
        {"timestamp": 2**64},
        ["Expected a long but was", "$[1].timestamp"],
        id="timestamp-past-a-long",
    ),
    pytest.param(
        {"duration": 2**63},
        ["Expected a long but was 9223372036854775808", "$[1].duration"],
        id="duration-past-a-long",
    ),
    pytest.param(
        {"timestamp": 1e300},
        ["Expected a long but was 1e+300", "$[1].timestamp"],
        id="float-timestamp-past-a-long",
    ),
    pytest.param(
        {"annotations": [{"timestamp": -(2**64), "value": "ws"}]},
        ["Expected a long but was", "$[1].annotations[0].timestamp"],
        id="annotation-timestamp-past-a-long",
    ),
    pytest.param(
        {"localEndpoint": {"port": 70000}},
        ["invalid port 70000", "$[1].localEndpoint.port"],
        id="port-out-of-range",
    ),
    pytest.param(
        {"localEndpoint": "frontend"}, ["Malformed", "$[1].localEndpoint"], id="endpoint-not-object"
    ),
    pytest.param(
        {"tags": {"http.path": None}}, ["No value at", "$[1].tags.http.path"], id="null-tag-value"
    ),
    pytest.param(
        {"tags": {"retry": True}},
        ["Expected a string but was BOOLEAN", "$[1].tags.retry"],
        id="boolean-tag-value",
    ),
    pytest.param(
        {"annotations": [{"value": "ws"}]},
        ["Incomplete annotation", "$[1].annotations[0]"],
        id="annotation-without-timestamp",
    ),
    pytest.param(
        {"debug": "yes"}, ["Expected a boolean but was STRING", "$[1].debug"], id="string-debug"
    ),
]


@pytest.mark.parametrize(("change", "words"), INVALID)
def test_malformed_span_fails_whole_batch(
    store: SpanStore, change: dict[str, Any], words: list[str]
) -> None:
    good = make_span(trace="c" * 16)
    bad = {**make_span(trace="a" * 16, id="2" * 16), **change}

    # The standard library writes numbers past 64 bits, as a client may send them.
    response = post(store, json.dumps([good, bad]).encode())

    assert response.status_code == 400
    assert "reading List<Span> from json" in response.text
    for word in words:
        assert word in response.text
    assert store.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[{", "Malformed reading List<Span> from json", id="truncated-json"),
        pytest.param(b"[1, 2]", "Malformed reading List<Span> from json", id="list-of-numbers"),
        pytest.param(
            b'{"traceId": "a"}', "Expected a JSON_V2 encoded list\n", id="object-not-list"
        ),
        pytest.param(
            b'[{"traceId": "a", "id": "b"}]'.replace(b'"id"', b'"nope"'),
            "Missing : id",
            id="missing-id",
        ),
        pytest.param(
            b'[{"binaryAnnotations": []}]',
            "Expected a JSON_V2 encoded list, but received: JSON_V1\n",
            id="v1-json",
        ),
    ],
)
def test_undecodable_body_is_400(store: SpanStore, body: bytes, message: str) -> None:
    response = post(store, body)

    assert response.status_code == 400
    assert message in response.text
    assert store.count() == 0


@pytest.mark.parametrize("body", [b"", b"[]"], ids=["empty-body", "empty-list"])
def test_empty_batch_is_accepted(store: SpanStore, body: bytes) -> None:
    assert post(store, body).status_code == 202
    assert store.count() == 0


def test_gzip_body_is_inflated(store: SpanStore) -> None:
    body = gzip.compress(orjson.dumps([make_span(), make_span(id="2" * 16)]))

    response = post(store, body, **{"Content-Encoding": "gzip", "Content-Type": "application/json"})

    assert response.status_code == 202
    assert store.count() == 2


def test_broken_gzip_is_400(store: SpanStore) -> None:
    response = post(store, b"not gzip at all", **{"Content-Encoding": "gzip"})

    assert (response.status_code, response.text) == (400, "Cannot gunzip spans")


def test_too_many_spans_is_413_and_nothing_stored(store: SpanStore) -> None:
    spans = [make_span(id=f"{i + 1:016x}") for i in range(MAX_SPANS_PER_BATCH + 1)]

    response = post(store, orjson.dumps(spans))

    assert response.status_code == 413
    assert store.count() == 0


def test_collector_keeps_serving_after_a_bad_batch(store: SpanStore) -> None:
    assert post(store, b"[{").status_code == 400
    assert post(store, orjson.dumps([make_span()])).status_code == 202
    assert stored(store)[0]["timestamp"] == NOW_US
