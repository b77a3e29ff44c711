"""The page frame: navigation, namespace picker, styles and the refresh loop.

Pages are whole server-rendered documents, so they work with scripts off.
With scripts on, a page marked `refresh` re-fetches itself every few seconds
asking only for the `#live` fragment (header `X-Dashboard-Fragment`) and swaps
it in; the log viewer sits outside that fragment so following logs survives a
refresh. No external assets: styles and the script are inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubelite.dashboard.html import Markup, esc, link, tag, url

FRAGMENT_HEADER = "x-dashboard-fragment"
REFRESH_MS = 5000

NAV: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/workloads", "Workloads"),
    ("/pods", "Pods"),
    ("/services", "Services"),
    ("/config", "Config"),
    ("/events", "Events"),
    ("/traces", "Traces"),
    ("/dependencies", "Dependencies"),
    ("/breakers", "Breakers"),
)
# Pages whose content does not depend on a namespace hide the picker.
_CLUSTER_WIDE = ("/traces", "/dependencies")


@dataclass(frozen=True)
class View:
    """What a page handler returns: the frame is added by the app."""

    title: str
    body: Markup
    path: str = "/"
    refresh: bool = True
    status: int = 200
    after: Markup = Markup("")  # below the live fragment, kept across refreshes


CSS = """
:root{--fg:#1d2330;--muted:#6b7385;--line:#e3e6ec;--bg:#f6f7f9;--card:#fff;--accent:#2f6fde;
--ok:#1f8a4c;--warn:#b7791f;--bad:#c53030;font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif}
*{box-sizing:border-box}body{margin:0;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:16px;padding:8px 16px;background:#1d2330;color:#fff;flex-wrap:wrap}
header .brand{font-weight:700;letter-spacing:.02em}header nav a{color:#cfd6e4;text-decoration:none;margin-right:12px}
header nav a.on,header nav a:hover{color:#fff;text-decoration:underline}
header form{margin-left:auto;display:flex;gap:8px;align-items:center}
main{padding:12px 16px;max-width:1400px}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:18px 0 6px}
section,.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin-bottom:12px}
section>h2{margin-top:2px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase}tr:hover td{background:#fafbfd}
a{color:var(--accent)}.muted{color:var(--muted)}code,pre,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:0 6px;border-radius:9px;background:#e8ebf1;font-size:12px;white-space:nowrap}
.badge.ok{background:#def5e6;color:var(--ok)}.badge.warn{background:#fdf0d5;color:var(--warn)}
.badge.bad{background:#fde2e2;color:var(--bad)}.badge.muted{color:var(--muted)}
.notice{padding:8px 12px;border-radius:6px;margin:8px 0;background:#fdf0d5;border:1px solid #f3d9a4}
.notice.bad{background:#fde2e2;border-color:#f5b5b5}.notice.info{background:#e6effc;border-color:#bcd0f3}
.tiles{display:flex;gap:12px;flex-wrap:wrap}.tile{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:120px}
.tile b{display:block;font-size:22px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}dt{color:var(--muted)}dd{margin:0}
pre.log{background:#11151c;color:#d8dee9;padding:8px;border-radius:6px;max-height:60vh;overflow:auto;white-space:pre-wrap;word-break:break-all;margin:0}
.controls{display:flex;gap:8px;align-items:center;margin:6px 0;flex-wrap:wrap}
.wf{width:100%}.wf-row>summary{display:grid;grid-template-columns:minmax(220px,34%) 1fr 80px;gap:8px;align-items:center;
list-style:none;cursor:pointer;padding:2px 0;border-bottom:1px solid var(--line)}.wf-row>summary::-webkit-details-marker{display:none}
.wf-name{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.wf-track{position:relative;height:14px;background:#f1f3f7;border-radius:3px}
.wf-bar{position:absolute;top:2px;height:10px;min-width:2px;border-radius:2px;background:var(--accent)}.wf-bar.err{background:var(--bad)}
.wf-dur{text-align:right;font-variant-numeric:tabular-nums}.wf-detail{margin:4px 0 8px 24px}
.wf-ticks{display:grid;grid-template-columns:minmax(220px,34%) 1fr 80px;gap:8px;color:var(--muted);font-size:11px}
.wf-ticks .scale{display:flex;justify-content:space-between}
svg.graph text{font:12px system-ui,sans-serif}svg.graph .node rect{fill:#fff;stroke:#2f6fde;stroke-width:1.5}
svg.graph .edge{fill:none;stroke:#8a94a8}svg.graph .edge.err{stroke:var(--bad)}svg.graph .elabel{fill:#505a6e;font-size:11px}
"""

# Swaps in #live every few seconds; pauses when the tab is hidden or the user says so.
REFRESH_JS = (
    """
(function(){const live=document.getElementById('live');const btn=document.getElementById('pause');
if(!live||!live.dataset.refresh||!btn)return;let paused=false;btn.hidden=false;
btn.onclick=function(){paused=!paused;btn.textContent=paused?'resume refresh':'pause refresh'};
setInterval(async function(){if(paused||document.hidden)return;
try{const r=await fetch(location.href,{headers:{'X-Dashboard-Fragment':'1'}});
if(r.ok&&!paused){live.innerHTML=await r.text();}}catch(e){}},REFRESH_MS);})();
"""
).replace("REFRESH_MS", str(REFRESH_MS))


def _nav(active: str) -> Markup:
    items = []
    for href, label in NAV:
        on = href == active or (href != "/" and active.startswith(href + "/"))
        items.append(link(href, label, cls="on" if on else None))
    return tag("nav", *items)


def _namespace_picker(path: str, namespace: str, namespaces: Sequence[str]) -> Markup:
    if path.startswith(_CLUSTER_WIDE) or path.startswith("/pods/"):
        return Markup("")
    options = [tag("option", "all namespaces", value="", selected=not namespace)]
    options += [tag("option", ns, value=ns, selected=ns == namespace) for ns in namespaces]
    select = tag(
        "select", *options, name="ns", onchange="this.form.submit()", aria_label="namespace"
    )
    return tag("form", select, tag("noscript", tag("button", "go")), method="get", action=path)


def page(view: View, *, namespace: str, namespaces: Sequence[str]) -> Markup:
    """The full document around a view."""
    pause = tag("button", "pause refresh", id="pause", type="button", hidden=True)
    head = tag(
        "head",
        Markup('<meta charset="utf-8">'),
        Markup('<meta name="viewport" content="width=device-width,initial-scale=1">'),
        tag("title", f"{view.title} · kubelite"),
        tag("style", Markup(CSS)),
    )
    header = tag(
        "header",
        link("/", "kubelite", cls="brand", style="color:#fff;text-decoration:none"),
        _nav(view.path),
        pause if view.refresh else "",
        _namespace_picker(view.path, namespace, namespaces),
    )
    live = tag("div", view.body, id="live", data_refresh="1" if view.refresh else None)
    main = tag("main", tag("h1", view.title), live, view.after)
    script = tag("script", Markup(REFRESH_JS)) if view.refresh else ""
    return Markup(
        "<!doctype html>" + tag("html", head, tag("body", header, main, script), lang="en")
    )


def ns_link(path: str, namespace: str, text: object, **params: object) -> Markup:
    """A link that keeps the current namespace filter."""
    return link(url(path, ns=namespace, **params), esc(text))
