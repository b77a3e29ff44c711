"""Service dependency links, computed from traces exactly as Zipkin's DependencyLinker does.

Each trace is first cleaned (spans reported in pieces are merged, a server span
that re-uses its client's id is marked shared), then arranged into a tree (shared
server spans hang under their client, headless spans under a synthetic root), and
walked breadth-first. A link is counted from every SERVER/CONSUMER span (parent =
its remote or nearest remote ancestor's service), every CLIENT span without
children (child = its remote service — the uninstrumented-callee case) and every
PRODUCER span; a span with both services and no kind counts as a CLIENT. A link
is an error when the span, or for a server its calling client span, has an
``error`` tag.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from kubelite.tracing.model import Span, local_service, remote_service, sorted_annotations


class DependencyLink(TypedDict):
    parent: str
    child: str
    callCount: int
    errorCount: int


def dependency_links(spans: Iterable[Span]) -> list[DependencyLink]:
    """Links over spans of any number of traces (grouped here by trace id)."""
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span["traceId"], []).append(span)
    linker = DependencyLinker()
    for trace in by_trace.values():
        linker.put_trace(trace)
    return linker.links()


class DependencyLinker:
    """Accumulates call and error counts per (parent, child) over many traces."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], int] = {}
        self._errors: dict[tuple[str, str], int] = {}

    def links(self) -> list[DependencyLink]:
        return [
            {
                "parent": parent,
                "child": child,
                "callCount": calls,
                "errorCount": self._errors.get((parent, child), 0),
            }
            for (parent, child), calls in self._calls.items()
        ]

    def put_trace(self, spans: Sequence[Span]) -> None:
        """All ``spans`` must share one trace id."""
        if not spans:
            return
        root = build_tree(spans)
        for node in root.traverse():
            self._visit(node, is_root=node is root)

    def _visit(self, node: SpanNode, *, is_root: bool) -> None:
        span = node.span
        assert span is not None
        kind = span.get("kind")
        # A client with children: the server below names the link better.
        if kind == "CLIENT" and node.children:
            return
        service, remote = local_service(span), remote_service(span)
        if kind is None:
            if service is None or remote is None:
                return
            kind = "CLIENT"
        if kind in ("SERVER", "CONSUMER"):
            child, parent = service, remote
            if is_root and parent is None:
                return
        else:
            parent, child = service, remote
        is_error = "error" in span.get("tags", {})
        if kind in ("PRODUCER", "CONSUMER"):
            if parent is not None and child is not None:
                self._add(parent, child, is_error)
            return
        parent, is_error = self._use_remote_ancestor(node, kind, parent, is_error)
        if parent is not None and child is not None:
            self._add(parent, child, is_error)

    def _use_remote_ancestor(
        self, node: SpanNode, kind: str, parent: str | None, is_error: bool
    ) -> tuple[str | None, bool]:
        span = node.span
        assert span is not None
        ancestor = first_remote_ancestor(node)
        name = local_service(ancestor) if ancestor is not None else None
        if ancestor is None or name is None:
            return parent, is_error
        service = local_service(span)
        # Instrumentation that puts the remote name on a client: backfill the hop.
        if kind == "CLIENT" and service is not None and name != service:
            self._add(name, service, False)
        if kind == "SERVER" or parent is None:
            parent = name
        # An RPC split in client and server spans: the client may carry the error.
        if (
            not is_error
            and ancestor.get("kind") == "CLIENT"
            and span.get("parentId") is not None
            and span.get("parentId") == ancestor["id"]
        ):
            is_error = "error" in ancestor.get("tags", {})
        return parent, is_error

    def _add(self, parent: str, child: str, is_error: bool) -> None:
        key = (parent, child)
        self._calls[key] = self._calls.get(key, 0) + 1
        if is_error:
            self._errors[key] = self._errors.get(key, 0) + 1


def first_remote_ancestor(node: SpanNode) -> Span | None:
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.span is not None and ancestor.span.get("kind") is not None:
            return ancestor.span
        ancestor = ancestor.parent
    return None


@dataclass(eq=False)
class SpanNode:
    """A node of a trace tree; ``span`` is None for a synthetic root."""

    span: Span | None
    parent: SpanNode | None = None
    children: list[SpanNode] = field(default_factory=list)

    def add_child(self, child: SpanNode) -> None:
        self.children.append(child)
        child.parent = self

    def traverse(self) -> Iterator[SpanNode]:
        """Breadth-first; a synthetic root itself is not yielded."""
        queue = deque(self.children if self.span is None else [self])
        while queue:
            node = queue.popleft()
            queue.extend(node.children)
            yield node


def _endpoint_key(endpoint: Any) -> tuple[Any, ...] | None:
    if not endpoint:
        return None
    return tuple(endpoint.get(k) for k in ("serviceName", "ipv4", "ipv6", "port"))


def _key(span_id: str, shared: bool, endpoint: Any) -> Any:
    return ("shared", span_id, _endpoint_key(endpoint)) if shared else span_id


def build_tree(spans: Sequence[Span]) -> SpanNode:
    """Zipkin's ``SpanNode.Builder.build``: index, place, attach, sort by timestamp."""
    cleaned = merge_trace(spans)
    span_to_parent: dict[Any, Any] = {}
    for span in cleaned:
        if span.get("shared"):
            span_to_parent[_key(span["id"], True, span.get("localEndpoint"))] = span["id"]
        else:
            span_to_parent[span["id"]] = span.get("parentId")
    root: SpanNode | None = None
    key_to_node: dict[Any, SpanNode] = {}
    for span in cleaned:
        root = _place(span, span_to_parent, key_to_node, root)
    if root is None:
        root = SpanNode(None)
    for child_key, parent_key in span_to_parent.items():
        child = key_to_node.get(child_key)
        if child is None:
            continue
        parent = key_to_node.get(parent_key)
        (parent or root).add_child(child)
    _sort_by_timestamp(root)
    return root


def _place(
    span: Span,
    span_to_parent: dict[Any, Any],
    key_to_node: dict[Any, SpanNode],
    root: SpanNode | None,
) -> SpanNode | None:
    endpoint = span.get("localEndpoint")
    shared = bool(span.get("shared"))
    key = _key(span["id"], shared, endpoint)
    no_endpoint_key = _key(span["id"], shared, None) if endpoint else key
    parent: Any = None
    if shared:
        parent = span["id"]
    elif span.get("parentId") is not None:
        parent = _key(span["parentId"], True, endpoint)
        if parent in span_to_parent:
            span_to_parent[no_endpoint_key] = parent
        else:
            parent = span["parentId"]
    node = SpanNode(span)
    if parent is None and root is None:
        span_to_parent.pop(no_endpoint_key, None)
        return node
    if shared:
        key_to_node[key] = node
    key_to_node[no_endpoint_key] = node
    return root


def _sort_by_timestamp(root: SpanNode) -> None:
    queue = deque([root])
    while queue:
        node = queue.popleft()
        node.children.sort(key=lambda n: n.span.get("timestamp", 0) if n.span else 0)
        queue.extend(node.children)


def _cleanup_order(span: Span) -> tuple[Any, ...]:
    shared = bool(span.get("shared"))
    client_rank = 0 if span.get("kind") == "CLIENT" else 1
    endpoint = span.get("localEndpoint")
    # Zipkin: id, then non-shared before shared (clients first), then null endpoints first.
    return (
        span["id"],
        1 if shared else 0,
        0 if shared else client_rank,
        endpoint is not None,
        _nulls_last(endpoint.get("serviceName") if endpoint else None),
        _nulls_last(endpoint.get("ipv4") if endpoint else None),
        _nulls_last(endpoint.get("ipv6") if endpoint else None),
    )


def _nulls_last(value: str | None) -> tuple[int, str]:
    return (1, "") if value is None else (0, value)


def merge_trace(spans: Sequence[Span]) -> list[Span]:
    """Zipkin's ``Trace.merge``: join spans sent in pieces, backfill ``shared``."""
    if len(spans) <= 1:
        return list(spans)
    ordered = sorted(spans, key=_cleanup_order)
    trace_id = ordered[0]["traceId"]
    for other in ordered[1:]:
        if len(trace_id) != 32:
            trace_id = other["traceId"]
    result: list[Span] = []
    i = 0
    while i < len(ordered):
        span = dict(ordered[i])
        span["traceId"] = trace_id
        i = _absorb_pieces(span, ordered, i)
        _backfill_shared(span, result[-1] if result else None)
        result.append(span)  # type: ignore[arg-type]
    return result


def _absorb_pieces(span: dict[str, Any], ordered: list[Span], i: int) -> int:
    tracker = _EndpointTracker()
    tracker.try_merge(span.get("localEndpoint"))
    shared = bool(span.get("shared"))
    i += 1
    while i < len(ordered) and ordered[i]["id"] == span["id"]:
        nxt = ordered[i]
        if shared != bool(nxt.get("shared")) or not tracker.try_merge(nxt.get("localEndpoint")):
            break
        _merge_into(span, nxt)
        i += 1
    return i


def _backfill_shared(span: dict[str, Any], last: Span | None) -> None:
    if last is None or last["id"] != span["id"]:
        return
    if last.get("kind") == "CLIENT" and span.get("kind") == "SERVER" and not span.get("shared"):
        span["shared"] = True
    if span.get("shared") and span.get("parentId") is None and last.get("parentId") is not None:
        span["parentId"] = last["parentId"]


def _merge_into(span: dict[str, Any], source: Span) -> None:
    for key in ("parentId", "kind", "name", "timestamp", "duration"):
        if span.get(key) is None and source.get(key) is not None:
            span[key] = source[key]  # type: ignore[literal-required]
    side: Literal["localEndpoint", "remoteEndpoint"]
    for side in ("localEndpoint", "remoteEndpoint"):
        theirs = source.get(side)
        if theirs:
            span[side] = {**theirs, **span.get(side, {})}
    if source.get("annotations"):
        span["annotations"] = sorted_annotations(
            [*span.get("annotations", []), *source["annotations"]]
        )
    if source.get("tags"):
        span["tags"] = {**span.get("tags", {}), **source["tags"]}
    for flag in ("debug", "shared"):
        if source.get(flag):
            span[flag] = True


class _EndpointTracker:
    """Decides whether a span piece's endpoint can be the same as the ones seen so far."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}

    def try_merge(self, endpoint: Any) -> bool:
        if not endpoint:
            return True
        for key in ("serviceName", "ipv4", "ipv6", "port"):
            mine, theirs = self.fields.get(key), endpoint.get(key)
            if mine is not None and theirs is not None and mine != theirs:
                return False
        for key, value in endpoint.items():
            self.fields.setdefault(key, value)
        return True
