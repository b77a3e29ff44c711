"""Role-based access control: kube-apiserver's `--authorization-mode=RBAC`, opt-in.

`kubelite up --authorization-mode RBAC` authorizes every request as upstream's
authorizer chain does with that flag: members of `system:masters` may do
anything (the privileged-group authorizer, first in the chain); anyone else
may do what the rules bound to them allow, and nothing more.

Which rules apply (upstream's rule resolver): every ClusterRoleBinding with a
subject that is the user, grants its role's rules everywhere; every
RoleBinding in the request's namespace with such a subject grants them in
that namespace only (a RoleBinding may name a ClusterRole: its rules, in the
binding's namespace). A subject applies when it is the `User` of that name, a
`Group` the user is in, or the `ServiceAccount` whose username the user has;
a ServiceAccount subject without a namespace takes the binding's. A binding
whose role is missing grants nothing, and the denial says why
(`RBAC: role.rbac.authorization.k8s.io "x" not found`).

A rule allows a request when its verbs (or `*`) have the verb, its apiGroups
(or `*`) the group, its resources (or `*`) the resource, as `pods/log` for a
subresource or `*/log` for that subresource of anything, and its
resourceNames are empty or hold the name; for a non-resource URL, when its
verbs have the verb and its nonResourceURLs have the path, or a prefix of it
ending in `*`.

Speed: authorization runs on every request. The rules of the RBAC objects
are indexed once per change of them (the store's per-kind revision says
when), the rules each (user, namespace) gets are resolved once per index,
and each distinct question's answer is kept too; a request the cluster has
seen before costs one dict lookup. kubelite's own parts do not pass here:
they use the in-process client, as privileged as upstream's loopback client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubelite.api.gofmt import go_quote
from kubelite.api.registry import REGISTRY, Registry, ResourceType
from kubelite.apiserver.reviews import User
from kubelite.store import Store

PRIVILEGED_GROUP = "system:masters"
RBAC_GROUP = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"
_CACHE_MAX = 8192  # entries per cache; past it the cache starts over

Obj = dict[str, Any]


def go_quote_list(items: Iterable[str]) -> str:
    """A string slice as Go's `%q` writes it: `["a" "b"]`."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


@dataclass(frozen=True, slots=True)
class Attributes:
    """What is asked (upstream's authorizer.Attributes)."""

    user: User
    verb: str
    resource_request: bool = True
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    def question(self) -> tuple[str, ...]:
        if self.resource_request:
            return (
                self.verb,
                self.api_group,
                self.resource,
                self.subresource,
                self.namespace,
                self.name,
            )
        return (self.verb, self.path)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule, as sets for matching; `raw` as written, for rules reviews."""

    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    resource_names: frozenset[str]
    urls: tuple[str, ...]
    raw: Obj = field(compare=False, hash=False)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Rule:
        def strings(key: str) -> list[str]:
            value = raw.get(key) or []
            return [str(v) for v in value] if isinstance(value, list) else []

        return cls(
            frozenset(strings("verbs")),
            frozenset(strings("apiGroups")),
            frozenset(strings("resources")),
            frozenset(strings("resourceNames")),
            tuple(strings("nonResourceURLs")),
            dict(raw),
        )

    def allows(self, attrs: Attributes) -> bool:
        """Upstream's RuleAllows."""
        if "*" not in self.verbs and attrs.verb not in self.verbs:
            return False
        if not attrs.resource_request:
            return self._url_matches(attrs.path)
        if "*" not in self.api_groups and attrs.api_group not in self.api_groups:
            return False
        if not self._resource_matches(attrs.resource, attrs.subresource):
            return False
        return not self.resource_names or attrs.name in self.resource_names

    def _resource_matches(self, resource: str, subresource: str) -> bool:
        resources = self.resources
        if "*" in resources:
            return True
        if not subresource:
            return resource in resources
        return f"{resource}/{subresource}" in resources or f"*/{subresource}" in resources

    def _url_matches(self, path: str) -> bool:
        for url in self.urls:
            if url == "*" or url == path:
                return True
            if url.endswith("*") and path.startswith(url.rstrip("*")):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str
    name: str
    namespace: str

    def describe(self, binding_namespace: str) -> str:
        if self.kind == "ServiceAccount":
            return (
                f"{self.kind} {go_quote(self.name + '/' + (self.namespace or binding_namespace))}"
            )
        return f"{self.kind} {go_quote(self.name)}"

    def applies_to(self, user: User, binding_namespace: str) -> bool:
        """Upstream's appliesToUser."""
        if self.kind == "User":
            return user.username == self.name
        if self.kind == "Group":
            return self.name in user.groups
        if self.kind == "ServiceAccount":
            namespace = self.namespace or binding_namespace
            return bool(namespace) and user.username == f"{SA_PREFIX}{namespace}:{self.name}"
        return False


@dataclass(frozen=True, slots=True)
class Binding:
    kind: str  # RoleBinding | ClusterRoleBinding
    name: str
    namespace: str  # "" for a ClusterRoleBinding
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> Binding:
        md = obj.get("metadata") or {}
        ref = obj.get("roleRef") or {}
        subjects = tuple(
            Subject(str(s.get("kind", "")), str(s.get("name", "")), str(s.get("namespace") or ""))
            for s in obj.get("subjects") or []
            if isinstance(s, dict)
        )
        return cls(
            str(obj.get("kind", "")),
            str(md.get("name", "")),
            str(md.get("namespace") or ""),
            str(ref.get("kind", "")),
            str(ref.get("name", "")),
            subjects,
        )

    def subject_for(self, user: User) -> Subject | None:
        """The first subject that is `user` (upstream's appliesTo)."""
        return next((s for s in self.subjects if s.applies_to(user, self.namespace)), None)

    def describe(self, subject: Subject) -> str:
        """The `source` a grant names in its reason, as upstream's describers write it."""
        name = self.name if self.kind == "ClusterRoleBinding" else f"{self.name}/{self.namespace}"
        return (
            f"{self.kind} {go_quote(name)} of {self.role_kind} {go_quote(self.role_name)} "
            f"to {subject.describe(self.namespace)}"
        )


class Index:
    """The RBAC objects at one moment, as the resolver reads them."""

    def __init__(self, objects: Mapping[str, Iterable[Obj]]) -> None:
        self.roles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self.cluster_roles: dict[str, tuple[Rule, ...]] = {}
        self.cluster_bindings: list[Binding] = []
        self.bindings: dict[str, list[Binding]] = {}
        for obj in objects.get("Role", ()):
            md = obj.get("metadata") or {}
            key = (str(md.get("namespace") or ""), str(md.get("name", "")))
            self.roles[key] = _rules(obj)
        for obj in objects.get("ClusterRole", ()):
            self.cluster_roles[str((obj.get("metadata") or {}).get("name", ""))] = _rules(obj)
        for obj in objects.get("ClusterRoleBinding", ()):
            self.cluster_bindings.append(Binding.parse(obj))
        for obj in objects.get("RoleBinding", ()):
            binding = Binding.parse(obj)
            self.bindings.setdefault(binding.namespace, []).append(binding)

    def role_rules(self, kind: str, name: str, namespace: str) -> tuple[Rule, ...] | str:
        """The rules a roleRef names, or why there are none (upstream's lister error)."""
        if kind == "Role":
            rules = self.roles.get((namespace, name))
            return rules if rules is not None else f"role.{RBAC_GROUP} {go_quote(name)} not found"
        if kind == "ClusterRole":
            rules = self.cluster_roles.get(name)
            if rules is None:
                return f"clusterrole.{RBAC_GROUP} {go_quote(name)} not found"
            return rules
        return f"unsupported role reference kind: {go_quote(kind)}"


def _rules(obj: Mapping[str, Any]) -> tuple[Rule, ...]:
    return tuple(Rule.parse(r) for r in obj.get("rules") or [] if isinstance(r, dict))


@dataclass(frozen=True)
class Resolved:
    """The rules that apply to one user in one namespace, each with the grant it comes
    from, and the errors met resolving them (missing roles)."""

    grants: tuple[tuple[str, Rule], ...]
    errors: tuple[str, ...]

    @property
    def rules(self) -> list[Rule]:
        return [rule for _, rule in self.grants]

    def error_text(self) -> str:
        return aggregate(self.errors)


def aggregate(messages: Iterable[str]) -> str:
    """Several errors as apimachinery's aggregate prints them: one alone, else
    `[a, b]` with repeats left out."""
    seen: list[str] = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]" if seen else ""


def resolve(index: Index, user: User, namespace: str) -> Resolved:
    """Upstream's VisitRulesFor, collected: ClusterRoleBindings first, then the
    RoleBindings of `namespace`."""
    grants: list[tuple[str, Rule]] = []
    errors: list[str] = []
    scopes: list[tuple[Iterable[Binding], str]] = [(index.cluster_bindings, "")]
    if namespace:
        scopes.append((index.bindings.get(namespace, ()), namespace))
    for bindings, scope in scopes:
        for binding in bindings:
            subject = binding.subject_for(user)
            if subject is None:
                continue
            rules = index.role_rules(binding.role_kind, binding.role_name, scope)
            if isinstance(rules, str):
                errors.append(rules)
                continue
            source = binding.describe(subject)
            grants.extend((source, rule) for rule in rules)
    return Resolved(tuple(grants), tuple(errors))


KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


class RbacAuthorizer:
    """The authorizer chain of `--authorization-mode=RBAC`: privileged group, then RBAC."""

    def __init__(self, store: Store, registry: Registry = REGISTRY) -> None:
        self._store = store
        types: list[ResourceType] = []
        for kind in KINDS:
            rt = registry.by_kind(f"{RBAC_GROUP}/v1", kind)
            assert rt is not None, kind
            types.append(rt)
        self._types = tuple(types)
        self._stamp: tuple[int, ...] | None = None
        self._index: Index | None = None
        self._resolved: dict[tuple[str, tuple[str, ...], str], Resolved] = {}
        self._decisions: dict[tuple[Any, ...], Decision] = {}

    # ---- the index, rebuilt when an RBAC object changed --------------------------

    def index(self) -> Index:
        store = self._store
        stamp = tuple(store.kind_revision(rt.store_prefix) for rt in self._types)
        if stamp != self._stamp or self._index is None:
            objects = {
                rt.kind: [orjson.loads(kv.value) for kv in store.list(rt.store_prefix)[0]]
                for rt in self._types
            }
            self._index = Index(objects)
            self._stamp = stamp
            self._resolved = {}
            self._decisions = {}
        return self._index

    def resolve(self, user: User, namespace: str) -> Resolved:
        """The rules for `user` in `namespace` (upstream's RulesFor)."""
        index = self.index()
        key = (user.username, user.groups, namespace)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= _CACHE_MAX:
                self._resolved = {}
            found = self._resolved[key] = resolve(index, user, namespace)
        return found

    # ---- deciding ------------------------------------------------------------------

    def authorize(self, attrs: Attributes) -> Decision:
        user = attrs.user
        if PRIVILEGED_GROUP in user.groups:
            return ALLOWED
        self.index()  # drops the answers when the objects changed
        key = (user.username, user.groups, *attrs.question())
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decide(attrs)
            if len(self._decisions) >= _CACHE_MAX:
                self._decisions = {}
            self._decisions[key] = decision
        return decision

    def _decide(self, attrs: Attributes) -> Decision:
        resolved = self.resolve(attrs.user, attrs.namespace)
        for source, rule in resolved.grants:
            if rule.allows(attrs):
                return Decision(True, f"RBAC: allowed by {source}")
        return Decision(False, f"RBAC: {resolved.error_text()}" if resolved.errors else "")

    def rules_review(self, user: User, namespace: str) -> Obj:
        """SubjectRulesReviewStatus: the user's rules in `namespace`."""
        resolved = self.resolve(user, namespace)
        status: Obj = {
            "resourceRules": [_resource_rule(r.raw) for r in resolved.rules if r.resources],
            "nonResourceRules": [_url_rule(r.raw) for r in resolved.rules if r.urls],
            "incomplete": False,
        }
        if resolved.errors:
            status["evaluationError"] = resolved.error_text()
        return status


ALLOWED = Decision(True)


def _resource_rule(raw: Mapping[str, Any]) -> Obj:
    out: Obj = {"verbs": list(raw.get("verbs") or [])}
    for key in ("apiGroups", "resources", "resourceNames"):
        if raw.get(key):
            out[key] = list(raw[key])
    return out


def _url_rule(raw: Mapping[str, Any]) -> Obj:
    return {"verbs": list(raw.get("verbs") or []), "nonResourceURLs": list(raw["nonResourceURLs"])}


# ---- denials -------------------------------------------------------------------------

_SANITIZE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def forbidden_message(attrs: Attributes) -> str:
    """What a denial says, before the reason (upstream's forbiddenMessage)."""
    user = go_quote(attrs.user.username)
    if not attrs.resource_request:
        return f"User {user} cannot {attrs.verb} path {go_quote(attrs.path)}"
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    head = (
        f"User {user} cannot {attrs.verb} resource {go_quote(resource)} "
        f"in API group {go_quote(attrs.api_group)}"
    )
    if attrs.namespace:
        return f"{head} in the namespace {go_quote(attrs.namespace)}"
    return f"{head} at the cluster scope"


def forbidden_status(attrs: Attributes, reason: str) -> tuple[str, Obj]:
    """The 403's message and details (upstream's ForbiddenStatusError)."""
    text = forbidden_message(attrs).translate(_SANITIZE)
    if reason:
        text = f"{text}: {reason}"
    qualified = attrs.resource + (f".{attrs.api_group}" if attrs.api_group else "")
    if not qualified:
        message = f"forbidden: {text}"
    elif not attrs.name:
        message = f"{qualified} is forbidden: {text}"
    else:
        message = f"{qualified} {go_quote(attrs.name)} is forbidden: {text}"
    details: Obj = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    if attrs.resource:
        details["kind"] = attrs.resource
    return message, details
