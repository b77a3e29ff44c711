"""The scheduler inside `kubelite up`: placement, refusals in upstream words, explain."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.e2e


def _node(name: str, cpu: str, *, taint: str | None = None) -> str:
    taints = f"[{{key: {taint}, effect: NoSchedule}}]" if taint else "[]"
    return f"""apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/hostname: {name}, e2e-scheduler: "yes"}}
spec:
  taints: {taints}
status:
  allocatable: {{cpu: "{cpu}", memory: 8Gi, pods: "110"}}
  capacity: {{cpu: "{cpu}", memory: 8Gi, pods: "110"}}
  conditions: [{{type: Ready, status: "True"}}]
"""


def _pod(name: str, cpu: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeSelector: {{e2e-scheduler: "yes"}}
  containers:
  - name: main
    image: python:3.11
    resources: {{requests: {{cpu: "{cpu}"}}}}
"""


def _wait(fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_placement_refusal_and_explain(fresh_cluster):
    c = fresh_cluster
    nodes = "---\n".join(
        [
            _node("small", "1"),
            _node("large", "4"),
            _node("master", "8", taint="node-role.kubernetes.io/control-plane"),
        ]
    )
    c.kubectl("apply", "-f", "-", input=nodes)
    c.kubectl("apply", "-f", "-", input=_pod("web", "2"))
    node = _wait(lambda: c.kubectl_json("get", "pod", "web")["spec"].get("nodeName"))
    assert node == "large"  # small lacks cpu, master is tainted

    c.kubectl("apply", "-f", "-", input=_pod("huge", "16"))

    def failed_event():
        events = c.kubectl_json("get", "events", "--field-selector", "involvedObject.name=huge")[
            "items"
        ]
        return [e for e in events if e["reason"] == "FailedScheduling"]

    message = _wait(failed_event)[0]["message"]
    # the cluster's own node (from its node agent) fails the nodeSelector
    assert message.startswith("0/4 nodes are available: ")
    assert "1 node(s) didn't match Pod's node affinity/selector" in message
    assert "1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }" in message
    assert "2 Insufficient cpu" in message
    cond = [
        x
        for x in c.kubectl_json("get", "pod", "huge")["status"]["conditions"]
        if x["type"] == "PodScheduled"
    ]
    assert cond[0]["status"] == "False" and cond[0]["reason"] == "Unschedulable"

    explained = json.loads(c.kubelite("explain", "pod", "web", "-o", "json").stdout)
    assert explained["node"] == "large"
    assert explained["filters"]["small"]["reasons"] == ["Insufficient cpu"]
    assert explained["filters"]["master"]["plugin"] == "TaintToleration"
    table = c.kubelite("explain", "pod", "huge").stdout
    assert "unschedulable" in table and "Insufficient cpu" in table
    missing = c.kubelite("explain", "pod", "nope", check=False)
    assert missing.returncode == 1 and 'pods "nope" not found' in missing.stderr


def test_scheduled_event_carries_node_and_score(fresh_cluster):
    c = fresh_cluster
    c.kubectl("apply", "-f", "-", input="---\n".join([_node("a", "4"), _node("b", "4")]))
    c.kubectl("apply", "-f", "-", input=_pod("scored", "1"))
    node = _wait(lambda: c.kubectl_json("get", "pod", "scored")["spec"].get("nodeName"))

    def scheduled():
        events = c.kubectl_json("get", "events", "--field-selector", "involvedObject.name=scored")[
            "items"
        ]
        return [e for e in events if e["reason"] == "Scheduled"]

    event = _wait(scheduled)[0]
    assert event["message"] == f"Successfully assigned default/scored to {node}"
    annotations = event["metadata"]["annotations"]
    assert annotations["kubelite.io/node"] == node
    # two equal empty nodes fit: TaintToleration 3 * 100 plus the resource scores
    assert annotations["kubelite.io/score"].isdigit()
    assert int(annotations["kubelite.io/score"]) > 300


def test_pod_disruption_budgets_are_served(fresh_cluster):
    c = fresh_cluster
    pdb = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
"""
    c.kubectl("apply", "-f", "-", input=pdb)
    got = c.kubectl_json("get", "pdb", "web")
    assert got["spec"]["minAvailable"] == 2 and got["metadata"]["generation"] == 1
    table = c.kubectl("get", "poddisruptionbudgets").stdout
    assert "MIN AVAILABLE" in table and "ALLOWED DISRUPTIONS" in table
    both = pdb.replace("minAvailable: 2", "minAvailable: 2\n  maxUnavailable: 1")
    refused = c.kubectl("apply", "-f", "-", input=both, check=False)
    assert refused.returncode != 0
    assert "minAvailable and maxUnavailable cannot be both set" in refused.stderr


def _pod_body(name: str, cpu: str, priority_class: str | None = None) -> dict:
    spec: dict = {
        "nodeSelector": {"e2e-scheduler": "yes"},
        "containers": [
            {"name": "main", "image": "python:3.11", "resources": {"requests": {"cpu": cpu}}}
        ],
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"metadata": {"name": name}, "spec": spec}


def test_preemptor_keeps_the_room_it_freed(fresh_cluster):
    """p preempts one of two pods; the victim goes and q (lower priority) is created
    at once, while p backs off before its retry. The room stays p's: q waits, p
    lands, and no second pod is evicted."""
    c = fresh_cluster
    api, client = c.api_client()
    core = client.CoreV1Api(api)
    c.kubectl("apply", "-f", "-", input=_node("solo", "2"))
    c.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
        "metadata: {name: e2e-high}\nvalue: 1000\n",
    )
    running = ("v1", "v2")
    for name in running:
        core.create_namespaced_pod("default", _pod_body(name, "1"))
    _wait(lambda: all(core.read_namespaced_pod(n, "default").spec.node_name for n in running))
    core.create_namespaced_pod("default", _pod_body("p", "1", "e2e-high"))

    deadline = time.monotonic() + 30
    victims: list[str] = []
    while not victims and time.monotonic() < deadline:
        pods = [core.read_namespaced_pod(n, "default") for n in running]
        victims = [p.metadata.name for p in pods if p.metadata.deletion_timestamp]
        time.sleep(0.02)
    assert len(victims) == 1, "p should have preempted exactly one pod"
    # no kubelet runs this node: finish the victim's termination for it, then q comes
    core.delete_namespaced_pod(victims[0], "default", grace_period_seconds=0)
    core.create_namespaced_pod("default", _pod_body("q", "1"))

    _wait(lambda: core.read_namespaced_pod("p", "default").spec.node_name == "solo", timeout=60)
    (survivor,) = [n for n in running if n not in victims]
    kept = core.read_namespaced_pod(survivor, "default")
    assert kept.metadata.deletion_timestamp is None and kept.spec.node_name == "solo"
    q = core.read_namespaced_pod("q", "default")
    assert q.spec.node_name is None and q.metadata.deletion_timestamp is None
    assert q.status.phase == "Pending"
