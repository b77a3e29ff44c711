"""Reading a Zipkin v1 JSON span list, with the leniencies and messages of Zipkin's reader.

Ids are lower-hex strings of 1 to 32 characters (a 32-character trace id carries
the high 64 bits); nulls and unknown fields are skipped; a binary annotation
whose value is neither a string nor a boolean is dropped, and a boolean one only
counts as an ``sa``/``ca``/``ma`` address. A problem refuses the whole batch with
``<cause> reading List<Span> from json (at <path>)``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from kubelite.tracing.model import Endpoint, Span, SpanFormatError
from kubelite.tracing.v1_spans import (
    V1Annotation,
    V1BinaryAnnotation,
    V1Span,
    V1SpanError,
    address_annotation,
    make_v1_span,
    to_v2,
)
from kubelite.tracing.zipkin_json import MALFORMED, SpanListError, as_long, as_string, read_endpoint

_HEX: Final = frozenset("0123456789abcdef")


def decode_v1_json(body: bytes) -> list[Span]:
    """The v2 spans a v1 JSON list converts to; :class:`SpanListError` on the first problem."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SpanListError(f"{MALFORMED} reading List<Span> from json") from None
    if type(raw) is not list:
        raise SpanListError(f"{MALFORMED} reading List<Span> from json")
    spans: list[Span] = []
    for index, item in enumerate(raw):
        try:
            spans.extend(to_v2(read_v1_span(item)))
        except SpanFormatError as error:
            where = f"$[{index}]" + ("" if error.field == "$" else f".{error.field}")
            raise SpanListError(
                f"{error.cause} reading List<Span> from json (at {where})"
            ) from None
    return spans


def read_v1_span(raw: Any) -> V1Span:
    if type(raw) is not dict:
        raise SpanFormatError("$", MALFORMED)
    fields: dict[str, Any] = {}
    annotations: list[V1Annotation] = []
    binary: list[V1BinaryAnnotation] = []
    for key, value in raw.items():
        if key == "traceId":  # ids may not be null (as_string refuses None)
            text = as_string(value, key)
            if len(text) == 32:
                fields["trace_id_high"] = _hex_long(text[:16], key, whole=text)
            fields["trace_id"] = _hex_long(text, key)
        elif key == "id":
            fields["id"] = _hex_long(as_string(value, key), key)
        elif value is None:
            continue
        elif key == "parentId":
            fields["parent_id"] = _hex_long(as_string(value, key), key)
        elif key == "name":
            fields["name"] = as_string(value, key)
        elif key in ("timestamp", "duration"):
            fields[key] = as_long(value, key)
        elif key == "annotations":
            annotations.extend(
                _annotation(item, f"annotations[{i}]") for i, item in enumerate(_list(value, key))
            )
        elif key == "binaryAnnotations":
            for i, item in enumerate(_list(value, key)):
                annotation = _binary_annotation(item, f"binaryAnnotations[{i}]")
                if annotation is not None:
                    binary.append(annotation)
        elif key == "debug":
            if type(value) is not bool:
                raise SpanFormatError(key, f"Expected a boolean but was {_json_type(value)}")
            fields["debug"] = fields.get("debug", False) or value
    try:
        return make_v1_span(
            trace_id=fields.pop("trace_id", 0),
            id=fields.pop("id", 0),
            annotations=annotations,
            binary_annotations=binary,
            **fields,
        )
    except V1SpanError as error:
        raise SpanFormatError("$", str(error)) from None


def _hex_long(text: str, field: str, *, whole: str | None = None) -> int:
    """Zipkin's ``lowerHexToUnsignedLong``: 1 to 32 characters, only the low 64 bits kept."""
    low = text[-16:]
    if not 1 <= len(text) <= 32 or not set(low) <= _HEX:
        raise SpanFormatError(
            field, f"{whole or text} should be a 1 to 32 character lower-hex string with no prefix"
        )
    return int(low, 16)


def _list(value: Any, field: str) -> list[Any]:
    if type(value) is not list:
        raise SpanFormatError(field, MALFORMED)
    return value


def _annotation(raw: Any, field: str) -> V1Annotation:
    if type(raw) is not dict:
        raise SpanFormatError(field, MALFORMED)
    timestamp: int | None = None
    value: str | None = None
    endpoint: Endpoint | None = None
    for key, item in raw.items():
        if key == "timestamp":
            timestamp = as_long(item, f"{field}.timestamp")
        elif key == "value":
            value = as_string(item, f"{field}.value")
        elif key == "endpoint" and item is not None:
            endpoint = read_endpoint(item, f"{field}.endpoint")
    if timestamp is None or value is None:
        raise SpanFormatError(field, f"Incomplete annotation at $.{field}")
    return V1Annotation(timestamp, value, endpoint)


def _binary_annotation(raw: Any, field: str) -> V1BinaryAnnotation | None:
    if type(raw) is not dict:
        raise SpanFormatError(field, MALFORMED)
    key: str | None = None
    value: str | bool | None = None
    endpoint: Endpoint | None = None
    for name, item in raw.items():
        if item is None:
            continue
        if name == "key":
            key = as_string(item, f"{field}.key")
        elif name == "value" and type(item) in (str, bool):
            value = item  # numbers and objects are not tags in v1 JSON: Zipkin drops them
        elif name == "endpoint":
            endpoint = read_endpoint(item, f"{field}.endpoint")
    if key is None:
        raise SpanFormatError(field, f"No key at $.{field}")
    if type(value) is str:
        return V1BinaryAnnotation(key, value, endpoint)
    if value is True:
        return address_annotation(key, endpoint)
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, (int, float)):
        return "NUMBER"
    return "BEGIN_ARRAY" if isinstance(value, list) else "BEGIN_OBJECT"
