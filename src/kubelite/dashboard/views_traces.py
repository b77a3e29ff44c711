"""Traces from the collector: recent traces, one trace's waterfall, the dependency graph.

When the collector is down or not configured the pages say so in one line;
the rest of the dashboard keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from kubelite.dashboard import graph
from kubelite.dashboard.context import Context
from kubelite.dashboard.html import Markup, badge, dl, link, message, section, table, tag, url
from kubelite.dashboard.layout import View
from kubelite.dashboard.waterfall import (
    TRACE_ID_RULE,
    Row,
    format_us,
    is_error,
    service,
    summarize,
    valid_trace_id,
    waterfall,
)
from kubelite.dashboard.zipkin import TracesUnavailable

Span = Mapping[str, Any]
LOOKBACKS: tuple[tuple[str, int], ...] = (
    ("15m", 15 * 60_000), ("1h", 3_600_000), ("6h", 6 * 3_600_000), ("1d", 86_400_000), ("7d", 7 * 86_400_000),
)  # fmt: skip
LIMITS = (10, 20, 50, 100)
DEFAULT_LOOKBACK, DEFAULT_LIMIT = "1h", 20


def _now_ms(ctx: Context) -> int:
    return int(ctx.now().timestamp() * 1000)


def _choice(value: str | None, allowed: Sequence[str], default: str) -> str:
    return value if value is not None and value in allowed else default


def _ago(start_us: int, now: datetime) -> str:
    if not start_us:
        return ""
    seconds = now.timestamp() - start_us / 1_000_000
    when = datetime.fromtimestamp(start_us / 1_000_000, UTC).strftime("%H:%M:%S")
    if seconds < 120:
        return f"{when} ({max(0, int(seconds))}s ago)"
    if seconds < 7200:
        return f"{when} ({int(seconds // 60)}m ago)"
    return datetime.fromtimestamp(start_us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _select(name: str, options: Sequence[tuple[str, str]], current: str) -> Markup:
    opts = [
        tag("option", label, value=value, selected=value == current) for value, label in options
    ]
    return tag("select", *opts, name=name, onchange="this.form.submit()")


async def traces(ctx: Context, request: Request) -> View:
    q = request.query_params
    lookback = _choice(q.get("lookback"), [k for k, _ in LOOKBACKS], DEFAULT_LOOKBACK)
    limit = int(_choice(q.get("limit"), [str(n) for n in LIMITS], str(DEFAULT_LIMIT)))
    chosen = q.get("service", "")
    try:
        names = await ctx.traces.services()
        found = await ctx.traces.traces(service=chosen or None, limit=limit, lookback_ms=dict(LOOKBACKS)[lookback],
                                        end_ts_ms=_now_ms(ctx))  # fmt: skip
    except (TracesUnavailable, LookupError) as error:
        return View("Traces", message(str(error)), path="/traces", refresh=False)
    form = tag(
        "form",
        tag("label", "service ", _select("service", [("", "all services")] + [(n, n) for n in names], chosen)),
        tag("label", "last ", _select("lookback", [(k, k) for k, _ in LOOKBACKS], lookback)),
        tag("label", "show ", _select("limit", [(str(n), str(n)) for n in LIMITS], str(limit))),
        tag("noscript", tag("button", "search")),
        cls="controls", method="get", action="/traces",
    )  # fmt: skip
    lookup = tag("form", tag("input", name="id", placeholder="trace id", size=34, pattern="[0-9a-fA-F]{1,32}"),
                 tag("button", "open"), cls="controls", method="get", action="/traces/lookup")  # fmt: skip
    summaries = sorted((summarize(t) for t in found if t), key=lambda x: x.start_us, reverse=True)
    longest = max((x.duration_us for x in summaries), default=1) or 1
    now = ctx.now()
    rows = []
    for t in summaries:
        bar = tag("div", tag("div", cls="wf-bar err" if t.errors else "wf-bar", style=f"left:0;width:{100 * t.duration_us / longest:.1f}%"),
                  cls="wf-track", style="min-width:80px")  # fmt: skip
        chips = " ".join(f"{name} ×{n}" for name, n in t.services.items())
        rows.append([_ago(t.start_us, now), link(f"/traces/{t.trace_id}", f"{t.root_service}: {t.root_name}"),
                     format_us(t.duration_us), bar, t.spans,
                     badge(f"{t.errors} error{'s' if t.errors != 1 else ''}", "bad") if t.errors else badge("ok", "ok"),
                     tag("span", chips, cls="muted")])  # fmt: skip
    headers = ["started", "root", "duration", "", "spans", "errors", "services"]
    body = Markup(
        tag("div", form, lookup, style="display:flex;gap:24px;flex-wrap:wrap")
        + table(
            headers,
            rows,
            empty="No traces in this window. Services built on the kubelite mesh SDK report "
            "their spans to the collector.",
        )  # fmt: skip
    )
    return View("Traces", body, path="/traces", refresh=False)


def _wf_row(row: Row, base_us: int) -> Markup:
    span = row.span
    err = is_error(span)
    name = tag("span", tag("b", service(span)), " ", span.get("name") or "", cls="wf-name",
               style=f"padding-left:{row.depth * 14}px", title=f"{service(span)} {span.get('name') or ''}")  # fmt: skip
    bar = tag("div", cls="wf-bar err" if err else "wf-bar",
              style=f"left:{100 * row.offset:.2f}%;width:{100 * row.width:.2f}%")  # fmt: skip
    summary = tag("summary", name, tag("div", bar, cls="wf-track"),
                  tag("span", format_us(span.get("duration") or 0), cls="wf-dur"))  # fmt: skip
    facts: list[tuple[str, object]] = [
        ("span id", tag("code", span.get("id", ""))),
        ("parent id", tag("code", span.get("parentId") or "—")),
        ("kind", span.get("kind") or "—"),
        ("start", f"+{format_us((span.get('timestamp') or base_us) - base_us)}"),
        ("duration", format_us(span.get("duration") or 0)),
    ]
    remote = span.get("remoteEndpoint") or {}
    if remote:
        addr = remote.get("ipv4") or remote.get("ipv6") or ""
        facts.append(
            (
                "remote",
                f"{remote.get('serviceName') or ''} {addr}:{remote.get('port') or ''}".strip(" :"),
            )
        )
    facts += [(key, tag("code", value)) for key, value in sorted((span.get("tags") or {}).items())]
    for note in span.get("annotations") or []:
        facts.append(
            (f"+{format_us((note.get('timestamp') or base_us) - base_us)}", note.get("value", ""))
        )
    return tag("details", summary, tag("div", dl(facts), cls="wf-detail"), cls="wf-row")


async def trace(ctx: Context, request: Request) -> View:
    trace_id = request.path_params["trace_id"]
    if trace_id == "lookup":
        trace_id = request.query_params.get("id", "").strip()
    if not valid_trace_id(trace_id):  # checked here: the collector would answer 400
        return View(
            "Trace", message(TRACE_ID_RULE, "bad"), path="/traces", refresh=False, status=400
        )
    try:
        spans = await ctx.traces.trace(trace_id.lower())
    except LookupError:
        return View("Trace not found", message(f"The collector has no trace {trace_id}.", "bad"),
                    path="/traces", refresh=False, status=404)  # fmt: skip
    except TracesUnavailable as error:
        return View("Trace", message(str(error)), path="/traces", refresh=False)
    t = summarize(spans)
    rows = waterfall(spans)
    header = dl([
        ("trace id", tag("code", trace_id)),
        ("root", f"{t.root_service}: {t.root_name}"),
        ("started", datetime.fromtimestamp(t.start_us / 1e6, UTC).isoformat(timespec="milliseconds") if t.start_us else "—"),
        ("duration", format_us(t.duration_us)),
        ("spans", t.spans),
        ("depth", max((r.depth for r in rows), default=0) + 1),
        ("services", ", ".join(f"{name} ({n})" for name, n in t.services.items())),
        ("errors", badge(str(t.errors), "bad") if t.errors else badge("0", "ok")),
    ])  # fmt: skip
    ticks = tag("div", tag("span", "service: span"),
                tag("div", *(tag("span", format_us(t.duration_us * i / 4)) for i in range(5)), cls="scale"),
                tag("span", "duration", style="text-align:right"), cls="wf-ticks")  # fmt: skip
    body = Markup(
        section("Trace", header)
        + section(
            "Waterfall",
            ticks,
            tag("div", *(_wf_row(r, t.start_us) for r in rows), cls="wf"),
            tag("p", "Click a span for its tags and annotations.", cls="muted"),
        )  # fmt: skip
    )
    return View(f"Trace {t.root_service}: {t.root_name}", body, path="/traces", refresh=False)


async def dependencies(ctx: Context, request: Request) -> View:
    lookback = _choice(request.query_params.get("lookback"), [k for k, _ in LOOKBACKS], "1d")
    try:
        links = await ctx.traces.dependencies(
            end_ts_ms=_now_ms(ctx), lookback_ms=dict(LOOKBACKS)[lookback]
        )
    except (TracesUnavailable, LookupError) as error:
        return View("Dependencies", message(str(error)), path="/dependencies", refresh=False)
    form = tag("form", tag("label", "last ", _select("lookback", [(k, k) for k, _ in LOOKBACKS], lookback)),
               tag("noscript", tag("button", "show")), cls="controls", method="get", action="/dependencies")  # fmt: skip
    edges = sorted(graph.edges_of(links), key=lambda e: (e.parent, e.child))
    if not edges:
        return View("Dependencies", Markup(form + tag("p", "No calls between services in this window.", cls="muted")),
                    path="/dependencies")  # fmt: skip
    picture = graph.svg(edges, href=lambda name: url("/traces", service=name, lookback=lookback))
    rows = [
        [link(url("/traces", service=e.parent), e.parent), link(url("/traces", service=e.child), e.child), e.calls,
         badge(str(e.errors), "bad") if e.errors else "0", f"{100 * e.errors / e.calls:.1f}%" if e.calls else "—"]
        for e in edges
    ]  # fmt: skip
    body = Markup(
        form
        + section("Service graph", tag("div", picture, style="overflow:auto"))
        + section("Calls", table(["caller", "callee", "calls", "errors", "error rate"], rows))
    )
    return View("Dependencies", body, path="/dependencies", refresh=False)
