"""batch/v1 validation: Job and CronJob.

Mirrors pkg/apis/batch/validation and what the Job and CronJob REST
strategies add: the generated selector's labels on create, the fields a Job
may not change once created (its pod template may change only while it is
suspended and has never started, and then only its scheduling directives,
labels and annotations), and CronJob names short enough for the jobs the
controller names after them (`<cronjob>-<minutes since epoch>`).
"""

from __future__ import annotations

import copy
import re
from typing import Any
from zoneinfo import ZoneInfo

from kubelite.api import cron, names
from kubelite.api.defaults import (
    CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
)
from kubelite.api.fielderrors import duplicate
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _dl,
    _l,
    _s,
    child,
    idx,
    immutable,
    invalid,
    key,
    nonnegative,
    not_supported,
    qualified_name,
    required,
    selector_matches,
    too_long,
    too_many,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import validate_pod_template_spec

MAX_PARALLELISM_FOR_INDEXED_JOB = 100_000
MAX_FAILED_INDEXES_FOR_INDEXED_JOB = 100_000
_COMPLETIONS_SOFT_LIMIT = 100_000
_PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS = 10_000
_MAX_POD_FAILURE_POLICY_RULES = 20
_MAX_ON_EXIT_CODES_VALUES = 255
_MAX_ON_POD_CONDITIONS = 20
_MAX_SUCCESS_POLICY_RULES = 20
_MAX_MANAGED_BY_LENGTH = 63
_POD_FAILURE_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]
_EXIT_CODE_OPERATORS = ["In", "NotIn"]
_CONDITION_STATUSES = ["False", "True", "Unknown"]
_CRONJOB_NAME_MAX = 52  # 63 minus the 11 characters of "-<timestamp>"


def _is_set(spec: Obj, field: str) -> bool:
    return spec.get(field) is not None


# --- Job ---


def _has_label(template_meta: Obj, path: str, label: str, expected: str) -> Errs:
    """ValidateHasLabel."""
    labels = template_meta.get("labels") or {}
    lpath = key(child(path, "labels"), label)
    if label not in labels:
        return [required(lpath, f"must be '{expected}'")]
    if labels[label] != expected:
        return [invalid(lpath, labels, f"must be '{expected}'")]
    return []


def _generated_selector(job: Obj, *, prefixed_labels: bool) -> Errs:
    spec, meta = _d(job, "spec"), _d(job, "metadata")
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    uid, name = _s(meta, "uid"), _s(meta, "name")
    errs: Errs = [] if uid else [required("metadata.uid", "")]
    tmeta, tpath = _d(_d(spec, "template"), "metadata"), "spec.template.metadata"
    errs += _has_label(tmeta, tpath, LEGACY_CONTROLLER_UID_LABEL, uid)
    errs += _has_label(tmeta, tpath, LEGACY_JOB_NAME_LABEL, name)
    expected = {LEGACY_CONTROLLER_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: name}
    if prefixed_labels:
        errs += _has_label(tmeta, tpath, CONTROLLER_UID_LABEL, uid)
        errs += _has_label(tmeta, tpath, JOB_NAME_LABEL, name)
        expected |= {CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name}
    selector = spec["selector"]
    if not validate_label_selector(selector, "") and not selector_matches(selector, expected):
        errs.append(invalid("spec.selector", selector, "`selector` not auto-generated"))
    return errs


def validate_job(job: Obj) -> Errs:
    return _validate_job(job, prefixed_labels=True)


def _validate_job(job: Obj, *, prefixed_labels: bool) -> Errs:
    errs = validate_object_meta(job, namespaced=True, name_fn=names.name_is_dns_subdomain)
    errs += _generated_selector(job, prefixed_labels=prefixed_labels)
    spec = _d(job, "spec")
    errs += _job_spec_with_selector(spec, "spec")
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed" and isinstance(completions, int) and completions > 0:
        name = _s(_d(job, "metadata"), "name")
        hostname = f"{name}-{completions - 1}"
        if names.is_dns1123_label(hostname):
            errs.append(
                invalid(
                    "metadata.name",
                    name,
                    f"will not able to create pod with invalid DNS label: {hostname}",
                )
            )
    return errs


def _job_spec_with_selector(spec: Obj, path: str) -> Errs:
    """ValidateJobSpec: the spec plus its selector, which must match the template."""
    errs = _job_spec(spec, path)
    selector = spec.get("selector")
    if selector is None:
        errs.append(required(child(path, "selector"), ""))
    else:
        errs += validate_label_selector(selector, child(path, "selector"))
    if not validate_label_selector(selector, ""):
        labels = _d(_d(spec, "template"), "metadata").get("labels")
        if selector is not None and not selector_matches(selector, labels or {}):
            errs.append(
                invalid(
                    child(path, "template", "metadata", "labels"),
                    labels,
                    "`selector` does not match template `labels`",
                )
            )
    return errs


def _nonnegative_fields(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    for field in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ):
        if isinstance(spec.get(field), int):
            errs += nonnegative(spec[field], child(path, field))
    if _is_set(spec, "maxFailedIndexes"):
        errs += nonnegative(int(spec["maxFailedIndexes"]), child(path, "maxFailedIndexes"))
        if not _is_set(spec, "backoffLimitPerIndex"):
            errs.append(
                required(child(path, "backoffLimitPerIndex"), "when maxFailedIndexes is specified")
            )
    return errs


_HTTP_PATH = re.compile(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+")


def _managed_by(spec: Obj, path: str) -> Errs:
    """IsDomainPrefixedPath, then the length limit."""
    if not _is_set(spec, "managedBy"):
        return []
    value, mpath = str(spec["managedBy"]), child(path, "managedBy")
    errs: Errs = []
    host, slash, rest = value.partition("/")
    if not value:
        errs.append(required(mpath, ""))
    elif not slash or not host or not rest:
        errs.append(invalid(mpath, value, 'must be a domain-prefixed path (such as "acme.io/foo")'))
    else:
        errs += [invalid(mpath, host, m) for m in names.is_dns1123_subdomain(host)]
        if not _HTTP_PATH.fullmatch(rest):
            errs.append(
                invalid(
                    mpath,
                    rest,
                    "Invalid path (regex used for validation is "
                    "'[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
                )
            )
    if len(value) > _MAX_MANAGED_BY_LENGTH:
        errs.append(too_long(mpath, _MAX_MANAGED_BY_LENGTH))
    return errs


def _completion_mode(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    mode = spec.get("completionMode")
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    max_failed = spec.get("maxFailedIndexes")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(child(path, "completionMode"), mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        if completions is None:
            errs.append(required(child(path, "completions"), "when completion mode is Indexed"))
        if isinstance(parallelism, int) and parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB:
            errs.append(
                invalid(
                    child(path, "parallelism"),
                    parallelism,
                    f"must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} "
                    "when completion mode is Indexed",
                )
            )
        if (
            isinstance(completions, int)
            and isinstance(max_failed, int)
            and max_failed > completions
        ):
            errs.append(
                invalid(
                    child(path, "maxFailedIndexes"),
                    max_failed,
                    "must be less than or equal to completions",
                )
            )
        if isinstance(max_failed, int) and max_failed > MAX_FAILED_INDEXES_FOR_INDEXED_JOB:
            errs.append(
                invalid(
                    child(path, "maxFailedIndexes"),
                    max_failed,
                    f"must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}",
                )
            )
        errs += _high_completions(spec, path)
    if mode in (None, "NonIndexed"):
        for field in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if _is_set(spec, field):
                errs.append(
                    invalid(child(path, field), spec[field], "requires indexed completion mode")
                )
    return errs


def _high_completions(spec: Obj, path: str) -> Errs:
    completions = spec.get("completions")
    if not (isinstance(completions, int) and completions > _COMPLETIONS_SOFT_LIMIT):
        return []
    if not _is_set(spec, "backoffLimitPerIndex"):
        return []
    errs: Errs = []
    tail = f"when completions are above {_COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"
    max_failed, parallelism = spec.get("maxFailedIndexes"), spec.get("parallelism")
    if max_failed is None:
        errs.append(
            required(
                child(path, "maxFailedIndexes"),
                f"must be specified when completions is above {_COMPLETIONS_SOFT_LIMIT}",
            )
        )
    limit = _PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS
    if isinstance(parallelism, int) and parallelism > limit:
        errs.append(
            invalid(
                child(path, "parallelism"),
                parallelism,
                f"must be less than or equal to {limit} {tail}",
            )
        )
    if isinstance(max_failed, int) and max_failed > limit:
        errs.append(
            invalid(
                child(path, "maxFailedIndexes"),
                max_failed,
                f"must be less than or equal to {limit} {tail}",
            )
        )
    return errs


def _job_spec(spec: Obj, path: str) -> Errs:
    """validateJobSpec: everything but the selector."""
    errs = _nonnegative_fields(spec, path)
    errs += _managed_by(spec, path)
    errs += _completion_mode(spec, path)
    if spec.get("podFailurePolicy") is not None:
        errs += _pod_failure_policy(spec, child(path, "podFailurePolicy"))
    if spec.get("successPolicy") is not None:
        if spec.get("completionMode") != "Indexed":
            errs.append(
                invalid(
                    child(path, "successPolicy"),
                    spec["successPolicy"],
                    "requires indexed completion mode",
                )
            )
        else:
            errs += _success_policy(spec, child(path, "successPolicy"))
    errs += _pod_replacement_policy(spec, child(path, "podReplacementPolicy"))
    template, tpath = _d(spec, "template"), child(path, "template")
    errs += validate_pod_template_spec(template, tpath)
    restart = _s(_d(template, "spec"), "restartPolicy")
    rpath = child(tpath, "spec", "restartPolicy")
    if restart in ("Always", ""):
        # Upstream says Required here: an unset policy is defaulted to Always.
        errs.append(required(rpath, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errs.append(not_supported(rpath, restart, ["OnFailure", "Never"]))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        errs.append(
            invalid(rpath, restart, 'only "Never" is supported when podFailurePolicy is specified')
        )
    return errs


def _pod_replacement_policy(spec: Obj, path: str) -> Errs:
    value = spec.get("podReplacementPolicy")
    if value is None:
        return []
    if spec.get("podFailurePolicy") is not None:
        return [] if value == "Failed" else [not_supported(path, value, ["Failed"])]
    if value not in ("Failed", "TerminatingOrFailed"):
        return [not_supported(path, value, ["Failed", "TerminatingOrFailed"])]
    return []


def _pod_failure_policy(spec: Obj, path: str) -> Errs:
    rules, rules_path = _dl(spec["podFailurePolicy"], "rules"), child(path, "rules")
    errs: Errs = []
    if len(rules) > _MAX_POD_FAILURE_POLICY_RULES:
        errs.append(too_many(rules_path, len(rules), _MAX_POD_FAILURE_POLICY_RULES))
    template_spec = _d(_d(spec, "template"), "spec")
    containers = {
        _s(c, "name") for k in ("containers", "initContainers") for c in _dl(template_spec, k)
    }
    for i, rule in enumerate(rules):
        errs += _pod_failure_rule(spec, rule, idx(rules_path, i), containers)
    return errs


def _quoted_list(values: list[str]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def _pod_failure_rule(spec: Obj, rule: Obj, path: str, containers: set[str]) -> Errs:
    errs: Errs = []
    action, apath = _s(rule, "action"), child(path, "action")
    if action == "":
        errs.append(required(apath, f"valid values: {_quoted_list(_POD_FAILURE_ACTIONS)}"))
    elif action == "FailIndex":
        if not _is_set(spec, "backoffLimitPerIndex"):
            errs.append(invalid(apath, action, "requires the backoffLimitPerIndex to be set"))
    elif action not in _POD_FAILURE_ACTIONS:
        errs.append(not_supported(apath, action, _POD_FAILURE_ACTIONS))
    on_exit, on_conditions = rule.get("onExitCodes"), _l(rule, "onPodConditions")
    if isinstance(on_exit, dict):
        errs += _on_exit_codes(on_exit, child(path, "onExitCodes"), containers)
    if on_conditions:
        errs += _on_pod_conditions(on_conditions, child(path, "onPodConditions"))
    if on_exit is not None and on_conditions:
        errs.append(
            invalid(path, None, "specifying both OnExitCodes and OnPodConditions is not supported")
        )
    if on_exit is None and not on_conditions:
        errs.append(
            invalid(path, None, "specifying one of OnExitCodes and OnPodConditions is required")
        )
    return errs


def _on_pod_conditions(patterns: list[Any], path: str) -> Errs:
    errs: Errs = []
    if len(patterns) > _MAX_ON_POD_CONDITIONS:
        errs.append(too_many(path, len(patterns), _MAX_ON_POD_CONDITIONS))
    for j, pattern in enumerate(p if isinstance(p, dict) else {} for p in patterns):
        ppath = idx(path, j)
        errs += qualified_name(_s(pattern, "type"), child(ppath, "type"))
        status, spath = _s(pattern, "status"), child(ppath, "status")
        if status == "":
            errs.append(required(spath, f"valid values: {_quoted_list(_CONDITION_STATUSES)}"))
        elif status not in _CONDITION_STATUSES:
            errs.append(not_supported(spath, status, _CONDITION_STATUSES))
    return errs


def _on_exit_codes(requirement: Obj, path: str, containers: set[str]) -> Errs:
    errs: Errs = []
    operator, opath = _s(requirement, "operator"), child(path, "operator")
    if operator == "":
        errs.append(required(opath, f"valid values: {_quoted_list(_EXIT_CODE_OPERATORS)}"))
    elif operator not in _EXIT_CODE_OPERATORS:
        errs.append(not_supported(opath, operator, _EXIT_CODE_OPERATORS))
    container = requirement.get("containerName")
    if container is not None and container not in containers:
        errs.append(
            invalid(
                child(path, "containerName"),
                container,
                "must be one of the container or initContainer names in the pod template",
            )
        )
    values, vpath = _l(requirement, "values"), child(path, "values")
    if not values:
        errs.append(invalid(vpath, values, "at least one value is required"))
    elif len(values) > _MAX_ON_EXIT_CODES_VALUES:
        errs.append(too_many(vpath, len(values), _MAX_ON_EXIT_CODES_VALUES))
    seen: set[Any] = set()
    for j, value in enumerate(values):
        if operator == "In" and value == 0:
            errs.append(invalid(idx(vpath, j), value, "must not be 0 for the In operator"))
        if value in seen:
            errs.append(duplicate(idx(vpath, j), value))
        seen.add(value)
    if any(a > b for a, b in zip(values, values[1:], strict=False)):
        errs.append(invalid(vpath, values, "must be ordered"))
    return errs


_INTERVAL = re.compile(r"(\d+)(?:-(\d+))?")


def parse_indexes(text: str, completions: int) -> list[tuple[int, int]]:
    """validateIndexesFormat: "1,3-5,7" as sorted, disjoint intervals; ValueError on error."""
    intervals: list[tuple[int, int]] = []
    if not text:
        return intervals
    prev = -1
    for part in text.split(","):
        m = _INTERVAL.fullmatch(part)
        if m is None:
            raise ValueError(f'cannot convert string to integer for index: "{part}"')
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) is not None else low
        if high >= completions:
            raise ValueError(f"too large index: {high}")
        if high < low:
            raise ValueError(f"non-increasing order, previous: {low}, current: {high}")
        if low <= prev:
            raise ValueError(f"non-increasing order, previous: {prev}, current: {low}")
        intervals.append((low, high))
        prev = high
    return intervals


def _success_policy(spec: Obj, path: str) -> Errs:
    rules, rules_path = _dl(spec["successPolicy"], "rules"), child(path, "rules")
    errs: Errs = []
    if not rules:
        errs.append(
            required(
                rules_path,
                "at least one rules must be specified when the successPolicy is specified",
            )
        )
    if len(rules) > _MAX_SUCCESS_POLICY_RULES:
        errs.append(too_many(rules_path, len(rules), _MAX_SUCCESS_POLICY_RULES))
    completions = int(spec.get("completions") or 0)
    for i, rule in enumerate(rules):
        rpath = idx(rules_path, i)
        count, indexes = rule.get("succeededCount"), rule.get("succeededIndexes")
        if count is None and indexes is None:
            errs.append(
                required(
                    rpath, "at least one of succeededCount or succeededIndexes must be specified"
                )
            )
        total = 0
        if indexes is not None:
            try:
                total = sum(h - lo + 1 for lo, h in parse_indexes(str(indexes), completions))
            except ValueError as err:
                errs.append(
                    invalid(
                        child(rpath, "succeededIndexes"),
                        indexes,
                        f"error parsing succeededIndexes: {err}",
                    )
                )
        if isinstance(count, int):
            cpath = child(rpath, "succeededCount")
            errs += nonnegative(count, cpath)
            if count > completions:
                errs.append(
                    invalid(
                        cpath,
                        count,
                        f"must be less than or equal to {completions} "
                        "(the number of specified completions)",
                    )
                )
            if indexes is not None and count > total:
                errs.append(
                    invalid(
                        cpath,
                        count,
                        f"must be less than or equal to {total} "
                        "(the number of indexes in the specified succeededIndexes field)",
                    )
                )
    return errs


_SCHEDULING_TEMPLATE_FIELDS = ("nodeSelector", "tolerations", "schedulingGates")


def _template_update(spec: Obj, old_spec: Obj, path: str, *, mutable_scheduling: bool) -> Errs:
    template, old_template = _d(spec, "template"), copy.deepcopy(_d(old_spec, "template"))
    if mutable_scheduling:
        new_pod, old_pod = _d(template, "spec"), old_template.setdefault("spec", {})
        affinity, old_affinity = new_pod.get("affinity"), old_pod.get("affinity")
        if affinity is None and isinstance(old_affinity, dict):
            old_affinity.pop("nodeAffinity", None)
            if not any(v is not None for v in old_affinity.values()):
                old_pod.pop("affinity", None)
        elif isinstance(affinity, dict):
            base = old_affinity if isinstance(old_affinity, dict) else {}
            base = {**base, "nodeAffinity": affinity.get("nodeAffinity")}
            old_pod["affinity"] = {k: v for k, v in base.items() if v is not None}
        for field in _SCHEDULING_TEMPLATE_FIELDS:
            _copy_field(new_pod, old_pod, field)
        meta, old_meta = _d(template, "metadata"), old_template.setdefault("metadata", {})
        for field in ("labels", "annotations"):
            _copy_field(meta, old_meta, field)
    return immutable(template, old_template, child(path, "template"))


def _copy_field(src: Obj, dst: Obj, field: str) -> None:
    if field in src:
        dst[field] = src[field]
    else:
        dst.pop(field, None)


def validate_job_update(new: Obj, old: Obj) -> Errs:
    old_labels = _d(_d(_d(old, "spec"), "template"), "metadata").get("labels") or {}
    prefixed = JOB_NAME_LABEL in old_labels and CONTROLLER_UID_LABEL in old_labels
    errs = _validate_job(new, prefixed_labels=prefixed)
    errs += validate_object_meta_update(new, old)
    spec, old_spec = _d(new, "spec"), _d(old, "spec")
    errs += _completions_update(spec, old_spec)
    errs += immutable(spec.get("selector"), old_spec.get("selector"), "spec.selector")
    suspended_never_started = old_spec.get("suspend") is True and not _d(old, "status").get(
        "startTime"
    )
    errs += _template_update(spec, old_spec, "spec", mutable_scheduling=suspended_never_started)
    for field in (
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ):
        errs += immutable(spec.get(field), old_spec.get(field), child("spec", field))
    return errs


def _completions_update(spec: Obj, old_spec: Obj) -> Errs:
    """Completions are immutable, except for Indexed Jobs scaled in tandem with parallelism."""
    new, old = spec.get("completions"), old_spec.get("completions")
    if spec.get("completionMode") != "Indexed":
        return immutable(new, old, "spec.completions")
    if new == old or new is None:
        return []
    if new != spec.get("parallelism"):
        return [
            invalid("spec.completions", new, "can only be modified in tandem with spec.parallelism")
        ]
    return []


# --- CronJob ---


_TZ_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")


def _time_zone(value: Any, path: str) -> Errs:
    if value is None:
        return []
    zone = str(value)
    if not zone:
        return [invalid(path, zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_PART.fullmatch(part):
            return [invalid(path, zone, f"unknown time zone {zone}")]
    errs: Errs = []
    if zone.lower() == "local":
        errs.append(
            invalid(
                path,
                zone,
                "timeZone must be an explicit time zone as defined in "
                "https://www.iana.org/time-zones",
            )
        )
    elif zone != "UTC":
        try:
            ZoneInfo(zone)
        except (KeyError, ValueError):
            errs.append(invalid(path, zone, f"unknown time zone {zone}"))
    return errs


def _schedule(schedule: str, *, allow_tz: bool, time_zone: Any, path: str) -> Errs:
    errs: Errs = []
    try:
        cron.parse(schedule)
    except ValueError as err:
        errs.append(invalid(path, schedule, str(err)))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        errs.append(
            invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule")
        )
    elif not allow_tz and "TZ" in schedule:
        errs.append(
            invalid(
                path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            )
        )
    return errs


def validate_job_template_spec(template: Obj, path: str) -> Errs:
    """ValidateJobTemplateSpec: a Job spec whose selector the controller will generate."""
    spec = _d(template, "spec")
    spath = child(path, "spec")
    errs = _job_spec(spec, spath)
    if spec.get("selector") is not None:
        errs.append(
            invalid(child(spath, "selector"), spec["selector"], "`selector` will be auto-generated")
        )
    if spec.get("manualSelector") is True:
        errs.append(not_supported(child(spath, "manualSelector"), True, ["nil", "false"]))
    return errs


def _cron_job_spec(spec: Obj, old_spec: Obj | None, path: str) -> Errs:
    errs: Errs = []
    schedule = _s(spec, "schedule")
    if not schedule:
        errs.append(required(child(path, "schedule"), ""))
    else:
        allow_tz = old_spec is not None and "TZ" in _s(old_spec, "schedule")
        errs += _schedule(
            schedule,
            allow_tz=allow_tz,
            time_zone=spec.get("timeZone"),
            path=child(path, "schedule"),
        )
    if isinstance(spec.get("startingDeadlineSeconds"), int):
        errs += nonnegative(spec["startingDeadlineSeconds"], child(path, "startingDeadlineSeconds"))
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        errs += _time_zone(spec.get("timeZone"), child(path, "timeZone"))
    policy, ppath = _s(spec, "concurrencyPolicy"), child(path, "concurrencyPolicy")
    if policy == "":
        errs.append(required(ppath, ""))
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported(ppath, policy, ["Allow", "Forbid", "Replace"]))
    errs += validate_job_template_spec(_d(spec, "jobTemplate"), child(path, "jobTemplate"))
    for field in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if isinstance(spec.get(field), int):
            errs += nonnegative(spec[field], child(path, field))
    return errs


def validate_cron_job(cj: Obj) -> Errs:
    errs = validate_object_meta(cj, namespaced=True, name_fn=names.name_is_dns_subdomain)
    errs += _cron_job_spec(_d(cj, "spec"), None, "spec")
    name = _s(_d(cj, "metadata"), "name")
    if len(name) > _CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs


def validate_cron_job_update(new: Obj, old: Obj) -> Errs:
    # No name-length check on update: older, longer-named CronJobs stay editable.
    errs = validate_object_meta_update(new, old)
    return errs + _cron_job_spec(_d(new, "spec"), _d(old, "spec"), "spec")
