"""What old tutorials and `kubectl cluster-info dump` need, with the real kubectl.

ReplicationControllers run real pods on the module's cluster; ComponentStatus
and the verbose health endpoints answer as kube-apiserver's do; and
`cluster-info dump` writes the files it writes on a real cluster.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.test_controllers import items, live, ready, wait_for

pytestmark = pytest.mark.e2e

PY = "{}.{}".format(*sys.version_info[:2])
RC = f"""\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: python:{PY}
        command: ["python3", "-m", "http.server", "8080"]
        readinessProbe:
          tcpSocket:
            port: 8080
          periodSeconds: 1
"""
WAIT = 120.0


def rc_pods(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return live(items(cluster, "pods", ns, "-l", "app=web"))


def running(cluster: Cluster, ns: str, count: int) -> Callable[[], list[dict[str, Any]] | None]:
    def check() -> list[dict[str, Any]] | None:
        pods = rc_pods(cluster, ns)
        ok = len(pods) == count and all(
            p["status"].get("phase") == "Running" and ready(p) for p in pods
        )
        return pods if ok else None

    return check


def test_replication_controller_runs_scales_replaces_and_cleans_up(
    cluster: Cluster, namespace: str
) -> None:
    out = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=RC).stdout
    assert out.strip() == "replicationcontroller/web created"
    pods = wait_for("2 running pods", running(cluster, namespace, 2), WAIT)
    rc = cluster.kubectl_json("get", "rc", "web", "-n", namespace)
    assert rc["spec"]["selector"] == {"app": "web"}
    for pod in pods:
        (ref,) = pod["metadata"]["ownerReferences"]
        assert (ref["apiVersion"], ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "v1",
            "ReplicationController",
            "web",
            rc["metadata"]["uid"],
            True,
        )

    def status_says(n: int) -> Callable[[], bool]:
        def check() -> bool:
            got = cluster.kubectl_json("get", "rc", "web", "-n", namespace).get("status") or {}
            return got.get("readyReplicas") == n and got.get("availableReplicas") == n

        return check

    wait_for("status of 2 ready", status_says(2), WAIT)
    table = cluster.kubectl("get", "rc", "web", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert table[1].split()[:4] == ["web", "2", "2", "2"]
    wide = cluster.kubectl("get", "rc", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[-3:] == ["web", f"python:{PY}", "app=web"]

    scaled = cluster.kubectl("scale", "rc", "web", "--replicas=3", "-n", namespace).stdout
    assert scaled.strip() == "replicationcontroller/web scaled"
    pods = wait_for("3 running pods", running(cluster, namespace, 3), WAIT)

    victim = pods[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", victim, "-n", namespace)

    def replaced() -> bool:
        now = running(cluster, namespace, 3)()
        return now is not None and victim not in {p["metadata"]["name"] for p in now}

    wait_for("a replacement pod", replaced, WAIT)
    cluster.kubectl("delete", "rc", "web", "-n", namespace)
    wait_for("the RC's pods to go", lambda: not items(cluster, "pods", namespace), WAIT)


def test_get_cs_prints_every_part_healthy_with_the_deprecation_warning(cluster: Cluster) -> None:
    proc = cluster.kubectl("get", "cs")
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows == [
        ["NAME", "STATUS", "MESSAGE", "ERROR"],
        ["scheduler", "Healthy", "ok"],
        ["controller-manager", "Healthy", "ok"],
        ["etcd-0", "Healthy", "ok"],
    ]
    assert "Warning: v1 ComponentStatus is deprecated in v1.19+" in proc.stderr


def test_readyz_verbose(cluster: Cluster) -> None:
    text = cluster.kubectl("get", "--raw", "/readyz?verbose").stdout
    lines = text.splitlines()
    assert lines[0] == "[+]ping ok"
    assert "[+]etcd ok" in lines and "[+]shutdown ok" in lines
    assert all(line.startswith("[+]") and line.endswith(" ok") for line in lines[:-1])
    assert lines[-1] == "readyz check passed"
    assert cluster.kubectl("get", "--raw", "/livez/ping").stdout == "ok"
    assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"


def test_cluster_info_dump_writes_what_a_real_cluster_writes(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=RC)
    wait_for("2 running pods", running(cluster, namespace, 2), WAIT)
    pods = sorted(p["metadata"]["name"] for p in rc_pods(cluster, namespace))
    out = tmp_path / "dump"
    proc = cluster.kubectl(
        "cluster-info", "dump", "--all-namespaces", f"--output-directory={out}", timeout=120
    )
    assert proc.stdout.strip() == f"Cluster info dumped to {out}"
    kinds = {
        "events",
        "replication-controllers",
        "services",
        "daemonsets",
        "deployments",
        "replicasets",
        "pods",
    }
    assert json.loads((out / "nodes.json").read_text())["kind"] == "NodeList"
    for ns in ("default", "kube-system", namespace):
        written = {p.stem for p in (out / ns).glob("*.json")}
        assert written == kinds, ns
    rcs = json.loads((out / namespace / "replication-controllers.json").read_text())
    assert [i["metadata"]["name"] for i in rcs["items"]] == ["web"]
    for pod in pods:
        log = (out / namespace / pod / "logs.txt").read_text()
        assert log.startswith(f"==== START logs for container web of pod {namespace}/{pod} ====")
    printed = cluster.kubectl("cluster-info", "dump", timeout=120).stdout
    assert '"kind": "NodeList"' in printed
    cluster.kubectl("delete", "rc", "web", "-n", namespace)
