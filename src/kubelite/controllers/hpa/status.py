"""What the HPA controller writes into an HPA's status: conditions and metrics.

Pure helpers. A condition's lastTransitionTime moves only when its status
flips, as upstream's setCondition; metric statuses are the autoscaling/v2
MetricStatus shape `kubectl get hpa` and `describe` read.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from kubelite.api.quantity import format_quantity
from kubelite.controllers.objects import timestamp

Obj = dict[str, Any]

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_go_duration(text: str | None) -> float:
    """Seconds in a Go duration such as `1m30s` or `15.2s`; 0 for anything else."""
    return sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(text or ""))


def set_condition(
    status: Obj, kind: str, value: bool, reason: str, message: str, *, now: float
) -> None:
    conditions: list[Obj] = status.setdefault("conditions", [])
    text = "True" if value else "False"
    for cond in conditions:
        if cond.get("type") == kind:
            break
    else:
        cond = {"type": kind}
        conditions.append(cond)
    if cond.get("status") != text:
        cond["lastTransitionTime"] = timestamp(now)
    cond.update(status=text, reason=reason, message=message)


def milli_quantity(milli: int) -> str:
    """`resource.NewMilliQuantity(v, DecimalSI).String()`."""
    return format_quantity(Fraction(milli, 1000))


def resource_metric_status(name: str, *, utilization: int | None, average_milli: int) -> Obj:
    current: Obj = {"averageValue": milli_quantity(average_milli)}
    if utilization is not None:
        current["averageUtilization"] = utilization
    return {"type": "Resource", "resource": {"name": name, "current": current}}


def container_metric_status(
    name: str, container: str, *, utilization: int | None, average_milli: int
) -> Obj:
    current: Obj = {"averageValue": milli_quantity(average_milli)}
    if utilization is not None:
        current["averageUtilization"] = utilization
    return {
        "type": "ContainerResource",
        "containerResource": {"name": name, "container": container, "current": current},
    }


def metric_description(name: str, utilization: bool, *, container: bool = False) -> str:
    """How upstream names a Resource (or ContainerResource) metric in reasons and
    messages; an AverageValue target reads the same for both, as upstream's."""
    if utilization:
        kind = "container resource" if container else "resource"
        return f"{name} {kind} utilization (percentage of request)"
    return f"{name} resource"
