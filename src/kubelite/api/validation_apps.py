"""apps/v1 validation: Deployment, ReplicaSet, StatefulSet.

Mirrors pkg/apis/apps/validation plus the selector-immutability check the
Deployment and ReplicaSet REST strategies add for apps/v1. StatefulSet
templates get only label/annotation checks, as upstream (its TODO notes the
pod spec is not validated there).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubelite.api import names
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _i,
    _s,
    child,
    forbidden,
    immutable,
    invalid,
    nonnegative,
    not_supported,
    required,
    selector_is_empty,
    selector_matches,
    semantic_equal,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import (
    _pod_specific_annotations,
    validate_pod_template_spec,
)


def _int_or_percent(value: Any, path: str) -> Errs:
    """ValidatePositiveIntOrPercent."""
    if isinstance(value, str):
        return [invalid(path, value, m) for m in names.is_valid_percent(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        return nonnegative(value, path)
    return [invalid(path, value, "must be an integer or percentage (e.g '5%%')")]


def _percent_value(value: Any) -> int | None:
    if isinstance(value, str) and re.fullmatch(names.PERCENT_FMT, value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    percent = _percent_value(value)
    if percent is not None:
        return percent
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # intstr.IntValue() of a non-percent string: strconv.Atoi, 0 on error
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _not_more_than_100_percent(value: Any, path: str) -> Errs:
    percent = _percent_value(value)
    if percent is None or percent <= 100:
        return []
    return [invalid(path, value, "must not be greater than 100%")]


def _rolling_update_deployment(rolling: Obj, path: str) -> Errs:
    max_unavailable, max_surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    mu_path, ms_path = child(path, "maxUnavailable"), child(path, "maxSurge")
    errs = _int_or_percent(_zero_if_none(max_unavailable), mu_path)
    errs += _int_or_percent(_zero_if_none(max_surge), ms_path)
    if _int_or_percent_value(max_unavailable) == 0 and _int_or_percent_value(max_surge) == 0:
        errs.append(
            invalid(mu_path, _zero_if_none(max_unavailable), "may not be 0 when `maxSurge` is 0")
        )
    return errs + _not_more_than_100_percent(max_unavailable, mu_path)


def _zero_if_none(value: Any) -> Any:
    return 0 if value is None else value


def _deployment_strategy(strategy: Obj, path: str) -> Errs:
    kind = _s(strategy, "type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [
                forbidden(
                    child(path, "rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            ]
        return []
    if kind == "RollingUpdate":
        if strategy.get("rollingUpdate") is None:
            return [
                required(child(path, "rollingUpdate"), "this should be defaulted and never be nil")
            ]
        return _rolling_update_deployment(
            _d(strategy, "rollingUpdate"), child(path, "rollingUpdate")
        )
    # NotSupported on the whole strategy struct; upstream prints it as its
    # internal (untagged) Go struct.
    bad = {"Type": kind, "RollingUpdate": strategy.get("rollingUpdate")}
    return [not_supported(path, bad, ["Recreate", "RollingUpdate"])]


def _selector(spec: Obj, path: str, kind: str) -> Errs:
    if spec.get("selector") is None:
        return [required(child(path, "selector"), "")]
    selector = spec["selector"]
    errs = validate_label_selector(selector, child(path, "selector"))
    if selector_is_empty(selector):
        errs.append(
            invalid(child(path, "selector"), selector, f"empty selector is invalid for {kind}")
        )
    return errs


def _template_for_replica_set(spec: Obj, path: str, owner: str) -> Errs:
    """ValidatePodTemplateSpecForReplicaSet (also used by Deployment)."""
    if not isinstance(spec.get("template"), dict):
        return [required(path, "")]
    template = spec["template"]
    errs = _selector_matches_template(spec.get("selector"), template, path)
    errs += validate_pod_template_spec(template, path)
    return errs + runs_until_replaced(template, path, owner)


def runs_until_replaced(template: Obj, path: str, owner: str) -> Errs:
    """A workload's pods restart Always and have no deadline: the controller replaces them."""
    errs: Errs = []
    template_spec = _d(template, "spec")
    if _s(template_spec, "restartPolicy") != "Always":
        errs.append(
            not_supported(
                child(path, "spec", "restartPolicy"), _s(template_spec, "restartPolicy"), ["Always"]
            )
        )
    if template_spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                child(path, "spec", "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {owner} is not Supported",
            )
        )
    return errs


def _selector_matches_template(selector: Any, template: Obj, path: str) -> Errs:
    """A nil selector is labels.Nothing(): not empty, and it matches no labels."""
    labels = _d(template, "metadata").get("labels") or {}
    if isinstance(selector, dict) and selector_is_empty(selector):
        return []
    if selector_matches(selector, labels):
        return []
    return [
        invalid(
            child(path, "metadata", "labels"), labels, "`selector` does not match template `labels`"
        )
    ]


def _selector_converts(spec: Obj) -> bool:
    """metav1.LabelSelectorAsSelector succeeds exactly when the selector validates."""
    return not validate_label_selector(spec.get("selector"), "")


def _selector_and_template(spec: Obj, path: str, kind: str) -> Errs:
    errs = _selector(spec, path, kind)
    if not _selector_converts(spec):
        return errs + [
            invalid(child(path, "selector"), spec.get("selector"), "invalid label selector")
        ]
    return errs + _template_for_replica_set(spec, child(path, "template"), "ReplicaSet")


def _deployment_spec(spec: Obj, path: str) -> Errs:
    errs = nonnegative(_i(spec, "replicas"), child(path, "replicas"))
    errs += _selector_and_template(spec, path, "deployment")
    errs += _deployment_strategy(_d(spec, "strategy"), child(path, "strategy"))
    min_ready = _i(spec, "minReadySeconds")
    errs += nonnegative(min_ready, child(path, "minReadySeconds"))
    if spec.get("revisionHistoryLimit") is not None:
        errs += nonnegative(_i(spec, "revisionHistoryLimit"), child(path, "revisionHistoryLimit"))
    if spec.get("rollbackTo") is not None:
        errs += nonnegative(
            _i(_d(spec, "rollbackTo"), "revision"), child(path, "rollback", "version")
        )
    if spec.get("progressDeadlineSeconds") is not None:
        pds = _i(spec, "progressDeadlineSeconds")
        errs += nonnegative(pds, child(path, "progressDeadlineSeconds"))
        if pds <= min_ready:
            errs.append(
                invalid(
                    child(path, "progressDeadlineSeconds"),
                    pds,
                    "must be greater than minReadySeconds",
                )
            )
    return errs


def validate_deployment(obj: Obj) -> Errs:
    errs = validate_object_meta(obj, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _deployment_spec(_d(obj, "spec"), "spec")


def validate_deployment_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += _deployment_spec(_d(new, "spec"), "spec")
    # The apps/v1 REST strategy: spec.selector may not change.
    return errs + immutable(
        _d(new, "spec").get("selector"), _d(old, "spec").get("selector"), "spec.selector"
    )


def _replica_set_spec(spec: Obj, path: str) -> Errs:
    errs = nonnegative(_i(spec, "replicas"), child(path, "replicas"))
    errs += nonnegative(_i(spec, "minReadySeconds"), child(path, "minReadySeconds"))
    # sic: upstream says "deployment" in the ReplicaSet message too
    return errs + _selector_and_template(spec, path, "deployment")


def validate_replica_set(obj: Obj) -> Errs:
    errs = validate_object_meta(obj, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _replica_set_spec(_d(obj, "spec"), "spec")


def validate_replica_set_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += _replica_set_spec(_d(new, "spec"), "spec")
    return errs + immutable(
        _d(new, "spec").get("selector"), _d(old, "spec").get("selector"), "spec.selector"
    )


# --- StatefulSet ---


def _retention_policy(policy: Any, path: str) -> Errs:
    if not isinstance(policy, dict):
        return []
    errs: Errs = []
    for field_name in ("whenDeleted", "whenScaled"):
        value = _s(policy, field_name)
        if value not in ("Retain", "Delete"):
            errs.append(not_supported(child(path, field_name), value, ["Retain", "Delete"]))
    return errs


def _rolling_update_stateful_set(rolling: Obj, path: str) -> Errs:
    errs = nonnegative(_i(rolling, "partition"), child(path, "partition"))
    max_unavailable = rolling.get("maxUnavailable")
    if max_unavailable is not None:
        mpath = child(path, "maxUnavailable")
        errs += _int_or_percent(max_unavailable, mpath)
        if _int_or_percent_value(max_unavailable) == 0:
            errs.append(invalid(mpath, max_unavailable, "cannot be 0"))
        errs += _not_more_than_100_percent(max_unavailable, mpath)
    return errs


def _stateful_set_spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    policy = _s(spec, "podManagementPolicy")
    if policy == "":
        errs.append(required(child(path, "podManagementPolicy"), ""))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(
            invalid(
                child(path, "podManagementPolicy"), policy, "must be 'OrderedReady' or 'Parallel'"
            )
        )
    strategy = _d(spec, "updateStrategy")
    kind = _s(strategy, "type")
    if kind == "":
        errs.append(required(child(path, "updateStrategy"), ""))
    elif kind == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            errs.append(
                invalid(
                    child(path, "updateStrategy", "rollingUpdate"),
                    strategy["rollingUpdate"],
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            )
    elif kind == "RollingUpdate":
        if isinstance(strategy.get("rollingUpdate"), dict):
            errs += _rolling_update_stateful_set(
                strategy["rollingUpdate"], child(path, "updateStrategy", "rollingUpdate")
            )
    else:
        errs.append(
            invalid(
                child(path, "updateStrategy"), strategy, "must be 'RollingUpdate' or 'OnDelete'"
            )
        )
    errs += _retention_policy(
        spec.get("persistentVolumeClaimRetentionPolicy"),
        child(path, "persistentVolumeClaimRetentionPolicy"),
    )
    errs += nonnegative(_i(spec, "replicas"), child(path, "replicas"))
    errs += nonnegative(_i(spec, "minReadySeconds"), child(path, "minReadySeconds"))
    if isinstance(spec.get("ordinals"), dict):
        errs += nonnegative(_i(spec["ordinals"], "start"), child(path, "ordinals.start"))
    errs += _selector(spec, path, "statefulset")
    template = _d(spec, "template")
    tpath = child(path, "template")
    if not _selector_converts(spec):
        errs.append(invalid(child(path, "selector"), spec.get("selector"), ""))
    else:
        errs += _selector_matches_template(spec.get("selector"), template, tpath)
        meta = _d(template, "metadata")
        errs += validate_labels(meta.get("labels"), child(tpath, "labels"))
        errs += validate_annotations(meta.get("annotations"), child(tpath, "annotations"))
        errs += _pod_specific_annotations(
            meta.get("annotations"), _d(template, "spec"), child(tpath, "annotations")
        )
    return errs + runs_until_replaced(template, tpath, "StatefulSet")


def validate_stateful_set(obj: Obj) -> Errs:
    errs = validate_object_meta(obj, namespaced=True, name_fn=names.name_is_dns_label)
    return errs + _stateful_set_spec(_d(obj, "spec"), "spec")


_STS_MUTABLE = (
    "replicas",
    "template",
    "updateStrategy",
    "minReadySeconds",
    "ordinals",
    "persistentVolumeClaimRetentionPolicy",
)


def validate_stateful_set_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += _stateful_set_spec(_d(new, "spec"), "spec")
    new_spec, old_spec = copy.deepcopy(_d(new, "spec")), _d(old, "spec")
    for field_name in _STS_MUTABLE:
        if field_name in old_spec:
            new_spec[field_name] = old_spec[field_name]
        else:
            new_spec.pop(field_name, None)
    if not semantic_equal(new_spec, old_spec):
        errs.append(
            forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                "'minReadySeconds' are forbidden",
            )
        )
    return errs
