"""autoscaling/v2 validation: HorizontalPodAutoscaler.

Mirrors pkg/apis/autoscaling/validation: minReplicas at least 1 (0 only
with the HPAScaleToZero gate, which kubelite leaves off), maxReplicas at
least 1 and not below minReplicas; a scaleTargetRef with kind and name;
then, only when the reference is valid, the metrics, and only when those
are, the behavior (upstream reports one layer at a time).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import forbidden, not_supported, required
from kubelite.api.validation_containers import _container_resource_name
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    child,
    idx,
    invalid,
    nonnegative,
    parse_quantity,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_networking import _path_segment_name

MIN_REPLICAS_LOWER_BOUND = 1  # 0 with the HPAScaleToZero feature gate
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
METRIC_SOURCE_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
_SOURCE_FIELDS = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}
SELECT_POLICIES = ["Disabled", "Max", "Min"]
POLICY_TYPES = ["Percent", "Pods"]


def _target_ref(ref: Obj, path: str) -> Errs:
    errs: Errs = []
    for field in ("kind", "name"):
        value = str(ref.get(field) or "")
        if not value:
            errs.append(required(child(path, field), ""))
        else:
            errs += [invalid(child(path, field), value, m) for m in _path_segment_name(value)]
    return errs


def _positive_quantity(value: Any) -> bool:
    try:
        return parse_quantity(value) > Fraction(0)
    except ValueError:
        return False


def _metric_target(target: Obj, path: str) -> Errs:
    errs: Errs = []
    kind = target.get("type") or ""
    if not kind:
        errs.append(required(child(path, "type"), "must specify a metric target type"))
    if kind not in ("Utilization", "Value", "AverageValue"):
        errs.append(
            invalid(child(path, "type"), kind, "must be either Utilization, Value, or AverageValue")
        )
    for field in ("value", "averageValue"):
        value = target.get(field)
        if value is not None and not _positive_quantity(value):
            errs.append(invalid(child(path, field), value, "must be positive"))
    utilization = target.get("averageUtilization")
    if utilization is not None and utilization < 1:
        errs.append(
            invalid(child(path, "averageUtilization"), utilization, "must be greater than 0")
        )
    return errs


def _resource_source(source: Obj, path: str) -> Errs:
    errs: Errs = []
    name = source.get("name") or ""
    if not name:
        errs.append(required(child(path, "name"), "must specify a resource name"))
    else:
        errs += _container_resource_name(name, child(path, "name"))
    target = _d(source, "target")
    errs += _metric_target(target, child(path, "target"))
    utilization, average = target.get("averageUtilization"), target.get("averageValue")
    if utilization is None and average is None:
        errs.append(
            required(
                child(path, "target", "averageUtilization"),
                "must set either a target raw value or a target utilization",
            )
        )
    if utilization is not None and average is not None:
        errs.append(
            forbidden(
                child(path, "target", "averageValue"),
                "may not set both a target raw value and a target utilization",
            )
        )
    return errs


def _metric(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    kind = spec.get("type") or ""
    if not kind:
        errs.append(required(child(path, "type"), "must specify a metric source type"))
    if kind not in METRIC_SOURCE_TYPES:
        errs.append(not_supported(child(path, "type"), kind, METRIC_SOURCE_TYPES))
    present = [f for f in _SOURCE_FIELDS.values() if spec.get(f) is not None]
    if present == ["resource"]:
        errs += _resource_source(_d(spec, "resource"), child(path, "resource"))
    expected = _SOURCE_FIELDS.get(kind)
    if expected is None:
        errs.append(not_supported(child(path, "type"), kind, METRIC_SOURCE_TYPES))
    elif expected not in present:
        errs.append(
            required(child(path, expected), "must populate information for the given metric source")
        )
    if len(present) != 1:
        for field in present:
            if field != expected:
                errs.append(
                    forbidden(child(path, field), "must populate the given metric source only")
                )
    return errs


def _metrics(metrics: list[Obj], path: str, min_replicas: Any) -> Errs:
    errs: Errs = []
    for i, spec in enumerate(metrics):
        errs += _metric(spec if isinstance(spec, dict) else {}, idx(path, i))
    if min_replicas == 0 and not any(m.get("type") in ("Object", "External") for m in metrics):
        errs.append(
            forbidden(
                path,
                "must specify at least one Object or External metric to support scaling to "
                "zero replicas",
            )
        )
    return errs


def _scaling_policy(policy: Obj, path: str) -> Errs:
    errs: Errs = []
    kind = policy.get("type") or ""
    if kind not in POLICY_TYPES:
        errs.append(not_supported(child(path, "type"), kind, POLICY_TYPES))
    value = int(policy.get("value") or 0)
    if value <= 0:
        errs.append(invalid(child(path, "value"), value, "must be greater than zero"))
    period = int(policy.get("periodSeconds") or 0)
    if period <= 0:
        errs.append(invalid(child(path, "periodSeconds"), period, "must be greater than zero"))
    if period > MAX_PERIOD_SECONDS:
        errs.append(
            invalid(
                child(path, "periodSeconds"),
                period,
                f"must be less than or equal to {MAX_PERIOD_SECONDS}",
            )
        )
    return errs


def _scaling_rules(rules: Obj, path: str) -> Errs:
    errs: Errs = []
    window = rules.get("stabilizationWindowSeconds")
    window_path = child(path, "stabilizationWindowSeconds")
    if window is not None and window < 0:
        errs.append(invalid(window_path, window, "must be greater than or equal to zero"))
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append(
            invalid(
                window_path,
                window,
                f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}",
            )
        )
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        errs.append(not_supported(child(path, "selectPolicy"), select, SELECT_POLICIES))
    policies = rules.get("policies") or []
    if not policies:
        errs.append(required(child(path, "policies"), "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        errs += _scaling_policy(policy, idx(child(path, "policies"), i))
    return errs


def _behavior(behavior: Obj | None, path: str) -> Errs:
    errs: Errs = []
    for field in ("scaleUp", "scaleDown"):
        rules = (behavior or {}).get(field)
        if isinstance(rules, dict):
            errs += _scaling_rules(rules, child(path, field))
    return errs


def _spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    min_replicas, max_replicas = spec.get("minReplicas"), int(spec.get("maxReplicas") or 0)
    if min_replicas is not None and min_replicas < MIN_REPLICAS_LOWER_BOUND:
        errs.append(
            invalid(
                child(path, "minReplicas"),
                min_replicas,
                f"must be greater than or equal to {MIN_REPLICAS_LOWER_BOUND}",
            )
        )
    if max_replicas < 1:
        errs.append(invalid(child(path, "maxReplicas"), max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < min_replicas:
        errs.append(
            invalid(
                child(path, "maxReplicas"),
                max_replicas,
                "must be greater than or equal to `minReplicas`",
            )
        )
    layers = (
        lambda: _target_ref(_d(spec, "scaleTargetRef"), child(path, "scaleTargetRef")),
        lambda: _metrics(spec.get("metrics") or [], child(path, "metrics"), min_replicas),
        lambda: _behavior(spec.get("behavior"), child(path, "behavior")),
    )
    for layer in layers:
        found = layer()
        if found:
            return errs + found
    return errs


def _status(status: Obj) -> Errs:
    errs: Errs = []
    for field in ("currentReplicas", "desiredReplicas"):
        value = status.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            errs += nonnegative(value, child("status", field))
    return errs


def validate_hpa(hpa: Obj) -> Errs:
    errs = validate_object_meta(hpa, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _spec(_d(hpa, "spec"), "spec")


def validate_hpa_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    return errs + _spec(_d(new, "spec"), "spec") + _status(_d(new, "status"))
