"""metrics.k8s.io as metrics-server serves it: NotFound wording and the Table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, call

from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

METRICS = "/apis/metrics.k8s.io/v1beta1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def pod_metrics(name: str, *usages: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "namespace": "default"},
        "timestamp": "2027-01-15T08:00:00Z",
        "window": "20.997s",
        "containers": [{"name": f"c{i}", "usage": u} for i, u in enumerate(usages)],
    }


class FakeSource:
    def __init__(self) -> None:
        self.pod_items = [
            pod_metrics("web", {"cpu": "952497n", "memory": "11260Ki"}),
            pod_metrics("two", {"cpu": "100m", "memory": "1Mi"}, {"cpu": "50m", "memory": "1Mi"}),
        ]

    async def nodes(self) -> list[dict[str, Any]]:
        return []

    async def pods(
        self, namespace: str | None, wanted: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        return [m for m in self.pod_items if wanted is None or wanted(m)]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    reg = storage.registry
    storage.create(
        reg.by_kind("v1", "Namespace"),
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    storage.create(
        reg.by_kind("v1", "Node"),
        None,
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "vm"}},
    )
    storage.create(
        reg.by_kind("v1", "Pod"),
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pend"},
            "spec": {"containers": [{"name": "c", "image": "app:v1"}]},
        },
    )
    try:
        yield ApiApp(storage, token=TOKEN, metrics=FakeSource())
    finally:
        store.close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        # An existing pod without metrics: the metrics' NotFound, named namespace/name.
        pytest.param(
            "/namespaces/default/pods/pend",
            'podmetrics.metrics.k8s.io "default/pend" not found',
            id="pod-without-metrics",
        ),
        # No such pod or node: the lister's NotFound, returned directly.
        pytest.param("/namespaces/default/pods/nosuch", 'pods "nosuch" not found', id="no-pod"),
        pytest.param("/nodes/nosuch", 'nodes "nosuch" not found', id="no-node"),
        pytest.param(
            "/nodes/vm", 'nodemetrics.metrics.k8s.io "vm" not found', id="node-without-metrics"
        ),
    ],
)
def test_not_found_as_metrics_server(app: ApiApp, path: str, message: str) -> None:
    resp = call(app, "GET", METRICS + path)
    assert resp.status_code == 404
    assert resp.json()["message"] == message


def test_kubectl_get_podmetrics_is_metrics_servers_table(app: ApiApp) -> None:
    resp = call(app, "GET", f"{METRICS}/namespaces/default/pods", accept=TABLE)
    table = resp.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]
    assert [r["cells"] for r in table["rows"]] == [
        ["web", "952497n", "11260Ki", "20.997s"],
        ["two", "150m", "2Mi", "20.997s"],  # summed over the containers
    ]
    one = call(app, "GET", f"{METRICS}/namespaces/default/pods/web", accept=TABLE).json()
    assert [r["cells"][0] for r in one["rows"]] == ["web"]
