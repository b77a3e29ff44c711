"""The service dependency graph as inline SVG.

Layout is a plain layered drawing, enough for the handful to few dozen
services a kubelite cluster runs: callers to the left of callees (each service
in the column of its longest call path from an entry point, back edges of
cycles ignored), services within a column ordered by where their callers sit
to keep edges short. Edges carry `calls` and, in red, `errors`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.dashboard.html import Markup, esc, tag

NODE_W, NODE_H = 150, 30
COL_GAP, ROW_GAP, PAD = 90, 26, 16


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    calls: int
    errors: int


def edges_of(links: Sequence[Mapping[str, Any]]) -> list[Edge]:
    return [
        Edge(
            str(x.get("parent", "")),
            str(x.get("child", "")),
            int(x.get("callCount") or 0),
            int(x.get("errorCount") or 0),
        )  # fmt: skip
        for x in links
    ]


def _back_edges(nodes: list[str], out: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Edges that close a cycle, found by depth-first search (iterative: no recursion limit)."""
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in nodes:
        if start in state:
            continue
        stack = [(start, iter(out.get(start, [])))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out.get(child, []))))
    return back


def layout(edges: Sequence[Edge]) -> dict[str, tuple[int, int]]:
    """(column, row) per service."""
    nodes = sorted({e.parent for e in edges} | {e.child for e in edges})
    out: dict[str, list[str]] = {}
    for e in edges:
        if e.parent != e.child:
            out.setdefault(e.parent, []).append(e.child)
    for children in out.values():
        children.sort()
    back = _back_edges(nodes, out)
    forward = [(p, c) for p, cs in out.items() for c in cs if (p, c) not in back]
    column = dict.fromkeys(nodes, 0)
    for _ in nodes:  # longest path on a DAG: at most len(nodes) relaxation rounds
        changed = False
        for p, c in forward:
            if column[c] < column[p] + 1:
                column[c], changed = column[p] + 1, True
        if not changed:
            break
    rows: dict[str, int] = {}
    for col in sorted(set(column.values())):
        members = [n for n in nodes if column[n] == col]

        def weight(n: str) -> tuple[float, str]:
            callers = [rows[p] for p, c in forward if c == n and p in rows]
            return (sum(callers) / len(callers) if callers else math.inf, n)

        for index, name in enumerate(sorted(members, key=weight)):
            rows[name] = index
    return {n: (column[n], rows[n]) for n in nodes}


def _center(pos: tuple[int, int]) -> tuple[float, float]:
    col, row = pos
    return PAD + col * (NODE_W + COL_GAP), PAD + row * (NODE_H + ROW_GAP) + NODE_H / 2


def _edge(edge: Edge, places: Mapping[str, tuple[int, int]]) -> Markup:
    (x1, y1), (x2, y2) = _center(places[edge.parent]), _center(places[edge.child])
    label = f"{edge.calls}" + (f" / {edge.errors} err" if edge.errors else "")
    cls = "edge err" if edge.errors else "edge"
    width = 1 + min(4.0, math.log10(max(edge.calls, 1)))
    title = tag("title", f"{edge.parent} → {edge.child}: {edge.calls} calls, {edge.errors} errors")
    if edge.parent == edge.child:  # a loop above the node
        d = f"M{x1 + 20:.0f},{y1 - NODE_H / 2:.0f} c 10,-30 40,-30 30,0"
        lx, ly = x1 + 40, y1 - NODE_H / 2 - 22
    else:
        sx = x1 + NODE_W if x2 > x1 else x1
        ex = x2 if x2 > x1 else x2 + NODE_W
        mid = (sx + ex) / 2
        bend = 0 if x2 > x1 else 40  # back edges bow downwards so they do not overlap
        d = f"M{sx:.0f},{y1:.0f} C{mid:.0f},{y1 + bend:.0f} {mid:.0f},{y2 + bend:.0f} {ex:.0f},{y2:.0f}"
        lx, ly = mid, (y1 + y2) / 2 + bend * 0.75 - 4
    path = tag("path", title, d=d, cls=cls, stroke_width=f"{width:.1f}", marker_end="url(#arrow)")
    text = tag("text", label, x=f"{lx:.0f}", y=f"{ly:.0f}", cls="elabel", text_anchor="middle")
    return Markup(path + text)


def _node(name: str, pos: tuple[int, int], href: str) -> Markup:
    x, cy = _center(pos)
    short = name if len(name) <= 20 else name[:19] + "…"
    rect = tag("rect", x=f"{x:.0f}", y=f"{cy - NODE_H / 2:.0f}", width=NODE_W, height=NODE_H, rx=6)
    text = tag("text", short, x=f"{x + NODE_W / 2:.0f}", y=f"{cy + 4:.0f}", text_anchor="middle")
    return tag("a", tag("g", tag("title", name), rect, text, cls="node"), href=href)


def svg(edges: Sequence[Edge], href: Any = lambda name: "#") -> Markup:
    """The graph; `href(service)` is where clicking a service goes."""
    places = layout(edges)
    if not places:
        return Markup("")
    cols = max(c for c, _ in places.values()) + 1
    rows = max(r for _, r in places.values()) + 1
    width = PAD * 2 + cols * NODE_W + (cols - 1) * COL_GAP
    height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP + 40
    marker = Markup(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a8"/>'
        "</marker></defs>"
    )
    parts = [marker, *(_edge(e, places) for e in edges)]
    parts += [_node(name, pos, href(name)) for name, pos in places.items()]
    return tag(
        "svg", *parts, cls="graph", width=width, height=height, viewBox=f"0 0 {width} {height}",
        role="img", aria_label=esc("service dependency graph"),
    )  # fmt: skip
