"""policy/v1 validation: PodDisruptionBudget.

Mirrors pkg/apis/policy/validation: minAvailable and maxUnavailable are
exclusive, each a non-negative integer or a percentage up to 100%, the
selector a valid label selector; the status counters are never negative.
"""

from __future__ import annotations

from kubelite.api import names
from kubelite.api.validation_apps import _int_or_percent, _not_more_than_100_percent
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    child,
    invalid,
    nonnegative,
    not_supported,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")
_STATUS_COUNTERS = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")


def _spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        errs.append(invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
    for field, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is not None:
            errs += _int_or_percent(value, child(path, field))
            errs += _not_more_than_100_percent(value, child(path, field))
    errs += validate_label_selector(spec.get("selector"), child(path, "selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        errs.append(
            not_supported(
                child(path, "unhealthyPodEvictionPolicy"),
                policy,
                list(UNHEALTHY_POD_EVICTION_POLICIES),
            )
        )
    return errs


def _status(status: Obj) -> Errs:
    errs: Errs = []
    for field in _STATUS_COUNTERS:
        value = status.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            errs += nonnegative(value, child("status", field))
    return errs


def validate_pod_disruption_budget(pdb: Obj) -> Errs:
    errs = validate_object_meta(pdb, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _spec(_d(pdb, "spec"), "spec") + _status(_d(pdb, "status"))


def validate_pod_disruption_budget_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    return errs + _spec(_d(new, "spec"), "spec") + _status(_d(new, "status"))
