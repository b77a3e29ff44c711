"""`metrics.k8s.io/v1beta1`: what `kubectl top` reads, as metrics-server serves it.

NodeMetrics and PodMetrics are not stored: each GET asks the node agents
(`MetricsSource`) for usage measured now over their last window. Lists take
label selectors (`kubectl top pod -l app=web`) and `metadata.name` field
selectors; a single object that has no usage yet is NotFound, with
metrics-server's wording. Only get and list are served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

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
                return json_response(item)
        resource = "nodemetrics" if rt.kind == "NodeMetrics" else "podmetrics"
        raise errors.NotFound(f'{resource}.metrics.k8s.io "{name}" not found')
    selectors = Selectors.parse(rt, req.query.get("labelSelector"), req.query.get("fieldSelector"))
    body = {
        "kind": rt.list_kind,
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": await items_of(source, rt, ns, selectors),
    }
    return json_response(body)
