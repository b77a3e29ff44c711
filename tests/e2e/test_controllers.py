"""Controllers end to end with the real kubectl: what controllers alone produce.

Until a node agent runs pods, pods stay Pending, so these tests check the
objects controllers write (ReplicaSets, pods with labels and owners, scale
counts, rollout history and undo, cascading deletes); availability is
covered by the unit tests with simulated readiness.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def items(cluster: Any, kind: str, ns: str, *selector: str) -> list[dict[str, Any]]:
    return cluster.kubectl_json("get", kind, "-n", ns, *selector)["items"]


def live(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if not o["metadata"].get("deletionTimestamp")]


def test_seed_deployment_creates_replica_set_and_pods(cluster, namespace, seed_manifest):
    cluster.kubectl("apply", "-n", namespace, "-f", str(seed_manifest))
    pods = wait_for("3 pods", lambda: (p := live(items(cluster, "pods", namespace))) and len(p) == 3 and p)
    [rs] = items(cluster, "rs", namespace)
    pth = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"go-app-{pth}"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"go-app-{pth}-")
        assert pod["metadata"]["labels"] == {"app": "go-app", "pod-template-hash": pth}
        [ref] = pod["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["controller"], ref["blockOwnerDeletion"]) == ("ReplicaSet", rs["metadata"]["name"], True, True)
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].message}").stdout
    assert f"Scaled up replica set go-app-{pth} to 3" in events
    assert "Created pod: go-app-" in events


def test_scale_up_and_down(cluster, namespace, seed_manifest):
    cluster.kubectl("apply", "-n", namespace, "-f", str(seed_manifest))
    for n in (3, 5, 2):
        cluster.kubectl("scale", "-n", namespace, "deployment/go-app", f"--replicas={n}")
        wait_for(f"{n} pods", lambda n=n: len(live(items(cluster, "pods", namespace))) == n)
        wait_for(f"rs at {n}", lambda n=n: items(cluster, "rs", namespace)[0]["status"].get("replicas") == n)


def test_rollout_history_and_undo(cluster, namespace, seed_manifest):
    cluster.kubectl("apply", "-n", namespace, "-f", str(seed_manifest))
    wait_for("first rs", lambda: items(cluster, "rs", namespace))
    first = items(cluster, "rs", namespace)[0]["metadata"]["name"]
    cluster.kubectl("set", "image", "-n", namespace, "deployment/go-app", "go-app=go-app:v2")
    wait_for("second rs", lambda: len(items(cluster, "rs", namespace)) == 2)
    history = cluster.kubectl("rollout", "history", "-n", namespace, "deployment/go-app").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    cluster.kubectl("rollout", "undo", "-n", namespace, "deployment/go-app")

    def reused() -> bool:
        rss = {r["metadata"]["name"]: r for r in items(cluster, "rs", namespace)}
        return len(rss) == 2 and rss[first]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    wait_for("undo to reuse the first rs", reused)
    history = cluster.kubectl("rollout", "history", "-n", namespace, "deployment/go-app").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
    cluster.kubectl("rollout", "undo", "-n", namespace, "deployment/go-app", "--to-revision=2")
    wait_for("back on revision 4", lambda: any(
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4" and r["metadata"]["name"] != first
        for r in items(cluster, "rs", namespace)
    ))


def test_pause_resume_restart(cluster, namespace, seed_manifest):
    cluster.kubectl("apply", "-n", namespace, "-f", str(seed_manifest))
    wait_for("first rs", lambda: items(cluster, "rs", namespace))
    cluster.kubectl("rollout", "pause", "-n", namespace, "deployment/go-app")
    cluster.kubectl("set", "image", "-n", namespace, "deployment/go-app", "go-app=go-app:v2")
    wait_for("paused condition", lambda: "DeploymentPaused" in cluster.kubectl(
        "get", "deploy/go-app", "-n", namespace, "-o", "jsonpath={.status.conditions[*].reason}").stdout)
    assert len(items(cluster, "rs", namespace)) == 1
    cluster.kubectl("rollout", "resume", "-n", namespace, "deployment/go-app")
    wait_for("rollout after resume", lambda: len(items(cluster, "rs", namespace)) == 2)
    cluster.kubectl("rollout", "restart", "-n", namespace, "deployment/go-app")
    wait_for("rollout after restart", lambda: len(items(cluster, "rs", namespace)) == 3)


@pytest.mark.parametrize("policy", ["background", "foreground"])
def test_cascading_delete(cluster, namespace, seed_manifest, policy):
    cluster.kubectl("apply", "-n", namespace, "-f", str(seed_manifest))
    wait_for("3 pods", lambda: len(live(items(cluster, "pods", namespace))) == 3)
    cluster.kubectl("delete", "-n", namespace, "deployment/go-app", f"--cascade={policy}")
    wait_for("replica sets gone", lambda: not items(cluster, "rs", namespace))
    wait_for("pods gone", lambda: not live(items(cluster, "pods", namespace)))


def test_orphaning_delete(cluster, namespace, seed_manifest):
    cluster.kubectl("apply", "-n", namespace, "-f", str(seed_manifest))
    wait_for("3 pods", lambda: len(live(items(cluster, "pods", namespace))) == 3)
    cluster.kubectl("delete", "-n", namespace, "deployment/go-app", "--cascade=orphan")
    wait_for("rs orphaned", lambda: (rss := items(cluster, "rs", namespace)) and "ownerReferences" not in rss[0]["metadata"])
    assert len(live(items(cluster, "pods", namespace))) == 3


def test_namespace_deletion_removes_content(cluster, seed_manifest):
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("apply", "-n", "doomed", "-f", str(seed_manifest))
    wait_for("3 pods", lambda: len(live(items(cluster, "pods", "doomed"))) == 3)
    cluster.kubectl("delete", "namespace", "doomed", "--wait=false")
    wait_for("namespace gone", lambda: cluster.kubectl("get", "namespace", "doomed", check=False).returncode != 0, timeout=60)
