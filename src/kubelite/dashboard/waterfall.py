"""Traces as the pages show them: a one-line summary, and the waterfall rows.

A trace arrives as a flat list of Zipkin v2 spans, which are first cleaned as
the Zipkin UI cleans them (:func:`kubelite.tracing.merge_trace`): pieces of one
span reported apart become one span, and a server span that re-uses its client's
id without saying ``shared`` is marked shared, and a host whose clock disagrees
with its caller's is moved back in line. The waterfall nests them
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
    return corrected_for_clock_skew(merge_trace(spans))  # type: ignore[arg-type]


# -- clock skew, as the Zipkin UI corrects it (its clock-skew module) ------------------


def _ips_match(a: Span | None, b: Span | None) -> bool:
    if not a or not b:
        return False
    if a.get("ipv6") and a.get("ipv6") == b.get("ipv6"):
        return True
    if not a.get("ipv4") and not b.get("ipv4"):
        return False
    return bool(a.get("ipv4") == b.get("ipv4"))


def _clock_skew(parent: Span | None, child: Span) -> tuple[Span, int] | None:
    """(the server's endpoint, µs its clock runs ahead) when a server span seems to
    start before the client span that called it, on another host; else None."""
    if parent is None or parent.get("kind") != "CLIENT" or child.get("kind") != "SERVER":
        return None
    client_ts, server_ts = parent.get("timestamp"), child.get("timestamp")
    if not client_ts or not server_ts or server_ts > client_ts:
        return None
    server, client = child.get("localEndpoint"), parent.get("localEndpoint")
    if not server or not client or _ips_match(server, client):
        return None  # no endpoint to blame, or a call to the same host (one clock)
    client_dur, server_dur = parent.get("duration"), child.get("duration")
    if not client_dur or not server_dur:  # one way: push them apart by the minimum
        return server, server_ts - client_ts - 1
    if client_dur < server_dur:  # the client finished first (async): still after it
        return server, server_ts - client_ts - 1
    # the network's latency taken as half of what the client waited beyond the server
    skew = server_ts - (client_dur - server_dur) // 2 - client_ts
    return (server, skew) if skew else None


def _shifted(span: Span, skew: tuple[Span, int]) -> Span:
    """The span moved back by the skew, when it ran on the skewed host."""
    endpoint, micros = skew
    if not _ips_match(endpoint, span.get("localEndpoint")):
        return span
    out = dict(span)
    if span.get("timestamp"):
        out["timestamp"] = span["timestamp"] - micros
    if span.get("annotations"):
        out["annotations"] = [
            {**a, "timestamp": a["timestamp"] - micros} for a in span["annotations"]
        ]
    return out


def corrected_for_clock_skew(spans: Sequence[Span]) -> list[Span]:
    """Spans whose hosts' clocks disagree, moved as the Zipkin UI moves them: from the
    root down, a server seen starting before its client is shifted to start half the
    unexplained latency after it, with every span of that host beneath it. A trace
    without one root span is left as it came, as the Zipkin UI leaves it."""
    out = list(spans)
    tree = _Tree(out)
    if len(tree.roots) != 1 or out[tree.index[tree.roots[0]]].get("parentId"):
        return out
    stack: list[tuple[tuple[str, bool], tuple[Span, int] | None]] = [(tree.roots[0], None)]
    seen: set[tuple[str, bool]] = set()
    while stack:  # parents before children, without recursion (deep traces)
        key, inherited = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        i = tree.index[key]
        if inherited is not None:
            out[i] = _shifted(out[i], inherited)
        parent = tree.parent.get(key)
        skew = _clock_skew(out[tree.index[parent]] if parent else None, out[i])
        if skew is not None:
            out[i] = _shifted(out[i], skew)
        else:
            skew = inherited  # the same host as its parent: the same correction
        stack.extend((child, skew) for child in tree.children[key])
    return out


class _Tree:
    """Spans nested as the Zipkin UI nests them (the first span of each key wins)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.index: dict[tuple[str, bool], int] = {}
        for i, span in enumerate(spans):
            self.index.setdefault(_node_key(span), i)
        present = set(self.index)
        self.children: dict[tuple[str, bool], list[tuple[str, bool]]] = {k: [] for k in present}
        self.parent: dict[tuple[str, bool], tuple[str, bool]] = {}
        self.roots: list[tuple[str, bool]] = []
        for key, i in self.index.items():
            parent = _parent_key(spans[i], present)
            if parent is None or parent == key:
                self.roots.append(key)
            else:
                self.parent[key] = parent
                self.children[parent].append(key)


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
    tree = _Tree(spans)
    rows: dict[tuple[str, bool], Row] = {}
    for key, i in tree.index.items():
        span = spans[i]
        ts = span.get("timestamp")
        offset = (ts - start) / total if ts is not None else 0.0
        width = (span.get("duration") or 0) / total
        rows[key] = Row(span, 0, offset, min(width, 1.0 - offset))
    roots = [rows[key] for key in tree.roots]
    for key, parent in tree.parent.items():
        rows[parent].children.append(rows[key])
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
