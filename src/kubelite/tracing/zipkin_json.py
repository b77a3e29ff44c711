"""Decoding a Zipkin v2 JSON ``List<Span>`` the way Zipkin's collector does.

The whole list is decoded and validated before anything is stored: the first bad
span aborts the batch with a :class:`~kubelite.tracing.model.SpanFormatError`
whose message keeps Zipkin's wording (``... reading List<Span> from json``) and
adds the JSON path of the offending field. Leniencies are Zipkin's too: unknown
fields and nulls are skipped, negative or zero timestamps and durations are
dropped rather than refused, numbers are accepted where a string is expected,
and ids are padded to their canonical width.

Batches that are canonical already (nearly all) are decoded by
:mod:`kubelite.tracing.zipkin_json_fast` instead, which stores exactly what this
reader would and hands every other batch to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Final

import orjson

from kubelite.tracing.model import (
    KEY_ORDER,
    KINDS,
    Annotation,
    Endpoint,
    Span,
    SpanFormatError,
    check_port,
    finish_span,
    normalize_parent_id,
    normalize_span_id,
    normalize_trace_id,
    parse_ip,
)

MALFORMED: Final = "Malformed"

_PLAIN_KEYS: Final = frozenset(KEY_ORDER)
_ZERO_ID: Final = "0" * 16
_HEX_DIGITS: Final = "0123456789abcdef"
_MAX_PORT: Final = 0xFFFF
_MAX_LONG: Final = 2**63 - 1
_MIN_LONG: Final = -(2**63)
_ENDPOINT_ORDER: Final = ("serviceName", "ipv4", "ipv6", "port")
_NOT_PLAIN: Final[Any] = object()
_STR_TYPE: Final = frozenset({str})


class SpanListError(ValueError):
    """A whole-batch refusal; ``str()`` is the 400 body Zipkin would send."""


def decode_span_list(body: bytes) -> list[Span]:
    """Decode and validate ``body``; raise :class:`SpanListError` on the first problem."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SpanListError(f"{MALFORMED} reading List<Span> from json") from None
    if not isinstance(raw, list):
        raise SpanListError(f"{MALFORMED} reading List<Span> from json")
    spans: list[Span] = []
    endpoints: dict[Any, Any] = {}
    for index, item in enumerate(raw):
        span = plain_span(item, endpoints) if type(item) is dict else None
        if span is not None:
            spans.append(span)
            continue
        try:
            spans.append(read_span(item))
        except SpanFormatError as error:
            where = f"$[{index}]" + ("" if error.field == "$" else f".{error.field}")
            raise SpanListError(
                f"{error.cause} reading List<Span> from json (at {where})"
            ) from None
    return spans


def plain_span(raw: dict[str, Any], endpoints: dict[Any, Any] | None = None) -> Span | None:
    """The common, clean span in one pass; None sends it through :func:`read_span`.

    Decoding dominated ingest, and nearly every span a reporter sends is already
    canonical (full-width lower-hex ids, typed fields, no annotations), so this
    handles exactly that shape inline and gives up on anything else — bad input,
    padding, numbers for strings, unknown keys — leaving the error wording and every
    leniency to the generic reader. The result must equal :func:`read_span`'s.

    ``endpoints`` memoizes endpoints across the spans of one batch: a batch names
    a handful of them many times, so equal ones are read once and then shared
    (spans are never changed after decoding).
    """
    if not raw.keys() <= _PLAIN_KEYS:
        return None
    get = raw.get
    trace_id, span_id = get("traceId"), get("id")
    # Checks are inlined: this runs for every span the collector accepts.
    if (
        type(span_id) is not str
        or len(span_id) != 16
        or span_id.strip(_HEX_DIGITS)
        or span_id == _ZERO_ID
        or type(trace_id) is not str
    ):
        return None
    if len(trace_id) == 32:
        if trace_id.strip(_HEX_DIGITS):
            return None
        if trace_id[:16] == _ZERO_ID:
            trace_id = trace_id[16:]
            if trace_id == _ZERO_ID:
                return None
    elif len(trace_id) != 16 or trace_id.strip(_HEX_DIGITS) or trace_id == _ZERO_ID:
        return None
    span: dict[str, Any] = {"traceId": trace_id}
    parent = get("parentId")
    if parent is not None:
        if not _is_id(parent):
            return None
        if parent != span_id:
            span["parentId"] = parent
    span["id"] = span_id
    kind = get("kind")
    if kind is not None:
        if type(kind) is not str or kind not in KINDS:
            return None
        span["kind"] = kind
    name = get("name")
    if name is not None:
        if type(name) is not str:
            return None
        if name:
            span["name"] = name if name.islower() else name.lower()
    timestamp, duration = get("timestamp"), get("duration")
    if timestamp is not None:
        if type(timestamp) is not int or not _MIN_LONG <= timestamp <= _MAX_LONG:
            return None
        if timestamp > 0:
            span["timestamp"] = timestamp
    if duration is not None:
        if type(duration) is not int or not _MIN_LONG <= duration <= _MAX_LONG:
            return None
        if duration > 0:
            span["duration"] = duration
    for key in ("localEndpoint", "remoteEndpoint"):
        value = get(key)
        if value is not None:
            endpoint = _memo_endpoint(value, endpoints) if endpoints is not None else None
            if endpoint is None:
                endpoint = _plain_endpoint(value)
            if endpoint is _NOT_PLAIN:
                return None
            if endpoint:
                span[key] = endpoint
    if get("annotations") is not None:
        return None
    tags = get("tags")
    if tags is not None:
        if type(tags) is not dict or not set(map(type, tags.values())) <= _STR_TYPE:
            return None
        if tags:
            span["tags"] = dict(sorted(tags.items())) if len(tags) > 1 else dict(tags)
    if "debug" in raw or "shared" in raw:
        return _plain_flags(raw, span)
    return span  # type: ignore[return-value]


def _is_hex(value: str) -> bool:
    return not value.strip(_HEX_DIGITS)


def _is_id(value: Any) -> bool:
    """A canonical 16-character id: what nearly every reporter sends."""
    return type(value) is str and len(value) == 16 and _is_hex(value) and value != _ZERO_ID


def _memo_endpoint(value: Any, endpoints: dict[Any, Any]) -> Any:
    """The endpoint read earlier from an equal ``value``; None when not seen (or odd)."""
    if type(value) is not dict:
        return _NOT_PLAIN
    if type(value.get("port", 0)) is not int:  # True and 80.0 would equal 1 and 80 below
        return _NOT_PLAIN
    try:
        key = tuple(value.items())
        endpoint = endpoints.get(key)
    except TypeError:  # an unhashable value: not a plain endpoint anyway
        return _NOT_PLAIN
    if endpoint is None:
        endpoint = endpoints[key] = _plain_endpoint(value)
    return endpoint


def _plain_endpoint(value: Any) -> Any:
    if type(value) is not dict:
        return _NOT_PLAIN
    endpoint: dict[str, Any] = {}
    for key, item in value.items():
        if key == "serviceName" and type(item) is str:
            if item:
                endpoint["serviceName"] = item.lower()
        elif (key == "ipv4" or key == "ipv6") and type(item) is str:
            parsed = parse_ip(item)
            if parsed is not None:
                endpoint[parsed[0]] = parsed[1]
        elif key == "port" and type(item) is int and item <= _MAX_PORT:
            if item > 0:
                endpoint["port"] = item
        else:
            return _NOT_PLAIN
    if len(endpoint) > 1:
        return {k: endpoint[k] for k in _ENDPOINT_ORDER if k in endpoint}
    return endpoint


def _plain_flags(raw: dict[str, Any], span: dict[str, Any]) -> Span | None:
    for key in ("debug", "shared"):
        flag = raw.get(key)
        if flag is not None:
            if type(flag) is not bool:
                return None
            if flag and not (key == "shared" and span.get("kind") == "CLIENT"):
                span[key] = True
    return span  # type: ignore[return-value]


def read_span(raw: Any) -> Span:
    """Read one span object; unknown keys are ignored as Zipkin ignores them."""
    if type(raw) is not dict:
        raise SpanFormatError("$", MALFORMED)
    span: dict[str, Any] = {}
    for key, value in raw.items():
        reader = _READERS.get(key)
        if reader is None:
            continue
        if value is None:
            if key == "traceId" or key == "id":
                raise SpanFormatError(key, "Expected a string but was NULL")
            continue
        reader(span, value)
    return finish_span(span)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, (int, float)):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "BEGIN_ARRAY"
    if value is None:
        return "NULL"
    return "BEGIN_OBJECT"


def as_string(value: Any, field: str) -> str:
    """Zipkin's JSON reader hands numbers over as their text; anything else is refused."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:
        return str(value)
    raise SpanFormatError(field, f"Expected a string but was {_type_name(value)}")


def as_long(value: Any, field: str) -> int:
    """A Java ``long``: a number past its range is refused as Zipkin refuses it."""
    kind = type(value)
    number: int | None = None
    if kind is int:
        number = value
    elif kind is float and value.is_integer():
        number = int(value)
    elif kind is str:
        with contextlib.suppress(ValueError):
            number = int(value)
    if number is not None and _MIN_LONG <= number <= _MAX_LONG:
        return number
    if number is not None or kind in (float, str):
        raise SpanFormatError(field, f"Expected a long but was {value}")
    raise SpanFormatError(field, f"Expected a long but was {_type_name(value)}")


def _as_bool(value: Any, field: str) -> bool:
    if type(value) is not bool:
        raise SpanFormatError(field, f"Expected a boolean but was {_type_name(value)}")
    return value


def _read_trace_id(span: dict[str, Any], value: Any) -> None:
    span["traceId"] = normalize_trace_id(as_string(value, "traceId"))


def _read_id(span: dict[str, Any], value: Any) -> None:
    span["id"] = normalize_span_id(as_string(value, "id"))


def _read_parent_id(span: dict[str, Any], value: Any) -> None:
    parent = normalize_parent_id(as_string(value, "parentId"))
    if parent is not None:
        span["parentId"] = parent
    else:
        span.pop("parentId", None)


def _read_kind(span: dict[str, Any], value: Any) -> None:
    kind = as_string(value, "kind")
    if kind not in KINDS:
        raise SpanFormatError("kind", f"No enum constant zipkin2.Span.Kind.{kind}")
    span["kind"] = kind


def _read_name(span: dict[str, Any], value: Any) -> None:
    name = as_string(value, "name")
    if name:
        span["name"] = name.lower()
    else:
        span.pop("name", None)


def _positive_long(span: dict[str, Any], key: str, value: Any) -> None:
    number = as_long(value, key)
    if number > 0:
        span[key] = number
    else:
        span.pop(key, None)


def _read_timestamp(span: dict[str, Any], value: Any) -> None:
    _positive_long(span, "timestamp", value)


def _read_duration(span: dict[str, Any], value: Any) -> None:
    _positive_long(span, "duration", value)


def read_endpoint(value: Any, field: str) -> Endpoint | None:
    if type(value) is not dict:
        raise SpanFormatError(field, MALFORMED)
    endpoint: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if key == "serviceName":
            name = as_string(item, f"{field}.serviceName")
            if name:
                endpoint["serviceName"] = name.lower()
        elif key == "ipv4" or key == "ipv6":
            parsed = parse_ip(as_string(item, f"{field}.{key}"))
            if parsed is not None:
                endpoint[parsed[0]] = parsed[1]
        elif key == "port":
            port = check_port(as_long(item, f"{field}.port"), f"{field}.port")
            if port is not None:
                endpoint["port"] = port
    if not endpoint:
        return None
    return {k: endpoint[k] for k in ("serviceName", "ipv4", "ipv6", "port") if k in endpoint}  # type: ignore[return-value]


def _read_local_endpoint(span: dict[str, Any], value: Any) -> None:
    endpoint = read_endpoint(value, "localEndpoint")
    if endpoint is not None:
        span["localEndpoint"] = endpoint


def _read_remote_endpoint(span: dict[str, Any], value: Any) -> None:
    endpoint = read_endpoint(value, "remoteEndpoint")
    if endpoint is not None:
        span["remoteEndpoint"] = endpoint


def _read_annotations(span: dict[str, Any], value: Any) -> None:
    if type(value) is not list:
        raise SpanFormatError("annotations", MALFORMED)
    annotations: list[Annotation] = span.setdefault("annotations", [])
    for index, item in enumerate(value):
        field = f"annotations[{index}]"
        if type(item) is not dict:
            raise SpanFormatError(field, MALFORMED)
        timestamp, text = item.get("timestamp"), item.get("value")
        if timestamp is None or text is None:
            raise SpanFormatError(field, f"Incomplete annotation at $.{field}")
        annotations.append(
            {
                "timestamp": as_long(timestamp, f"{field}.timestamp"),
                "value": as_string(text, f"{field}.value"),
            }
        )
    if not annotations:
        del span["annotations"]


def _read_tags(span: dict[str, Any], value: Any) -> None:
    if type(value) is not dict:
        raise SpanFormatError("tags", MALFORMED)
    tags: dict[str, str] = span.setdefault("tags", {})
    for key, item in value.items():
        if type(item) is str:
            tags[key] = item
        elif item is None:
            raise SpanFormatError(f"tags.{key}", f"No value at $.tags.{key}")
        else:
            tags[key] = as_string(item, f"tags.{key}")
    if not tags:
        del span["tags"]


def _read_debug(span: dict[str, Any], value: Any) -> None:
    if _as_bool(value, "debug"):
        span["debug"] = True


def _read_shared(span: dict[str, Any], value: Any) -> None:
    if _as_bool(value, "shared"):
        span["shared"] = True


_READERS: Final[dict[str, Callable[[dict[str, Any], Any], None]]] = {
    "traceId": _read_trace_id,
    "id": _read_id,
    "parentId": _read_parent_id,
    "kind": _read_kind,
    "name": _read_name,
    "timestamp": _read_timestamp,
    "duration": _read_duration,
    "localEndpoint": _read_local_endpoint,
    "remoteEndpoint": _read_remote_endpoint,
    "annotations": _read_annotations,
    "tags": _read_tags,
    "debug": _read_debug,
    "shared": _read_shared,
}
