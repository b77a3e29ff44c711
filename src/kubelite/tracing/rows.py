"""Span rows as the store inserts them: flat values, one span after another.

Rows are flat lists (``ROW_WIDTH`` values per span, in :data:`schema.INSERT_SPAN`'s
column order) because the writer inserts many rows per statement (see
:mod:`kubelite.tracing.store`), and building them flat costs no more than building
tuples. Both builders run for every span the collector accepts, so each reads a
field once and keeps the per-span work to one row and one JSON blob. A batch also
yields the names it mentions (services, span names, remote services) for the side
tables; each pair ``(service, kind, value)`` maps to the batch's ``received``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import orjson

from kubelite.tracing import schema
from kubelite.tracing.model import Span
from kubelite.tracing.zipkin_json_fast import WireSpan, encode_span

ROW_WIDTH: Final = 11
Names = dict[tuple[str, str, str], int]


def rows_from_spans(spans: Sequence[Span], received: int) -> tuple[list[Any], Names]:
    """Rows of normalized span dicts (every intake but the JSON fast path)."""
    values: list[Any] = []
    mentioned: set[tuple[Any, Any, Any]] = set()
    keys: dict[str, int] = {}
    dumps = orjson.dumps
    for span in spans:
        trace_id = span["traceId"]
        key = keys.get(trace_id)
        if key is None:
            key = keys[trace_id] = schema.trace_key(trace_id)
        local = span.get("localEndpoint")
        service = local.get("serviceName") if local else None
        remote = span.get("remoteEndpoint")
        remote_name = remote.get("serviceName") if remote else None
        name = span.get("name")
        tags = span.get("tags")
        values += (
            key,
            trace_id,
            service,
            remote_name,
            name,
            span.get("kind"),
            span.get("timestamp"),
            span.get("duration"),
            1 if tags and "error" in tags else 0,
            received,
            dumps(span),
        )
        if service is not None:
            mentioned.add((service, name, remote_name))
    return values, _names(mentioned, received)


def rows_from_wire(spans: Sequence[WireSpan], received: int) -> tuple[list[Any], Names]:
    """Rows of canonical spans from :mod:`kubelite.tracing.zipkin_json_fast`."""
    values: list[Any] = []
    mentioned: set[tuple[Any, Any, Any]] = set()
    keys: dict[str, int] = {}
    encode = encode_span
    for span in spans:
        trace_id = span.traceId
        key = keys.get(trace_id)
        if key is None:
            key = keys[trace_id] = schema.trace_key(trace_id)
        local = span.localEndpoint
        service = local.serviceName if local is not None else None
        remote = span.remoteEndpoint
        remote_name = remote.serviceName if remote is not None else None
        name = span.name
        tags = span.tags
        values += (
            key,
            trace_id,
            service,
            remote_name,
            name,
            span.kind,
            span.timestamp,
            span.duration,
            1 if tags and "error" in tags else 0,
            received,
            encode(span),
        )
        if service is not None:
            mentioned.add((service, name, remote_name))
    return values, _names(mentioned, received)


def _names(mentioned: Iterable[tuple[str, str | None, str | None]], received: int) -> Names:
    """Side-table keys: ``'s'`` marks a service, ``'n'`` a span name, ``'r'`` a remote."""
    names: Names = {}
    for service, name, remote_name in mentioned:
        names[(service, "s", "")] = received
        if name is not None:
            names[(service, "n", name)] = received
        if remote_name is not None:
            names[(service, "r", remote_name)] = received
    return names


def as_tuples(values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The flat values regrouped one tuple per span (for ``executemany``)."""
    return list(zip(*[iter(values)] * ROW_WIDTH, strict=True))
