"""Which webhooks a request reaches: rules, then namespace and object selectors.

Matching is pure and synchronous (the dispatcher calls it on every write that
has webhook configurations at all). A rule matches on operation, API group,
version, `resource[/subresource]` with `*` wildcards, and scope; a Namespace
counts as cluster-scoped, its own labels standing in for the namespace's.
Objects of the webhook configuration kinds never reach webhooks, so a broken
webhook cannot lock out its own repair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubelite.api.registry import ResourceType
from kubelite.api.validation_meta import selector_matches

ADMISSION_GROUP = "admissionregistration.k8s.io"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """What a write looks like to the matcher (upstream's admission.Attributes)."""

    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    resource: ResourceType
    subresource: str
    namespace: str | None
    name: str
    obj: Obj | None
    old: Obj | None
    # (group, version, kind) of `obj` when it is not the resource's own kind: a
    # subresource's, as autoscaling/v1 Scale for `scale`, policy/v1 Eviction for `eviction`.
    kind: tuple[str, str, str] | None = None


def _listed(values: Any, value: str) -> bool:
    return isinstance(values, list) and ("*" in values or value in values)


def _resource_listed(resources: Any, plural: str, subresource: str) -> bool:
    if not isinstance(resources, list):
        return False
    for entry in resources:
        res, _, sub = str(entry).partition("/")
        if entry == "*/*":
            return True
        if not subresource and entry in ("*", plural):
            return True
        if subresource and res in ("*", plural) and sub in ("*", subresource):
            return True
    return False


def _scope_ok(scope: Any, rt: ResourceType) -> bool:
    if scope in (None, "*"):
        return True
    namespaced = rt.namespaced and rt.kind != "Namespace"
    return scope == ("Namespaced" if namespaced else "Cluster")


def rule_matches(rule: Obj, req: Request) -> bool:
    rt = req.resource
    return (
        _listed(rule.get("operations"), req.operation)
        and _listed(rule.get("apiGroups"), rt.group)
        and _listed(rule.get("apiVersions"), rt.version)
        and _resource_listed(rule.get("resources"), rt.plural, req.subresource)
        and _scope_ok(rule.get("scope"), rt)
    )


def rules_match(hook: Obj, req: Request) -> bool:
    if req.resource.group == ADMISSION_GROUP:
        return False
    rules = hook.get("rules")
    return isinstance(rules, list) and any(
        rule_matches(r, req) for r in rules if isinstance(r, dict)
    )


def _labels(obj: Obj | None) -> Obj:
    labels = ((obj or {}).get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _everything(selector: Any) -> bool:
    return (
        isinstance(selector, dict)
        and not selector.get("matchLabels")
        and not (selector.get("matchExpressions"))
    )


def object_selector_matches(hook: Obj, req: Request) -> bool:
    """The object's labels or, failing that, the old object's (deletes have only those)."""
    selector = hook.get("objectSelector")
    if selector is None or _everything(selector):
        return True
    return any(selector_matches(selector, _labels(o)) for o in (req.obj, req.old) if o is not None)


def namespace_selector_matches(hook: Obj, req: Request, namespace_labels: Obj | None) -> bool:
    """Cluster-scoped objects other than a Namespace always match; a Namespace is
    judged by its own labels; a namespaced object by its namespace's labels."""
    selector = hook.get("namespaceSelector")
    if selector is None or _everything(selector):
        return True
    if req.resource.kind == "Namespace" and not req.resource.group:
        labels = _labels(req.obj if req.obj is not None else req.old)
        return selector_matches(selector, labels)
    if not req.resource.namespaced:
        return True
    return selector_matches(selector, namespace_labels or {})


def needs_namespace_labels(hook: Obj, req: Request) -> bool:
    selector = hook.get("namespaceSelector")
    return (
        selector is not None
        and not _everything(selector)
        and req.resource.namespaced
        and req.resource.kind != "Namespace"
    )
