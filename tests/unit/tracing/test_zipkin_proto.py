"""POST /api/v2/spans with application/x-protobuf (zipkin.proto ListOfSpans)."""

from __future__ import annotations

import struct

import pytest
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


def _stored_endpoint(store: SpanStore, endpoint: bytes) -> object:
    span = b"".join([field(1, bytes.fromhex("b" * 32)), field(3, bytes.fromhex("4" * 16)),
                     fixed64_field(6, NOW_US), field(8, field(1, b"p") + endpoint)])  # fmt: skip
    response = request(create_zipkin_app(store), "POST", "/api/v2/spans",
                       content=field(1, span), headers=PROTOBUF)  # fmt: skip
    assert response.status_code == 202
    return store.get_trace("b" * 32)[0]["localEndpoint"]


COMPATIBLE = bytes(12) + bytes([10, 1, 2, 3])  # ::10.1.2.3, IPv4-compatible


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (field(3, COMPATIBLE), {"serviceName": "p", "ipv4": "10.1.2.3"}),
        (field(3, bytes(10) + b"\xff\xff" + bytes([10, 1, 2, 3])),
         {"serviceName": "p", "ipv6": "::ffff:a01:203"}),  # a non-zero flag: not embedded
        (field(3, bytes(15) + b"\x01"), {"serviceName": "p", "ipv6": "::1"}),
        (field(2, COMPATIBLE), {"serviceName": "p", "ipv4": "10.1.2.3"}),  # by length
        (field(3, bytes([10, 0, 0, 9])), {"serviceName": "p", "ipv4": "10.0.0.9"}),  # by length
        (field(2, b"\x01\x02\x03"), {"serviceName": "p"}),  # neither 4 nor 16 bytes
    ],
    ids=["compatible", "mapped", "loopback", "16-in-ipv4", "4-in-ipv6", "bad-length"],
)  # fmt: skip
def test_proto3_endpoint_ips_are_read_as_zipkin_parses_bytes(
    store: SpanStore, endpoint: bytes, expected: dict[str, str]
) -> None:
    assert _stored_endpoint(store, endpoint) == expected
