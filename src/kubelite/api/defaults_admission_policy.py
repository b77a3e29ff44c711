"""Defaults for ValidatingAdmissionPolicy and its bindings (admissionregistration.k8s.io/v1).

What upstream's `SetDefaults_*` fill in: failurePolicy Fail, and in each
`matchConstraints`/`matchResources` matchPolicy Equivalent, empty selectors
(match everything) and rules scoped `*`.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _match_resources(match: Any) -> None:
    if not isinstance(match, dict):
        return
    match.setdefault("matchPolicy", "Equivalent")
    for selector in ("namespaceSelector", "objectSelector"):
        if match.get(selector) is None:
            match[selector] = {}
    for key in ("resourceRules", "excludeResourceRules"):
        for rule in match.get(key) or []:
            if isinstance(rule, dict) and rule.get("scope") is None:
                rule["scope"] = "*"


def default_validating_admission_policy(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("failurePolicy", "Fail")
    _match_resources(spec.get("matchConstraints"))


def default_validating_admission_policy_binding(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _match_resources(spec.get("matchResources"))
