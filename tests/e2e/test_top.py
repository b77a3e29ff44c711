"""`kubectl top`: the metrics.k8s.io API answers with what pods and the node use."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.test_node_agent import NODE, apply, pod, simple_pod, wait_for

pytestmark = pytest.mark.e2e
BURN = "x = bytearray(40 * 2**20)\nwhile True: pass\n"


@pytest.fixture(scope="module")
def busy(cluster: Cluster) -> str:
    ns = "top"
    cluster.kubectl("create", "namespace", ns)
    burner = simple_pod("burner", ["python3", "-c", BURN])
    burner["metadata"]["labels"] = {"app": "burner"}
    apply(cluster, ns, burner)
    apply(cluster, ns, simple_pod("sleeper", ["sleep", "3600"]))
    for name in ("burner", "sleeper"):
        wait_for(
            lambda name=name: pod(cluster, ns, name).get("status", {}).get("phase") == "Running",
            what=f"{name} running",
        )
    return ns


def _table(out: str) -> dict[str, list[str]]:
    lines = out.strip().splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_top_pod_shows_cpu_and_memory(cluster: Cluster, busy: str) -> None:
    def measured() -> dict[str, list[str]] | None:
        proc = cluster.kubectl("top", "pod", "-n", busy, check=False)
        rows = _table(proc.stdout) if proc.returncode == 0 else {}
        return rows if {"burner", "sleeper"} <= set(rows) else None

    rows = wait_for(measured, what="pod metrics")
    cpu, memory = rows["burner"]
    assert cpu.endswith("m") and int(cpu[:-1]) > 20  # a busy loop: well above an idle pod
    assert memory.endswith("Mi") and int(memory[:-2]) >= 40  # its 40 MiB are in its working set
    assert rows["sleeper"][0] in ("0m", "1m")


def test_top_pod_by_label_and_containers(cluster: Cluster, busy: str) -> None:
    out = cluster.kubectl("top", "pod", "-n", busy, "-l", "app=burner", "--containers").stdout
    lines = out.strip().splitlines()
    assert lines[0].split()[:2] == ["POD", "NAME"]
    assert [line.split()[:2] for line in lines[1:]] == [["burner", "main"]]


def test_top_node(cluster: Cluster, busy: str) -> None:
    rows = _table(cluster.kubectl("top", "node").stdout)
    cpu, cpu_percent, memory, memory_percent = rows[NODE]
    assert cpu.endswith("m") and cpu_percent.endswith("%")
    assert memory.endswith("Mi") and int(memory[:-2]) > 0 and memory_percent.endswith("%")


def test_metrics_objects_as_metrics_server_writes_them(cluster: Cluster, busy: str) -> None:
    raw = cluster.kubectl(
        "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{busy}/pods/burner"
    ).stdout
    obj = json.loads(raw)
    assert (obj["kind"], obj["apiVersion"]) == ("PodMetrics", "metrics.k8s.io/v1beta1")
    assert obj["metadata"]["labels"] == {"app": "burner"}
    assert obj["window"].endswith("s") and obj["timestamp"].endswith("Z")
    assert [c["name"] for c in obj["containers"]] == ["main"]
    assert set(obj["containers"][0]["usage"]) == {"cpu", "memory"}
    missing = cluster.kubectl(
        "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{busy}/pods/nope", check=False
    )
    # metrics-server returns the pod lister's NotFound for a pod that does not exist.
    assert 'pods "nope" not found' in missing.stderr
    # ... and its own Table to `kubectl get`: name, one column per resource, window.
    table = cluster.kubectl("get", "pods.metrics.k8s.io", "-n", busy).stdout.splitlines()
    assert table[0].split() == ["NAME", "CPU", "MEMORY", "WINDOW"]
    assert "burner" in [line.split()[0] for line in table[1:]]
    resources = cluster.kubectl("api-resources", "--api-group=metrics.k8s.io").stdout
    assert "NodeMetrics" in resources and "PodMetrics" in resources
