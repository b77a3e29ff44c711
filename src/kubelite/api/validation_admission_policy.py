"""ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding validation (v1).

The rules and messages users meet when they write a policy: it matches
resources (`matchConstraints.resourceRules`), holds validations or audit
annotations whose CEL expressions compile against the admission environment
(`object`, `oldObject`, `request`, `params`, `namespaceObject`,
`authorizer`, `variables`), and a binding names its policy and says what a
failure does (`validationActions`: Deny, Warn, Audit; not Deny with Warn).
Objects arrive defaulted.
"""

from __future__ import annotations

import re
from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from kubelite.api.validation_admissionregistration import validate_rule
from kubelite.api.validation_match_conditions import validate_match_conditions
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    child,
    idx,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

VARIABLES = (
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "authorizer",
    "variables",
)
REASONS = ["Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"]
ACTIONS = ["Audit", "Deny", "Warn"]
_CEL_IDENT = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def compile_errors(expression: str, path: str, *, what: str = "") -> list[FieldError]:
    """Why `expression` does not compile in the policy environment ([] when it does)."""
    from kubelite.api import cel

    try:
        cel.compile_expression(expression, variables=VARIABLES, functions=cel.AUTHORIZER_FUNCTIONS)
    except cel.CompileError as exc:
        return [invalid(path, expression, f"{what}{exc.detail}")]
    return []


def _validate_match_resources(match: Any, path: str, *, policy: bool) -> Errs:
    if not isinstance(match, dict):
        return [required(path, "")] if policy else []
    errs: Errs = []
    for selector in ("namespaceSelector", "objectSelector"):
        errs += validate_label_selector(match.get(selector), child(path, selector))
    policy_choice = match.get("matchPolicy")
    if policy_choice is not None and policy_choice not in ("Equivalent", "Exact"):
        errs.append(
            not_supported(child(path, "matchPolicy"), policy_choice, ["Equivalent", "Exact"])
        )
    rules = _dicts(match.get("resourceRules"))
    if policy and not rules:
        errs.append(required(child(path, "resourceRules"), ""))
    for key in ("resourceRules", "excludeResourceRules"):
        for i, rule in enumerate(_dicts(match.get(key))):
            errs += validate_rule(rule, idx(child(path, key), i))
    return errs


def _validate_message(validation: Obj, path: str) -> Errs:
    message = validation.get("message")
    text = str(message or "")
    if message is not None and text and not text.strip():
        return [invalid(child(path, "message"), text, "message must be non-empty if specified")]
    if "\n" in text.strip() or "\r" in text.strip():
        return [invalid(child(path, "message"), text, "message must not contain line breaks")]
    return []


def _validate_validation(validation: Obj, path: str) -> Errs:
    expression = str(validation.get("expression") or "")
    errs: Errs = []
    if not expression.strip():
        errs.append(required(child(path, "expression"), "expression is not specified"))
    else:
        errs += compile_errors(expression, child(path, "expression"))
    message_expression = validation.get("messageExpression")
    if message_expression:
        errs += compile_errors(str(message_expression), child(path, "messageExpression"))
    errs += _validate_message(validation, path)
    reason = validation.get("reason")
    if reason is not None and reason not in REASONS:
        errs.append(not_supported(child(path, "reason"), reason, REASONS))
    return errs


def _validate_variables(variables: Any, path: str) -> Errs:
    errs: Errs = []
    for i, variable in enumerate(_dicts(variables)):
        here = idx(path, i)
        name = str(variable.get("name") or "")
        if not name:
            errs.append(required(child(here, "name"), "name is not specified"))
        elif not _CEL_IDENT.match(name):
            errs.append(invalid(child(here, "name"), name, "name is not a valid CEL identifier"))
        expression = str(variable.get("expression") or "")
        if not expression.strip():
            errs.append(required(child(here, "expression"), "expression is not specified"))
        else:
            errs += compile_errors(expression, child(here, "expression"))
    return errs


def _validate_policy_spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    failure = spec.get("failurePolicy")
    if failure is not None and failure not in ("Fail", "Ignore"):
        errs.append(not_supported(child(path, "failurePolicy"), failure, ["Fail", "Ignore"]))
    param_kind = spec.get("paramKind")
    if isinstance(param_kind, dict):
        for key in ("apiVersion", "kind"):
            if not param_kind.get(key):
                errs.append(required(child(path, "paramKind", key), ""))
    errs += _validate_match_resources(
        spec.get("matchConstraints"), child(path, "matchConstraints"), policy=True
    )
    validations = _dicts(spec.get("validations"))
    audits = _dicts(spec.get("auditAnnotations"))
    if not validations and not audits:
        errs.append(
            required(
                child(path, "validations"),
                "validations or auditAnnotations must contain at least one item",
            )
        )
    for i, validation in enumerate(validations):
        errs += _validate_validation(validation, idx(child(path, "validations"), i))
    for i, audit in enumerate(audits):
        expression = str(audit.get("valueExpression") or "")
        here = idx(child(path, "auditAnnotations"), i)
        if not expression.strip():
            errs.append(
                required(child(here, "valueExpression"), "valueExpression is not specified")
            )
        else:
            errs += compile_errors(expression, child(here, "valueExpression"))
    errs += validate_match_conditions(spec.get("matchConditions"), child(path, "matchConditions"))
    errs += _validate_variables(spec.get("variables"), child(path, "variables"))
    return errs


def validate_validating_admission_policy(obj: Obj) -> Errs:
    errs = validate_object_meta(obj, namespaced=False, name_fn=names.name_is_dns_subdomain)
    spec = obj.get("spec")
    return errs + _validate_policy_spec(spec if isinstance(spec, dict) else {}, "spec")


def validate_validating_admission_policy_update(new: Obj, old: Obj) -> Errs:
    spec = new.get("spec")
    return validate_object_meta_update(new, old) + _validate_policy_spec(
        spec if isinstance(spec, dict) else {}, "spec"
    )


# ---- bindings ---------------------------------------------------------------------


class _GoActions(tuple[str, ...]):
    """The actions as upstream's message prints them (Go's %#v)."""

    def __str__(self) -> str:
        return "[]admissionregistration.ValidationAction{" + ", ".join(f'"{a}"' for a in self) + "}"


def _validate_actions(actions: Any, path: str) -> Errs:
    values = [str(a) for a in actions] if isinstance(actions, list) else []
    if not values:
        return [required(path, "at least one validation action is required")]
    errs: Errs = []
    seen: set[str] = set()
    for i, action in enumerate(values):
        if action not in ACTIONS:
            errs.append(not_supported(idx(path, i), action, ACTIONS))
        if action in seen:
            errs.append(duplicate(idx(path, i), action))
        seen.add(action)
    if {"Deny", "Warn"} <= seen:
        errs.append(
            invalid(
                path,
                _GoActions(tuple(values)),
                "must not contain both Deny and Warn (repeating the same validation failure "
                "information in the API response and headers serves no purpose)",
            )
        )
    return errs


def _validate_param_ref(ref: Any, path: str) -> Errs:
    if not isinstance(ref, dict):
        return []
    errs: Errs = []
    if ref.get("name") and ref.get("selector") is not None:
        errs.append(forbidden(child(path, "name"), "name and selector are mutually exclusive"))
    elif not ref.get("name") and ref.get("selector") is None:
        errs.append(required(path, "one of name or selector must be specified"))
    errs += validate_label_selector(ref.get("selector"), child(path, "selector"))
    action = ref.get("parameterNotFoundAction")
    if action is None:
        errs.append(required(child(path, "parameterNotFoundAction"), ""))
    elif action not in ("Allow", "Deny"):
        errs.append(
            not_supported(child(path, "parameterNotFoundAction"), action, ["Allow", "Deny"])
        )
    return errs


def _validate_binding_spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    policy = str(spec.get("policyName") or "")
    if not policy:
        errs.append(required(child(path, "policyName"), ""))
    else:
        errs += [
            invalid(child(path, "policyName"), policy, m)
            for m in names.is_dns1123_subdomain(policy)
        ]
    errs += _validate_param_ref(spec.get("paramRef"), child(path, "paramRef"))
    errs += _validate_match_resources(
        spec.get("matchResources"), child(path, "matchResources"), policy=False
    )
    errs += _validate_actions(spec.get("validationActions"), child(path, "validationActions"))
    return errs


def validate_validating_admission_policy_binding(obj: Obj) -> Errs:
    errs = validate_object_meta(obj, namespaced=False, name_fn=names.name_is_dns_subdomain)
    spec = obj.get("spec")
    return errs + _validate_binding_spec(spec if isinstance(spec, dict) else {}, "spec")


def validate_validating_admission_policy_binding_update(new: Obj, old: Obj) -> Errs:
    spec = new.get("spec")
    return validate_object_meta_update(new, old) + _validate_binding_spec(
        spec if isinstance(spec, dict) else {}, "spec"
    )
