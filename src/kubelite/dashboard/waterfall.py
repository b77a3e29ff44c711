"""Traces as the pages show them: a one-line summary, and the waterfall rows.

A trace arrives as a flat list of Zipkin v2 spans, which are first cleaned as
the Zipkin UI cleans them (:func:`kubelite.tracing.merge_trace`): pieces of one
span reported apart become one span, and a server span that re-uses its client's
id without saying ``shared`` is marked shared. The waterfall nests them
by `parentId` the way the Zipkin UI does: a server span that shares its
client's id (`shared: true`) sits under that client, and children of such an
id hang under the server side, where the work happened. Spans whose parent
was never reported become extra roots, so nothing is hidden. Offsets and
widths are fractions of the whole trace, so the page only has to scale them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubelite.tracing import merge_trace

Span = Mapping[str, Any]
TRACE_ID = re.compile(r"[0-9a-fA-F]{1,32}")
TRACE_ID_RULE = "A trace id is 1 to 32 hexadecimal characters, not all zeros."


def valid_trace_id(text: str) -> bool:
    """Zipkin's rule (`Span.normalizeTraceId`): 1 to 32 hex characters, not all zeros.

    Shorter ids are zero-padded to 16 or 32 by the collector, as Zipkin pads them.
    """
    return TRACE_ID.fullmatch(text) is not None and text.strip("0") != ""


def service(span: Span) -> str:
    return ((span.get("localEndpoint") or {}).get("serviceName")) or "unknown"


def is_error(span: Span) -> bool:
    return "error" in (span.get("tags") or {})


def bounds(spans: Iterable[Span]) -> tuple[int, int]:
    """(start, end) in epoch µs over the spans that carry a timestamp; (0, 0) if none do."""
    starts, ends = [], []
    for span in spans:
        ts = span.get("timestamp")
        if ts is None:
            continue
        starts.append(ts)
        ends.append(ts + (span.get("duration") or 0))
    return (min(starts), max(ends)) if starts else (0, 0)


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root_service: str
    root_name: str
    start_us: int
    duration_us: int
    spans: int
    errors: int
    services: dict[str, int]  # span count per service


def _root(spans: Sequence[Span]) -> Span:
    roots = [s for s in spans if not s.get("parentId")]
    pool = roots or list(spans)
    return min(pool, key=lambda s: (s.get("timestamp") is None, s.get("timestamp") or 0))


def cleaned(spans: Sequence[Span]) -> Sequence[Span]:
    """The spans as the Zipkin UI shows them (see the module docstring)."""
    return merge_trace(spans)  # type: ignore[arg-type]


def summarize(spans: Sequence[Span]) -> TraceSummary:
    spans = cleaned(spans)
    start, end = bounds(spans)
    root = _root(spans)
    per_service: dict[str, int] = {}
    for span in spans:
        per_service[service(span)] = per_service.get(service(span), 0) + 1
    return TraceSummary(
        trace_id=str(root.get("traceId", "")),
        root_service=service(root),
        root_name=str(root.get("name") or ""),
        start_us=start,
        duration_us=end - start,
        spans=len(spans),
        errors=sum(1 for s in spans if is_error(s)),
        services=dict(sorted(per_service.items())),
    )


@dataclass
class Row:
    span: Span
    depth: int
    offset: float  # fraction of the trace before the span starts
    width: float  # fraction of the trace the span covers
    children: list[Row] = field(default_factory=list)


def _node_key(span: Span) -> tuple[str, bool]:
    return str(span.get("id", "")), bool(span.get("shared"))


def _parent_key(span: Span, present: set[tuple[str, bool]]) -> tuple[str, bool] | None:
    span_id, shared = _node_key(span)
    if shared and (span_id, False) in present:
        return span_id, False  # a server span under its own client
    parent = span.get("parentId")
    if not parent:
        return None
    for key in ((str(parent), True), (str(parent), False)):
        if key in present:
            return key
    return None


def waterfall(spans: Sequence[Span]) -> list[Row]:
    """Rows in display order (depth first, siblings by start time), nested by parent."""
    spans = cleaned(spans)
    start, end = bounds(spans)
    total = max(end - start, 1)
    rows: dict[tuple[str, bool], Row] = {}
    for span in spans:
        ts = span.get("timestamp")
        offset = (ts - start) / total if ts is not None else 0.0
        width = (span.get("duration") or 0) / total
        rows.setdefault(_node_key(span), Row(span, 0, offset, min(width, 1.0 - offset)))
    present = set(rows)
    roots: list[Row] = []
    for key, row in rows.items():
        parent = _parent_key(row.span, present)
        if parent is None or parent == key:
            roots.append(row)
        else:
            rows[parent].children.append(row)
    out: list[Row] = []
    seen: set[int] = set()

    def walk(top: Row, top_depth: int) -> None:
        # Depth first with a stack of its own: a call chain thousands of spans deep
        # (recursion in the traced code) must not exhaust Python's.
        stack = [(top, top_depth)]
        while stack:
            row, depth = stack.pop()
            if id(row) in seen:  # a parentId cycle in bad data: show each span once
                continue
            seen.add(id(row))
            row.depth = depth
            out.append(row)
            stack.extend((c, depth + 1) for c in reversed(sorted(row.children, key=_start)))

    for root in sorted(roots, key=_start):
        walk(root, 0)
    for row in rows.values():  # spans caught in a cycle with no root above them
        if id(row) not in seen:
            walk(row, 0)
    return out


def _start(row: Row) -> tuple[bool, int]:
    ts = row.span.get("timestamp")
    return ts is None, ts or 0


def format_us(micros: int | float) -> str:
    """A duration for people: 850µs, 12.3ms, 1.52s."""
    if micros < 1000:
        return f"{int(micros)}µs"
    if micros < 1_000_000:
        return f"{_three_digits(micros / 1000)}ms"
    return f"{_three_digits(micros / 1_000_000)}s"


def _three_digits(value: float) -> str:
    """Three significant digits, never in exponent form (999.9996 is 1000, not 1e+03)."""
    text = f"{value:.3g}"
    return f"{float(text):.0f}" if "e" in text else text
