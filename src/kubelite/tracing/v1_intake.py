"""``POST /api/v1/spans``: Zipkin v1 JSON or v1 Thrift, checked and converted to v2 spans.

zipkin-server picks the format from the Content-Type (``application/x-thrift`` is
Thrift, anything else v1 JSON) and first checks that the body looks like a list in
that format, answering ``Expected a THRIFT encoded list`` (or ``JSON_V1``) when not,
and refusing a v2 JSON batch sent to the v1 path. The same checks and wording apply
here. The zipkin app imports this module on the first v1 request only, so a
collector that never sees v1 spans does not load the v1 readers.
"""

from __future__ import annotations

from typing import Final

from kubelite.tracing.model import Span
from kubelite.tracing.thrift_reader import decode_thrift_list
from kubelite.tracing.v1_json import decode_v1_json
from kubelite.tracing.zipkin_json import SpanListError

# Bytes that only a v2 JSON span has (an endpoint field or tags): Zipkin's own check.
_V2_MARKERS: Final = (b'Endpoint"', b'"tags"')
# A list's first byte: TBinary list of STRUCT (12), of STRING (11, sent by one old
# Java reporter), a proto3 field 1 (10, then a non-zero length) or a JSON array.
_LIST_STARTS: Final = frozenset({12, 11, ord("[")})


def decode_v1(body: bytes, *, thrift: bool) -> list[Span]:
    """The v2 spans of a non-empty v1 body; :class:`SpanListError` says why not."""
    encoding = "THRIFT" if thrift else "JSON_V1"
    if not _looks_like_list(body):
        raise SpanListError(f"Expected a {encoding} encoded list\n")
    if thrift:
        return decode_thrift_list(body)
    if any(marker in body for marker in _V2_MARKERS):
        raise SpanListError("Expected a JSON_V1 encoded list, but received: JSON_V2\n")
    return decode_v1_json(body)


def _looks_like_list(body: bytes) -> bool:
    first = body[0]
    return first in _LIST_STARTS or (first == 10 and len(body) > 1 and body[1] != 0)
