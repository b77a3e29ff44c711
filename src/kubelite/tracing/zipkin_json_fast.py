"""The fast path of Zipkin v2 JSON intake: canonical batches, decoded by typed structs.

Nearly every batch a reporter sends is canonical already: full-width lower-hex ids,
typed fields, positive timestamps, no unknown fields. msgspec decodes such a batch
straight into the structs below and checks id shapes, enums and ranges in C, which
costs a fraction of building dicts and checking them in Python. Each span is then
row-ready: the stored JSON is the struct encoded again (fields in Zipkin's order,
defaults left out, tags sorted), and the row's columns are its attributes.

This path never refuses a batch and never accepts one that
:func:`kubelite.tracing.zipkin_json.decode_span_list` would refuse. Anything the
structs do not describe exactly (an unknown field, a number where a string belongs,
a padded or all-zero id, a null flag or tag value, a non-positive timestamp, an
address not in canonical form, unsorted annotations, invalid UTF-8) makes
:func:`decode_canonical` return None, and the caller hands the batch to the careful
reader, which owns every leniency and every 400 message. What is stored is the same
either way; the unit tests compare both paths byte for byte.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from kubelite.tracing.model import parse_ip

_MAX_LONG: Final = 2**63 - 1
# Lengths only: the digits of a batch's ids are checked at once (see _ids_canonical);
# a pattern per field cost more than the rest of decoding.
_ID: Final = msgspec.Meta(min_length=16, max_length=16)
_TRACE_ID: Final = msgspec.Meta(min_length=16, max_length=32)
_HEX_AND_COMMA: Final = b"0123456789abcdef,"
# An id that starts with 16 zeros is all zeros (refused, or a root's parent) or a trace
# id with a zero high half (which Zipkin shortens): either way not canonical.
_ZERO_START: Final = "," + "0" * 16
_POSITIVE: Final = msgspec.Meta(ge=1, le=_MAX_LONG)
_LONG: Final = msgspec.Meta(ge=-_MAX_LONG - 1, le=_MAX_LONG)
_PORT: Final = msgspec.Meta(ge=1, le=0xFFFF)


class WireEndpoint(
    msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True, gc=False
):
    """An endpoint as sent; frozen so a batch can read each distinct one once."""

    serviceName: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    port: Annotated[int, _PORT] | None = None


class WireAnnotation(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    timestamp: Annotated[int, _LONG]
    value: str


class WireSpan(
    msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, gc=False
):
    """A canonical Zipkin v2 span; fields in the order Zipkin writes them.

    ``gc=False`` (for all three structs): decoded spans hold only strings, numbers
    and containers of them, so they can form no reference cycle, and leaving them out
    of the cycle collector's lists saves a good part of decoding.
    """

    traceId: Annotated[str, _TRACE_ID]
    parentId: Annotated[str, _ID] | None = None
    id: Annotated[str, _ID]
    kind: Literal["CLIENT", "SERVER", "PRODUCER", "CONSUMER"] | None = None
    name: str | None = None
    timestamp: Annotated[int, _POSITIVE] | None = None
    duration: Annotated[int, _POSITIVE] | None = None
    localEndpoint: WireEndpoint | None = None
    remoteEndpoint: WireEndpoint | None = None
    annotations: list[WireAnnotation] | None = None
    tags: dict[str, str] | None = None
    # False and absent both mean "not set", and are left out when encoding.
    debug: bool = False
    shared: bool = False


_decoder: Final = msgspec.json.Decoder(list[WireSpan])
# "deterministic" sorts dict keys (tags, as Zipkin does) and keeps struct field order.
encode_span: Final = msgspec.json.Encoder(order="deterministic").encode

_EMPTY_ENDPOINT: Final = WireEndpoint()
# An endpoint the fast path cannot normalize exactly (memoized like the others).
_NOT_CANONICAL: Final[Any] = object()
_UNSEEN: Final[Any] = object()


def decode_canonical(body: bytes) -> list[WireSpan] | None:
    """The batch as canonical spans, or None when the careful reader must decide."""
    try:
        spans = _decoder.decode(body)
    except ValueError:  # msgspec's errors, and UnicodeDecodeError for invalid UTF-8
        return None
    endpoints: dict[WireEndpoint, Any] = {}
    ids: list[str] = []
    trace_ids: set[str] = set()
    # One pass applies Zipkin's fix-ups that are cheap and exact, and gives up on the rest.
    for span in spans:
        trace_ids.add(span.traceId)
        span_id, parent = span.id, span.parentId
        ids.append(span_id)
        if parent is not None:
            if parent == span_id:
                span.parentId = None
            else:
                ids.append(parent)
        name = span.name
        if name is not None and not name.islower():
            span.name = name.lower() or None
        if span.localEndpoint is not None:
            settled = _settled(span.localEndpoint, endpoints)
            if settled is _NOT_CANONICAL:
                return None
            span.localEndpoint = settled
        if span.remoteEndpoint is not None:
            settled = _settled(span.remoteEndpoint, endpoints)
            if settled is _NOT_CANONICAL:
                return None
            span.remoteEndpoint = settled
        if span.shared and span.kind == "CLIENT":
            span.shared = False
        if span.annotations is not None and not _settle_annotations(span):
            return None
        if span.tags is not None and not span.tags:
            span.tags = None
    return spans if _ids_canonical(ids, trace_ids) else None


def _ids_canonical(ids: list[str], trace_ids: set[str]) -> bool:
    """Whether every id is lower-hex of canonical width and not zero-led.

    Span ids are 16 characters long already (a struct constraint), trace ids 16 to 32;
    all digits are checked at once, which costs far less than a pattern per field.
    """
    for trace_id in trace_ids:
        if len(trace_id) != 16 and len(trace_id) != 32:
            return False
    joined = ",".join(ids) + "," + ",".join(trace_ids)
    return (
        joined.isascii()
        and not joined.encode().translate(None, _HEX_AND_COMMA)
        and _ZERO_START not in "," + joined
    )


def _settle_annotations(span: WireSpan) -> bool:
    """Keep sorted, distinct annotations; anything else is left to the careful reader."""
    annotations = span.annotations
    if not annotations:
        span.annotations = None
        return True
    previous = annotations[0]
    for annotation in annotations[1:]:
        if (annotation.timestamp, annotation.value) <= (previous.timestamp, previous.value):
            return False  # Zipkin sorts and de-duplicates: the careful reader does that
        previous = annotation
    return True


def _settled(endpoint: Any, endpoints: dict[Any, Any]) -> Any:
    """`_settle_endpoint`, once per distinct endpoint of a batch."""
    settled = endpoints.get(endpoint, _UNSEEN)
    if settled is _UNSEEN:
        settled = endpoints[endpoint] = _settle_endpoint(endpoint)
    return settled


def _settle_endpoint(endpoint: WireEndpoint) -> Any:
    """The endpoint as Zipkin keeps it (None when nothing is left), or not canonical."""
    for family in ("ipv4", "ipv6"):
        address = getattr(endpoint, family)
        if address is not None and parse_ip(address) != (family, address):
            return _NOT_CANONICAL  # rewritten or dropped: the careful reader decides
    service = endpoint.serviceName
    if service is not None and not service.islower():
        lowered = service.lower() or None
        if lowered != service:
            endpoint = msgspec.structs.replace(endpoint, serviceName=lowered)
    if endpoint == _EMPTY_ENDPOINT:
        return None
    return endpoint
