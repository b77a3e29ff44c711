"""Escalation prevention: under RBAC, no one grants what they do not hold.

Upstream's RBAC storage refuses a Role or ClusterRole whose rules its writer
does not hold, unless the writer may `escalate` that role; and a RoleBinding
or ClusterRoleBinding to a role whose rules its writer does not hold, unless
the writer may `bind` that role. Members of `system:masters` (and kubelite's
own parts, which write as the privileged loopback user) are exempt. Writing a
ClusterRole that has or had an `aggregationRule` needs full authority (`*` on
everything), since the rule can gather any rule and removing it freezes what it
gathered. An update that changes only what the garbage collector
changes (owner references, finalizers) is not checked.

"Holds" is upstream's Covers: every rule of the role, broken down to one verb,
group, resource and name (or URL), is granted by one of the writer's rules in
the namespace written to (cluster-wide rules only, for cluster-scoped
objects). The refusal lists what is missing, compacted as upstream does.

This runs as a validating admission plugin of the RBAC mode only, on the
object about to be stored: after patches are applied, so `kubectl apply`,
`patch` and `edit` are checked like `create`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kubelite.apiserver import errors
from kubelite.apiserver.admission import Attributes as AdmissionAttributes
from kubelite.apiserver.rbac_authorizer import (
    PRIVILEGED_GROUP,
    RBAC_GROUP,
    Attributes,
    RbacAuthorizer,
    Rule,
    go_quote,
    go_quote_list,
)
from kubelite.apiserver.request_context import user_info
from kubelite.apiserver.reviews import User

if TYPE_CHECKING:
    from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]
ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
FULL_AUTHORITY = (
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
)
# What the garbage collector may change on anyone's role (upstream's IsOnlyMutatingGCFields).
_GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "resourceVersion", "generation")


class EscalationCheck:
    """The `escalate` and `bind` checks of upstream's RBAC storage, as admission."""

    def __init__(self, authorizer: RbacAuthorizer) -> None:
        self.authorizer = authorizer

    def admit(
        self,
        attrs: AdmissionAttributes,
        obj: Obj | None,
        old: Obj | None,
        storage: RestStorage,
    ) -> None:
        return None

    def validate(
        self, attrs: AdmissionAttributes, obj: Obj, old: Obj | None, storage: RestStorage
    ) -> None:
        rt = attrs.resource
        if rt.group != RBAC_GROUP or attrs.operation not in ("CREATE", "UPDATE"):
            return
        if rt.kind not in ROLE_KINDS and rt.kind not in BINDING_KINDS:
            return
        info = user_info()
        user = User(str(info.get("username", "")), tuple(info.get("groups") or ()))
        if PRIVILEGED_GROUP in user.groups:
            return
        if old is not None and _only_gc_fields(obj, old):
            return
        namespace = attrs.namespace or ""
        if rt.kind in ROLE_KINDS:
            self._check_role(user, attrs, obj, old, namespace)
        else:
            self._check_binding(user, attrs, obj, namespace)

    def _check_role(
        self, user: User, attrs: AdmissionAttributes, obj: Obj, old: Obj | None, namespace: str
    ) -> None:
        rt = attrs.resource
        escalate = Attributes(
            user,
            "escalate",
            api_group=RBAC_GROUP,
            api_version="*",
            resource=rt.plural,
            namespace=namespace,
            name=attrs.name if attrs.operation == "UPDATE" else "",
        )
        if self.authorizer.authorize(escalate).allowed:
            return
        rules = [r for r in obj.get("rules") or [] if isinstance(r, dict)]
        problem = self.missing(user, namespace, rules)
        if problem:
            raise _forbidden(rt.plural, attrs.name, problem)
        # Upstream: "to change the aggregation rule, since it can gather anything and
        # prevent tightening, requires * on *.*" -- checked on every (non-GC) write of a
        # ClusterRole that has, or had, a rule, so removing one is guarded as well.
        aggregated = _has_aggregation_rule(obj) or (old is not None and _has_aggregation_rule(old))
        full = rt.kind == "ClusterRole" and aggregated
        if full and self.missing(user, namespace, list(FULL_AUTHORITY)):
            raise _forbidden(
                rt.plural,
                attrs.name,
                "must have cluster-admin privileges to use the aggregationRule",
            )

    def _check_binding(
        self, user: User, attrs: AdmissionAttributes, obj: Obj, namespace: str
    ) -> None:
        ref = obj.get("roleRef") or {}
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        if kind in ROLE_KINDS:
            bind = Attributes(
                user,
                "bind",
                api_group=str(ref.get("apiGroup", "")),
                resource="roles" if kind == "Role" else "clusterroles",
                namespace=namespace,
                name=name,
            )
            if self.authorizer.authorize(bind).allowed:
                return
        rules = self.authorizer.index().role_rules(kind, name, namespace)
        if isinstance(rules, str):
            plural = "roles" if kind == "Role" else "clusterroles"
            raise errors.NotFound.object(plural, RBAC_GROUP, name)
        problem = self.missing(user, namespace, [r.raw for r in rules])
        if problem:
            raise _forbidden(attrs.resource.plural, attrs.name, problem)

    def missing(self, user: User, namespace: str, rules: Iterable[Mapping[str, Any]]) -> str:
        """Why `user` may not grant `rules` in `namespace` (upstream's
        ConfirmNoEscalation); "" when they hold them all."""
        resolved = self.authorizer.resolve(user, namespace)
        owned = resolved.rules
        uncovered = [atom for r in rules for atom in breakdown(r) if not _covered(owned, atom)]
        if not uncovered:
            return ""
        lines = sorted({compact_string(r) for r in compact(uncovered)})
        message = (
            f"user {go_quote(user.username)} (groups={go_quote_list(user.groups)}) is attempting "
            "to grant RBAC permissions not currently held:\n" + "\n".join(lines)
        )
        if resolved.errors:
            message += f"; resolution errors: [{resolved.error_text()}]"
        return message


def _forbidden(plural: str, name: str, message: str) -> errors.Forbidden:
    qualified = f"{plural}.{RBAC_GROUP}"
    head = f"{qualified} {go_quote(name)}" if name else qualified
    details: Obj = {"name": name} if name else {}
    details.update({"group": RBAC_GROUP, "kind": plural})
    return errors.Forbidden(f"{head} is forbidden: {message}", details=details)


def _has_aggregation_rule(role: Obj) -> bool:
    """Upstream's hasAggregationRule: a rule counts only with at least one selector."""
    rule = role.get("aggregationRule")
    return isinstance(rule, dict) and bool(rule.get("clusterRoleSelectors"))


def _only_gc_fields(obj: Obj, old: Obj) -> bool:
    def stripped(o: Obj) -> Obj:
        md = {k: v for k, v in (o.get("metadata") or {}).items() if k not in _GC_FIELDS}
        return {**o, "metadata": md}

    return stripped(obj) == stripped(old)


# ---- covering (upstream's Covers, BreakdownRule, CompactRules, CompactString) -----------


def breakdown(rule: Mapping[str, Any]) -> list[Obj]:
    """`rule` as rules of one verb and one group/resource/name, or one URL."""
    verbs = list(rule.get("verbs") or [])
    names = list(rule.get("resourceNames") or [])
    out: list[Obj] = []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                if names:
                    out.extend({**base, "resourceNames": [n]} for n in names)
                else:
                    out.append(base)
    for url in rule.get("nonResourceURLs") or []:
        out.extend({"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs)
    return out


def _covered(owned: Iterable[Rule], atom: Mapping[str, Any]) -> bool:
    return any(_rule_covers(rule, atom) for rule in owned)


def _rule_covers(owner: Rule, atom: Mapping[str, Any]) -> bool:
    verbs, groups = atom.get("verbs") or [], atom.get("apiGroups") or []
    if "*" not in owner.verbs and not all(v in owner.verbs for v in verbs):
        return False
    if "*" not in owner.api_groups and not all(g in owner.api_groups for g in groups):
        return False
    if not _resources_covered(owner.resources, atom.get("resources") or []):
        return False
    if not all(
        any(_url_covers(o, u) for o in owner.urls) for u in atom.get("nonResourceURLs") or []
    ):
        return False
    names = atom.get("resourceNames") or []
    if not owner.resource_names:
        return True
    return bool(names) and all(n in owner.resource_names for n in names)


def _resources_covered(owned: frozenset[str], resources: list[str]) -> bool:
    if "*" in owned:
        return True
    for resource in resources:
        if resource in owned:
            continue
        _, slash, sub = resource.partition("/")
        if not slash or f"*/{sub}" not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def compact(rules: list[Obj]) -> list[Obj]:
    """Rules of one group and one resource (nothing else) merged, their verbs joined."""
    out: list[Obj] = []
    simple: dict[tuple[str, str], Obj] = {}
    for rule in rules:
        groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
        plain = not rule.get("resourceNames") and not rule.get("nonResourceURLs")
        if plain and len(groups) == 1 and len(resources) == 1:
            key = (groups[0], resources[0])
            if key in simple:
                simple[key]["verbs"] = simple[key]["verbs"] + list(rule.get("verbs") or [])
            else:
                simple[key] = {**rule, "verbs": list(rule.get("verbs") or [])}
        else:
            out.append(rule)
    return out + list(simple.values())


def compact_string(rule: Mapping[str, Any]) -> str:
    """A rule as escalation errors print it: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`."""
    parts = [
        f"{label}:{go_quote_list(rule[key])}"
        for label, key in (
            ("APIGroups", "apiGroups"),
            ("Resources", "resources"),
            ("NonResourceURLs", "nonResourceURLs"),
            ("ResourceNames", "resourceNames"),
            ("Verbs", "verbs"),
        )
        if rule.get(key)
    ]
    return "{" + ", ".join(parts) + "}"
