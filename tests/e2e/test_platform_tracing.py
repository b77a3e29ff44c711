"""The platform traces itself: a pod's life and a Deployment rollout, found through the
collector's Zipkin API on a real `kubelite up`."""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SERVICE = "kubelite-control-plane"
SLEEP = ["python", "-c", "import time; time.sleep(3600)"]


def find_traces(zipkin: str, span_name: str) -> list[list[dict[str, Any]]]:
    response = httpx.get(
        f"{zipkin}/api/v2/traces",
        params={"serviceName": SERVICE, "spanName": span_name, "limit": "10"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": f"python:{PY}", "command": SLEEP, **extra}


def test_a_pod_life_and_a_rollout_are_traces_in_the_collector(
    cluster: Cluster, namespace: str
) -> None:
    zipkin = cluster.status["zipkin"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "traced"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [container()]},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/traced", "--timeout=90s")

    traces = wait_for(
        lambda: find_traces(zipkin, f"pod {namespace}/traced"), "the pod's trace", timeout=90
    )
    assert len(traces) == 1
    spans = {span["name"]: span for span in traces[0]}
    assert {"pod " + f"{namespace}/traced", "schedule", "start", "ready"} <= spans.keys()
    root = spans[f"pod {namespace}/traced"]
    assert "parentId" not in root
    assert all(s["parentId"] == root["id"] for n, s in spans.items() if s is not root)
    assert root["localEndpoint"]["serviceName"] == SERVICE
    assert spans["schedule"]["localEndpoint"]["serviceName"] == "kube-scheduler"
    live = cluster.kubectl_json("get", "pod", "traced", "-n", namespace)
    assert root["tags"]["k8s.pod.uid"] == live["metadata"]["uid"]
    assert spans["schedule"]["tags"]["node"] == live["spec"]["nodeName"]
    events = cluster.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=traced"
    )["items"]
    scheduled = [e for e in events if e["reason"] == "Scheduled"]
    score = (scheduled[0]["metadata"].get("annotations") or {}).get("kubelite.io/score")
    assert spans["schedule"]["tags"].get("score") == score  # present exactly when reported
    if any(e["reason"] == "Pulled" for e in events):
        assert spans["pull"]["parentId"] == root["id"]
    begin, end = root["timestamp"], root["timestamp"] + root["duration"]
    for span in spans.values():  # children lie inside the pod's life
        assert begin <= span["timestamp"] <= span["timestamp"] + span["duration"] <= end

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "roll"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "roll"}},
            "template": {
                "metadata": {"labels": {"app": "roll"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container()]},
            },
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment))
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=120s")
    cluster.kubectl("set", "env", "-n", namespace, "deployment/roll", "REVISION=2")
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=120s")

    def both_rollouts() -> list[list[dict[str, Any]]]:
        found = find_traces(zipkin, f"rollout {namespace}/roll")
        return found if len(found) == 2 else []

    rollouts = wait_for(both_rollouts, "a trace per rollout revision", timeout=90)
    by_revision = {
        next(s for s in trace if "parentId" not in s)["tags"]["revision"]: trace
        for trace in rollouts
    }
    assert by_revision.keys() == {"1", "2"}
    second = by_revision["2"]
    root = next(s for s in second if "parentId" not in s)
    steps = [s for s in second if s is not root]
    assert root["tags"]["k8s.deployment.name"] == "roll"
    assert root["tags"]["replicas"] == "2"
    assert {s["name"] for s in steps} == {"scale up", "scale down"}
    assert all(s["parentId"] == root["id"] for s in steps)
    assert all(s["localEndpoint"]["serviceName"] == "kube-controller-manager" for s in steps)
    new_rs = root["tags"]["k8s.replicaset.name"]
    assert any(new_rs in s["tags"]["message"] for s in steps if s["name"] == "scale up")
