"""`nodes/NAME/proxy/...`: the node agent's endpoints, answered through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp


class FakeAgents:
    """A NodeStatsSource that runs node `vm` only."""

    async def summary(self, node: str) -> dict[str, Any] | None:
        if node != "vm":
            return None
        return {"node": {"nodeName": "vm", "cpu": {"usageCoreNanoSeconds": 5}}, "pods": []}

    async def nodes(self) -> list[dict[str, Any]]:
        return []

    async def pods(self, namespace: str | None, wanted: Any = None) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def app(tmp_path: Path) -> Any:
    with api_app(tmp_path) as app:
        app.metrics = FakeAgents()
        for name in ("vm", "other"):
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
            assert call(app, "POST", "/api/v1/nodes", node).status_code == 201
        for name, on in (("a", "vm"), ("b", "other")):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"nodeName": on, "containers": [{"name": "c", "image": "x"}]},
            }
            assert call(app, "POST", "/api/v1/namespaces/default/pods", pod).status_code == 201
        yield app


def test_healthz(app: ApiApp) -> None:
    r = call(app, "GET", "/api/v1/nodes/vm/proxy/healthz")
    assert (r.status_code, r.text) == (200, "ok")
    assert r.headers["content-type"].startswith("text/plain")
    assert call(app, "GET", "/api/v1/nodes/ghost/proxy/healthz").json()["message"] == (
        'nodes "ghost" not found'
    )


def test_stats_summary_comes_from_the_node_agents(app: ApiApp) -> None:
    r = call(app, "GET", "/api/v1/nodes/vm/proxy/stats/summary")
    assert r.json()["node"]["nodeName"] == "vm"
    assert call(app, "GET", "/api/v1/nodes/other/proxy/stats/summary").status_code == 503


def test_pods_lists_the_nodes_pods(app: ApiApp) -> None:
    body = call(app, "GET", "/api/v1/nodes/vm/proxy/pods").json()
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert [p["metadata"]["name"] for p in body["items"]] == ["a"]


def test_unknown_paths_and_methods(app: ApiApp) -> None:
    r = call(app, "GET", "/api/v1/nodes/vm/proxy/metrics/cadvisor")
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    assert call(app, "POST", "/api/v1/nodes/vm/proxy/healthz").status_code == 405


def test_discovery_lists_nodes_proxy(app: ApiApp) -> None:
    rows = {r["name"]: r for r in call(app, "GET", "/api/v1").json()["resources"]}
    assert rows["nodes/proxy"]["kind"] == "NodeProxyOptions"
