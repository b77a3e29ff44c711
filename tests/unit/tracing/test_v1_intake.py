"""POST /api/v1/spans: v1 JSON and v1 Thrift accepted as zipkin-server accepts them."""

from __future__ import annotations

import gzip
import subprocess
import sys
from typing import Any

import orjson
import pytest
from tracing_builders import NOW_MS, NOW_US, request
from v1_builders import (
    BACKEND,
    BOOL,
    FRONTEND,
    I32,
    I64,
    LIST,
    MAP,
    STRING,
    STRUCT,
    field,
    i32,
    i64,
    json_ann,
    json_span,
    string,
    struct_,
    t_ann,
    t_binary,
    t_endpoint,
    t_from,
    t_list,
    t_span,
)

from kubelite.tracing import SpanStore, create_zipkin_app
from kubelite.tracing.thrift_reader import decode_thrift_list
from kubelite.tracing.zipkin_json import SpanListError

THRIFT = "application/x-thrift"
TRACE = "0000000000000001"


def post(
    store: SpanStore, body: bytes, content_type: str = "application/json", **headers: str
) -> Any:
    headers = {"content-type": content_type, **headers}
    return request(create_zipkin_app(store), "POST", "/api/v1/spans", content=body, headers=headers)


def stored(store: SpanStore, trace: str = TRACE) -> list[dict[str, Any]]:
    return orjson.loads(store.trace_json(trace) or b"[]")  # type: ignore[no-any-return]


def by_kind(spans: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {span.get("kind"): span for span in spans}


# -- v1 JSON -----------------------------------------------------------------------------


def rpc_json() -> dict[str, Any]:
    """A client and a server side reported as one v1 span (what Finagle and Brave 3 sent)."""
    return json_span(
        timestamp=NOW_US,
        duration=10_000,
        annotations=[
            json_ann(NOW_US, "cs", FRONTEND),
            json_ann(NOW_US + 2_000, "sr", BACKEND),
            json_ann(NOW_US + 7_000, "ss", BACKEND),
            json_ann(NOW_US + 10_000, "cr", FRONTEND),
        ],
        binaryAnnotations=[
            {"key": "http.path", "value": "/api", "endpoint": FRONTEND},
            {"key": "sa", "value": True, "endpoint": BACKEND},
            {"key": "ca", "value": True, "endpoint": FRONTEND},
        ],
    )


def test_json_client_and_server_become_two_queryable_spans(store: SpanStore) -> None:
    response = post(store, orjson.dumps([rpc_json()]))

    assert response.status_code == 202
    spans = by_kind(stored(store))
    assert spans["CLIENT"] == {
        "traceId": TRACE,
        "parentId": "0000000000000002",
        "id": "0000000000000003",
        "kind": "CLIENT",
        "name": "get",
        "timestamp": NOW_US,
        "duration": 10_000,
        "localEndpoint": FRONTEND,
        "remoteEndpoint": BACKEND,
        "tags": {"http.path": "/api"},
    }
    server = spans["SERVER"]
    assert (server["timestamp"], server["duration"]) == (NOW_US + 2_000, 5_000)  # ss - sr
    assert server["shared"] is True
    assert server["localEndpoint"] == BACKEND
    assert server["remoteEndpoint"] == FRONTEND
    # queries and the dependency graph see them like v2 spans
    assert store.service_names() == ["backend", "frontend"]
    links = store.dependencies(NOW_MS + 1_000, 86_400_000)
    assert [(link["parent"], link["child"], link["callCount"]) for link in links] == [
        ("frontend", "backend", 1)
    ]


@pytest.mark.parametrize(
    ("binary", "expected"),
    [
        pytest.param(
            {"key": "error", "value": "boom", "endpoint": FRONTEND},
            {"localEndpoint": FRONTEND, "tags": {"error": "boom"}},  # its endpoint logged it
            id="string-is-a-tag",
        ),
        pytest.param(
            {"key": "http.status_code", "value": 500, "endpoint": FRONTEND},
            {},
            id="number-is-dropped",
        ),
        pytest.param(
            {"key": "retry", "value": True, "endpoint": FRONTEND}, {}, id="boolean-not-address"
        ),
        pytest.param(
            {"key": "sa", "value": False, "endpoint": BACKEND}, {}, id="false-address-ignored"
        ),
        pytest.param(
            {"key": "sa", "value": True, "endpoint": BACKEND},
            {"remoteEndpoint": BACKEND},
            id="sa-is-remote",
        ),
        pytest.param(
            {"key": "lc", "value": "", "endpoint": FRONTEND},
            {"localEndpoint": FRONTEND},
            id="empty-lc-is-local",
        ),
        pytest.param({"key": "k", "value": None}, {}, id="null-value-dropped"),
    ],
)
def test_json_binary_annotations(
    store: SpanStore, binary: dict[str, Any], expected: dict[str, Any]
) -> None:
    span = json_span(parent=None, timestamp=NOW_US, duration=5, binaryAnnotations=[binary])

    assert post(store, orjson.dumps([span])).status_code == 202

    base = {"traceId": TRACE, "id": "0000000000000003", "name": "get"}
    assert stored(store) == [{**base, "timestamp": NOW_US, "duration": 5, **expected}]


def test_json_128_bit_trace_id_and_gzip(store: SpanStore) -> None:
    trace = "463ac35c9f6413ad" + "48485a3953bb6124"
    span = json_span(trace=trace, timestamp=NOW_US, duration=5, debug=True)
    body = gzip.compress(orjson.dumps([span]))

    assert post(store, body, **{"content-encoding": "gzip"}).status_code == 202

    [converted] = stored(store, trace)
    assert converted["traceId"] == trace
    assert converted["debug"] is True


@pytest.mark.parametrize("body", [b"", b"[]"], ids=["empty", "empty-list"])
def test_empty_batches_are_accepted(store: SpanStore, body: bytes) -> None:
    assert post(store, body).status_code == 202
    assert post(store, body, THRIFT).status_code == 202


JSON_INVALID = [
    pytest.param(b"{}", "Expected a JSON_V1 encoded list\n", id="not-a-list"),
    pytest.param(
        orjson.dumps([{"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "a"}}]),
        "Expected a JSON_V1 encoded list, but received: JSON_V2\n",
        id="v2-span-on-v1-path",
    ),
    pytest.param(b"[{", "Malformed reading List<Span> from json", id="broken-json"),
    pytest.param(
        orjson.dumps([json_span(timestamp="soon")]),
        "Expected a long but was soon reading List<Span> from json (at $[0].timestamp)",
        id="timestamp-not-a-long",
    ),
    pytest.param(
        orjson.dumps([json_span(trace="XYZ")]),
        "XYZ should be a 1 to 32 character lower-hex string with no prefix"
        " reading List<Span> from json (at $[0].traceId)",
        id="trace-id-not-lower-hex",
    ),
    pytest.param(
        orjson.dumps([{**json_span(), "id": None}]),
        "Expected a string but was NULL reading List<Span> from json (at $[0].id)",
        id="null-id",
    ),
    pytest.param(
        orjson.dumps([{"traceId": "1", "name": "x"}]),
        "id == 0 reading List<Span> from json (at $[0])",
        id="missing-id",
    ),
    pytest.param(
        orjson.dumps([json_span(annotations=[{"value": "cs"}])]),
        "Incomplete annotation at $.annotations[0]"
        " reading List<Span> from json (at $[0].annotations[0])",
        id="annotation-without-timestamp",
    ),
    pytest.param(
        orjson.dumps([json_span(binaryAnnotations=[{"value": "x"}])]),
        "No key at $.binaryAnnotations[0] reading List<Span> from json"
        " (at $[0].binaryAnnotations[0])",
        id="binary-annotation-without-key",
    ),
    pytest.param(
        orjson.dumps([json_span(annotations=[json_ann(1, "cs", {"port": 70000})])]),
        "invalid port 70000 reading List<Span> from json (at $[0].annotations[0].endpoint.port)",
        id="port-out-of-range",
    ),
]


@pytest.mark.parametrize(("body", "message"), JSON_INVALID)
def test_malformed_json_is_a_400_and_stores_nothing(
    store: SpanStore, body: bytes, message: str
) -> None:
    good = orjson.dumps(json_span(trace="c" * 16))
    if body.startswith(b"[{") and body.endswith(b"]"):
        body = b"[" + good + b"," + body[1:]  # the whole batch is refused, not just the bad span
        message = message.replace("$[0]", "$[1]")

    response = post(store, body)

    assert (response.status_code, response.text) == (400, message)
    assert store.count() == 0


# -- v1 Thrift ---------------------------------------------------------------------------


def rpc_thrift(**overrides: Any) -> bytes:
    frontend, backend = t_from(FRONTEND), t_from(BACKEND)
    fields: dict[str, Any] = {
        "timestamp": NOW_US,
        "duration": 10_000,
        "annotations": [
            t_ann(NOW_US, "cs", frontend),
            t_ann(NOW_US + 2_000, "sr", backend),
            t_ann(NOW_US + 7_000, "ss", backend),
            t_ann(NOW_US + 10_000, "cr", frontend),
        ],
        "binary": [
            t_binary("http.path", "/api", 6, frontend),
            t_binary("sa", b"\x01", 0, backend),
            t_binary("ca", b"\x01", 0, frontend),
        ],
    }
    return t_span(**{**fields, **overrides})


def test_thrift_client_and_server_convert_like_json(store: SpanStore, tmp_path: Any) -> None:
    """The same RPC in Thrift and in JSON stores the same spans."""
    assert post(store, t_list(rpc_thrift()), THRIFT).status_code == 202
    json_store = SpanStore(tmp_path / "json.db")
    try:
        post(json_store, orjson.dumps([rpc_json()]))
        assert stored(store) == stored(json_store)
    finally:
        json_store.close()
    assert len(stored(store)) == 2


def test_thrift_128_bit_trace_id_debug_and_ipv6(store: SpanStore) -> None:
    endpoint = t_endpoint("Frontend", ipv6="2001:db8::c001", port=65000)
    span = t_span(
        trace=0x48485A3953BB6124,
        trace_high=0x463AC35C9F6413AD,
        parent=None,
        timestamp=NOW_US,
        duration=5,
        debug=True,
        binary=[t_binary("lc", "", 6, endpoint)],
    )

    assert post(store, t_list(span), THRIFT).status_code == 202

    [converted] = stored(store, "463ac35c9f6413ad48485a3953bb6124")
    assert converted["localEndpoint"] == {
        "serviceName": "frontend",
        "ipv6": "2001:db8::c001",
        "port": 65000,
    }
    assert converted["debug"] is True
    assert "parentId" not in converted


def test_thrift_binary_annotation_types_unknown_fields_and_gzip(store: SpanStore) -> None:
    frontend = t_from(FRONTEND)
    unknown = [
        field(MAP, 20, bytes([STRING, I32]) + i32(1) + string("k") + i32(7)),
        field(STRUCT, 21, struct_(field(LIST, 1, bytes([I64]) + i32(2) + i64(1) + i64(2)))),
        field(STRING, 1, string("trace id of the wrong type")),  # skipped by its type
    ]
    span = t_span(
        parent=None,
        timestamp=NOW_US,
        duration=5,
        binary=[
            t_binary("error", "boom", 6, frontend),
            t_binary("http.status_code", i32(500), 3, frontend),  # I32: dropped
            t_binary("retry", b"\x01", 0, frontend),  # boolean, not an address: dropped
        ],
        extra=unknown,
    )

    response = post(store, gzip.compress(t_list(span)), THRIFT, **{"content-encoding": "gzip"})

    assert response.status_code == 202
    assert stored(store) == [
        {
            "traceId": TRACE,
            "id": "0000000000000003",
            "name": "get",
            "timestamp": NOW_US,
            "duration": 5,
            "localEndpoint": FRONTEND,
            "tags": {"error": "boom"},
        }
    ]


THRIFT_INVALID = [
    pytest.param(t_span(), "Expected a THRIFT encoded list\n", id="single-span-not-a-list"),
    pytest.param(
        t_list(t_span())[:-4],  # 3 of the parent id's 8 bytes and no STOP left
        "Truncated: length 8 > bytes available 5 reading List<Span> from TBinary",
        id="truncated",
    ),
    pytest.param(
        t_list(t_span())[:10],  # list header (5), trace id field header (3), 2 of its 8 bytes
        "Truncated: length 8 > bytes available 2 reading List<Span> from TBinary",
        id="truncated-in-first-field",
    ),
    pytest.param(
        t_list(t_span(id=0)), "id == 0 reading List<Span> from TBinary", id="zero-span-id"
    ),
    pytest.param(
        t_list(t_span(trace=0, trace_high=5)),
        "traceId == 0 reading List<Span> from TBinary",
        id="zero-low-trace-id",
    ),
    pytest.param(
        t_list(t_span(extra=[field(STRING, 30, i32(-1))])),
        "Malformed reading List<Span> from TBinary",
        id="negative-string-length",
    ),
    pytest.param(
        t_list(struct_(field(BOOL, 9, b"\x01"), field(STRUCT, 40, b"\x0c\x00\x01" * 100))),
        "Malformed reading List<Span> from TBinary",
        id="nesting-too-deep",
    ),
]


@pytest.mark.parametrize(("body", "message"), THRIFT_INVALID)
def test_malformed_thrift_is_a_400_and_stores_nothing(
    store: SpanStore, body: bytes, message: str
) -> None:
    response = post(store, body, THRIFT)

    assert (response.status_code, response.text) == (400, message)
    assert store.count() == 0


def test_garbage_read_as_a_thrift_list_fails_cleanly() -> None:
    """Thrift can take garbage for a huge list: the count must not be trusted."""
    with pytest.raises(SpanListError) as error:
        decode_thrift_list(b"hello")  # element type "h", then 0x656c6c6f spans

    assert (
        str(error.value)
        == "Truncated: length 1 > bytes available 0 reading List<Span> from TBinary"
    )


def test_a_forged_count_of_empty_values_is_skipped_at_once(store: SpanStore) -> None:
    """Two billion values of a type without payload: nothing to read, so nothing to loop on."""
    unknown = [
        field(LIST, 30, bytes([1]) + i32(2**31 - 1)),
        field(MAP, 31, bytes([1, 5]) + i32(2**31 - 1)),
    ]

    response = post(store, t_list(t_span(timestamp=NOW_US, extra=unknown)), THRIFT)

    assert response.status_code == 202
    assert len(stored(store)) == 1


def test_body_that_is_not_gzip_is_a_400(store: SpanStore) -> None:
    response = post(store, t_list(t_span()), THRIFT, **{"content-encoding": "gzip"})

    assert (response.status_code, response.text) == (400, "Cannot gunzip spans")


# -- routing -----------------------------------------------------------------------------


def test_zipkin_prefixed_query_api_answers_as_the_root_one(store: SpanStore) -> None:
    post(store, orjson.dumps([rpc_json()]))
    app = create_zipkin_app(store, now_ms=lambda: NOW_MS + 1_000)

    for path in (
        "/api/v2/services",
        "/api/v2/spans?serviceName=frontend",
        f"/api/v2/trace/{TRACE}",
        f"/api/v2/dependencies?endTs={NOW_MS + 1_000}",
        "/api/v2/traces?serviceName=backend",
    ):
        root, ui = request(app, "GET", path), request(app, "GET", "/zipkin" + path)
        assert (ui.status_code, ui.content) == (root.status_code, root.content), path
        assert root.status_code == 200, path
    # intake stays at the root, as on zipkin-server
    assert request(app, "POST", "/zipkin/api/v2/spans", content=b"[]").status_code == 405


def test_v1_readers_load_on_first_v1_request_only() -> None:
    """Start-up time and idle memory are measured: the v1 readers must not load with the app."""
    code = (
        "import sys; from kubelite.tracing import create_zipkin_app; "
        "from kubelite.tracing.store import SpanStore; "
        "print(any(m.startswith(('kubelite.tracing.v1', 'kubelite.tracing.thrift')) "
        "for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
