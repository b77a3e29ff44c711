"""Changing a Service's type through the real API app, as `kubectl apply` patches it.

The patch leaves the old type's allocated values in place (node ports,
externalTrafficPolicy); a real cluster drops them when they are unchanged
(the Service strategy's dropTypeDependentFields) instead of refusing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.apiserver import inprocess_api
from tests.unit.apiserver.inprocess_api import api_app

from kubelite.apiserver.http import ApiApp

SERVICES = "/api/v1/namespaces/default/services"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def call(app: ApiApp, method: str, path: str, body: Any, content_type: str) -> httpx.Response:
    return inprocess_api.call(app, method, path, body, content_type=content_type)


def service(kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": kind, "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }


def test_node_port_to_cluster_ip_drops_what_only_node_ports_use(app: ApiApp) -> None:
    created = call(app, "POST", SERVICES, service("NodePort"), "application/json").json()
    assert created["spec"]["ports"][0]["nodePort"]
    assert created["spec"]["externalTrafficPolicy"] == "Cluster"
    changed = call(app, "PATCH", f"{SERVICES}/web", {"spec": {"type": "ClusterIP"}}, STRATEGIC)
    assert changed.status_code == 200, changed.text
    spec = changed.json()["spec"]
    assert spec["type"] == "ClusterIP"
    assert "nodePort" not in spec["ports"][0]
    assert "externalTrafficPolicy" not in spec
    assert spec["clusterIP"] == created["spec"]["clusterIP"]  # still needed: kept


def test_a_node_port_the_client_changes_is_still_refused(app: ApiApp) -> None:
    created = call(app, "POST", SERVICES, service("NodePort"), "application/json").json()
    port = created["spec"]["ports"][0]
    other = 30000 + (port["nodePort"] - 30000 + 1) % 2768
    patch = {"spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": other}]}}
    refused = call(app, "PATCH", f"{SERVICES}/web", patch, STRATEGIC)
    assert refused.status_code == 422
    assert (
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        in (refused.json()["message"])
    )
