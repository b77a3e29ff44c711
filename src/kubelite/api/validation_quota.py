"""LimitRange and ResourceQuota validation (core/v1), with upstream's paths and messages.

Both kinds are lists of resource quantities an administrator sets per
namespace; upstream validates them side by side in
`pkg/apis/core/validation`, and so does this module. Quantities are compared
exactly (`Fraction`) and printed as `Quantity.String()` prints them. Where
upstream prints a raw Go struct as the bad value (a `resource.Quantity`, a
slice of scopes) we print the quantity or the JSON list instead.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kubelite.api import names
from kubelite.api.validation_containers import (
    _STANDARD_RESOURCES,
    _container_resource_name,
    is_overcommit_allowed,
    validate_quantity_value,
)
from kubelite.api.validation_meta import (
    BadQuantity,
    Errs,
    Obj,
    _d,
    _dl,
    _l,
    _s,
    child,
    duplicate,
    forbidden,
    idx,
    invalid,
    key,
    parse_quantity,
    quantity_string,
    required,
    validate_object_meta,
    validate_object_meta_update,
)

LIMIT_TYPES = ("Pod", "Container", "PersistentVolumeClaim")
STANDARD_QUOTA_RESOURCES = frozenset(
    {
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    }
)
QUOTA_SCOPES = (
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
)
_EXISTS_ONLY = (
    "BestEffort",
    "NotBestEffort",
    "Terminating",
    "NotTerminating",
    "CrossNamespacePodAffinity",
)
_POD_COMPUTE = frozenset(
    {"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"}
)
_CONFLICTS = (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating"))
FIELD_IMMUTABLE = "field is immutable"


# ---- resource names -----------------------------------------------------------------


def _quota_hugepages(name: str) -> bool:
    return name.startswith(("hugepages-", "requests.hugepages-"))


def _resource_name(name: str, path: str) -> Errs:
    """validateResourceName: qualified, and standard when it has no domain."""
    errs = [invalid(path, name, m) for m in names.is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name and name not in _STANDARD_RESOURCES and not _quota_hugepages(name):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def _quota_resource_name(name: str, path: str) -> Errs:
    errs = _resource_name(name, path)
    if "/" not in name and name not in STANDARD_QUOTA_RESOURCES and not _quota_hugepages(name):
        errs.append(invalid(path, name, "must be a standard resource for quota"))
    return errs


def _limit_resource_name(limit_type: str, name: str, path: str) -> Errs:
    if limit_type in ("Pod", "Container"):
        return _container_resource_name(name, path)
    return _resource_name(name, path)


def _limit_type(value: str, path: str) -> Errs:
    errs = [invalid(path, value, m) for m in names.is_qualified_name(value)]
    if not errs and "/" not in value and value not in LIMIT_TYPES:
        errs.append(invalid(path, value, "must be a standard limit type or fully qualified"))
    return errs


# ---- LimitRange -----------------------------------------------------------------------


def _quantities(
    item: Obj, field: str, limit_type: str, path: str
) -> tuple[dict[str, Fraction], Errs]:
    """Names checked and values parsed (decoding errors upstream, reported here)."""
    values: dict[str, Fraction] = {}
    errs: Errs = []
    for name, raw in sorted(_d(item, field).items()):
        qpath = key(child(path, field), name)
        errs += _limit_resource_name(limit_type, name, qpath)
        try:
            values[name] = parse_quantity(raw)
        except BadQuantity as exc:
            errs.append(invalid(qpath, raw if isinstance(raw, str) else str(raw), str(exc)))
    return values, errs


def _text(item: Obj, field: str, name: str) -> str:
    return quantity_string(_d(item, field)[name])


def _limit_item(item: Obj, path: str) -> Errs:
    kind = _s(item, "type")
    errs = _limit_type(kind, child(path, "type"))
    mx, e1 = _quantities(item, "max", kind, path)
    mn, e2 = _quantities(item, "min", kind, path)
    errs += e1 + e2
    default: dict[str, Fraction] = {}
    default_request: dict[str, Fraction] = {}
    if kind == "Pod":
        for field in ("default", "defaultRequest"):
            if _d(item, field):
                errs.append(
                    forbidden(child(path, field), "may not be specified when `type` is 'Pod'")
                )
    else:
        default, e3 = _quantities(item, "default", kind, path)
        default_request, e4 = _quantities(item, "defaultRequest", kind, path)
        errs += e3 + e4
    if kind == "PersistentVolumeClaim" and "storage" not in mn and "storage" not in mx:
        errs.append(
            required(
                child(path, "limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            )
        )
    ratio, e5 = _quantities(item, "maxLimitRequestRatio", kind, path)
    errs += e5
    for name in sorted(set(mx) | set(mn) | set(default) | set(default_request) | set(ratio)):
        errs += _limit_bounds(item, path, name, (mn, mx, default, default_request, ratio))
    return errs


def _limit_bounds(item: Obj, path: str, name: str, parsed: tuple[dict[str, Fraction], ...]) -> Errs:
    """min <= defaultRequest <= default <= max, and a sane maxLimitRequestRatio."""
    mn, mx, default, request, ratio = parsed
    errs: Errs = []

    def text(field: str) -> str:
        return _text(item, field, name)

    if name in mn and name in mx and mn[name] > mx[name]:
        errs.append(
            invalid(
                key(child(path, "min"), name),
                text("min"),
                f"min value {text('min')} is greater than max value {text('max')}",
            )
        )
    rpath = key(child(path, "defaultRequest"), name)
    if name in request and name in mn and mn[name] > request[name]:
        msg = f"min value {text('min')} is greater than default request value {text('defaultRequest')}"
        errs.append(invalid(rpath, text("defaultRequest"), msg))
    if name in request and name in mx and request[name] > mx[name]:
        msg = f"default request value {text('defaultRequest')} is greater than max value {text('max')}"
        errs.append(invalid(rpath, text("defaultRequest"), msg))
    if name in request and name in default and request[name] > default[name]:
        msg = (
            f"default request value {text('defaultRequest')} is greater than "
            f"default limit value {text('default')}"
        )
        errs.append(invalid(rpath, text("defaultRequest"), msg))
    dpath = key(child(path, "default"), name)
    if name in default and name in mn and mn[name] > default[name]:
        msg = f"min value {text('min')} is greater than default value {text('default')}"
        errs.append(invalid(dpath, text("min"), msg))
    if name in default and name in mx and default[name] > mx[name]:
        msg = f"default value {text('default')} is greater than max value {text('max')}"
        errs.append(invalid(dpath, text("max"), msg))
    errs += _ratio_bounds(item, path, name, mn, mx, ratio)
    if (
        not is_overcommit_allowed(name)
        and name in default
        and name in request
        and default[name] != request[name]
    ):
        msg = (
            f"default value {text('default')} must equal to defaultRequest value "
            f"{text('defaultRequest')} in {name}"
        )
        errs.append(invalid(rpath, text("defaultRequest"), msg))
    return errs


def _ratio_bounds(
    item: Obj,
    path: str,
    name: str,
    mn: dict[str, Fraction],
    mx: dict[str, Fraction],
    ratio: dict[str, Fraction],
) -> Errs:
    if name not in ratio:
        return []
    errs: Errs = []
    rpath = key(child(path, "maxLimitRequestRatio"), name)
    shown = _text(item, "maxLimitRequestRatio", name)
    if ratio[name] < 1:
        errs.append(invalid(rpath, shown, f"ratio {shown} is less than 1"))
    if name in mn and name in mx and mn[name] != 0:
        # Upstream compares in milli-units: max/min as a float, printed with %f.
        bound = float(mx[name] / mn[name])
        if float(ratio[name]) > bound:
            errs.append(invalid(rpath, shown, f"ratio {shown} is greater than max/min = {bound:f}"))
    return errs


def validate_limit_range(lr: Obj) -> Errs:
    errs = validate_object_meta(lr, namespaced=True, name_fn=names.name_is_dns_subdomain)
    seen: set[str] = set()
    for i, item in enumerate(_dl(_d(lr, "spec"), "limits")):
        path = idx("spec.limits", i)
        kind = _s(item, "type")
        errs += _limit_item(item, path)
        if kind in seen:
            errs.append(duplicate(child(path, "type"), kind))
        seen.add(kind)
    return errs


def validate_limit_range_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old) + validate_limit_range(new)


# ---- ResourceQuota --------------------------------------------------------------------


def _resource_values(values: Any, path: str) -> Errs:
    errs: Errs = []
    for name, raw in sorted((values if isinstance(values, dict) else {}).items()):
        qpath = key(path, name)
        errs += _quota_resource_name(name, qpath)
        errs += validate_quantity_value(name, raw, qpath)[1]
    return errs


def _scope_valid_for(scope: str, resource: str) -> bool:
    if scope == "BestEffort":
        return resource == "pods"
    if scope in QUOTA_SCOPES:
        return resource == "pods" or resource in _POD_COMPUTE
    return True


class _GoScopes(tuple[str, ...]):
    """spec.scopes as upstream's field error prints it (Go's %#v)."""

    def __str__(self) -> str:
        return "[]core.ResourceQuotaScope{" + ", ".join(f'"{s}"' for s in self) + "}"


def _scope_errors(scopes: list[Any], hard: list[str], path: str, shown: Any) -> Errs:
    errs: Errs = []
    for scope in scopes:
        if scope not in QUOTA_SCOPES:
            errs.append(invalid(path, shown, "unsupported scope"))
        for name in hard:
            if name in STANDARD_QUOTA_RESOURCES and not _scope_valid_for(str(scope), name):
                errs.append(invalid(path, shown, "unsupported scope applied to resource"))
    present = set(scopes)
    for pair in _CONFLICTS:
        if present.issuperset(pair):
            errs.append(invalid(path, shown, "conflicting scopes"))
    return errs


def _scope_selector(spec: Obj, hard: list[str], path: str) -> Errs:
    selector = spec.get("scopeSelector")
    if not isinstance(selector, dict):
        return []
    path = child(path, "scopeSelector", "matchExpressions")
    errs: Errs = []
    for req in _dl(selector, "matchExpressions"):
        scope, op, values = _s(req, "scopeName"), _s(req, "operator"), _l(req, "values")
        if scope not in QUOTA_SCOPES:
            errs.append(invalid(child(path, "scopeName"), scope, "unsupported scope"))
        for name in hard:
            if name in STANDARD_QUOTA_RESOURCES and not _scope_valid_for(scope, name):
                errs.append(invalid(path, selector, "unsupported scope applied to resource"))
        if scope in _EXISTS_ONLY and op != "Exists":
            errs.append(
                invalid(
                    child(path, "operator"),
                    op,
                    "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, "
                    "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
                    "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                )
            )
        if op in ("In", "NotIn") and not values:
            errs.append(
                required(
                    child(path, "values"),
                    "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                )
            )
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(
                invalid(
                    child(path, "values"),
                    values,
                    "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                )
            )
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    scopes = {_s(r, "scopeName") for r in _dl(selector, "matchExpressions")}
    for pair in _CONFLICTS:
        if scopes.issuperset(pair):
            errs.append(invalid(path, selector, "conflicting scopes"))
    return errs


def validate_resource_quota_spec(spec: Obj, path: str = "spec") -> Errs:
    errs = _resource_values(spec.get("hard"), child(path, "hard"))
    hard = sorted(_d(spec, "hard"))
    scopes = _l(spec, "scopes")
    if scopes:
        errs += _scope_errors(scopes, hard, child(path, "scopes"), _GoScopes(map(str, scopes)))
    return errs + _scope_selector(spec, hard, path)


def _status(quota: Obj) -> Errs:
    status = _d(quota, "status")
    return _resource_values(status.get("hard"), "status.hard") + _resource_values(
        status.get("used"), "status.used"
    )


def validate_resource_quota(quota: Obj) -> Errs:
    errs = validate_object_meta(quota, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + validate_resource_quota_spec(_d(quota, "spec")) + _status(quota)


def validate_resource_quota_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += validate_resource_quota_spec(_d(new, "spec"))
    new_scopes, old_scopes = _l(_d(new, "spec"), "scopes"), _l(_d(old, "spec"), "scopes")
    if set(map(str, new_scopes)) != set(map(str, old_scopes)):
        errs.append(invalid("spec.scopes", new_scopes, FIELD_IMMUTABLE))
    return errs


def validate_resource_quota_status_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old) + _status(new)


__all__ = [
    "validate_limit_range",
    "validate_limit_range_update",
    "validate_resource_quota",
    "validate_resource_quota_status_update",
    "validate_resource_quota_update",
]
