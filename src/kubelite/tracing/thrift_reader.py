"""A small reader for Zipkin v1 spans in Thrift's TBinaryProtocol (py_zipkin < 1.0's default).

Hand-written rather than generated: the collector only ever reads four structs
(Span, Annotation, BinaryAnnotation, Endpoint), the wire format is fixed-width
big-endian fields behind a one-byte type and a two-byte id, and reading it here
keeps Zipkin's error wording (``Truncated: length 8 > bytes available 3``) and
its leniencies. A field is read only when both its id and its type match
zipkinCore.thrift; anything else is skipped by its type, as Thrift requires.

A body is a list header (element type, then a signed 32-bit count; the type is
not checked, as in Zipkin) followed by that many Span structs. Problems refuse the
batch with ``<cause> reading List<Span> from TBinary``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from typing import Any, Final

from kubelite.tracing.model import (
    Endpoint,
    Span,
    SpanFormatError,
    check_port,
    parse_ip_bytes,
)
from kubelite.tracing.v1_spans import (
    V1Annotation,
    V1BinaryAnnotation,
    V1Span,
    V1SpanError,
    address_annotation,
    make_v1_span,
    to_v2,
)
from kubelite.tracing.zipkin_json import SpanListError

# TType codes.
STOP, BOOL, BYTE, DOUBLE, I16, I32, I64, STRING, STRUCT, MAP, SET, LIST = (
    0, 2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15
)  # fmt: skip
_FIXED_WIDTH: Final = {BOOL: 1, BYTE: 1, I16: 2, I32: 4, DOUBLE: 8, I64: 8}
# Types whose values take at least one byte; values of other type codes take none.
_SIZED: Final = frozenset({*_FIXED_WIDTH, STRING, STRUCT, MAP, SET, LIST})
# BinaryAnnotation.annotation_type values the converter understands.
_TYPE_BOOL, _TYPE_STRING = 0, 6
_MAX_DEPTH: Final = 64
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class _Malformed(ValueError):
    """Input Zipkin fails on with an unchecked error: reported as ``Malformed``."""


class _Truncated(ValueError):
    """Fewer bytes than a field needs; ``str()`` is Zipkin's message."""


class _Buffer:
    """A read cursor; every read checks the bytes left first, as Zipkin's buffer does."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        available = len(self.data) - self.pos
        if count > available:
            raise _Truncated(f"Truncated: length {count} > bytes available {available}")
        if count < 0:
            raise _Malformed
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def i16(self) -> int:
        return int(_I16.unpack(self.take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self.take(4))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self.take(8))[0])

    def binary(self) -> bytes:
        return self.take(self.i32())

    def string(self) -> str:
        # Java decodes with replacement, so malformed UTF-8 is not an error there either.
        return self.binary().decode("utf-8", "replace")

    def field(self) -> tuple[int, int]:
        """(type, id) of the next field; STOP has no id."""
        kind = self.byte()
        return (kind, 0) if kind == STOP else (kind, self.i16())

    def list_length(self) -> int:
        self.byte()  # the element type: Zipkin does not check it
        return self.i32()

    def skip(self, kind: int, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise _Malformed
        width = _FIXED_WIDTH.get(kind)
        if width is not None:
            self.take(width)
        elif kind == STRING:
            length = self.i32()
            if length < 0:
                raise _Malformed
            # Zipkin skips at most what is left rather than failing on a short string.
            self.pos += min(length, len(self.data) - self.pos)
        elif kind == STRUCT:
            while (field := self.field())[0] != STOP:
                self.skip(field[0], depth + 1)
        elif kind == MAP:
            key, value = self.byte(), self.byte()
            count = self.i32()
            # A count of empty values would spin without reading: only sized ones loop,
            # and those run out of bytes long before a forged count runs out.
            if key in _SIZED or value in _SIZED:
                for _ in range(count):
                    self.skip(key, depth + 1)
                    self.skip(value, depth + 1)
        elif kind in (SET, LIST):
            element = self.byte()
            count = self.i32()
            if element in _SIZED:
                for _ in range(count):
                    self.skip(element, depth + 1)
        # Other type codes carry no payload to skip.


def decode_thrift_list(body: bytes) -> list[Span]:
    """The v2 spans a TBinaryProtocol ``list<Span>`` converts to."""
    buffer = _Buffer(body)
    spans: list[Span] = []
    try:
        for _ in range(buffer.list_length()):
            spans.extend(to_v2(read_span(buffer)))
    except (_Truncated, V1SpanError) as error:
        raise SpanListError(f"{error} reading List<Span> from TBinary") from None
    except SpanFormatError as error:
        raise SpanListError(f"{error.cause} reading List<Span> from TBinary") from None
    except _Malformed:
        raise SpanListError("Malformed reading List<Span> from TBinary") from None
    return spans


def read_span(buffer: _Buffer) -> V1Span:
    fields: dict[str, Any] = {"trace_id": 0, "id": 0}
    annotations: list[V1Annotation] = []
    binary: list[V1BinaryAnnotation] = []
    while (field := buffer.field())[0] != STOP:
        reader = _SPAN_FIELDS.get(field)
        if reader is not None:
            fields[reader[0]] = reader[1](buffer)
        elif field == (LIST, 6):
            for _ in range(buffer.list_length()):
                annotation = _annotation(buffer)
                if annotation is not None:
                    annotations.append(annotation)
        elif field == (LIST, 8):
            for _ in range(buffer.list_length()):
                binary_annotation = _binary_annotation(buffer)
                if binary_annotation is not None:
                    binary.append(binary_annotation)
        else:
            buffer.skip(field[0])
    return make_v1_span(annotations=annotations, binary_annotations=binary, **fields)


_SPAN_FIELDS: Final[dict[tuple[int, int], tuple[str, Callable[[_Buffer], Any]]]] = {
    (I64, 1): ("trace_id", _Buffer.i64),
    (I64, 12): ("trace_id_high", _Buffer.i64),
    (STRING, 3): ("name", _Buffer.string),
    (I64, 4): ("id", _Buffer.i64),
    (I64, 5): ("parent_id", _Buffer.i64),
    (BOOL, 9): ("debug", lambda buffer: buffer.byte() == 1),
    (I64, 10): ("timestamp", _Buffer.i64),
    (I64, 11): ("duration", _Buffer.i64),
}


def _annotation(buffer: _Buffer) -> V1Annotation | None:
    timestamp, value, endpoint = 0, None, None
    while (field := buffer.field())[0] != STOP:
        if field == (I64, 1):
            timestamp = buffer.i64()
        elif field == (STRING, 2):
            value = buffer.string()
        elif field == (STRUCT, 3):
            endpoint = _endpoint(buffer)
        else:
            buffer.skip(field[0])
    if timestamp == 0 or value is None:
        return None  # Zipkin drops an annotation without both
    return V1Annotation(timestamp, value, endpoint)


def _binary_annotation(buffer: _Buffer) -> V1BinaryAnnotation | None:
    key, value, endpoint, kind = None, None, None, -1
    while (field := buffer.field())[0] != STOP:
        if field == (STRING, 1):
            key = buffer.string()
        elif field == (STRING, 2):
            value = buffer.string()
        elif field == (I32, 3):
            kind = buffer.i32()
        elif field == (STRUCT, 4):
            endpoint = _endpoint(buffer)
        else:
            buffer.skip(field[0])
    if key is None or value is None:
        return None
    if kind == _TYPE_STRING:
        return V1BinaryAnnotation(key, value, endpoint)
    if kind == _TYPE_BOOL and value == "\x01":
        return address_annotation(key, endpoint)
    return None  # numbers and bytes do not become tags, as in Zipkin


def _endpoint(buffer: _Buffer) -> Endpoint | None:
    """An Endpoint struct; None when it names nothing (Zipkin's empty endpoint)."""
    endpoint: dict[str, Any] = {}
    while (field := buffer.field())[0] != STOP:
        if field == (I32, 1):
            ipv4 = buffer.i32()
            if ipv4:
                endpoint["ipv4"] = str(ipaddress.IPv4Address(ipv4 & 0xFFFFFFFF))
        elif field == (I16, 2):
            port = check_port(buffer.i16() & 0xFFFF, "port")
            if port is not None:
                endpoint["port"] = port
        elif field == (STRING, 3):
            name = buffer.string()
            if name:
                endpoint["serviceName"] = name.lower()
        elif field == (STRING, 4):
            parsed = _ip_bytes(buffer.binary())
            if parsed is not None:
                endpoint[parsed[0]] = parsed[1]
        else:
            buffer.skip(field[0])
    if not endpoint:
        return None
    order = ("serviceName", "ipv4", "ipv6", "port")
    return {key: endpoint[key] for key in order if key in endpoint}  # type: ignore[return-value]


def _ip_bytes(raw: bytes) -> tuple[str, str] | None:
    """Zipkin reads 4 bytes as IPv4 and 16 as IPv6 (an embedded IPv4 as IPv4); else nothing."""
    return parse_ip_bytes(raw)
