"""The HorizontalPodAutoscaler printer, as kube-apiserver's for `kubectl get hpa`.

TARGETS shows each metric as `name: current/target` (`cpu: 23%/50%`),
`<unknown>` until the controller has measured it, at most two metrics then
`+ N more...`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables_format import since
from kubelite.apiserver.tables_printers import AGE, NAME, Printer, Row, col

Obj = Mapping[str, Any]
UNKNOWN = "<unknown>"
_MAX_SHOWN = 2


def _resource_target(name: str, target: Obj, current: Obj) -> str:
    if target.get("averageValue") is not None:
        now = current.get("averageValue")
        return f"{name}: {UNKNOWN if now is None else now}/{target['averageValue']}"
    now = current.get("averageUtilization")
    wanted = target.get("averageUtilization")
    shown = UNKNOWN if now is None else f"{now}%"
    return f"{name}: {shown}/{'<auto>' if wanted is None else f'{wanted}%'}"


def _value_target(target: Obj, current: Obj) -> str:
    for field in ("value", "averageValue"):
        if target.get(field) is not None:
            now = current.get(field)
            return f"{UNKNOWN if now is None else now}/{target[field]}"
    return f"{UNKNOWN}/{UNKNOWN}"


def _one(spec: Obj, status: Obj | None) -> str:
    kind = spec.get("type")
    field = {
        "Resource": "resource",
        "ContainerResource": "containerResource",
        "Pods": "pods",
        "Object": "object",
        "External": "external",
    }.get(str(kind))
    if field is None:
        return "<unknown type>"
    source = spec.get(field) or {}
    current = ((status or {}).get(field) or {}).get("current") or {}
    target = source.get("target") or {}
    if kind == "Resource":
        return _resource_target(str(source.get("name")), target, current)
    if kind == "ContainerResource":
        name = f'{source.get("name")} of container "{source.get("container")}"'
        return _resource_target(name, target, current)
    return _value_target(target, current)


def format_hpa_metrics(specs: list[Obj], statuses: list[Obj]) -> str:
    if not specs:
        return "<none>"
    shown = [
        _one(spec, statuses[i] if i < len(statuses) else None)
        for i, spec in enumerate(specs[:_MAX_SHOWN])
    ]
    text = ", ".join(shown)
    if len(specs) > _MAX_SHOWN:
        return f"{text} + {len(specs) - _MAX_SHOWN} more..."
    return text


def _hpa(obj: Obj, now: datetime) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_pods = spec.get("minReplicas")
    cells = [
        (obj.get("metadata") or {}).get("name", ""),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        format_hpa_metrics(spec.get("metrics") or [], status.get("currentMetrics") or []),
        "<unset>" if min_pods is None else str(min_pods),
        int(spec.get("maxReplicas") or 0),
        int(status.get("currentReplicas") or 0),
        since((obj.get("metadata") or {}).get("creationTimestamp"), now),
    ]
    return cells, None


HORIZONTAL_POD_AUTOSCALER = Printer(
    (
        NAME,
        col(
            "Reference",
            "scaleTargetRef points to the target resource to scale, and is used to the pods for "
            "which metrics should be collected, as well as to actually change the replica count.",
        ),
        col(
            "Targets",
            "metrics contains the specifications for which to use to calculate the desired "
            "replica count (the maximum replica count across all metrics will be used).  The "
            "desired replica count is calculated multiplying the ratio between the target value "
            "and the current value by the current number of pods.  Ergo, metrics used must "
            "decrease as the pod count is increased, and vice-versa.  See the individual metric "
            "source types for more information about how each type of metric must respond.",
        ),
        col(
            "MinPods",
            "minReplicas is the lower limit for the number of replicas to which the autoscaler "
            "can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha "
            "feature gate HPAScaleToZero is enabled and at least one Object or External metric "
            "is configured.  Scaling is active as long as at least one metric value is "
            "available.",
        ),
        col(
            "MaxPods",
            "maxReplicas is the upper limit for the number of replicas to which the autoscaler "
            "can scale up. It cannot be less that minReplicas.",
        ),
        col(
            "Replicas",
            "currentReplicas is current number of replicas of pods managed by this autoscaler, "
            "as last seen by the autoscaler.",
        ),
        AGE,
    ),
    _hpa,
)
