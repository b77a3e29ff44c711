"""Builders for Zipkin v1 bodies: v1 JSON spans, and a tiny TBinaryProtocol writer for
Thrift ones (test-only: the collector itself only reads Thrift)."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from kubelite.tracing.v1_spans import V1Annotation, V1BinaryAnnotation

# TType codes.
BOOL, BYTE, I16, I32, I64, STRING, STRUCT, MAP, LIST = 2, 3, 6, 8, 10, 11, 12, 13, 15

FRONTEND = {"serviceName": "frontend", "ipv4": "127.0.0.1", "port": 8080}
BACKEND = {"serviceName": "backend", "ipv4": "192.168.99.101", "port": 9000}


# -- the v1 model, for conversion tests ----------------------------------------------------


def ann(timestamp: int, value: str, endpoint: dict[str, Any] | None) -> V1Annotation:
    return V1Annotation(timestamp, value, endpoint)  # type: ignore[arg-type]


def tag(key: str, value: str | None, endpoint: dict[str, Any] | None) -> V1BinaryAnnotation:
    return V1BinaryAnnotation(key, value, endpoint)  # type: ignore[arg-type]


# -- v1 JSON ---------------------------------------------------------------------------------


def json_span(
    *,
    trace: str = "1",
    id: str = "3",
    parent: str | None = "2",
    name: str | None = "get",
    **extra: Any,
) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": trace, "id": id}
    if parent is not None:
        span["parentId"] = parent
    if name is not None:
        span["name"] = name
    span.update(extra)
    return span


def json_ann(timestamp: int, value: str, endpoint: dict[str, Any] | None) -> dict[str, Any]:
    return {"timestamp": timestamp, "value": value, "endpoint": endpoint}


# -- TBinaryProtocol -------------------------------------------------------------------------


def field(kind: int, number: int, payload: bytes) -> bytes:
    return struct.pack(">bh", kind, number) + payload


def i16(value: int) -> bytes:
    return struct.pack(">h", value)


def i32(value: int) -> bytes:
    return struct.pack(">i", value)


def i64(value: int) -> bytes:
    return struct.pack(">q", value)


def string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return i32(len(raw)) + raw


def struct_(*fields: bytes) -> bytes:
    return b"".join(fields) + b"\x00"


def list_(kind: int, items: list[bytes]) -> bytes:
    return struct.pack(">bi", kind, len(items)) + b"".join(items)


def t_endpoint(service: str, ipv4: str = "", port: int = 0, ipv6: str = "") -> bytes:
    fields = [
        field(I32, 1, ipaddress.IPv4Address(ipv4 or "0.0.0.0").packed),
        field(I16, 2, i16(port - 65536 if port > 32767 else port)),
        field(STRING, 3, string(service)),
    ]
    if ipv6:
        fields.append(field(STRING, 4, string(ipaddress.IPv6Address(ipv6).packed)))
    return struct_(*fields)


def t_from(endpoint: dict[str, Any]) -> bytes:
    return t_endpoint(endpoint["serviceName"], endpoint.get("ipv4", ""), endpoint.get("port", 0))


def t_ann(timestamp: int, value: str, endpoint: bytes | None) -> bytes:
    fields = [field(I64, 1, i64(timestamp)), field(STRING, 2, string(value))]
    if endpoint is not None:
        fields.append(field(STRUCT, 3, endpoint))
    return struct_(*fields)


def t_binary(key: str, value: str | bytes, kind: int, endpoint: bytes | None) -> bytes:
    """``kind`` is zipkinCore's AnnotationType: 0 BOOL, 3 I32, 6 STRING, ..."""
    fields = [field(STRING, 1, string(key)), field(STRING, 2, string(value))]
    fields.append(field(I32, 3, i32(kind)))
    if endpoint is not None:
        fields.append(field(STRUCT, 4, endpoint))
    return struct_(*fields)


def t_span(
    *,
    trace: int = 1,
    id: int = 3,
    parent: int | None = 2,
    name: str | None = "get",
    trace_high: int | None = None,
    timestamp: int | None = None,
    duration: int | None = None,
    annotations: list[bytes] | None = None,
    binary: list[bytes] | None = None,
    debug: bool | None = None,
    extra: list[bytes] | None = None,
) -> bytes:
    fields = [field(I64, 1, i64(trace))]
    if name is not None:
        fields.append(field(STRING, 3, string(name)))
    fields.append(field(I64, 4, i64(id)))
    if parent is not None:
        fields.append(field(I64, 5, i64(parent)))
    if annotations is not None:
        fields.append(field(LIST, 6, list_(STRUCT, annotations)))
    if binary is not None:
        fields.append(field(LIST, 8, list_(STRUCT, binary)))
    if debug is not None:
        fields.append(field(BOOL, 9, bytes([debug])))
    if timestamp is not None:
        fields.append(field(I64, 10, i64(timestamp)))
    if duration is not None:
        fields.append(field(I64, 11, i64(duration)))
    if trace_high is not None:
        fields.append(field(I64, 12, i64(trace_high)))
    return struct_(*fields, *(extra or []))


def t_list(*spans: bytes) -> bytes:
    return list_(STRUCT, list(spans))
