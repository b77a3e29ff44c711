"""Cluster-wide pages: the overview, the event list and the breaker board."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request

from kubelite.apiserver.tables_format import since
from kubelite.dashboard import summaries as s
from kubelite.dashboard.breakers import REASON_STATES, breaker_states
from kubelite.dashboard.context import Context
from kubelite.dashboard.html import Markup, badge, link, message, section, table, tag, url
from kubelite.dashboard.layout import View

Obj = Mapping[str, Any]
RECENT_WARNINGS = 10
EVENTS_SHOWN = 200


def _tile(label: str, value: object, detail: object = "") -> Markup:
    return tag("div", tag("b", value), label, tag("div", detail, cls="muted"), cls="tile")


def pod_link(namespace: str, name: str) -> Markup:
    return link(f"/pods/{namespace}/{name}", name)


def object_link(involved: Obj) -> Markup:
    """A link to the object an event is about, when the dashboard has a page for it."""
    kind, name, ns = (
        involved.get("kind", ""),
        involved.get("name", ""),
        involved.get("namespace", ""),
    )
    if kind == "Pod" and ns:
        return Markup(f"{kind}/" + pod_link(ns, name))
    return Markup(tag("span", f"{kind}/{name}"))


def events_table(events: Sequence[Obj], now: datetime, *, with_object: bool = True) -> Markup:
    rows = []
    for ev in events:
        when = s.event_time(ev)
        involved = ev.get("involvedObject") or ev.get("regarding") or {}
        kind = ev.get("type") or "Normal"
        row: list[object] = [
            since(when, now) if when else "",
            badge(kind, "warn" if kind == "Warning" else "muted"),
            ev.get("reason", ""),
        ]
        if with_object:
            row.append(object_link(involved))
        source = ev.get("reportingComponent") or (ev.get("source") or {}).get("component", "")
        row += [ev.get("message") or ev.get("note") or "", source, ev.get("count") or 1]
        rows.append(row)
    headers = ["last seen", "type", "reason", *(["object"] if with_object else []),
               "message", "from", "count"]  # fmt: skip
    return table(headers, rows, empty="No events.")


def _nodes_table(nodes: Sequence[Obj], pods: Sequence[Obj], now: datetime) -> Markup:
    per_node = Counter(
        (p.get("spec") or {}).get("nodeName")
        for p in pods
        if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )
    rows = []
    for node in nodes:
        n = s.node_summary(node, per_node.get(s.meta(node).get("name"), 0))
        rows.append([n.name, badge(n.status, s.tone(n.status.split(",")[0])), n.cpu, n.memory,
                     n.pods, n.version, s.age(node, now)])  # fmt: skip
    headers = [
        "name",
        "status",
        "cpu (alloc / cap)",
        "memory (alloc / cap)",
        "pods",
        "version",
        "age",
    ]
    return table(headers, rows, empty="No nodes registered.")


async def overview(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    now = ctx.now()
    nodes = await ctx.items("v1", "Node")
    pods = await ctx.items("v1", "Pod", ns)
    deployments = await ctx.items("apps/v1", "Deployment", ns)
    statefulsets = await ctx.items("apps/v1", "StatefulSet", ns)
    replicasets = await ctx.items("apps/v1", "ReplicaSet", ns)
    services = await ctx.items("v1", "Service", ns)
    namespaces = await ctx.items("v1", "Namespace")
    warnings = s.newest_first(await ctx.items("v1", "Event", ns, field_selector="type=Warning"))
    all_pods = pods if not ns else await ctx.items("v1", "Pod")

    ready_nodes = sum(1 for n in nodes if s.node_summary(n, 0).status.startswith("Ready"))
    phases = s.phase_counts(pods)
    available = sum(
        1 for d in deployments if (d.get("status") or {}).get("availableReplicas", 0)
        >= (d.get("spec") or {}).get("replicas", 1)
    )  # fmt: skip
    tiles = tag(
        "div",
        _tile("nodes ready", f"{ready_nodes}/{len(nodes)}"),
        _tile("pods running", f"{phases.get('Running', 0)}/{len(pods)}",
              ", ".join(f"{k} {v}" for k, v in sorted(phases.items()) if k != "Running")),
        _tile("deployments available", f"{available}/{len(deployments)}"),
        _tile("statefulsets", len(statefulsets)),
        _tile("replicasets", len(replicasets)),
        _tile("services", len(services)),
        _tile("warnings", len(warnings)),
        cls="tiles",
    )  # fmt: skip
    attention = []
    for pod in pods:
        p = s.pod_summary(pod, now)
        if p.status not in s.HEALTHY_STATUSES:
            attention.append([p.namespace, pod_link(p.namespace, p.name), badge(p.status, s.tone(p.status)),
                              p.ready, p.restarts, p.node or "—"])  # fmt: skip
    ns_counts = Counter(s.meta(p).get("namespace") for p in all_pods)
    ns_rows = [
        [
            link(url("/pods", ns=s.meta(n)["name"]), s.meta(n)["name"]),
            badge(
                (n.get("status") or {}).get("phase", "Active"),
                s.tone((n.get("status") or {}).get("phase", "Active")),
            ),
            ns_counts.get(s.meta(n)["name"], 0),
            s.age(n, now),
        ]  # fmt: skip
        for n in namespaces
    ]
    body = Markup(
        tiles
        + section("Nodes", _nodes_table(nodes, all_pods, now))
        + section(
            "Pods that need a look",
            table(
                ["namespace", "pod", "status", "ready", "restarts", "node"],
                attention,
                empty="Every pod is running or completed.",
            ),
        )  # fmt: skip
        + section("Recent warnings", events_table(warnings[:RECENT_WARNINGS], now))
        + section("Namespaces", table(["name", "status", "pods", "age"], ns_rows))
    )
    return View("Overview", body, path="/")


async def events(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    only_warnings = request.query_params.get("type") == "Warning"
    found = await ctx.items(
        "v1", "Event", ns, field_selector="type=Warning" if only_warnings else None
    )
    newest = s.newest_first(found)
    toggle = link(
        url("/events", ns=ns, type="" if only_warnings else "Warning"),
        "show all events" if only_warnings else "only warnings",
    )
    note = tag("p", f"{len(newest)} events", " (newest 200 shown) " if len(newest) > EVENTS_SHOWN else " ",
               "· ", toggle, cls="muted")  # fmt: skip
    return View(
        "Events", Markup(note + events_table(newest[:EVENTS_SHOWN], ctx.now())), path="/events"
    )


async def breakers(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    now = ctx.now()
    pods = {
        (s.meta(p).get("namespace", ""), s.meta(p).get("name", "")): p
        for p in await ctx.items("v1", "Pod", ns)
    }
    found: list[Obj] = []
    for reason in REASON_STATES:
        found += await ctx.items("v1", "Event", ns, field_selector=f"reason={reason}")
    states = breaker_states(found, pods)
    tones = {"open": "bad", "half_open": "warn", "closed": "ok"}
    rows = [
        [
            st.service,
            st.upstream,
            badge(st.state.replace("_", "-"), tones[st.state]),
            st.previous.replace("_", "-"),
            st.reason,
            since(st.at, now) if st.at else "",
            Markup(st.namespace + "/" + pod_link(st.namespace, st.pod)),
            st.transitions,
        ]  # fmt: skip
        for st in states
    ]
    counts = Counter(st.state for st in states)
    intro = tag(
        "p",
        "Circuit breakers of services built on the kubelite mesh SDK, from the Events each pod "
        "records when a breaker changes state. ",
        f"{counts.get('open', 0)} open, {counts.get('half_open', 0)} half-open, "
        f"{counts.get('closed', 0)} closed.",
        cls="muted",
    )
    headers = ["service", "upstream", "state", "was", "why", "changed", "pod", "changes"]
    body = Markup(intro + table(headers, rows, empty="No breaker has changed state yet."))
    if counts.get("open"):
        body = Markup(
            message(f"{counts['open']} breaker(s) open: calls to those upstreams fail fast.", "bad")
            + body
        )
    return View("Circuit breakers", body, path="/breakers")
