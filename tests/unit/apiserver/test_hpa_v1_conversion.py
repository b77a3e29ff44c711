"""autoscaling/v1 <-> v2 HorizontalPodAutoscaler conversion, as upstream's.

The v1 view carries what v1 has no fields for in four annotations; a v1 write
turns them back into v2 fields. The annotation texts are compared byte for
byte with what kube-apiserver writes (Go field order, "0" for an unset
non-pointer quantity, Go field names in the behavior).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from kubelite.apiserver.hpa_v1 import (
    BEHAVIOR_ANNOTATION,
    CONDITIONS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    METRICS_ANNOTATION,
    to_v1,
    to_v2,
)

Obj = dict[str, Any]
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def cpu(target: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target},
        },
    }


def memory(average: str) -> Obj:
    return {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": average}},
    }


def make_v1(*, annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    metadata: Obj = {"name": "web", "namespace": "default", "resourceVersion": "7"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {"scaleTargetRef": REF, "maxReplicas": 5, **spec},
    }


def make_v2(*, metrics: list[Obj], status: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7"},
        "spec": {
            "scaleTargetRef": REF,
            "minReplicas": 1,
            "maxReplicas": 5,
            "metrics": metrics,
            **spec,
        },
        "status": status or {"desiredReplicas": 0},
    }


# ---- v1 -> v2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "metrics"),
    [
        pytest.param({"targetCPUUtilizationPercentage": 50}, [cpu(50)], id="cpu-target"),
        # v1 always meant 80% when no target was given; v2 says so explicitly.
        pytest.param({}, [cpu(80)], id="default-80"),
    ],
)
def test_v1_cpu_target_becomes_a_metric(spec: Obj, metrics: list[Obj]) -> None:
    v2 = to_v2(make_v1(**spec))
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == metrics
    assert "annotations" not in v2["metadata"]


def test_v1_fields_carry_over() -> None:
    v1 = make_v1(minReplicas=2, targetCPUUtilizationPercentage=60)
    v1["status"] = {
        "observedGeneration": 3,
        "lastScaleTime": "2026-01-01T12:00:00Z",
        "currentReplicas": 2,
        "desiredReplicas": 4,
        "currentCPUUtilizationPercentage": 75,
    }
    v2 = to_v2(v1)
    assert v2["metadata"] == v1["metadata"]
    assert v2["spec"] == {
        "scaleTargetRef": REF,
        "minReplicas": 2,
        "maxReplicas": 5,
        "metrics": [cpu(60)],
    }
    assert v2["status"] == {
        "observedGeneration": 3,
        "lastScaleTime": "2026-01-01T12:00:00Z",
        "currentReplicas": 2,
        "desiredReplicas": 4,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75}}}
        ],
    }


def test_metrics_annotation_goes_first_and_the_cpu_target_last() -> None:
    others = '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]'
    v2 = to_v2(make_v1(targetCPUUtilizationPercentage=50, annotations={METRICS_ANNOTATION: others}))
    assert v2["spec"]["metrics"] == [memory("100Mi"), cpu(50)]


def test_other_metrics_alone_get_no_default_cpu_target() -> None:
    others = '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]'
    v2 = to_v2(make_v1(annotations={METRICS_ANNOTATION: others}))
    assert v2["spec"]["metrics"] == [memory("100Mi")]


def test_round_trip_annotations_are_dropped_other_annotations_kept() -> None:
    annotations = {
        "team": "a",
        METRICS_ANNOTATION: "[]",
        CURRENT_METRICS_ANNOTATION: "[]",
        CONDITIONS_ANNOTATION: "[]",
        BEHAVIOR_ANNOTATION: "{}",
    }
    v2 = to_v2(make_v1(annotations=annotations))
    assert v2["metadata"]["annotations"] == {"team": "a"}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not json", id="not-json"),
        pytest.param('{"type":"Resource"}', id="not-a-list"),
        pytest.param('[{"type":"Resource","resource":{"name":7}}]', id="wrong-type"),
    ],
)
def test_undecodable_annotation_is_ignored_as_upstream(text: str) -> None:
    v2 = to_v2(make_v1(targetCPUUtilizationPercentage=50, annotations={METRICS_ANNOTATION: text}))
    assert v2["spec"]["metrics"] == [cpu(50)]
    assert "annotations" not in v2["metadata"]


def test_behavior_annotation_keys_match_ignoring_case() -> None:
    # The annotation holds the internal Go type: Go field names, matched case-insensitively.
    text = '{"scaleUp":{"stabilizationWindowSeconds":30,"policies":[{"type":"Pods","value":2,"periodSeconds":60}]}}'
    v2 = to_v2(make_v1(annotations={BEHAVIOR_ANNOTATION: text}))
    assert v2["spec"]["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 30,
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
        }
    }


@pytest.mark.parametrize("text", ["{}", '{"ScaleUp":null,"ScaleDown":null}', "null"])
def test_an_empty_behavior_leaves_behavior_unset(text: str) -> None:
    assert "behavior" not in to_v2(make_v1(annotations={BEHAVIOR_ANNOTATION: text}))["spec"]


# ---- v2 -> v1 --------------------------------------------------------------------------------


def test_v2_view_as_v1_with_nothing_left_over() -> None:
    v1 = to_v1(make_v2(metrics=[cpu(50)]))
    assert v1 == {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 50,
        },
        # v1's status always has both counts.
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }


def test_first_cpu_target_is_the_v1_target_the_rest_go_to_the_annotation() -> None:
    v1 = to_v1(make_v2(metrics=[memory("100Mi"), cpu(50), cpu(70)]))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    # Every cpu utilization target is left out of the annotation, not only the first.
    assert v1["metadata"]["annotations"] == {
        METRICS_ANNOTATION: (
            '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]'
        )
    }


def test_metric_annotation_text_is_what_upstream_writes() -> None:
    pods = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "qps"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    obj = {
        "type": "Object",
        "object": {
            "describedObject": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "name": "w",
            },
            "metric": {"name": "hits"},
            "target": {"type": "AverageValue", "averageValue": "5"},
        },
    }
    v1 = to_v1(make_v2(metrics=[pods, obj]))
    # Object's targetValue is a non-pointer quantity: written as "0" when unset.
    assert v1["metadata"]["annotations"][METRICS_ANNOTATION] == (
        '[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}},'
        '{"type":"Object","object":{"target":{"kind":"Ingress","name":"w",'
        '"apiVersion":"networking.k8s.io/v1"},"metricName":"hits","targetValue":"0",'
        '"averageValue":"5"}}]'
    )
    assert "targetCPUUtilizationPercentage" not in v1["spec"]


def test_status_conditions_and_behavior_go_to_annotations() -> None:
    status = {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 90, "averageValue": "45m"},
                },
            }
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "lastTransitionTime": "2026-01-01T12:00:00Z",
                "reason": "ReadyForNewScale",
                "message": "recommended size <= current",
            }
        ],
    }
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
        }
    }
    v1 = to_v1(make_v2(metrics=[cpu(50)], status=status, behavior=behavior))
    assert v1["status"] == {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 90,
    }
    assert v1["metadata"]["annotations"] == {
        CURRENT_METRICS_ANNOTATION: (
            '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":90,'
            '"currentAverageValue":"45m"}}]'
        ),
        # Go escapes "<" in JSON strings.
        CONDITIONS_ANNOTATION: (
            '[{"type":"AbleToScale","status":"True","lastTransitionTime":"2026-01-01T12:00:00Z",'
            '"reason":"ReadyForNewScale","message":"recommended size \\u003c= current"}]'
        ),
        BEHAVIOR_ANNOTATION: (
            '{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max",'
            '"Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}]},"ScaleDown":null}'
        ),
    }


def test_current_cpu_utilization_is_the_last_cpu_status() -> None:
    def current(value: int) -> Obj:
        return {
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": value}},
        }

    status = {"desiredReplicas": 1, "currentMetrics": [current(10), current(30)]}
    assert (
        to_v1(make_v2(metrics=[cpu(50)], status=status))["status"][
            "currentCPUUtilizationPercentage"
        ]
        == 30
    )


def test_stale_round_trip_annotations_on_the_stored_object_are_replaced() -> None:
    v2 = make_v2(metrics=[cpu(50)])
    v2["metadata"]["annotations"] = {"team": "a", METRICS_ANNOTATION: "[]"}
    assert to_v1(v2)["metadata"]["annotations"] == {"team": "a"}


def test_to_v1_does_not_change_its_input() -> None:
    v2 = make_v2(metrics=[memory("1Gi"), cpu(50)])
    v2["metadata"]["annotations"] = {"team": "a"}
    before = copy.deepcopy(v2)
    to_v1(v2)
    assert v2 == before


# ---- round trips -----------------------------------------------------------------------------

EVERY_METRIC = [
    memory("100Mi"),
    {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 60},
            "container": "app",
        },
    },
    {
        "type": "Pods",
        "pods": {
            "metric": {"name": "qps", "selector": {"matchLabels": {"tier": "web"}}},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    },
    {
        "type": "Object",
        "object": {
            "describedObject": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "name": "w",
            },
            "target": {"type": "Value", "value": "2k"},
            "metric": {"name": "hits"},
        },
    },
    {
        "type": "External",
        "external": {
            "metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}},
            "target": {"type": "Value", "value": "30"},
        },
    },
    cpu(50),  # last: where the v1 -> v2 conversion puts it back
]
EVERY_STATUS = {
    "observedGeneration": 2,
    "currentReplicas": 3,
    "desiredReplicas": 4,
    "currentMetrics": [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageValue": "120m", "averageUtilization": 80},
            },
        },
        {
            "type": "Pods",
            "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "12"}},
        },
        {
            "type": "External",
            "external": {"metric": {"name": "queue"}, "current": {"value": "31"}},
        },
        {
            "type": "Object",
            "object": {
                "metric": {"name": "hits"},
                "current": {"value": "2100"},
                "describedObject": {"kind": "Ingress", "name": "w"},
            },
        },
    ],
    "conditions": [
        {
            "type": "ScalingActive",
            "status": "True",
            "lastTransitionTime": "2026-01-01T12:00:00Z",
            "reason": "ValidMetricFound",
            "message": "the HPA was able to compute the replica count",
        }
    ],
}
BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "selectPolicy": "Min",
        "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
    },
}


def test_v2_only_fields_survive_a_trip_through_v1() -> None:
    v2 = make_v2(metrics=EVERY_METRIC, status=EVERY_STATUS, behavior=BEHAVIOR)
    back = to_v2(orjson.loads(orjson.dumps(to_v1(v2))))  # as a client would see and resend it
    assert back == v2


def test_v1_survives_a_trip_through_v2() -> None:
    v1 = make_v1(minReplicas=2, targetCPUUtilizationPercentage=40, annotations={"team": "a"})
    v1["status"] = {
        "currentReplicas": 1,
        "desiredReplicas": 2,
        "currentCPUUtilizationPercentage": 9,
    }
    back = to_v1(to_v2(v1))
    assert back["spec"] == {**v1["spec"], "scaleTargetRef": {**REF}}
    assert back["status"] == v1["status"]
    # The status cpu reading is also kept, in full, in the current-metrics annotation.
    assert back["metadata"]["annotations"] == {
        "team": "a",
        CURRENT_METRICS_ANNOTATION: (
            '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":9,'
            '"currentAverageValue":"0"}}]'
        ),
    }


def test_an_average_value_object_metric_gains_a_zero_value_as_upstream() -> None:
    # Upstream's v1 ObjectMetricSource has a non-pointer targetValue, so the trip
    # back always sets `value` (to "0" here), whatever the target type.
    metric = {
        "type": "Object",
        "object": {
            "describedObject": {"kind": "Ingress", "name": "w"},
            "target": {"type": "AverageValue", "averageValue": "5"},
            "metric": {"name": "hits"},
        },
    }
    back = to_v2(to_v1(make_v2(metrics=[metric])))
    assert back["spec"]["metrics"][0]["object"]["target"] == {
        "type": "AverageValue",
        "value": "0",
        "averageValue": "5",
    }
