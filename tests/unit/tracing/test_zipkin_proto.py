"""POST /api/v2/spans with application/x-protobuf (zipkin.proto ListOfSpans)."""

from __future__ import annotations

import struct

from tracing_builders import NOW_US, field, request, varint

from kubelite.tracing import SpanStore, create_zipkin_app

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def varint_field(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def fixed64_field(number: int, value: int) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<Q", value)


def proto_span() -> bytes:
    endpoint = field(1, b"Backend") + field(2, bytes([10, 0, 0, 2])) + varint_field(4, 8080)
    annotation = fixed64_field(1, NOW_US + 5) + field(2, b"ws")
    tag = field(1, b"http.method") + field(2, b"GET")
    return b"".join(
        [
            field(1, bytes.fromhex("a" * 32)),
            field(2, bytes.fromhex("2" * 16)),
            field(3, bytes.fromhex("3" * 16)),
            varint_field(4, 2),  # SERVER
            field(5, b"GET /api"),
            fixed64_field(6, NOW_US),
            varint_field(7, 1500),
            field(8, endpoint),
            field(10, annotation),
            field(11, tag),
            varint_field(13, 1),
            field(99, b"unknown fields are skipped"),
        ]
    )


def test_proto3_list_of_spans_is_decoded(store: SpanStore) -> None:
    body = field(1, proto_span())

    response = request(
        create_zipkin_app(store), "POST", "/api/v2/spans", content=body, headers=PROTOBUF
    )

    assert response.status_code == 202
    assert store.get_trace("a" * 32) == [
        {
            "traceId": "a" * 32,
            "parentId": "2" * 16,
            "id": "3" * 16,
            "kind": "SERVER",
            "name": "get /api",
            "timestamp": NOW_US,
            "duration": 1500,
            "localEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 8080},
            "annotations": [{"timestamp": NOW_US + 5, "value": "ws"}],
            "tags": {"http.method": "GET"},
            "shared": True,
        }
    ]


def test_truncated_proto3_is_400_and_nothing_stored(store: SpanStore) -> None:
    body = field(1, proto_span()) + field(1, proto_span())[:-7]

    response = request(
        create_zipkin_app(store), "POST", "/api/v2/spans", content=body, headers=PROTOBUF
    )

    assert response.status_code == 400
    assert response.text.startswith("Truncated: length")
    assert response.text.endswith("reading List<Span> from proto3")
    assert store.count() == 0


def test_proto3_bad_id_names_the_field(store: SpanStore) -> None:
    span = field(1, bytes.fromhex("a" * 16)) + field(3, bytes(8))

    response = request(
        create_zipkin_app(store), "POST", "/api/v2/spans", content=field(1, span), headers=PROTOBUF
    )

    assert response.status_code == 400
    assert response.text == "id is all zeros reading List<Span> from proto3 (at spans[0].id)"
