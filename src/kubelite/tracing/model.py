"""The Zipkin v2 span model as kubelite stores it, and the id rules every intake shares.

Spans travel through the collector as plain dicts already in the Zipkin v2 JSON shape
(the key order Zipkin writes, tags sorted, annotations sorted), so a stored span is
one ``orjson.dumps`` away from the wire and a trace lookup is a byte concatenation.
Every intake (Zipkin JSON, Zipkin proto3, OTLP) normalizes through the functions
here, so ids, names and endpoints follow Zipkin's rules whatever the source:
trace ids pad to 16 or 32 hex characters and drop an all-zero high half, span and
service names are lower-cased, an all-zero parent id means "root".
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Final, NotRequired, TypedDict

KINDS: Final = frozenset({"CLIENT", "SERVER", "PRODUCER", "CONSUMER"})

_LOWER_HEX = re.compile(r"[0-9a-f]+")
_ZERO_PREFIX = re.compile(r"0*")
_MAX_PORT = 0xFFFF


class Endpoint(TypedDict, total=False):
    serviceName: str
    ipv4: str
    ipv6: str
    port: int


class Annotation(TypedDict):
    timestamp: int
    value: str


class Span(TypedDict):
    """A normalized Zipkin v2 span; optional keys are absent rather than null."""

    traceId: str
    parentId: NotRequired[str]
    id: str
    kind: NotRequired[str]
    name: NotRequired[str]
    timestamp: NotRequired[int]
    duration: NotRequired[int]
    localEndpoint: NotRequired[Endpoint]
    remoteEndpoint: NotRequired[Endpoint]
    annotations: NotRequired[list[Annotation]]
    tags: NotRequired[dict[str, str]]
    debug: NotRequired[bool]
    shared: NotRequired[bool]


class SpanFormatError(ValueError):
    """A span that Zipkin would refuse; ``field`` names where, ``cause`` says why.

    ``cause`` keeps Zipkin's own wording (for example
    ``48485a3953bb612 should be lower-hex encoded with no prefix``) so clients that
    match on upstream messages keep working.
    """

    def __init__(self, field: str, cause: str) -> None:
        super().__init__(f"{cause} (at {field})")
        self.field = field
        self.cause = cause


def _zero_prefix(value: str, field: str) -> int:
    if not _LOWER_HEX.fullmatch(value):
        raise SpanFormatError(field, f"{value} should be lower-hex encoded with no prefix")
    return _ZERO_PREFIX.match(value).end()  # type: ignore[union-attr]


def normalize_trace_id(value: str, field: str = "traceId") -> str:
    """Zipkin's ``Span.normalizeTraceId``: pad to 16/32, drop an all-zero high half."""
    length = len(value)
    if length == 0:
        raise SpanFormatError(field, "traceId is empty")
    if length > 32:
        raise SpanFormatError(field, "traceId.length > 32")
    zeros = _zero_prefix(value, field)
    if zeros == length:
        raise SpanFormatError(field, "traceId is all zeros")
    if length == 32:
        return value[16:] if zeros >= 16 else value
    if length == 16:
        return value
    return value.rjust(16 if length < 16 else 32, "0")


def normalize_span_id(value: str, field: str = "id") -> str:
    length = len(value)
    if length == 0:
        raise SpanFormatError(field, "id is empty")
    if length > 16:
        raise SpanFormatError(field, "id.length > 16")
    if _zero_prefix(value, field) == length:
        raise SpanFormatError(field, "id is all zeros")
    return value.rjust(16, "0")


def normalize_parent_id(value: str, field: str = "parentId") -> str | None:
    """An all-zero parent id means no parent, as in Zipkin."""
    length = len(value)
    if length == 0:
        raise SpanFormatError(field, "parentId is empty")
    if length > 16:
        raise SpanFormatError(field, "parentId.length > 16")
    if _zero_prefix(value, field) == length:
        return None
    return value.rjust(16, "0")


@functools.lru_cache(maxsize=4096)
def parse_ip(value: str) -> tuple[str, str] | None:
    """Return ``("ipv4"|"ipv6", text)``; unparseable input is ignored as Zipkin does.

    Cached: a cluster has few addresses and parsing them dominated span decoding.
    """
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or _compatible_ipv4(address)
        if embedded is not None:
            return "ipv4", str(embedded)
        return "ipv6", address.compressed
    return "ipv4", str(address)


def _compatible_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    packed = address.packed
    if packed[:12] == bytes(12) and packed[12:] != bytes(4) and packed[12:] != b"\0\0\0\1":
        return ipaddress.IPv4Address(packed[12:])
    return None


def check_port(port: int, field: str) -> int | None:
    if port > _MAX_PORT:
        raise SpanFormatError(field, f"invalid port {port}")
    return port if port > 0 else None


def finish_span(span: dict[str, Any]) -> Span:
    """Apply Zipkin's ``Span.Builder.build`` fix-ups to an assembled span dict.

    A span whose parent is itself loses the parent, and ``shared`` is dropped from
    client spans. Keys are emitted in the order Zipkin writes them.
    """
    if "traceId" not in span or "id" not in span:
        missing = "".join(f" {key}" for key in ("traceId", "id") if key not in span)
        raise SpanFormatError("$", f"Missing :{missing}")
    if span.get("parentId") == span["id"]:
        del span["parentId"]
    if span.get("kind") == "CLIENT":
        span.pop("shared", None)
    annotations = span.get("annotations")
    if annotations is not None and len(annotations) > 1:
        span["annotations"] = sorted_annotations(annotations)
    tags = span.get("tags")
    if tags is not None and len(tags) > 1:
        span["tags"] = dict(sorted(tags.items()))
    return {key: span[key] for key in KEY_ORDER if key in span}  # type: ignore[return-value]


def sorted_annotations(annotations: list[Annotation]) -> list[Annotation]:
    """Zipkin keeps annotations sorted by (timestamp, value) without duplicates."""
    unique = {(a["timestamp"], a["value"]) for a in annotations}
    return [{"timestamp": ts, "value": value} for ts, value in sorted(unique)]


# The field order Zipkin writes a span in (also the set of fields a span may have).
KEY_ORDER: Final = (
    "traceId",
    "parentId",
    "id",
    "kind",
    "name",
    "timestamp",
    "duration",
    "localEndpoint",
    "remoteEndpoint",
    "annotations",
    "tags",
    "debug",
    "shared",
)


def local_service(span: Span) -> str | None:
    endpoint = span.get("localEndpoint")
    return endpoint.get("serviceName") if endpoint else None


def remote_service(span: Span) -> str | None:
    endpoint = span.get("remoteEndpoint")
    return endpoint.get("serviceName") if endpoint else None
