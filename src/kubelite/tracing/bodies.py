"""Reading POST bodies for the intake endpoints: size limits and gzip, in one place.

Both intakes accept ``Content-Encoding: gzip``. Limits apply to the bytes read and
again to the inflated bytes, so a small gzip bomb cannot exhaust memory.
"""

from __future__ import annotations

import zlib
from typing import Final

from starlette.requests import Request

MAX_BODY_BYTES: Final = 10 * 1024 * 1024
MAX_SPANS_PER_BATCH: Final = 10_000


class BodyTooLarge(Exception):
    """The body exceeds :data:`MAX_BODY_BYTES` (before or after inflating)."""


class BadEncoding(ValueError):
    """A body whose Content-Encoding could not be undone."""


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    if body and "gzip" in request.headers.get("content-encoding", "").lower():
        body = gunzip(body, limit=limit)
    return body


def gunzip(data: bytes, *, limit: int = MAX_BODY_BYTES) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise BadEncoding("Cannot gunzip spans") from None
    if len(body) > limit:
        raise BodyTooLarge
    if not inflater.eof:
        raise BadEncoding("Cannot gunzip spans")
    return body
