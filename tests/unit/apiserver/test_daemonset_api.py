"""DaemonSets as the API serves them: Table columns, OpenAPI schemas, generations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import openapi
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.openapi import openapi_v3_group_version
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.tables import to_table
from kubelite.store import Store

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
GENERATION = "deprecated.daemonset.template.generation"


def daemon_set(**template_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "containers": [{"name": "main", "image": "python:3.11"}],
                    **template_spec,
                },
            },
        },
    }


def test_registry_entry() -> None:
    rt = REGISTRY.by_path("apps", "v1", "daemonsets")
    assert rt is not None
    assert (rt.kind, rt.short_names, rt.subresources, rt.categories) == (
        "DaemonSet",
        ("ds",),
        ("status",),
        ("all",),
    )


def test_columns_and_cells() -> None:
    ds = daemon_set(nodeSelector={"disk": "ssd", "arch": "amd64"})
    ds["metadata"]["creationTimestamp"] = (NOW - timedelta(minutes=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    ds["status"] = {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3,
        "numberReady": 2,
        "updatedNumberScheduled": 1,
        "numberMisscheduled": 0,
    }
    table = to_table("DaemonSet", [ds], now=NOW)
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", 0),
        ("Desired", 0),
        ("Current", 0),
        ("Ready", 0),
        ("Up-to-date", 0),
        ("Available", 0),
        ("Node Selector", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ]
    # numberAvailable is omitted when zero: the cell still says 0
    assert table["rows"][0]["cells"] == [
        "agent",
        3,
        3,
        2,
        1,
        0,
        "arch=amd64,disk=ssd",
        "3m",
        "main",
        "python:3.11",
        "app=agent",
    ]


def test_no_node_selector_prints_none() -> None:
    (row,) = to_table("DaemonSet", [daemon_set()], now=NOW)["rows"]
    assert row["cells"][6] == "<none>"


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].removeprefix(openapi.REF)]
        elif "allOf" in schema and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def test_explain_update_strategy() -> None:
    doc = openapi_v3_group_version("apis/apps/v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    for bare in (
        "DaemonSet",
        "DaemonSetSpec",
        "DaemonSetUpdateStrategy",
        "RollingUpdateDaemonSet",
        "DaemonSetStatus",
        "DaemonSetCondition",
    ):
        assert f"io.k8s.api.apps.v1.{bare}" in schemas, bare
    spec = _resolve(doc, schemas["io.k8s.api.apps.v1.DaemonSet"]["properties"]["spec"])
    strategy = _resolve(doc, spec["properties"]["updateStrategy"])
    rolling = _resolve(doc, strategy["properties"]["rollingUpdate"])
    assert set(rolling["properties"]) == {"maxSurge", "maxUnavailable"}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    store = Store(tmp_path / "db")
    yield LocalClient(RestStorage(store))
    store.close()


@pytest.mark.anyio
async def test_generation_and_template_generation(client: LocalClient) -> None:
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    ds = daemon_set()
    ds["status"] = {"numberReady": 7}
    created = await client.create(ds)
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["annotations"][GENERATION] == "1"
    assert created["status"] == {  # status is the controller's: its counts start at 0
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }
    # A change outside the template: generation moves, the template generation does not.
    patched = await client.patch(
        "apps/v1", "DaemonSet", "agent", {"spec": {"minReadySeconds": 5}}, "default"
    )
    assert (patched["metadata"]["generation"], patched["metadata"]["annotations"][GENERATION]) == (
        2,
        "1",
    )
    image = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "v2"}]}}}}
    patched = await client.patch("apps/v1", "DaemonSet", "agent", image, "default")
    assert (patched["metadata"]["generation"], patched["metadata"]["annotations"][GENERATION]) == (
        3,
        "2",
    )
    # The annotation is the server's: a client cannot move it.
    forged = {"metadata": {"annotations": {GENERATION: "40"}}}
    patched = await client.patch("apps/v1", "DaemonSet", "agent", forged, "default")
    assert patched["metadata"]["annotations"][GENERATION] == "2"
    # Status goes through the subresource only.
    await client.patch("apps/v1", "DaemonSet", "agent", {"status": {"numberReady": 3}}, "default")
    assert (await client.get("apps/v1", "DaemonSet", "agent", "default"))["status"][
        "numberReady"
    ] == 0
    await client.patch(
        "apps/v1",
        "DaemonSet",
        "agent",
        {"status": {"numberReady": 3}},
        "default",
        subresource="status",
    )
    stored = await client.get("apps/v1", "DaemonSet", "agent", "default")
    assert stored["status"]["numberReady"] == 3 and stored["metadata"]["generation"] == 3
