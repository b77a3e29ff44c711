"""QA fixes, end to end with the real kubectl: owner references, cordon taints, Job field
selectors and empty metadata fields.

- The garbage collector keeps a cluster-scoped object whose ownerReference names a
  namespaced kind (upstream can never resolve it) and says so with a Warning
  `OwnerRefInvalidNamespace` event.
- `kubectl cordon` makes the node lifecycle controller add
  `node.kubernetes.io/unschedulable:NoSchedule`; daemon pods still land, other pods wait.
- `kubectl get jobs --field-selector status.successful=N` works.
- Emptied `finalizers`/`labels` are not served back as `[]`/`{}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

CORDON_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def apply(c: Cluster, obj: dict[str, Any], ns: str | None = None) -> None:
    args = ["apply", "-f", "-"] + (["-n", ns] if ns else [])
    c.kubectl(*args, input=json.dumps(obj))


def events(c: Cluster, ns: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = c.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", selector
    )["items"]
    return items


# ---- F1: owner references the collector cannot resolve --------------------------------


@pytest.fixture
def cluster_objects(cluster: Cluster) -> Iterator[list[str]]:
    """Cluster-scoped objects the test makes, deleted after it."""
    made: list[str] = []
    try:
        yield made
    finally:
        for ref in made:
            cluster.kubectl("delete", ref, "--ignore-not-found", "--wait=false")


def test_gc_keeps_cluster_scoped_dependents_of_a_namespaced_owner(
    cluster: Cluster, namespace: str, cluster_objects: list[str]
) -> None:
    c = cluster
    c.kubectl("create", "configmap", "nsowner", "-n", namespace)
    uid = c.kubectl_json("get", "configmap", "nsowner", "-n", namespace)["metadata"]["uid"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "nsowner", "uid": uid}
    pc, role = f"badowner-pc-{namespace}", f"badowner-{namespace}"
    cluster_objects += [f"priorityclass/{pc}", f"clusterrole/{role}"]
    apply(c, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
              "metadata": {"name": pc, "ownerReferences": [ref]}, "value": 7})  # fmt: skip
    apply(c, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
              "metadata": {"name": role, "ownerReferences": [ref]}, "rules": []})  # fmt: skip

    message = (
        f"ownerRef [v1/ConfigMap, namespace: , name: nsowner, uid: {uid}] "
        'does not exist in namespace ""'
    )
    for name in (pc, role):
        # The event says the collector looked at the object (and let it be).
        selector = f"reason=OwnerRefInvalidNamespace,involvedObject.name={name}"

        def reported(selector: str = selector) -> list[dict[str, Any]]:
            return events(c, "default", selector)

        (event,) = wait_for(reported, what=f"the OwnerRefInvalidNamespace event of {name}")
        assert (event["type"], event["message"]) == ("Warning", message)
        assert event["source"]["component"] == "garbage-collector-controller"
    assert c.kubectl("get", "priorityclass", pc, "-o", "name").stdout.strip() == (
        f"priorityclass.scheduling.k8s.io/{pc}"
    )
    assert c.kubectl("get", "clusterrole", role, "-o", "name").stdout.strip() == (
        f"clusterrole.rbac.authorization.k8s.io/{role}"
    )


# ---- F9: cordon taints the node --------------------------------------------------------


@pytest.fixture
def node(cluster: Cluster) -> Iterator[str]:
    """The cluster's node, uncordoned again after the test."""
    name = str(cluster.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"])
    try:
        yield name
    finally:
        cluster.kubectl("uncordon", name)


def taints(c: Cluster, node: str) -> list[dict[str, Any]]:
    spec = c.kubectl_json("get", "node", node).get("spec") or {}
    return list(spec.get("taints") or [])


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "main", "image": "python:3.11", "command": ["sleep", "600"]}],
            "terminationGracePeriodSeconds": 0,
            **spec,
        },
    }


def test_cordon_adds_the_unschedulable_taint_and_uncordon_removes_it(
    cluster: Cluster, namespace: str, node: str
) -> None:
    c = cluster
    c.kubectl("cordon", node)
    wait_for(lambda: CORDON_TAINT in taints(c, node), what="the cordon taint")
    described = c.kubectl("describe", "node", node).stdout
    assert "Taints:             node.kubernetes.io/unschedulable:NoSchedule" in described
    assert "Unschedulable:      true" in described

    # A daemon pod tolerates the taint and still lands; a plain pod waits.
    daemon_set = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "daemon"},
        "spec": {
            "selector": {"matchLabels": {"app": "daemon"}},
            "template": {
                "metadata": {"labels": {"app": "daemon"}},
                "spec": pod("x")["spec"],
            },
        },
    }
    apply(c, daemon_set, namespace)
    apply(c, pod("plain"), namespace)

    def daemon_pod_bound() -> bool:
        items = c.kubectl_json("get", "pods", "-n", namespace, "-l", "app=daemon")["items"]
        return bool(items) and all(p["spec"].get("nodeName") == node for p in items)

    wait_for(daemon_pod_bound, what="the daemon pod to be bound to the cordoned node")
    (failed, *_) = wait_for(
        lambda: events(c, namespace, "involvedObject.name=plain,reason=FailedScheduling"),
        what="the plain pod's FailedScheduling event",
    )
    assert "1 node(s) were unschedulable" in failed["message"]
    assert "untolerated taint" not in failed["message"]

    c.kubectl("uncordon", node)
    wait_for(lambda: CORDON_TAINT not in taints(c, node), what="the cordon taint to go")
    wait_for(
        lambda: c.kubectl_json("get", "pod", "plain", "-n", namespace)["spec"].get("nodeName"),
        what="the plain pod to be scheduled after uncordon",
    )


# ---- F11: Jobs select on status.successful ------------------------------------------------


def job(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "python:3.11", "command": ["python3", "-c", "0"]}
                    ],
                }
            },
            **spec,
        },
    }


def test_jobs_select_on_status_successful(cluster: Cluster, namespace: str) -> None:
    c = cluster
    apply(c, job("done"), namespace)
    apply(c, job("held", suspend=True), namespace)
    c.kubectl("wait", "-n", namespace, "--for=condition=complete", "job/done", "--timeout=90s")

    def selected(*args: str) -> list[str]:
        out = c.kubectl("get", "jobs", *args, "-o", "name").stdout
        return sorted(out.split())

    assert selected("-n", namespace, "--field-selector", "status.successful=1") == [
        "job.batch/done"
    ]
    assert selected("-n", namespace, "--field-selector", "status.successful=0") == [
        "job.batch/held"
    ]
    every = c.kubectl_json("get", "jobs", "-A", "--field-selector", "status.successful=1")["items"]
    assert ("done", namespace) in {
        (j["metadata"]["name"], j["metadata"]["namespace"]) for j in every
    }
    refused = c.kubectl(
        "get", "jobs", "-n", namespace, "--field-selector", "status.succeeded=1", check=False
    )
    assert refused.returncode != 0
    assert 'field label "status.succeeded" not supported for batchv1.Job' in refused.stderr


# ---- F12: empty metadata fields are dropped ---------------------------------------------------


def test_emptied_finalizers_and_labels_are_not_served(cluster: Cluster, namespace: str) -> None:
    c = cluster
    ns = ["-n", namespace]
    c.kubectl("create", "configmap", "fin2", *ns)
    c.kubectl("patch", "configmap", "fin2", *ns, "-p", '{"metadata":{"finalizers":["a.com/x"]}}')
    c.kubectl("patch", "configmap", "fin2", *ns, "--type=json",
              "-p", '[{"op":"remove","path":"/metadata/finalizers/0"}]')  # fmt: skip
    c.kubectl("patch", "configmap", "fin2", *ns, "--type=merge", "-p", '{"metadata":{"labels":{}}}')
    got = c.kubectl_json("get", "configmap", "fin2", *ns)["metadata"]
    assert "finalizers" not in got and "labels" not in got, got


def test_an_orphaned_job_pod_keeps_no_empty_finalizers(cluster: Cluster, namespace: str) -> None:
    c = cluster
    ns = ["-n", namespace]
    c.kubectl("create", "job", "orphj", *ns, "--image=python:3.11", "--", "sleep", "600")

    def job_pod() -> dict[str, Any] | None:
        items = c.kubectl_json("get", "pods", *ns, "-l", "job-name=orphj")["items"]
        return items[0] if items else None

    first = wait_for(job_pod, what="the job's pod")
    assert first["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    c.kubectl("delete", "job", "orphj", *ns, "--cascade=orphan")
    wait_for(
        lambda: (p := job_pod()) is not None and "finalizers" not in p["metadata"],
        what="the orphaned pod to lose its finalizers field",
    )
    c.kubectl("delete", "pod", first["metadata"]["name"], *ns, "--wait=false")
