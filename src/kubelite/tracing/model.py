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
    """Return ``("ipv4"|"ipv6", text)`` as Zipkin's ``Endpoint.Builder.parseIp(String)`` does.

    The family comes from the text's shape (``detectFamily``): dotted text that
    netty accepts is kept as IPv4 verbatim (``01.2.3.4`` too); text with colons
    is IPv6, rewritten in Zipkin's compressed form, with no embedded-IPv4
    extraction (``::a01:203`` stays IPv6); only ``::1.2.3.4`` and
    ``::ffff:1.2.3.4`` are IPv4, the part after the last colon. Anything else
    is ignored, as Zipkin ignores it. Cached: a cluster has few addresses.
    """
    family = _detect_family(value)
    if family == "ipv4":
        return "ipv4", value
    if family == "embedded":
        return "ipv4", value[value.rindex(":") + 1 :]
    if family == "ipv6":
        raw = _ipv6_bytes(value)
        return None if raw is None else ("ipv6", _write_ipv6(raw))
    return None


def parse_ip_bytes(raw: bytes) -> tuple[str, str] | None:
    """Zipkin's ``parseIp(byte[])``: 4 bytes are IPv4; 16 are IPv6 unless IPv4-compatible
    (96 zero bits, not ::1: ``parseEmbeddedIPv4`` refuses a non-zero flag, so an
    IPv4-mapped ``::ffff:a.b.c.d`` stays IPv6); any other length is ignored."""
    if len(raw) == 4:
        return "ipv4", ".".join(str(b) for b in raw)
    if len(raw) != 16:
        return None
    if raw[:12] == bytes(12) and raw[12:] != b"\0\0\0\1":
        return "ipv4", ".".join(str(b) for b in raw[12:])
    return "ipv6", _write_ipv6(raw)


_HEX = frozenset("0123456789abcdefABCDEF")


def _detect_family(text: str) -> str | None:
    has_colon = has_dot = False
    for c in text:
        if c == ".":
            has_dot = True
        elif c == ":":
            if has_dot:
                return None  # colons must not follow dots
            has_colon = True
        elif c not in _HEX:
            return None
    if has_colon:
        if not has_dot:
            return "ipv6"
        last = text.rindex(":")
        if not _valid_ipv4(text[last + 1 :]):
            return None
        if last == 1 and text[0] == ":":  # ::1.2.3.4
            return "embedded"
        if last != 6 or not text.startswith("::") or any(c not in "fF0" for c in text[2:6]):
            return None
        return "embedded"
    return "ipv4" if has_dot and _valid_ipv4(text) else None


def _valid_ipv4(text: str) -> bool:
    """netty's ``isValidIpV4Address``: four decimal words of 1-3 digits, each at most 255."""
    if not 7 <= len(text) <= 15:
        return False
    words = text.split(".")
    return len(words) == 4 and all(_valid_ipv4_word(w) for w in words)


def _valid_ipv4_word(word: str) -> bool:
    if not 1 <= len(word) <= 3 or not word.isdigit() or not word.isascii():
        return False
    return len(word) < 3 or int(word) <= 255


def _ipv6_bytes(text: str) -> bytes | None:
    """Guava's ``textToNumericFormatV6`` (the text holds only hex digits and colons)."""
    parts = text.split(":")
    if not 3 <= len(parts) <= 9:
        return None
    skip = [i for i in range(1, len(parts) - 1) if parts[i] == ""]
    if len(skip) > 1:
        return None
    if skip:
        hi, lo = skip[0], len(parts) - skip[0] - 1
        if parts[0] == "":
            hi -= 1
            if hi != 0:
                return None
        if parts[-1] == "":
            lo -= 1
            if lo != 0:
                return None
    else:
        hi, lo = len(parts), 0
    skipped = 8 - (hi + lo)
    if not (skipped >= 1 if skip else skipped == 0):
        return None
    words = parts[:hi] + ["0"] * skipped + (parts[len(parts) - lo :] if lo else [])
    if any(w == "" or int(w, 16) > 0xFFFF for w in words):
        return None
    return b"".join(int(w, 16).to_bytes(2, "big") for w in words)


def _write_ipv6(raw: bytes) -> str:
    """Zipkin's ``writeIpV6``: the first longest run of zero hextets before a non-zero one
    becomes ``::`` (a trailing run only when there was no other), lower-case hex."""
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 16, 2)]
    if not any(words):
        return "::"
    best_at, best_len, run_at = -1, -1, -1
    for i, w in enumerate(words):
        if w == 0:
            if run_at < 0:
                run_at = i
            continue
        if run_at >= 0:
            if i - run_at > best_len:
                best_at, best_len = run_at, i - run_at
            run_at = -1
    if best_at == -1 and run_at != -1:
        best_at, best_len = run_at, 8 - run_at
    out, i = "", 0
    while i < 8:
        if i == best_at:
            out += ":"
            i += best_len
            if i == 8:
                out += ":"
            continue
        if i:
            out += ":"
        out += format(words[i], "x")
        i += 1
    return out


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
