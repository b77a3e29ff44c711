"""`metrics.k8s.io/v1beta1`: what `kubectl top` reads, as metrics-server serves it.

NodeMetrics and PodMetrics are not stored: each GET asks the node agents
(`MetricsSource`) for usage measured now over their last window. Lists take
label selectors (`kubectl top pod -l app=web`) and `metadata.name` field
selectors; a single object that has no usage yet is NotFound, with
metrics-server's wording (the pod's or node's own NotFound when it does not
exist). `kubectl get pods.metrics.k8s.io` gets metrics-server's Table: name,
one column per resource, window. Only get and list are served.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

from kubelite.api.quantity import Format, format_quantity, parse
from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.rest import Selectors

GROUP_VERSION = "metrics.k8s.io/v1beta1"


class MetricsSource(Protocol):
    """Usage measured by the node agents, as NodeMetrics and PodMetrics objects."""

    async def nodes(self) -> list[dict[str, Any]]: ...

    async def pods(
        self, namespace: str | None, wanted: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """PodMetrics of the pods `wanted(pod)` keeps: only their containers are read."""
        ...


async def items_of(
    source: MetricsSource | None, rt: ResourceType, ns: str | None, selectors: Selectors
) -> list[dict[str, Any]]:
    """The NodeMetrics or PodMetrics a list request with `selectors` answers."""
    if source is None:
        items: list[dict[str, Any]] = []
    elif rt.kind == "NodeMetrics":
        items = await source.nodes()
    else:
        # A PodMetrics carries its pod's name, namespace and labels: the selectors
        # pick the pods before their usage is read, not after.
        return await source.pods(ns, selectors.matches)
    return [item for item in items if selectors.matches(item)]


async def handle(
    app: ApiApp, req: Request, rt: ResourceType, ns: str | None, name: str | None
) -> Response:
    from kubelite.apiserver.http import json_response
    from kubelite.apiserver.rest import Selectors

    if req.method != "GET" or req.flag("watch"):
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    source: MetricsSource | None = app.metrics
    if name is not None:
        one = Selectors.parse(rt, None, f"metadata.name={name}")
        for item in await items_of(source, rt, ns, one):
            if item["metadata"]["name"] == name:
                if req.wants_table:
                    return json_response(metrics_table([item], _include_object(req)))
                return json_response(item)
        raise _not_found(app, rt, ns, name)
    selectors = Selectors.parse(rt, req.query.get("labelSelector"), req.query.get("fieldSelector"))
    items = await items_of(source, rt, ns, selectors)
    if req.wants_table:
        return json_response(metrics_table(items, _include_object(req)))
    body = {
        "kind": rt.list_kind,
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": items,
    }
    return json_response(body)


def _not_found(app: ApiApp, rt: ResourceType, ns: str | None, name: str) -> errors.NotFound:
    """metrics-server's NotFound: the pod's or node's own when it does not exist ("return
    not-found errors directly"), else the metrics' (a pod's named `namespace/name`)."""
    node = rt.kind == "NodeMetrics"
    target = app.storage.registry.by_kind("v1", "Node" if node else "Pod")
    if target is not None:
        app.storage.get(target, None if node else ns, name)  # NotFound: `pods "x" not found`
    if node:
        return errors.NotFound.object("nodemetrics", "metrics.k8s.io", name)
    return errors.NotFound.object("podmetrics", "metrics.k8s.io", f"{ns}/{name}")


def _include_object(req: Request) -> str:
    return req.query.get("includeObject") or "Metadata"


def metrics_table(items: list[dict[str, Any]], include_object: str = "Metadata") -> dict[str, Any]:
    """metrics-server's Table (addPodMetricsToTable / addNodeMetricsToTable): the name,
    one column per resource (sorted, as kubectl prints `CPU  MEMORY`) and the window."""
    if include_object not in ("None", "Metadata", "Object"):
        raise errors.BadRequest(f'unrecognized includeObject value: "{include_object}"')
    names = sorted({r for item in items for r in _usage(item)})
    columns: list[dict[str, Any]] = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource"}
    ]
    columns += [{"name": n, "type": "string", "format": "quantity"} for n in names]
    columns.append({"name": "Window", "type": "string", "format": "duration"})
    for c in columns:
        c.setdefault("description", "")
        c["priority"] = 0
    rows = []
    for item in items:
        usage = _usage(item)
        cells = [item["metadata"]["name"], *(usage.get(n, "0") for n in names)]
        cells.append(item.get("window") or "0s")
        rows.append({"cells": cells, "object": _row_object(item, include_object)})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns if items else [],
        "rows": rows,
    }


def _usage(item: dict[str, Any]) -> dict[str, str]:
    """A NodeMetrics' usage, or a PodMetrics' summed over its containers."""
    if "usage" in item:
        return {k: str(v) for k, v in (item.get("usage") or {}).items()}
    containers = item.get("containers") or []
    if len(containers) == 1:  # as served: already canonical
        return {k: str(v) for k, v in (containers[0].get("usage") or {}).items()}
    totals: dict[str, Fraction] = {}
    formats: dict[str, Format] = {}
    for c in containers:
        for k, v in (c.get("usage") or {}).items():
            q = parse(str(v))
            totals[k] = totals.get(k, Fraction(0)) + q.value
            formats.setdefault(k, q.format)
    return {k: format_quantity(total, formats[k]) for k, total in totals.items()}


def _row_object(item: dict[str, Any], include_object: str) -> Any:
    if include_object == "Object":
        return item
    if include_object == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": item.get("metadata") or {},
    }
