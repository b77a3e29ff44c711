"""Defaults for admissionregistration.k8s.io/v1 webhook configurations.

What upstream's `SetDefaults_*Webhook` fill in, so the dispatcher never has
to guess: failurePolicy Fail, matchPolicy Equivalent, empty selectors
(match everything), a 10 s timeout, rules scoped `*`, service port 443 and,
for mutating webhooks, reinvocationPolicy Never. `sideEffects` and
`admissionReviewVersions` have no default in v1: validation asks for them.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _default_webhook(hook: Obj, *, mutating: bool) -> None:
    hook.setdefault("failurePolicy", "Fail")
    hook.setdefault("matchPolicy", "Equivalent")
    for selector in ("namespaceSelector", "objectSelector"):
        if hook.get(selector) is None:
            hook[selector] = {}
    if hook.get("timeoutSeconds") is None:
        hook["timeoutSeconds"] = 10
    if mutating and hook.get("reinvocationPolicy") is None:
        hook["reinvocationPolicy"] = "Never"
    for rule in _dicts(hook.get("rules")):
        if rule.get("scope") is None:
            rule["scope"] = "*"
    service = (hook.get("clientConfig") or {}).get("service")
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = 443


def default_mutating_webhook_configuration(obj: Obj) -> None:
    for hook in _dicts(obj.get("webhooks")):
        _default_webhook(hook, mutating=True)


def default_validating_webhook_configuration(obj: Obj) -> None:
    for hook in _dicts(obj.get("webhooks")):
        _default_webhook(hook, mutating=False)
