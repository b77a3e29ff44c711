"""MutatingWebhookConfiguration and ValidatingWebhookConfiguration validation (v1).

The rules and messages users meet when they write a webhook configuration by
hand: names are qualified names of at least three dot-separated segments and
unique within the configuration, `clientConfig` names exactly one of `url`
(https, no user info, query or fragment) and `service`, rules list
operations, groups, versions and resources with upstream's wildcard rules,
`sideEffects` is None or NoneOnDryRun in v1, and `admissionReviewVersions`
includes v1 or v1beta1. Objects arrive defaulted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kubelite.api import names
from kubelite.api.fielderrors import GoValue, duplicate, invalid, not_supported, required
from kubelite.api.validation_match_conditions import validate_match_conditions
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    child,
    go_list,
    idx,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

ACCEPTED_REVIEW_VERSIONS = ("v1", "v1beta1")
OPERATIONS = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"]
SCOPES = ["*", "Cluster", "Namespaced"]
SIDE_EFFECTS_V1 = ["None", "NoneOnDryRun"]
_URL_FORM = "; desired format: https://host[/path]"


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ---- rules ----------------------------------------------------------------------


def _wildcard_mixed(values: list[str], path: str, what: str) -> Errs:
    if len(values) > 1 and "*" in values:
        return [
            invalid(path, GoValue(go_list(values)), f"if '*' is present, must not specify {what}")
        ]
    return []


def _resources(resources: list[str], path: str) -> Errs:
    if not resources:
        return [required(path, "")]
    errs: Errs = []
    wildcard_sub: set[str] = set()  # "x/*" seen
    wildcard_res: set[str] = set()  # "*/x" seen
    bare = False  # a resource without subresource other than "*"
    for i, entry in enumerate(resources):
        if not entry:
            errs.append(required(idx(path, i), ""))
            continue
        res, slash, sub = entry.partition("/")
        if not slash:
            bare = entry != "*"
            continue
        if res in wildcard_sub:
            errs.append(
                invalid(idx(path, i), entry, f"if '{res}/*' is present, must not specify {entry}")
            )
        if sub in wildcard_res:
            errs.append(
                invalid(idx(path, i), entry, f"if '*/{sub}' is present, must not specify {entry}")
            )
        if sub == "*":
            wildcard_sub.add(res)
        if res == "*":
            wildcard_res.add(sub)
    shown = GoValue(go_list(resources))
    if len(resources) > 1 and "*/*" in resources:
        errs.append(invalid(path, shown, "if '*/*' is present, must not specify other resources"))
    if "*" in resources and bare:
        errs.append(
            invalid(
                path,
                shown,
                "if '*' is present, must not specify other resources without subresources",
            )
        )
    return errs


def validate_rule(rule: Obj, path: str) -> Errs:
    """One RuleWithOperations: operations, then the group/version/resource/scope rule."""
    operations = _strings(rule.get("operations"))
    errs: Errs = []
    if not operations:
        errs.append(required(child(path, "operations"), ""))
    errs += _wildcard_mixed(operations, child(path, "operations"), "other operations")
    errs += [
        not_supported(idx(child(path, "operations"), i), op, OPERATIONS)
        for i, op in enumerate(operations)
        if op not in OPERATIONS
    ]
    groups = _strings(rule.get("apiGroups"))
    if not groups:
        errs.append(required(child(path, "apiGroups"), ""))
    errs += _wildcard_mixed(groups, child(path, "apiGroups"), "other API groups")
    versions = _strings(rule.get("apiVersions"))
    if not versions:
        errs.append(required(child(path, "apiVersions"), ""))
    errs += _wildcard_mixed(versions, child(path, "apiVersions"), "other API versions")
    errs += [
        required(idx(child(path, "apiVersions"), i), "") for i, v in enumerate(versions) if not v
    ]
    errs += _resources(_strings(rule.get("resources")), child(path, "resources"))
    scope = rule.get("scope")
    if scope is not None and scope not in SCOPES:
        errs.append(not_supported(child(path, "scope"), scope, SCOPES))
    return errs


# ---- client config --------------------------------------------------------------


def validate_url(url: str, path: str) -> Errs:
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError as exc:
        return [required(path, f"url must be a valid URL: {exc}{_URL_FORM}")]
    errs: Errs = []
    if parts.scheme != "https":
        errs.append(
            invalid(path, parts.scheme, "'https' is the only allowed URL scheme" + _URL_FORM)
        )
    if not host:
        errs.append(invalid(path, host, "host must be specified" + _URL_FORM))
    if "@" in parts.netloc:
        user = parts.netloc.rpartition("@")[0]
        errs.append(invalid(path, user, "user information is not permitted in the URL"))
    if parts.fragment:
        errs.append(invalid(path, parts.fragment, "fragments are not permitted in the URL"))
    if parts.query:
        errs.append(invalid(path, parts.query, "query parameters are not permitted in the URL"))
    return errs


def _service_path(value: str, path: str) -> Errs:
    if value in ("", "/"):
        return []
    if value == "//":
        return [invalid(path, value, "segment[0] may not be empty")]
    errs: Errs = []
    if not value.startswith("/"):
        errs.append(invalid(path, value, "must start with a '/'"))
    rest = value[1:]
    if rest.endswith("/"):
        rest = rest[:-1]
    for i, step in enumerate(rest.split("/")):
        if not step:
            errs.append(invalid(path, value, f"segment[{i}] may not be empty"))
            continue
        errs += [
            invalid(path, value, f"segment[{i}]: {m}") for m in names.is_dns1123_subdomain(step)
        ]
    return errs


def validate_service(service: Obj, path: str) -> Errs:
    errs: Errs = []
    if not service.get("name"):
        errs.append(required(child(path, "name"), "service name is required"))
    if not service.get("namespace"):
        errs.append(required(child(path, "namespace"), "service namespace is required"))
    port = service.get("port", 443)
    problems = names.is_valid_port_num(port) if isinstance(port, int) else ["must be an integer"]
    if problems:
        errs.append(invalid(child(path, "port"), port, "port is not valid: " + ", ".join(problems)))
    if service.get("path") is not None:
        errs += _service_path(str(service["path"]), child(path, "path"))
    return errs


def validate_client_config(config: Any, path: str) -> Errs:
    config = config if isinstance(config, dict) else {}
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [required(path, "exactly one of url or service is required")]
    if url is not None:
        return validate_url(str(url), child(path, "url"))
    return validate_service(service if isinstance(service, dict) else {}, child(path, "service"))


# ---- webhooks -------------------------------------------------------------------


def validate_review_versions(versions: list[str], path: str) -> Errs:
    accepted = ", ".join(ACCEPTED_REVIEW_VERSIONS)
    if not versions:
        return [required(path, f"must specify one of {accepted}")]
    errs: Errs = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        if version in seen:
            errs.append(invalid(idx(path, i), version, "duplicate version"))
            continue
        seen.add(version)
        errs += [invalid(idx(path, i), version, m) for m in names.is_dns1035_label(version)]
    if not seen & set(ACCEPTED_REVIEW_VERSIONS):
        errs.append(
            invalid(path, GoValue(go_list(versions)), f"must include at least one of {accepted}")
        )
    return errs


def _choice(hook: Obj, field: str, supported: list[str], path: str) -> Errs:
    value = hook.get(field)
    if value is not None and value not in supported:
        return [not_supported(child(path, field), value, supported)]
    return []


def validate_webhook(hook: Obj, path: str, *, mutating: bool) -> Errs:
    name = str(hook.get("name") or "")
    errs = [invalid(child(path, "name"), name, m) for m in names.is_qualified_name(name)]
    if len(name.split(".")) < 3:
        errs.append(
            invalid(
                child(path, "name"),
                name,
                "should be a domain with at least three segments separated by dots",
            )
        )
    for i, rule in enumerate(_dicts(hook.get("rules"))):
        errs += validate_rule(rule, idx(child(path, "rules"), i))
    errs += _choice(hook, "failurePolicy", ["Fail", "Ignore"], path)
    errs += _choice(hook, "matchPolicy", ["Equivalent", "Exact"], path)
    if mutating:
        errs += _choice(hook, "reinvocationPolicy", ["IfNeeded", "Never"], path)
    side_effects = hook.get("sideEffects")
    if side_effects is None:
        errs.append(required(child(path, "sideEffects"), "must specify one of None, NoneOnDryRun"))
    elif side_effects not in SIDE_EFFECTS_V1:
        errs.append(not_supported(child(path, "sideEffects"), side_effects, SIDE_EFFECTS_V1))
    timeout = hook.get("timeoutSeconds")
    if isinstance(timeout, int) and not 1 <= timeout <= 30:
        errs.append(
            invalid(
                child(path, "timeoutSeconds"),
                timeout,
                "the timeout value must be between 1 and 30 seconds",
            )
        )
    for selector in ("namespaceSelector", "objectSelector"):
        errs += validate_label_selector(hook.get(selector), child(path, selector))
    errs += validate_client_config(hook.get("clientConfig"), child(path, "clientConfig"))
    errs += validate_match_conditions(hook.get("matchConditions"), child(path, "matchConditions"))
    return errs


def _validate_configuration(obj: Obj, *, mutating: bool) -> Errs:
    errs = validate_object_meta(obj, namespaced=False, name_fn=names.name_is_dns_subdomain)
    seen: set[str] = set()
    for i, hook in enumerate(_dicts(obj.get("webhooks"))):
        path = idx("webhooks", i)
        errs += validate_webhook(hook, path, mutating=mutating)
        errs += validate_review_versions(
            _strings(hook.get("admissionReviewVersions")), child(path, "admissionReviewVersions")
        )
        name = str(hook.get("name") or "")
        if name and name in seen:
            errs.append(duplicate(child(path, "name"), name))
        seen.add(name)
    return errs


def validate_mutating_webhook_configuration(obj: Obj) -> Errs:
    return _validate_configuration(obj, mutating=True)


def validate_mutating_webhook_configuration_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old) + _validate_configuration(new, mutating=True)


def validate_validating_webhook_configuration(obj: Obj) -> Errs:
    return _validate_configuration(obj, mutating=False)


def validate_validating_webhook_configuration_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old) + _validate_configuration(new, mutating=False)
