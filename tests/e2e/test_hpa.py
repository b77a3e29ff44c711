"""HorizontalPodAutoscaler: kubectl shows it, the controller scales a busy Deployment.

The cluster runs with a 1 s HPA sync period (KUBELITE_HPA_SYNC_PERIOD) so a
scale-up is seen within seconds; assertions are on the final replica count,
the status and the event, never on timing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster, _new_cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=90, interval=0.5)
BURN = "while True: pass\n"


@pytest.fixture(scope="module")
def hpa_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """This module's own cluster, started with a 1 s HPA sync period."""
    c = _new_cluster(Path(tmp_path_factory.mktemp("hpa")))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("KUBELITE_HPA_SYNC_PERIOD", "1")  # read by `kubelite up` at start
            c.start()
        yield c
    finally:
        c.stop()


def _deployment(name: str, command: list[str]) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": f"python:{PY}",
        "command": command,
        "resources": {"requests": {"cpu": "50m"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


def _hpa(name: str, *, min_replicas: int, max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }


def _apply(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


@pytest.fixture(scope="module")
def ns(hpa_cluster: Cluster) -> str:
    hpa_cluster.kubectl("create", "namespace", "hpa")
    return "hpa"


def test_kubectl_autoscale_creates_an_hpa_get_shows(hpa_cluster: Cluster, ns: str) -> None:
    _apply(hpa_cluster, ns, _deployment("idle", ["sleep", "3600"]))
    out = hpa_cluster.kubectl(
        "autoscale", "deployment", "idle", "-n", ns, "--cpu-percent=50", "--min=1", "--max=5"
    ).stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/idle autoscaled"
    lines = hpa_cluster.kubectl("get", "hpa", "idle", "-n", ns).stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "REFERENCE",
        "TARGETS",
        "MINPODS",
        "MAXPODS",
        "REPLICAS",
        "AGE",
    ]
    cells = lines[1].split()
    assert cells[:3] == ["idle", "Deployment/idle", "cpu:"]
    assert cells[3].endswith("/50%")  # `<unknown>/50%` until measured, then e.g. `0%/50%`
    assert cells[4:6] == ["1", "5"]
    hpa = hpa_cluster.kubectl_json("get", "hpa", "idle", "-n", ns)
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["metrics"][0]["resource"]
    assert target == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 50},
    }


def test_busy_deployment_is_scaled_up(hpa_cluster: Cluster, ns: str) -> None:
    _apply(hpa_cluster, ns, _deployment("burn", ["python3", "-c", BURN]))
    _apply(hpa_cluster, ns, _hpa("burn", min_replicas=1, max_replicas=3))

    def scaled() -> dict[str, Any] | None:
        hpa = hpa_cluster.kubectl_json("get", "hpa", "burn", "-n", ns)
        return hpa if (hpa.get("status") or {}).get("desiredReplicas") == 3 else None

    hpa = wait_for(scaled, what="the HPA to ask for 3 replicas")
    deploy = hpa_cluster.kubectl_json("get", "deployment", "burn", "-n", ns)
    assert deploy["spec"]["replicas"] == 3
    conditions = {c["type"]: c for c in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    assert conditions["AbleToScale"]["status"] == "True"
    assert hpa["status"]["lastScaleTime"]
    current = hpa["status"]["currentMetrics"][0]["resource"]
    assert current["name"] == "cpu" and current["current"]["averageUtilization"] > 50
    events = hpa_cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", "involvedObject.name=burn"
    )["items"]
    messages = [e["message"] for e in events if e["reason"] == "SuccessfulRescale"]
    assert any(
        m.startswith("New size: ")
        and m.endswith("; reason: cpu resource utilization (percentage of request) above target")
        for m in messages
    ), messages
    row = hpa_cluster.kubectl("get", "hpa", "burn", "-n", ns, "--no-headers").stdout.split()
    assert row[2] == "cpu:" and row[3].endswith("%/50%") and row[3] != "<unknown>/50%"


def test_max_below_min_is_rejected(hpa_cluster: Cluster, ns: str) -> None:
    bad = _hpa("bad", min_replicas=3, max_replicas=2)
    proc = hpa_cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0
    reason = "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"
    assert proc.stderr.strip() == f'The HorizontalPodAutoscaler "bad" is invalid: {reason}'
    api, client = hpa_cluster.api_client()
    with pytest.raises(client.ApiException) as raised:
        client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(ns, bad)
    assert raised.value.status == 422
    body = json.loads(raised.value.body)
    assert body["message"] == f'HorizontalPodAutoscaler.autoscaling "bad" is invalid: {reason}'
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.maxReplicas"]
