"""`nodes/NAME/proxy/PATH`: the node agent's read-only endpoints, through the API.

Upstream's API server proxies these to the node's kubelet. kubelite's node
agents serve no HTTP of their own; the API server answers for them from what
they measure (the registered `NodeStatsSource`, as `metrics.k8s.io` asks the
same agents) and from the API's own objects:

- `/healthz`: `ok` (a node the API knows; a missing node is a 404);
- `/pods`: a `v1` PodList of the pods bound to the node;
- `/stats/summary`: the kubelet Summary API JSON: the node's and each running
  container's CPU (cumulative `usageCoreNanoSeconds` and `usageNanoCores`)
  and memory (`workingSetBytes`), what metrics-server and `kubectl top`-like
  tools read. Filesystem, network, volume and ephemeral-storage statistics are
  not measured by the node agents, so those keys are absent.

Not served (404, as the kubelet answers an unknown path): `/configz`,
`/metrics`, `/metrics/cadvisor`, `/metrics/resource`, `/stats` (the old
cAdvisor form), `/logs/`, `/spec/`, `/runningpods/`, `/exec`-style streams.
Only GET (and HEAD) are answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from kubelite.apiserver import errors
from kubelite.apiserver.proxy import split_scheme_name_port

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.paths import ResourcePath

TEXT = "text/plain; charset=utf-8"


@runtime_checkable
class NodeStatsSource(Protocol):
    """The node agents' measurements of one node, as the kubelet's Summary API."""

    async def summary(self, node: str) -> dict[str, Any] | None:
        """None when no node agent of this process runs `node`."""
        ...


async def handle(app: ApiApp, req: Request, target: ResourcePath) -> Response:
    from kubelite.apiserver.http import Response

    _, name, _ = split_scheme_name_port(target.name or "")
    node_rt = app.registry.by_kind("v1", "Node")
    assert node_rt is not None
    app.storage.get(node_rt, None, name)  # a 404 for a node the API does not know
    if req.method not in ("GET", "HEAD"):
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    path = target.proxy_path.rstrip("/") or "/"
    if path == "/healthz":
        return Response(b"ok", content_type=TEXT)
    if path == "/pods":
        return Response(orjson.dumps(_pods(app, name)))
    if path == "/stats/summary":
        source = app.metrics
        summary = await source.summary(name) if isinstance(source, NodeStatsSource) else None
        if summary is None:
            raise errors.ServiceUnavailable(f'no node agent answers for node "{name}"')
        return Response(orjson.dumps(summary))
    return Response(b"404 page not found\n", 404, content_type=TEXT)


def _pods(app: ApiApp, node: str) -> dict[str, Any]:
    pod_rt = app.registry.by_kind("v1", "Pod")
    assert pod_rt is not None
    items = [
        kv.obj()
        for kv in app.storage.list(pod_rt, None).items
        if ((kv.obj().get("spec") or {}).get("nodeName")) == node
    ]
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
