"""HPA rendering: the `kubectl get hpa` row and the autoscaling/v1 view of a v2 object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.apiserver.hpa_v1 import to_v1, to_v2
from kubelite.apiserver.tables_hpa import HORIZONTAL_POD_AUTOSCALER, format_hpa_metrics

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def cpu(target: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target},
        },
    }


def cpu_now(value: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "current": {"averageUtilization": value, "averageValue": "12m"},
        },
    }


MEMORY = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
}


@pytest.mark.parametrize(
    ("specs", "statuses", "expected"),
    [
        pytest.param([cpu(50)], [], "cpu: <unknown>/50%", id="unmeasured"),
        pytest.param([cpu(50)], [cpu_now(23)], "cpu: 23%/50%", id="measured"),
        pytest.param([MEMORY], [], "memory: <unknown>/100Mi", id="average-value"),
        pytest.param(
            [cpu(50), MEMORY, cpu(70)],
            [],
            "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more...",
            id="more",
        ),
        pytest.param([], [], "<none>", id="none"),
    ],
)
def test_targets_column(specs: list[Any], statuses: list[Any], expected: str) -> None:
    assert format_hpa_metrics(specs, statuses) == expected


def test_row() -> None:
    obj = {
        "metadata": {"name": "web", "creationTimestamp": "2026-01-01T11:58:00Z"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
            "metrics": [cpu(50)],
        },
        "status": {"currentReplicas": 2, "currentMetrics": [cpu_now(80)]},
    }
    cells, _ = HORIZONTAL_POD_AUTOSCALER.row(obj, NOW)
    assert cells == ["web", "Deployment/web", "cpu: 80%/50%", "1", 5, 2, "2m"]
    names = [c["name"] for c in HORIZONTAL_POD_AUTOSCALER.columns]
    assert names == ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"]


def test_v1_round_trip() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 50,
        },
    }
    v2 = to_v2(v1)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [cpu(50)]
    v2["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [cpu_now(90)]}
    back = to_v1(v2)
    assert back["spec"] == v1["spec"]
    assert back["status"] == {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 90,
    }
