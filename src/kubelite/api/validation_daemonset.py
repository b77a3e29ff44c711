"""apps/v1 DaemonSet validation, as pkg/apis/apps/validation and the DaemonSet strategy.

Kept beside `validation_apps` (whose int-or-percent helpers it shares) because a
DaemonSet's rolling update has rules of its own: exactly one of maxUnavailable
and maxSurge is non-zero. A missing selector is not "required" upstream: a nil
selector matches nothing, so it is reported as the template labels not matching.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import names
from kubelite.api.validation_apps import (
    _int_or_percent,
    _int_or_percent_value,
    _not_more_than_100_percent,
    _selector_converts,
    _selector_matches_template,
    _zero_if_none,
    runs_until_replaced,
)
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _i,
    _s,
    child,
    immutable,
    invalid,
    nonnegative,
    not_supported,
    required,
    selector_is_empty,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import validate_pod_template_spec

STRATEGY_TYPES = ["RollingUpdate", "OnDelete"]


def _rolling_update(rolling: Obj, path: str) -> Errs:
    """ValidateRollingUpdateDaemonSet."""
    max_unavailable = _zero_if_none(rolling.get("maxUnavailable"))
    max_surge = _zero_if_none(rolling.get("maxSurge"))
    mu_path, ms_path = child(path, "maxUnavailable"), child(path, "maxSurge")
    errs = _int_or_percent(max_unavailable, mu_path)
    errs += _int_or_percent(max_surge, ms_path)
    errs += _not_more_than_100_percent(max_unavailable, mu_path)
    errs += _not_more_than_100_percent(max_surge, ms_path)
    has_unavailable = _int_or_percent_value(max_unavailable) != 0
    has_surge = _int_or_percent_value(max_surge) != 0
    if has_unavailable and has_surge:
        errs.append(invalid(ms_path, max_surge, "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(mu_path, "cannot be 0 when maxSurge is 0"))
    return errs


def _update_strategy(strategy: Obj, path: str) -> Errs:
    kind = _s(strategy, "type")
    if kind == "OnDelete":
        return []
    if kind == "RollingUpdate":
        if not isinstance(strategy.get("rollingUpdate"), dict):
            return [required(child(path, "rollingUpdate"), "")]
        return _rolling_update(strategy["rollingUpdate"], child(path, "rollingUpdate"))
    # NotSupported on the whole struct, printed as upstream's internal Go struct.
    bad = {"Type": kind, "RollingUpdate": strategy.get("rollingUpdate")}
    return [not_supported(path, bad, STRATEGY_TYPES)]


def _daemon_set_spec(spec: Obj, path: str) -> Errs:
    selector: Any = spec.get("selector")
    template = _d(spec, "template")
    tpath = child(path, "template")
    errs = validate_label_selector(selector, child(path, "selector"))
    if _selector_converts(spec):
        errs += _selector_matches_template(selector, template, tpath)
    if isinstance(selector, dict) and selector_is_empty(selector):
        errs.append(
            invalid(child(path, "selector"), selector, "empty selector is invalid for daemonset")
        )
    errs += validate_pod_template_spec(template, tpath)
    errs += runs_until_replaced(template, tpath, "DaemonSet")
    errs += nonnegative(_i(spec, "minReadySeconds"), child(path, "minReadySeconds"))
    errs += _update_strategy(_d(spec, "updateStrategy"), child(path, "updateStrategy"))
    if spec.get("revisionHistoryLimit") is not None:
        errs += nonnegative(_i(spec, "revisionHistoryLimit"), child(path, "revisionHistoryLimit"))
    return errs


def validate_daemon_set(obj: Obj) -> Errs:
    errs = validate_object_meta(obj, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _daemon_set_spec(_d(obj, "spec"), "spec")


def validate_daemon_set_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += _daemon_set_spec(_d(new, "spec"), "spec")
    # The apps/v1 strategy: spec.selector may not change.
    return errs + immutable(
        _d(new, "spec").get("selector"), _d(old, "spec").get("selector"), "spec.selector"
    )
