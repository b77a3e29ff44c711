"""A small hand-written decoder for Zipkin's proto3 ``ListOfSpans`` (zipkin.proto).

Zipkin reporters may post ``application/x-protobuf``. Pulling in generated code
for six messages is not worth it: the wire format is a handful of varints and
length-delimited fields. Field numbers follow zipkin.proto; unknown fields are
skipped; errors use Zipkin's wording (``Truncated: ...`` / ``Malformed``) and end
in ``reading List<Span> from proto3``.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.tracing.model import (
    Span,
    SpanFormatError,
    check_port,
    finish_span,
    normalize_parent_id,
    normalize_span_id,
    normalize_trace_id,
    parse_ip_bytes,
)
from kubelite.tracing.zipkin_json import SpanListError

_KINDS: Final = {1: "CLIENT", 2: "SERVER", 3: "PRODUCER", 4: "CONSUMER"}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class _Malformed(ValueError):
    pass


class _Reader:
    """Cursor over a protobuf buffer region."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def more(self) -> bool:
        return self.pos < self.end

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= self.end:
                raise _Malformed("Truncated: varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise _Malformed(f"Greater than 64-bit varint at position {self.pos - 1}")

    def fixed64(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def take(self, count: int) -> bytes:
        if count > self.end - self.pos:
            raise _Malformed(f"Truncated: length {count} > bytes available {self.end - self.pos}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def sub(self) -> _Reader:
        length = self.varint()
        if length > self.end - self.pos:
            raise _Malformed(f"Truncated: length {length} > bytes available {self.end - self.pos}")
        child = _Reader(self.data, self.pos, self.pos + length)
        self.pos += length
        return child

    def key(self) -> tuple[int, int]:
        key = self.varint()
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Malformed(f"Malformed: fieldNumber was zero at byte {self.pos}")
        return field, wire

    def skip(self, wire: int) -> None:
        if wire == _VARINT:
            self.varint()
        elif wire == _FIXED64:
            self.take(8)
        elif wire == _BYTES:
            self.sub()
        elif wire == _FIXED32:
            self.take(4)
        else:
            raise _Malformed(f"Malformed: invalid wireType {wire} at byte {self.pos}")


def decode_list_of_spans(body: bytes) -> list[Span]:
    """Decode a ``ListOfSpans``; raise :class:`SpanListError` on the first problem."""
    reader = _Reader(body)
    spans: list[Span] = []
    try:
        while reader.more():
            field, wire = reader.key()
            if field == 1 and wire == _BYTES:
                spans.append(_read_span(reader.sub()))
            else:
                reader.skip(wire)
    except SpanFormatError as error:
        raise SpanListError(
            f"{error.cause} reading List<Span> from proto3 (at spans[{len(spans)}].{error.field})"
        ) from None
    except (_Malformed, UnicodeDecodeError) as error:
        cause = str(error)
        if "Malformed" in cause or isinstance(error, UnicodeDecodeError):
            cause = "Malformed"
        raise SpanListError(f"{cause} reading List<Span> from proto3") from None
    return spans


def _read_span(reader: _Reader) -> Span:
    span: dict[str, Any] = {}
    while reader.more():
        field, wire = reader.key()
        handler = _SPAN_FIELDS.get((field, wire))
        if handler is None:
            reader.skip(wire)
        else:
            handler(reader, span)
    return finish_span(span)


def _hex(reader: _Reader, field: str) -> str:
    raw = reader.take(reader.varint())
    if len(raw) > 16:
        raise SpanFormatError(field, f"hex field greater than 32 chars long: {len(raw) * 2}")
    return raw.hex()


def _trace_id(reader: _Reader, span: dict[str, Any]) -> None:
    span["traceId"] = normalize_trace_id(_hex(reader, "trace_id"), "trace_id")


def _parent_id(reader: _Reader, span: dict[str, Any]) -> None:
    value = _hex(reader, "parent_id")
    parent = normalize_parent_id(value, "parent_id") if value else None
    if parent is not None:
        span["parentId"] = parent


def _id(reader: _Reader, span: dict[str, Any]) -> None:
    span["id"] = normalize_span_id(_hex(reader, "id"), "id")


def _kind(reader: _Reader, span: dict[str, Any]) -> None:
    kind = _KINDS.get(reader.varint())
    if kind is not None:
        span["kind"] = kind


def _string(reader: _Reader) -> str:
    return reader.take(reader.varint()).decode()


def _name(reader: _Reader, span: dict[str, Any]) -> None:
    name = _string(reader)
    if name:
        span["name"] = name.lower()


def _timestamp(reader: _Reader, span: dict[str, Any]) -> None:
    value = reader.fixed64()
    if 0 < value < 1 << 63:
        span["timestamp"] = value


def _duration(reader: _Reader, span: dict[str, Any]) -> None:
    value = reader.varint()
    if 0 < value < 1 << 63:
        span["duration"] = value


def _endpoint(reader: _Reader, field: str) -> dict[str, Any] | None:
    endpoint: dict[str, Any] = {}
    while reader.more():
        number, wire = reader.key()
        if number == 1 and wire == _BYTES:
            name = _string(reader)
            if name:
                endpoint["serviceName"] = name.lower()
        elif number in (2, 3) and wire == _BYTES:
            # Zipkin's EndpointField hands either field to parseIp(byte[]): the
            # length decides the family, and an embedded IPv4 is IPv4.
            parsed = parse_ip_bytes(reader.take(reader.varint()))
            if parsed is not None:
                endpoint[parsed[0]] = parsed[1]
        elif number == 4 and wire == _VARINT:
            port = check_port(reader.varint() & 0xFFFFFFFF, f"{field}.port")
            if port is not None:
                endpoint["port"] = port
        else:
            reader.skip(wire)
    return endpoint or None


def _local_endpoint(reader: _Reader, span: dict[str, Any]) -> None:
    endpoint = _endpoint(reader.sub(), "local_endpoint")
    if endpoint:
        span["localEndpoint"] = endpoint


def _remote_endpoint(reader: _Reader, span: dict[str, Any]) -> None:
    endpoint = _endpoint(reader.sub(), "remote_endpoint")
    if endpoint:
        span["remoteEndpoint"] = endpoint


def _annotation(reader: _Reader, span: dict[str, Any]) -> None:
    sub = reader.sub()
    timestamp, value = 0, None
    while sub.more():
        number, wire = sub.key()
        if number == 1 and wire == _FIXED64:
            timestamp = sub.fixed64()
        elif number == 2 and wire == _BYTES:
            value = _string(sub)
        else:
            sub.skip(wire)
    if timestamp and value is not None:
        span.setdefault("annotations", []).append({"timestamp": timestamp, "value": value})


def _tag(reader: _Reader, span: dict[str, Any]) -> None:
    sub = reader.sub()
    key, value = None, ""
    while sub.more():
        number, wire = sub.key()
        if number == 1 and wire == _BYTES:
            key = _string(sub)
        elif number == 2 and wire == _BYTES:
            value = _string(sub)
        else:
            sub.skip(wire)
    if key is not None:
        span.setdefault("tags", {})[key] = value


def _flag(name: str) -> Any:
    def read(reader: _Reader, span: dict[str, Any]) -> None:
        if reader.varint():
            span[name] = True

    return read


_SPAN_FIELDS: Final = {
    (1, _BYTES): _trace_id,
    (2, _BYTES): _parent_id,
    (3, _BYTES): _id,
    (4, _VARINT): _kind,
    (5, _BYTES): _name,
    (6, _FIXED64): _timestamp,
    (7, _VARINT): _duration,
    (8, _BYTES): _local_endpoint,
    (9, _BYTES): _remote_endpoint,
    (10, _BYTES): _annotation,
    (11, _BYTES): _tag,
    (12, _VARINT): _flag("debug"),
    (13, _VARINT): _flag("shared"),
}
