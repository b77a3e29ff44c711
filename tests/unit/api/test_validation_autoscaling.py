"""autoscaling/v2 HorizontalPodAutoscaler: defaults and validation, upstream wording."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate

UID = "0d9a5e2c-1111-2222-3333-444455556666"
CPU_50 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}


def hpa(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            **spec,
        },
    }


def messages(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate(apply_defaults(obj))]


def test_defaults_min_replicas_and_cpu_80_percent() -> None:
    spec = apply_defaults(hpa())["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert "behavior" not in spec  # filled in only when given


def test_defaults_fill_a_given_behavior() -> None:
    spec = apply_defaults(hpa(behavior={"scaleDown": {"selectPolicy": "Min"}}))["spec"]
    assert spec["behavior"]["scaleUp"] == {
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
    }
    assert spec["behavior"]["scaleDown"] == {
        "selectPolicy": "Min",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        "stabilizationWindowSeconds": 300,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"metrics": [CPU_50]}, [], id="valid"),
        pytest.param(
            {"minReplicas": 3, "maxReplicas": 2},
            ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"],
            id="max-below-min",
        ),
        pytest.param(
            {"minReplicas": 0},
            [
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.metrics: Forbidden: must specify at least one Object or External metric "
                "to support scaling to zero replicas",
            ],
            id="min-zero",
        ),
        pytest.param(
            {"maxReplicas": 0},
            [
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`",
            ],
            id="max-zero",
        ),
        pytest.param(
            {"scaleTargetRef": {"apiVersion": "apps/v1"}},
            [
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Required value",
            ],
            id="target-ref",
        ),
        pytest.param(
            {
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization"}},
                    }
                ]
            },
            [
                "spec.metrics[0].resource.target.averageUtilization: Required value: "
                "must set either a target raw value or a target utilization"
            ],
            id="no-target-value",
        ),
        pytest.param(
            {"metrics": [{"type": "Resource"}]},
            [
                "spec.metrics[0].resource: Required value: "
                "must populate information for the given metric source"
            ],
            id="missing-source",
        ),
        pytest.param(
            {
                "metrics": [CPU_50],
                "behavior": {
                    "scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 2000}]}
                },
            },
            [
                "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
                "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 2000: "
                "must be less than or equal to 1800",
            ],
            id="bad-policy",
        ),
        # `policies: []` is not `policies` left out: upstream's defaulting keeps a
        # non-nil empty list, and validateScalingRules refuses it.
        pytest.param(
            {"behavior": {"scaleUp": {"policies": []}}},
            ["spec.behavior.scaleUp.policies: Required value: must specify at least one Policy"],
            id="empty-policies",
        ),
        pytest.param(
            {"behavior": {"scaleDown": {"policies": []}}},
            ["spec.behavior.scaleDown.policies: Required value: must specify at least one Policy"],
            id="empty-scale-down-policies",
        ),
    ],
)
def test_validation(spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(hpa(**spec)) == expected
