"""NoExecute taints evict pods, with real kubectl: the taint eviction controller in `kubelite up`."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])


def _pod(name: str, node: str, tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "tolerations": tolerations,
            "containers": [
                {
                    "name": "main",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", "import time; time.sleep(100000)"],
                }
            ],
        },
    }


def _toleration(seconds: int | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"key": "evict", "operator": "Equal", "value": "now", "effect": "NoExecute"}
    if seconds is not None:
        t["tolerationSeconds"] = seconds
    return t


def _alive(c: Cluster) -> set[str]:
    items = c.kubectl_json("get", "pods")["items"]
    return {p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")}


def _running(c: Cluster) -> set[str]:
    items = c.kubectl_json("get", "pods")["items"]
    return {p["metadata"]["name"] for p in items if p.get("status", {}).get("phase") == "Running"}


def test_no_execute_taint_evicts_by_tolerations(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    node = c.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"]
    pods = [
        _pod("ne2", node, []),  # no toleration: evicted at once
        _pod("ne1", node, [_toleration(3)]),  # tolerates for 3 s
        _pod("ne3", node, [_toleration()]),  # tolerates forever
    ]
    c.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    )
    wait_for(lambda: _running(c) == {"ne1", "ne2", "ne3"}, "pods running", timeout=90)

    try:
        c.kubectl("taint", "node", node, "evict=now:NoExecute")
        tainted = time.monotonic()
        taint = next(
            t for t in c.kubectl_json("get", "node", node)["spec"]["taints"] if t["key"] == "evict"
        )
        assert taint.get("timeAdded")  # stamped by the API server

        wait_for(lambda: "ne2" not in _alive(c), timeout=10, interval=0.2)
        assert {"ne1", "ne3"} <= _alive(c)
        wait_for(lambda: "ne1" not in _alive(c), timeout=15, interval=0.2)
        took = time.monotonic() - tainted
        assert took >= 2.0, took  # not before its 3 s were up
        time.sleep(2)
        assert _alive(c) == {"ne3"}

        events = c.kubectl_json("get", "events", "--field-selector", "reason=TaintManagerEviction")
        messages = sorted(e["message"] for e in events["items"])
        assert messages == [
            "Marking for deletion Pod default/ne1",
            "Marking for deletion Pod default/ne2",
        ]
        gone = wait_for(
            lambda: (
                {p["metadata"]["name"] for p in c.kubectl_json("get", "pods")["items"]} == {"ne3"}
            ),
            timeout=30,
            interval=0.3,
        )
        assert gone
    finally:
        c.kubectl("taint", "node", node, "evict-", check=False)


@pytest.fixture
def quick_monitor_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of its own whose node lifecycle controller gives up on a node after 5 s."""
    (tmp_path / "cache").mkdir()
    c = Cluster(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    saved = dict(os.environ)
    os.environ["KUBELITE_NODE_MONITOR_GRACE_PERIOD"] = "5"
    try:
        c.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield c
    finally:
        c.stop()


def test_unreachable_node_taint_moves_pods_off(quick_monitor_cluster: Cluster) -> None:
    c = quick_monitor_cluster
    ghost = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"}}
    c.kubectl("create", "-f", "-", input=json.dumps(ghost))
    unreachable = {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    pods = [
        _pod("quick", "ghost", [{**unreachable, "tolerationSeconds": 1}]),
        _pod("patient", "ghost", [{**unreachable, "tolerationSeconds": 300}]),
    ]
    c.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    )
    # no agent on ghost: the pod stays Terminating, marked as a disruption target
    wait_for(lambda: "quick" not in _alive(c), "quick evicted", timeout=60)
    quick = c.kubectl_json("get", "pod", "quick")
    conditions = {x["type"]: x for x in quick.get("status", {}).get("conditions") or []}
    assert conditions["DisruptionTarget"]["reason"] == "DeletionByTaintManager"
    assert "patient" in _alive(c)
