"""The replica calculator: how many pods a Resource metric asks for.

Pure and synchronous, as upstream's replica calculator: given the pods the
scale selector picks, their usage from metrics.k8s.io and (for Utilization
targets) their requests, it answers the proposed replica count. Pods being
deleted or failed are ignored; pending and not-yet-ready pods and pods
without a metric are first left out, then counted pessimistically (as 0 %
when scaling up, as 100 % of their request when scaling down) so a rescale
never goes the wrong way on missing data. Changes within the tolerance
(10 %) keep the current count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubelite.controllers.objects import deleting, meta, parse_time, pod_condition

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD_S = 5 * 60.0
INITIAL_READINESS_DELAY_S = 30.0

Obj = Mapping[str, Any]


class CalculationError(Exception):
    """No recommendation: the message goes into the ScalingActive condition."""


@dataclass(frozen=True)
class PodSample:
    """A pod's usage of the metric's resource (milli-units) and its sample's time."""

    value: int
    timestamp: float
    window_s: float


@dataclass(frozen=True)
class Proposal:
    replicas: int
    utilization: int | None  # percent of request, for Utilization targets
    average_value: int  # milli-units per pod


@dataclass
class _Groups:
    ready: dict[str, int] = field(default_factory=dict)
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def _unready(pod: Obj, resource: str, sample: PodSample, now: float) -> bool:
    """Whether a pod's sample cannot be trusted yet (only cpu: it spikes at start)."""
    if resource != "cpu":
        return False
    cond = pod_condition(pod, "Ready")
    started = parse_time((pod.get("status") or {}).get("startTime"))
    if cond is None or started is None:
        return True
    changed = parse_time(cond.get("lastTransitionTime")) or started
    if started + CPU_INITIALIZATION_PERIOD_S > now:
        return cond.get("status") != "True" or sample.timestamp < changed + sample.window_s
    return cond.get("status") == "False" and started + INITIAL_READINESS_DELAY_S > changed


def _group(
    pods: Sequence[Obj], samples: Mapping[str, PodSample], resource: str, now: float
) -> _Groups:
    groups = _Groups()
    for pod in pods:
        name = str(meta(pod).get("name"))
        phase = (pod.get("status") or {}).get("phase")
        if deleting(pod) or phase == "Failed":
            groups.ignored.add(name)
        elif phase == "Pending":
            groups.unready.add(name)
        elif name not in samples:
            groups.missing.add(name)
        elif _unready(pod, resource, samples[name], now):
            groups.unready.add(name)
        else:
            groups.ready[name] = samples[name].value
    return groups


def pod_requests(pods: Sequence[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Each pod's summed container request in milli-units (only `container`'s, when
    given: a ContainerResource metric); a missing one is an error."""
    from kubelite.api.quantity import milli_value

    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container and c.get("name") != container:
                continue
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise CalculationError(
                    f"missing request for {resource} in container {c.get('name')} "
                    f"of Pod {meta(pod).get('name')}"
                )
            total += milli_value(request)
        out[str(meta(pod).get("name"))] = total
    return out


def _ratio(
    usage: Mapping[str, int], requests: Mapping[str, int] | None, target: int
) -> tuple[float, int]:
    """(usage ratio to target, utilization % or average milli-value)."""
    if requests is None:
        average = sum(usage.values()) // max(1, len(usage))
        return (sum(usage.values()) / (target * len(usage)) if usage else 0.0), average
    total_request = sum(requests[name] for name in usage)
    if total_request == 0:
        raise CalculationError("no metrics returned matched known pods")
    utilization = sum(usage.values()) * 100 // total_request
    return utilization / target, utilization


def resource_replicas(
    *,
    current: int,
    pods: Sequence[Obj],
    samples: Mapping[str, PodSample],
    resource: str,
    target: int,
    utilization: bool,
    now: float,
    tolerance: float = TOLERANCE,
    container: str = "",
) -> Proposal:
    """The replica count a Resource (or, with `container`, ContainerResource) metric
    proposes.

    `target` is a percentage of the request when `utilization`, else an
    average value per pod in milli-units.
    """
    if not pods:
        raise CalculationError("no pods returned by selector while calculating replica count")
    if not samples:
        raise CalculationError(
            f"unable to get metrics for resource {resource}: "
            "no metrics returned from resource metrics API"
        )
    requests = pod_requests(pods, resource, container) if utilization else None
    groups = _group(pods, samples, resource, now)
    usage = dict(groups.ready)
    if not usage:
        raise CalculationError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, observed = _ratio(usage, requests, target)
    average = sum(usage.values()) // max(1, len(usage))
    ready_count = len(pods) - len(groups.unready) - len(groups.ignored)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, observed if utilization else None, average)
        return Proposal(math.ceil(ratio * ready_count), observed if utilization else None, average)
    for name in groups.missing:
        if ratio < 1.0:  # scaling down: assume the missing pods use what is targeted
            if requests is not None:
                usage[name] = max(100, target) * requests[name] // 100
            else:
                usage[name] = target
        else:  # scaling up: assume they use nothing
            usage[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            usage[name] = 0
    new_ratio, _ = _ratio(usage, requests, target)
    keep = Proposal(current, observed if utilization else None, average)
    if (
        abs(1.0 - new_ratio) <= tolerance
        or (ratio < 1.0 and new_ratio > 1.0)
        or (ratio > 1.0 and new_ratio < 1.0)
    ):
        return keep
    replicas = math.ceil(new_ratio * len(usage))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return keep
    return Proposal(replicas, observed if utilization else None, average)
