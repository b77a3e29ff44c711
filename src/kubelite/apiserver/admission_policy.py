"""ValidatingAdmissionPolicy: CEL validations enforced on the write path, beside the webhooks.

Each binding names a policy; a request is checked against a pair when it
matches the policy's `matchConstraints` and the binding's `matchResources`
(resource rules, exclusions, namespace and object selectors) and the
policy's `matchConditions` hold. The policy's `variables` are evaluated
first (available as `variables.NAME`), then its validations, with `object`,
`oldObject`, `request`, `params`, `namespaceObject` and `authorizer` bound.
A false validation is reported by the binding's `validationActions`: `Deny`
refuses the request (`... is forbidden: ValidatingAdmissionPolicy 'P' with
binding 'B' denied request: MESSAGE`, code from the validation's reason, 422
by default), `Warn` adds a warning, `Audit` only logs (kubelite keeps no
audit log). An expression that fails follows the policy's failurePolicy.

Params: a binding's `paramRef` picks the object(s) of the policy's
`paramKind` by name or label selector (a binding without one validates with
no params); none found is allowed or denied as `parameterNotFoundAction`
says. A denial for want of params, like a `paramKind` no API serves, is a
configuration error, as upstream's addConfigError: ignored under
`failurePolicy: Ignore`, else it denies (`failed to configure binding: ...`,
or `policy` for the policy's own) whatever the binding's actions.
`status.typeChecking` is not computed.
Policies and bindings are re-read only after a write to them; with no
bindings stored, `active()` is a dict lookup and nothing else runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubelite.api.registry import Registry, ResourceType
from kubelite.api.validation_meta import selector_matches
from kubelite.apiserver import cel_authorizer, errors
from kubelite.apiserver.request_context import add_warning
from kubelite.apiserver.webhook_match import (
    Match,
    compiled,
    conditions_hold,
    evaluate,
    forbidden_message,
)
from kubelite.apiserver.webhook_rules import (
    Request,
    namespace_selector_matches,
    object_selector_matches,
    rule_matches,
)
from kubelite.store import Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP = "admissionregistration.k8s.io/v1"
NAMES = ("object", "oldObject", "request", "params", "namespaceObject", "authorizer", "variables")
_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


class PolicyDenied(errors.ApiError):
    """A Deny decision: upstream's Forbidden text, with the validation's reason and code."""

    def __init__(self, message: str, details: Obj, reason: str) -> None:
        super().__init__(message, details=details)
        self.reason = reason or "Invalid"
        self.code = _CODES.get(self.reason, 422)


@dataclass(frozen=True)
class Pair:
    policy: Obj
    binding: Obj

    @property
    def spec(self) -> Obj:
        return self.policy.get("spec") or {}

    def describe(self) -> str:
        name = self.policy["metadata"]["name"]
        return (
            f"ValidatingAdmissionPolicy '{name}' with binding '{self.binding['metadata']['name']}'"
        )


@dataclass(frozen=True)
class Decision:
    pair: Pair
    message: str
    reason: str = "Invalid"
    # A configuration error (upstream's addConfigError): it denies whatever the binding's
    # validationActions say, unless the policy's failurePolicy is Ignore.
    config: bool = False
    # An error of the policy itself: its denial names no binding.
    policy_level: bool = False

    def describe(self) -> str:
        if self.policy_level:
            return f"ValidatingAdmissionPolicy '{self.pair.policy['metadata']['name']}'"
        return self.pair.describe()


def _matches_resources(match: Any, req: Request, ns_labels: Obj | None) -> bool:
    """MatchResources: exclusions first, then rules (none: everything), then selectors."""
    if not isinstance(match, dict):
        return True
    for rule in match.get("excludeResourceRules") or []:
        if isinstance(rule, dict) and _named_rule_matches(rule, req):
            return False
    rules = [r for r in match.get("resourceRules") or [] if isinstance(r, dict)]
    if rules and not any(_named_rule_matches(r, req) for r in rules):
        return False
    return namespace_selector_matches(match, req, ns_labels) and object_selector_matches(match, req)


def _named_rule_matches(rule: Obj, req: Request) -> bool:
    names = rule.get("resourceNames") or []
    if names and req.name not in names:
        return False
    return rule_matches(rule, req)


class Policies:
    """The stored policies paired with their bindings, re-read only after a write to either."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self._types = [
            registry.by_kind(GROUP, "ValidatingAdmissionPolicy"),
            registry.by_kind(GROUP, "ValidatingAdmissionPolicyBinding"),
        ]
        self._namespaces = registry.by_kind("v1", "Namespace")
        self._seen: tuple[int, ...] = ()
        self._pairs: list[Pair] = []

    def _refresh(self) -> None:
        if None in self._types:
            return
        revisions = tuple(self.store.kind_revision(rt.prefix()) for rt in self._types if rt)
        if revisions == self._seen:
            return
        self._seen = revisions
        policies, bindings = (self._list(rt) for rt in self._types if rt)
        by_name = {p["metadata"]["name"]: p for p in policies}
        self._pairs = [
            Pair(by_name[b["spec"]["policyName"]], b)
            for b in sorted(bindings, key=lambda b: b["metadata"]["name"])
            if (b.get("spec") or {}).get("policyName") in by_name
        ]

    def _list(self, rt: ResourceType) -> list[Obj]:
        items, _, _ = self.store.list(rt.prefix())
        return [kv.obj() for kv in items]

    def active(self) -> bool:
        """The cheap check every write makes: is any policy bound at all?"""
        self._refresh()
        return bool(self._pairs)

    def _namespace(self, req: Request) -> Obj | None:
        if not req.namespace or not req.resource.namespaced or self._namespaces is None:
            return None
        kv = self.store.get(self._namespaces.key(None, req.namespace))
        return kv.obj() if kv is not None else None

    # ---- checking one request -------------------------------------------------------

    def check(self, req: Request, request: Obj) -> None:
        """Raise on the first Deny decision; add warnings for Warn ones."""
        if not self.active() or req.resource.group == "admissionregistration.k8s.io":
            return
        namespace = self._namespace(req)
        ns_labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
        denied: list[Decision] = []
        for pair in self._pairs:
            if not _matches_resources(pair.spec.get("matchConstraints"), req, ns_labels):
                continue
            if not _matches_resources(
                (pair.binding.get("spec") or {}).get("matchResources"), req, ns_labels
            ):
                continue
            for decision in self._decide(pair, req, request, namespace):
                self._act(decision, denied)
        if denied:
            first = denied[0]
            text = f"{first.describe()} denied request: {first.message}"
            message, details = forbidden_message(req, text)
            details["causes"] = [{"message": text}]
            raise PolicyDenied(message, details, first.reason)

    def _act(self, decision: Decision, denied: list[Decision]) -> None:
        if decision.config:
            denied.append(decision)
            return
        actions = (decision.pair.binding.get("spec") or {}).get("validationActions") or []
        if "Deny" in actions:
            denied.append(decision)
        if "Warn" in actions:
            add_warning(f"Validation failed for {decision.pair.describe()}: {decision.message}")
        if "Audit" in actions:
            log.info(
                "audit: validation failed for %s: %s", decision.pair.describe(), decision.message
            )

    def _decide(
        self, pair: Pair, req: Request, request: Obj, namespace: Obj | None
    ) -> list[Decision]:
        from kubelite.api import cel

        params = self._params(pair, req)
        if isinstance(params, Decision):
            return [params]
        base = {
            "object": cel.to_cel(req.obj),
            "oldObject": cel.to_cel(req.old),
            "request": cel.to_cel(request),
            "namespaceObject": cel.to_cel(namespace),
            "authorizer": cel_authorizer.for_request(request),
        }
        out: list[Decision] = []
        for param in params:
            out += self._validate(pair, {**base, "params": cel.to_cel(param)})
        return out

    def _validate(self, pair: Pair, variables: dict[str, Any]) -> list[Decision]:
        failure_policy = pair.spec.get("failurePolicy", "Fail")
        variables["variables"] = self._variables(pair, variables)
        match: Match = conditions_hold(pair.spec, variables, NAMES)
        if match.error:
            return [Decision(pair, match.error)]
        if not match.matches:
            return []
        out: list[Decision] = []
        for validation in pair.spec.get("validations") or []:
            if not isinstance(validation, dict):
                continue
            expression = str(validation.get("expression") or "").strip()
            outcome = evaluate(expression, variables, NAMES)
            if outcome is True:
                continue
            if isinstance(outcome, str):
                if failure_policy != "Ignore":
                    out.append(Decision(pair, outcome))
                continue
            reason = str(validation.get("reason") or "Invalid")
            out.append(Decision(pair, _message(validation, expression, variables), reason))
        return out

    def _variables(self, pair: Pair, variables: dict[str, Any]) -> Any:
        """`variables.NAME`, each computed in order (later ones may use earlier ones)."""
        from kubelite.api import cel

        values: dict[Any, Any] = {}
        for variable in pair.spec.get("variables") or []:
            if not isinstance(variable, dict) or not variable.get("name"):
                continue
            program = compiled(str(variable.get("expression") or ""), NAMES)
            if isinstance(program, str):
                continue
            try:
                scope = {**variables, "variables": cel.make_map(values)}
                values[cel.to_cel(str(variable["name"]))] = program.evaluate(scope)
            except cel.CelError:
                continue  # a validation using it then fails with "no such key"
        return cel.make_map(values)

    def _params(self, pair: Pair, req: Request) -> list[Obj | None] | Decision:
        """The binding's params (upstream's CollectParams), or its configuration error."""
        kind = pair.spec.get("paramKind")
        if not isinstance(kind, dict):
            return [None]
        rt = self.registry.by_kind(str(kind.get("apiVersion", "")), str(kind.get("kind", "")))
        if rt is None:
            gvk = f"{kind.get('apiVersion')}, Kind={kind.get('kind')}"
            problem = f"failed to find resource referenced by paramKind: '{gvk}'"
            return _config_error(pair, problem, policy_level=True)
        ref = (pair.binding.get("spec") or {}).get("paramRef")
        if not isinstance(ref, dict):
            return [None]  # the binding does not use params: validate with none
        namespace = ""
        if rt.namespaced:
            namespace = str(ref.get("namespace") or req.namespace or "")
            if not namespace:
                return _config_error(
                    pair,
                    "cannot use namespaced paramRef in policy binding that matches "
                    "cluster-scoped resources",
                )
        found = self._find_params(rt, ref, namespace)
        if found:
            return list(found)
        if ref.get("parameterNotFoundAction") == "Deny":
            return _config_error(
                pair, "no params found for policy binding with `Deny` parameterNotFoundAction"
            )
        return []

    def _find_params(self, rt: ResourceType, ref: Obj, namespace: str) -> list[Obj]:
        if ref.get("name"):
            kv = self.store.get(rt.key(namespace or None, str(ref["name"])))
            return [kv.obj()] if kv is not None else []
        selector = ref.get("selector") or {}
        items, _, _ = self.store.list(rt.prefix(namespace or None))
        objs = [kv.obj() for kv in items]
        return [
            o
            for o in objs
            if selector_matches(selector, (o.get("metadata") or {}).get("labels") or {})
        ]


def _config_error(
    pair: Pair, problem: str, *, policy_level: bool = False
) -> list[Obj | None] | Decision:
    """Upstream's addConfigError: ignored under failurePolicy Ignore, else a denial."""
    if pair.spec.get("failurePolicy", "Fail") == "Ignore":
        return []
    what = "policy" if policy_level else "binding"
    return Decision(
        pair, f"failed to configure {what}: {problem}", config=True, policy_level=policy_level
    )


def _message(validation: Obj, expression: str, variables: dict[str, Any]) -> str:
    """messageExpression's text, else message, else `failed expression: EXPR` (upstream's order)."""
    from kubelite.api import cel

    source = validation.get("messageExpression")
    if source:
        program = compiled(str(source), NAMES)
        if not isinstance(program, str):
            try:
                text = cel.from_cel(program.evaluate(variables))
            except cel.CelError:
                text = None
            if isinstance(text, str) and text.strip() and "\n" not in text.strip():
                return text.strip()
    if str(validation.get("message") or "").strip():
        return str(validation["message"]).strip()
    return f"failed expression: {expression}"
