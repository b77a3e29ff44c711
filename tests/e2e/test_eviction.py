"""Evictions end to end: `kubectl drain` and the official client meet PodDisruptionBudgets.

A Deployment of three quick pods sits under a budget; the budget's status
comes from the disruption controller, the pods' readiness from the node
agent, so every refusal here is what the real parts computed. A drain that
should finish (a ReplicationController's pods under `maxUnavailable: 1`)
runs on a two-node cluster of its own, so the evicted pods have somewhere
to go.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Cluster, _new_cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def deploy(cluster: Cluster, ns: str, *, min_available: int) -> None:
    """Deployment `web` of 3 sleeping pods labelled app=NS, and budget `web` over them."""
    container = {
        "name": "main",
        "image": "python:3.11",
        "command": ["python", "-c", "import time; time.sleep(3600)"],
        # Ready a few seconds after starting: a replacement is surely not Ready
        # yet when the next eviction comes right after the one that made it.
        "readinessProbe": {
            "exec": {"command": ["true"]},
            "initialDelaySeconds": 5,
            "periodSeconds": 1,
        },
    }
    docs = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": ns}},
                "template": {
                    "metadata": {"labels": {"app": ns}},
                    "spec": {"containers": [container], "terminationGracePeriodSeconds": 5},
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": ns}}},
        },
    ]
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))
    # three Ready pods, and a budget the controller has counted them into
    wait_for(lambda: len(ready_pods(cluster, ns)) == 3, "3 ready pods", timeout=120)
    wait_for(
        lambda: (
            budget(cluster, ns).get("currentHealthy") == 3
            and budget(cluster, ns).get("observedGeneration") == 1
        ),
        "the budget to count 3 healthy pods",
    )


def pods(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return cluster.kubectl_json("get", "pods", "-n", ns)["items"]


def ready_pods(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(cluster, ns)
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions") or []
        )
    ]


def budget(cluster: Cluster, ns: str) -> dict[str, Any]:
    return cluster.kubectl_json("get", "pdb", "web", "-n", ns).get("status") or {}


@pytest.fixture
def node(cluster: Cluster) -> Iterator[str]:
    """The cluster's node, uncordoned again after the test."""
    name = cluster.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"]
    try:
        yield name
    finally:
        cluster.kubectl("uncordon", name)


def test_drain_stops_at_a_budget_that_allows_no_disruption(
    cluster: Cluster, namespace: str, node: str
) -> None:
    deploy(cluster, namespace, min_available=3)
    before = sorted(p["metadata"]["uid"] for p in pods(cluster, namespace))
    # 3 healthy, 3 desired -> 0 disruptions allowed
    assert budget(cluster, namespace)["disruptionsAllowed"] == 0
    proc = cluster.kubectl(
        "drain",
        node,
        "--ignore-daemonsets",
        "--timeout=5s",
        f"--pod-selector=app={namespace}",
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"(will retry after 5s): {VIOLATION}" in out
    assert "global timeout reached: 5s" in out
    after = pods(cluster, namespace)
    assert sorted(p["metadata"]["uid"] for p in after) == before
    assert not any(p["metadata"].get("deletionTimestamp") for p in after)


def test_evictions_wait_for_the_replacement_to_be_ready(cluster: Cluster, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    deploy(cluster, namespace, min_available=2)
    api, client = cluster.api_client()
    core = client.CoreV1Api(api)
    first, second, _ = sorted(p["metadata"]["name"] for p in pods(cluster, namespace))
    originals = {p["metadata"]["name"] for p in pods(cluster, namespace)}

    def evict(name: str) -> Any:
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        return core.create_namespaced_pod_eviction(name, namespace, body)

    wait_for(lambda: budget(cluster, namespace).get("disruptionsAllowed") == 1, "1 allowed")
    evict(first)  # 3 healthy, 2 desired: one may go
    with pytest.raises(ApiException) as refused:
        evict(second)  # its replacement is not Ready yet
    assert refused.value.status == 429
    status = json.loads(refused.value.body)
    assert status["message"] == VIOLATION
    cause = status["details"]["causes"][0]
    assert cause["reason"] == "DisruptionBudget"
    assert cause["message"].startswith("The disruption budget web needs 2 healthy pods and has ")
    assert second in originals and not pods_gone(cluster, namespace, second)

    def second_eviction() -> bool:
        try:
            evict(second)
        except ApiException as exc:
            assert exc.status == 429, exc.body  # refused only by the budget until then
            return False
        return True

    wait_for(second_eviction, "the second eviction to be allowed", timeout=120)
    replacements = [
        p for p in ready_pods(cluster, namespace) if p["metadata"]["name"] not in originals
    ]
    assert replacements, "the second eviction went through before a replacement was Ready"


def pods_gone(cluster: Cluster, ns: str, name: str) -> bool:
    return not any(
        p["metadata"]["name"] == name and not p["metadata"].get("deletionTimestamp")
        for p in pods(cluster, ns)
    )


@pytest.fixture
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = _new_cluster(tmp_path_factory.mktemp("two-nodes"))
    c.kubelite("up", "--port", "0", "--nodes", "2", "--detach")
    try:
        yield c
    finally:
        c.stop()


def legacy_workload(node: str) -> list[dict[str, Any]]:
    """ReplicationController `legacy` of 2 sleeping pods that prefer `node`, and budget
    `legacy` (maxUnavailable 1) over them."""
    term = {
        "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]
    }
    affinity = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": term}]
        }
    }
    container = {
        "name": "main",
        "image": "python:3.11",
        "command": ["python3", "-c", "import time; time.sleep(3600)"],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": "legacy"},
            "spec": {
                "replicas": 2,
                "selector": {"app": "legacy"},
                "template": {
                    "metadata": {"labels": {"app": "legacy"}},
                    "spec": {
                        "containers": [container],
                        "terminationGracePeriodSeconds": 1,
                        "affinity": affinity,
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "legacy"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "legacy"}}},
        },
    ]


def test_drain_finishes_under_a_budget_over_replication_controller_pods(
    two_nodes: Cluster,
) -> None:
    c = two_nodes
    node = sorted(n["metadata"]["name"] for n in c.kubectl_json("get", "nodes")["items"])[0]
    c.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(legacy_workload(node)))
    wait_for(lambda: len(ready_pods(c, "default")) == 2, "2 ready pods", timeout=120)
    originals = {p["metadata"]["name"] for p in pods(c, "default")}
    assert {p["spec"]["nodeName"] for p in pods(c, "default")} == {node}

    def counted() -> dict[str, Any]:
        status = c.kubectl_json("get", "pdb", "legacy").get("status") or {}
        return status if status.get("currentHealthy") == 2 else {}

    # expected = the RC's 2 replicas; desired = 2 - 1 = 1; healthy 2 -> allowed 1
    status = wait_for(counted, "the budget to count 2 healthy pods")
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        2,
        1,
        1,
    )
    # The first eviction spends the one disruption; the second waits (429, retried
    # every 5 s) until the first pod's replacement is Ready on the other node.
    drain = ("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s")
    proc = c.kubectl(*drain, check=False, timeout=200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"(will retry after 5s): {VIOLATION}" in out
    assert f"node/{node} drained" in out
    left = [p for p in pods(c, "default") if not p["metadata"].get("deletionTimestamp")]
    assert not originals & {p["metadata"]["name"] for p in left}, out
    assert all(p["spec"].get("nodeName") != node for p in left)
