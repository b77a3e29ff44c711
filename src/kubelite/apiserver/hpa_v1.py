"""autoscaling/v1 HorizontalPodAutoscaler: upstream's conversion to and from the stored v2.

HPAs are stored once, as autoscaling/v2; autoscaling/v1 is served by
converting every request body to v2 and every answer back (see `converted`).
The conversion is upstream's (`pkg/apis/autoscaling/v1/conversion.go`), so
that a v1 client can read, change and write back an HPA it only half
understands without losing the other half:

- `spec.targetCPUUtilizationPercentage` is the first cpu Resource metric
  with a utilization target; a v1 object without one gets the 80% default
  v1 always implied (unless the metrics annotation holds other metrics);
- `status.currentCPUUtilizationPercentage` is the last cpu Resource status
  with a current utilization;
- everything else v2 has (the other metrics, the current metrics, the
  conditions and the behavior) travels in four `autoscaling.alpha.kubernetes.io/`
  annotations of the v1 object, which a v1 write turns back into fields and
  drops. Any such annotation already on the stored object is replaced, never
  trusted, as upstream.
"""

from __future__ import annotations

from typing import Any

from kubelite.apiserver import hpa_v1_metrics as parts

Obj = dict[str, Any]
V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (
    METRICS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
)

DEFAULT_CPU_UTILIZATION = 80  # what an autoscaling/v1 HPA without a target has always meant


def _cpu_metric(utilization: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": utilization},
        },
    }


def _is_cpu_utilization_target(metric: Obj) -> bool:
    resource = metric.get("resource")
    return (
        metric.get("type") == "Resource"
        and isinstance(resource, dict)
        and resource.get("name") == "cpu"
        and (resource.get("target") or {}).get("averageUtilization") is not None
    )


def _current_cpu_utilization(metrics: list[Obj]) -> int | None:
    """The last cpu Resource status with a utilization (upstream does not stop at the first)."""
    found = None
    for metric in metrics:
        resource = metric.get("resource")
        if metric.get("type") == "Resource" and isinstance(resource, dict):
            value = (resource.get("current") or {}).get("averageUtilization")
            if resource.get("name") == "cpu" and value is not None:
                found = int(value)
    return found


def _with_annotations(metadata: Obj, annotations: dict[str, str]) -> Obj:
    out = {k: v for k, v in metadata.items() if k != "annotations"}
    if annotations:
        out["annotations"] = annotations
    return out


def _without_round_trip(metadata: Obj) -> dict[str, str]:
    annotations = metadata.get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in ROUND_TRIP_ANNOTATIONS}


# ---- v2 -> v1 ------------------------------------------------------------------------------


def to_v1(obj: Obj) -> Obj:
    """The autoscaling/v1 view of a stored v2 HPA."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    metadata = obj.get("metadata") or {}
    annotations = _without_round_trip(metadata)
    others = [m for m in spec.get("metrics") or [] if not _is_cpu_utilization_target(m)]
    if others:
        annotations[METRICS_ANNOTATION] = parts.go_json(
            [parts.metric_spec_to_v1(m) for m in others]
        )
    current = status.get("currentMetrics") or []
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = parts.go_json(
            [parts.metric_status_to_v1(m) for m in current]
        )
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = parts.go_json(
            parts.behavior_to_internal(spec["behavior"])
        )
    conditions = status.get("conditions") or []
    if conditions:
        annotations[CONDITIONS_ANNOTATION] = parts.go_json(
            [parts.condition_to_v1(c) for c in conditions]
        )
    return {
        "kind": KIND,
        "apiVersion": V1,
        "metadata": _with_annotations(metadata, annotations),
        "spec": _spec_to_v1(spec),
        "status": _status_to_v1(status),
    }


def _spec_to_v1(spec: Obj) -> Obj:
    out: Obj = {"scaleTargetRef": _reference(spec.get("scaleTargetRef") or {})}
    if spec.get("minReplicas") is not None:
        out["minReplicas"] = spec["minReplicas"]
    out["maxReplicas"] = spec.get("maxReplicas") or 0
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization_target(metric):
            out["targetCPUUtilizationPercentage"] = metric["resource"]["target"][
                "averageUtilization"
            ]
            break
    return out


def _status_to_v1(status: Obj) -> Obj:
    out: Obj = {}
    for field in ("observedGeneration", "lastScaleTime"):
        if status.get(field) is not None:
            out[field] = status[field]
    out["currentReplicas"] = int(status.get("currentReplicas") or 0)
    out["desiredReplicas"] = int(status.get("desiredReplicas") or 0)
    current = _current_cpu_utilization(status.get("currentMetrics") or [])
    if current is not None:
        out["currentCPUUtilizationPercentage"] = current
    return out


def _reference(ref: Obj) -> Obj:
    out: Obj = {"kind": ref.get("kind") or "", "name": ref.get("name") or ""}
    if ref.get("apiVersion"):
        out["apiVersion"] = ref["apiVersion"]
    return out


# ---- v1 -> v2 ------------------------------------------------------------------------------


def to_v2(obj: Obj) -> Obj:
    """A v1 HPA (from a request) as the v2 object to store."""
    metadata = obj.get("metadata") or {}
    annotations: dict[str, str] = metadata.get("annotations") or {}
    spec = _spec_to_v2(obj.get("spec") or {})
    status = _status_to_v2(obj.get("status") or {})
    others = parts.decode_list(annotations.get(METRICS_ANNOTATION), parts.metric_spec_from_v1)
    if others is not None:
        spec["metrics"] = others + spec.get("metrics", [])  # the cpu target goes last
    behavior = parts.decode_behavior(annotations.get(BEHAVIOR_ANNOTATION))
    if behavior is not None:
        spec["behavior"] = behavior
    current = parts.decode_list(
        annotations.get(CURRENT_METRICS_ANNOTATION), parts.metric_status_from_v1
    )
    if current is not None:
        status["currentMetrics"] = current  # more than the v1 status field says
    if not spec.get("metrics"):
        spec["metrics"] = [_cpu_metric(DEFAULT_CPU_UTILIZATION)]
    conditions = parts.decode_list(annotations.get(CONDITIONS_ANNOTATION), parts.condition_from_v1)
    if conditions is not None:
        status["conditions"] = conditions
    return {
        "apiVersion": V2,
        "kind": KIND,
        "metadata": _with_annotations(metadata, _without_round_trip(metadata)),
        "spec": spec,
        "status": status,
    }


def _spec_to_v2(spec: Obj) -> Obj:
    out: Obj = {"scaleTargetRef": _reference(spec.get("scaleTargetRef") or {})}
    if spec.get("minReplicas") is not None:
        out["minReplicas"] = spec["minReplicas"]
    out["maxReplicas"] = spec.get("maxReplicas") or 0
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        out["metrics"] = [_cpu_metric(target)]
    return out


def _status_to_v2(status: Obj) -> Obj:
    out: Obj = {}
    for field in ("observedGeneration", "lastScaleTime"):
        if status.get(field) is not None:
            out[field] = status[field]
    if status.get("currentReplicas"):
        out["currentReplicas"] = status["currentReplicas"]
    out["desiredReplicas"] = status.get("desiredReplicas") or 0
    current = status.get("currentCPUUtilizationPercentage")
    if current is not None:
        out["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": current}},
            }
        ]
    return out
