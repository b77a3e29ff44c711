"""`--authorization-mode RBAC`: rule matching, request attributes, denials, reviews,
impersonation and escalation checks, as upstream's RBAC authorizer has them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, call

from kubelite.api.registry import REGISTRY
from kubelite.apiserver.admission import default_plugins
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rbac_authorizer import (
    Attributes,
    Binding,
    RbacAuthorizer,
    Rule,
    forbidden_status,
)
from kubelite.apiserver.rbac_bootstrap import default_objects
from kubelite.apiserver.rbac_escalation import EscalationCheck
from kubelite.apiserver.requestinfo import request_info
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.reviews import User
from kubelite.store import Store

RBAC = "rbac.authorization.k8s.io"
RBAC_V1 = f"{RBAC}/v1"
SA = "system:serviceaccount:default:x"
SA_USER = User(SA, ("system:serviceaccounts", "system:serviceaccounts:default"))
BOB = User("bob", ("dev", "system:authenticated"))


def attrs(
    verb: str,
    resource: str = "pods",
    *,
    group: str = "",
    sub: str = "",
    ns: str = "default",
    name: str = "",
    user: User = BOB,
) -> Attributes:
    return Attributes(
        user, verb, api_group=group, resource=resource, subresource=sub, namespace=ns, name=name
    )


def url(verb: str, path: str, user: User = BOB) -> Attributes:
    return Attributes(user, verb, False, path=path)


# ---- one rule, one question (upstream's RuleAllows) ----------------------------------

POD_READER = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}


@pytest.mark.parametrize(
    ("rule", "question", "allowed"),
    [
        pytest.param(POD_READER, attrs("list"), True, id="verb-and-resource"),
        pytest.param(POD_READER, attrs("delete"), False, id="other-verb"),
        pytest.param(POD_READER, attrs("list", group="apps"), False, id="other-group"),
        pytest.param(POD_READER, attrs("get", sub="log"), False, id="subresource-not-parent"),
        pytest.param({**POD_READER, "verbs": ["*"]}, attrs("delete"), True, id="verb-star"),
        pytest.param(
            {**POD_READER, "apiGroups": ["*"]}, attrs("get", group="x"), True, id="group-star"
        ),
        pytest.param(
            {**POD_READER, "resources": ["*"]}, attrs("get", sub="log"), True, id="res-star"
        ),
        pytest.param(
            {**POD_READER, "resources": ["pods/log"]}, attrs("get", sub="log"), True, id="sub"
        ),
        pytest.param(
            {**POD_READER, "resources": ["pods/log"]}, attrs("get"), False, id="sub-not-parent"
        ),
        pytest.param(
            {**POD_READER, "resources": ["*/status"]},
            attrs("get", "deployments", group="", sub="status"),
            True,
            id="star-slash-sub",
        ),
        pytest.param(
            {**POD_READER, "resources": ["*/status"]},
            attrs("get", sub="log"),
            False,
            id="other-sub",
        ),
        pytest.param(
            {**POD_READER, "resourceNames": ["web"]}, attrs("get", name="web"), True, id="name"
        ),
        pytest.param(
            {**POD_READER, "resourceNames": ["web"]},
            attrs("get", name="db"),
            False,
            id="other-name",
        ),
        pytest.param(
            {**POD_READER, "resourceNames": ["web"]}, attrs("list"), False, id="names-need-one"
        ),
        pytest.param(
            {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            url("get", "/healthz"),
            True,
            id="url",
        ),
        pytest.param(
            {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            url("post", "/healthz"),
            False,
            id="url-verb",
        ),
        pytest.param(
            {"nonResourceURLs": ["/apis/*"], "verbs": ["get"]},
            url("get", "/apis/apps"),
            True,
            id="url-prefix",
        ),
        pytest.param(
            {"nonResourceURLs": ["/apis/*"], "verbs": ["get"]},
            url("get", "/api"),
            False,
            id="url-not-prefix",
        ),
        pytest.param(
            {"nonResourceURLs": ["*"], "verbs": ["*"]}, url("get", "/anything"), True, id="url-star"
        ),
        pytest.param(POD_READER, url("get", "/api"), False, id="resource-rule-no-url"),
        pytest.param(
            {"nonResourceURLs": ["*"], "verbs": ["*"]}, attrs("get"), False, id="url-rule-no-res"
        ),
    ],
)
def test_rule_allows(rule: dict[str, Any], question: Attributes, allowed: bool) -> None:
    assert Rule.parse(rule).allows(question) is allowed


# ---- subjects (upstream's appliesTo) -------------------------------------------------


def binding(kind: str, subjects: list[dict[str, str]], namespace: str = "") -> Binding:
    md = {"name": "b", **({"namespace": namespace} if namespace else {})}
    ref = {"apiGroup": RBAC, "kind": "ClusterRole", "name": "r"}
    return Binding.parse({"kind": kind, "metadata": md, "roleRef": ref, "subjects": subjects})


@pytest.mark.parametrize(
    ("bound", "user", "applies"),
    [
        pytest.param(
            binding("ClusterRoleBinding", [{"kind": "User", "name": "bob"}]), BOB, True, id="user"
        ),
        pytest.param(
            binding("ClusterRoleBinding", [{"kind": "User", "name": "dev"}]),
            BOB,
            False,
            id="user-not-group",
        ),
        pytest.param(
            binding("ClusterRoleBinding", [{"kind": "Group", "name": "dev"}]), BOB, True, id="group"
        ),
        pytest.param(
            binding(
                "ClusterRoleBinding",
                [{"kind": "ServiceAccount", "name": "x", "namespace": "default"}],
            ),
            SA_USER,
            True,
            id="sa",
        ),
        pytest.param(
            binding("RoleBinding", [{"kind": "ServiceAccount", "name": "x"}], "default"),
            SA_USER,
            True,
            id="sa-takes-binding-namespace",
        ),
        pytest.param(
            binding("ClusterRoleBinding", [{"kind": "ServiceAccount", "name": "x"}]),
            SA_USER,
            False,
            id="sa-without-namespace-cluster-wide",
        ),
        pytest.param(
            binding("RoleBinding", [{"kind": "ServiceAccount", "name": "x"}], "other"),
            SA_USER,
            False,
            id="sa-other-namespace",
        ),
        pytest.param(
            binding("ClusterRoleBinding", [{"kind": "Robot", "name": "bob"}]),
            BOB,
            False,
            id="unknown-kind",
        ),
    ],
)
def test_binding_subjects(bound: Binding, user: User, applies: bool) -> None:
    assert (bound.subject_for(user) is not None) is applies


# ---- request attributes (upstream's RequestInfoFactory) ---------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "want"),
    [
        ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "pods", "", "default", "")),
        (
            "GET",
            "/api/v1/namespaces/default/pods",
            {"watch": "true"},
            ("watch", "", "pods", "", "default", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods",
            {"watch": "0"},
            ("list", "", "pods", "", "default", ""),
        ),
        (
            "GET",
            "/api/v1/watch/namespaces/default/pods",
            {},
            ("watch", "", "pods", "", "default", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods",
            {"fieldSelector": "metadata.name=web", "watch": "1"},
            ("watch", "", "pods", "", "default", "web"),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/web",
            {},
            ("get", "", "pods", "", "default", "web"),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/web/log",
            {},
            ("get", "", "pods", "log", "default", "web"),
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods/web/exec",
            {},
            ("create", "", "pods", "exec", "default", "web"),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/web:8080/proxy/x/y",
            {},
            ("get", "", "pods", "proxy", "default", "web:8080"),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/services/web/proxy/",
            {},
            ("get", "", "services", "proxy", "default", "web"),
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/ns1/deployments/d/scale",
            {},
            ("update", "apps", "deployments", "scale", "ns1", "d"),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns1/deployments/d/status",
            {},
            ("patch", "apps", "deployments", "status", "ns1", "d"),
        ),
        ("POST", "/api/v1/namespaces/ns1/pods", {}, ("create", "", "pods", "", "ns1", "")),
        ("DELETE", "/api/v1/namespaces/ns1/pods/p", {}, ("delete", "", "pods", "", "ns1", "p")),
        (
            "DELETE",
            "/api/v1/namespaces/ns1/pods",
            {},
            ("deletecollection", "", "pods", "", "ns1", ""),
        ),
        ("GET", "/api/v1/nodes", {}, ("list", "", "nodes", "", "", "")),
        ("GET", "/api/v1/namespaces/ns1", {}, ("get", "", "namespaces", "", "ns1", "ns1")),
        (
            "PUT",
            "/api/v1/namespaces/ns1/finalize",
            {},
            ("update", "", "namespaces", "finalize", "ns1", "ns1"),
        ),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
    ],
)
def test_request_attributes(
    method: str, path: str, query: dict[str, str], want: tuple[str, ...]
) -> None:
    info = request_info(method, path, query)
    assert info.resource_request
    got = (info.verb, info.api_group, info.resource, info.subresource, info.namespace, info.name)
    assert got == want


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api"),
        ("GET", "/api/v1"),
        ("GET", "/apis"),
        ("GET", "/apis/apps"),
        ("GET", "/apis/apps/v1"),
        ("GET", "/healthz"),
        ("GET", "/version"),
        ("GET", "/openapi/v2"),
        ("POST", "/logs"),
    ],
)
def test_non_resource_urls(method: str, path: str) -> None:
    info = request_info(method, path, {})
    assert not info.resource_request
    assert (info.verb, info.path) == (method.lower(), path)


# ---- the 403 (upstream's forbiddenMessage and ForbiddenStatusError) ---------------------


@pytest.mark.parametrize(
    ("question", "message", "details"),
    [
        (
            attrs("list", user=SA_USER),
            'pods is forbidden: User "system:serviceaccount:default:x" cannot list resource '
            '"pods" in API group "" in the namespace "default"',
            {"kind": "pods"},
        ),
        (
            attrs("get", name="web"),
            'pods "web" is forbidden: User "bob" cannot get resource "pods" in API group "" '
            'in the namespace "default"',
            {"name": "web", "kind": "pods"},
        ),
        (
            attrs("create", sub="exec", name="web"),
            'pods "web" is forbidden: User "bob" cannot create resource "pods/exec" in API '
            'group "" in the namespace "default"',
            {"name": "web", "kind": "pods"},
        ),
        (
            attrs("list", "deployments", group="apps", ns=""),
            'deployments.apps is forbidden: User "bob" cannot list resource "deployments" in '
            'API group "apps" at the cluster scope',
            {"group": "apps", "kind": "deployments"},
        ),
        (
            url("get", "/metrics"),
            'forbidden: User "bob" cannot get path "/metrics"',
            {},
        ),
    ],
)
def test_forbidden_messages(question: Attributes, message: str, details: dict[str, str]) -> None:
    assert forbidden_status(question, "") == (message, details)


def test_forbidden_message_carries_the_reason_and_escapes_html() -> None:
    question = url("get", "/<script>", User("a&b"))
    message, _ = forbidden_status(question, "RBAC: x")
    assert message == 'forbidden: User "a&amp;b" cannot get path "/&lt;script&gt;": RBAC: x'


# ---- the authorizer over a store -------------------------------------------------------


def rbac(kind: str, name: str, namespace: str | None = None, **body: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if namespace:
        md["namespace"] = namespace
    return {"apiVersion": RBAC_V1, "kind": kind, "metadata": md, **body}


def role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": kind, "name": name}


@dataclass
class Cluster:
    storage: RestStorage
    authorizer: RbacAuthorizer
    app: ApiApp

    def put(self, obj: dict[str, Any]) -> None:
        rt = REGISTRY.by_kind(obj["apiVersion"], obj["kind"])
        assert rt is not None
        self.storage.create(rt, obj["metadata"].get("namespace"), obj)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    store = Store(tmp_path / "db")
    authorizer = RbacAuthorizer(store)
    storage = RestStorage(store, admission=[*default_plugins(), EscalationCheck(authorizer)])
    c = Cluster(storage, authorizer, ApiApp(storage, token=TOKEN, authorizer=authorizer))
    for ns in ("default", "other", "kube-system", "kube-public"):
        c.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for obj in default_objects():
        c.put(obj)
    try:
        yield c
    finally:
        store.close()


def grant_pod_reader(c: Cluster, subject: dict[str, str], namespace: str = "default") -> None:
    c.put(rbac("Role", "pod-reader", namespace, rules=[POD_READER]))
    c.put(
        rbac(
            "RoleBinding",
            "read-pods",
            namespace,
            roleRef=role_ref("Role", "pod-reader"),
            subjects=[subject],
        )
    )


def test_masters_are_always_allowed(cluster: Cluster) -> None:
    admin = User("anyone", ("system:masters",))
    assert cluster.authorizer.authorize(attrs("delete", "nodes", ns="", user=admin)).allowed


def test_default_roles_grant_discovery_and_self_reviews(cluster: Cluster) -> None:
    user = User("carol", ("system:authenticated",))
    decide = cluster.authorizer.authorize
    assert decide(url("get", "/apis/apps/v1", user)).reason == (
        'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole '
        '"system:discovery" to Group "system:authenticated"'
    )
    question = attrs("create", "selfsubjectaccessreviews", group="authorization.k8s.io", ns="")
    assert decide(Attributes(user, **_fields(question))).allowed
    assert not decide(attrs("list", user=user)).allowed


def _fields(a: Attributes) -> dict[str, Any]:
    return {
        "verb": a.verb,
        "api_group": a.api_group,
        "resource": a.resource,
        "namespace": a.namespace,
    }


def test_role_binding_grants_in_its_namespace_only(cluster: Cluster) -> None:
    decide = cluster.authorizer.authorize
    assert not decide(attrs("list", user=SA_USER)).allowed  # before: cached as denied
    grant_pod_reader(cluster, {"kind": "ServiceAccount", "name": "x"})  # namespace defaulted
    allowed = decide(attrs("list", user=SA_USER))  # the write invalidates the cache
    assert allowed.allowed
    assert allowed.reason == (
        'RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to '
        'ServiceAccount "x/default"'
    )
    assert not decide(attrs("list", ns="other", user=SA_USER)).allowed
    assert not decide(attrs("list", ns="", user=SA_USER)).allowed  # all namespaces


def test_cluster_role_binding_grants_everywhere(cluster: Cluster) -> None:
    cluster.put(
        rbac(
            "ClusterRoleBinding",
            "bob-view",
            roleRef=role_ref("ClusterRole", "view"),
            subjects=[{"kind": "User", "name": "bob", "apiGroup": RBAC}],
        )
    )
    # `view` is aggregated: the in-process store has no aggregation controller, so
    # give it its rules as the controller would.
    decide = cluster.authorizer.authorize
    assert not decide(attrs("list", ns="other")).allowed
    rt = REGISTRY.by_kind(RBAC_V1, "ClusterRole")
    assert rt is not None
    view = cluster.storage.get(rt, None, "view").obj()
    view["rules"] = [POD_READER]
    cluster.storage.update(rt, None, "view", view)
    decision = decide(attrs("list", ns="other"))
    assert decision.reason == (
        'RBAC: allowed by ClusterRoleBinding "bob-view" of ClusterRole "view" to User "bob"'
    )
    assert decide(attrs("list", ns="")).allowed


def test_role_binding_may_name_a_cluster_role(cluster: Cluster) -> None:
    cluster.put(rbac("ClusterRole", "pod-reader", rules=[POD_READER]))
    cluster.put(
        rbac(
            "RoleBinding",
            "rb",
            "other",
            roleRef=role_ref("ClusterRole", "pod-reader"),
            subjects=[{"kind": "Group", "name": "dev", "apiGroup": RBAC}],
        )
    )
    decide = cluster.authorizer.authorize
    assert decide(attrs("get", ns="other", name="p")).reason == (
        'RBAC: allowed by RoleBinding "rb/other" of ClusterRole "pod-reader" to Group "dev"'
    )
    assert not decide(attrs("get", ns="default", name="p")).allowed


def test_a_missing_role_is_the_reason_of_the_denial(cluster: Cluster) -> None:
    cluster.put(
        rbac(
            "RoleBinding",
            "rb",
            "default",
            roleRef=role_ref("Role", "gone"),
            subjects=[{"kind": "User", "name": "bob", "apiGroup": RBAC}],
        )
    )
    cluster.put(
        rbac(
            "ClusterRoleBinding",
            "crb",
            roleRef=role_ref("ClusterRole", "gone"),
            subjects=[{"kind": "User", "name": "bob", "apiGroup": RBAC}],
        )
    )
    decision = cluster.authorizer.authorize(attrs("list"))
    assert not decision.allowed
    assert decision.reason == (
        'RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, '
        'role.rbac.authorization.k8s.io "gone" not found]'
    )


# ---- through the HTTP layer --------------------------------------------------------------

AS_SA = {"impersonate_user": SA}
PODS = "/api/v1/namespaces/default/pods"


def test_denied_request_is_upstreams_403(cluster: Cluster) -> None:
    resp = call(cluster.app, "GET", PODS, **AS_SA)
    assert resp.status_code == 403
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: User "{SA}" cannot list resource "pods" in API group '
        '"" in the namespace "default"',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    assert call(cluster.app, "GET", "/apis", **AS_SA).status_code == 200  # system:discovery
    grant_pod_reader(cluster, {"kind": "ServiceAccount", "name": "x", "namespace": "default"})
    assert call(cluster.app, "GET", PODS, **AS_SA).status_code == 200
    assert call(cluster.app, "DELETE", PODS + "/p", **AS_SA).status_code == 403


def test_admin_token_may_do_everything(cluster: Cluster) -> None:
    assert call(cluster.app, "GET", "/api/v1/nodes").status_code == 200
    assert call(cluster.app, "GET", "/metrics-not-served").status_code == 404


def access_review(c: Cluster, kind: str, spec: dict[str, Any], ns: str = "", **h: str) -> Any:
    plural = kind.lower() + "s"
    path = f"/apis/authorization.k8s.io/v1/{f'namespaces/{ns}/' if ns else ''}{plural}"
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec}
    return call(c.app, "POST", path, body, **h)


LIST_PODS = {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}}


def test_self_subject_access_review_answers_by_rbac(cluster: Cluster) -> None:
    resp = access_review(cluster, "SelfSubjectAccessReview", LIST_PODS, **AS_SA)
    assert resp.status_code == 201
    assert resp.json()["status"] == {"allowed": False}
    grant_pod_reader(cluster, {"kind": "ServiceAccount", "name": "x"})
    status = access_review(cluster, "SelfSubjectAccessReview", LIST_PODS, **AS_SA).json()["status"]
    assert status == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to '
        'ServiceAccount "x/default"',
    }
    admin = access_review(cluster, "SelfSubjectAccessReview", LIST_PODS).json()["status"]
    assert admin == {"allowed": True}  # system:masters: the privileged-group authorizer


def test_subject_access_reviews_ask_for_the_spec_user(cluster: Cluster) -> None:
    grant_pod_reader(cluster, {"kind": "User", "name": "bob", "apiGroup": RBAC})
    spec = {**LIST_PODS, "user": "bob"}
    sar = access_review(cluster, "SubjectAccessReview", spec).json()["status"]
    assert sar["allowed"] is True and "RoleBinding" in sar["reason"]
    other = access_review(cluster, "SubjectAccessReview", {**LIST_PODS, "user": "eve"})
    assert other.json()["status"] == {"allowed": False}
    local = access_review(cluster, "LocalSubjectAccessReview", spec, ns="default")
    assert local.status_code == 201 and local.json()["status"]["allowed"] is True
    mismatch = access_review(cluster, "LocalSubjectAccessReview", spec, ns="other")
    assert mismatch.status_code == 422
    assert "spec.resourceAttributes.namespace" in mismatch.json()["message"]
    nobody = access_review(cluster, "SubjectAccessReview", LIST_PODS)
    assert nobody.status_code == 422
    assert (
        'spec.user: Invalid value: "": at least one of user or group must be specified'
        in (nobody.json()["message"])
    )


def test_review_requests_upstream_refuses_are_refused(cluster: Cluster) -> None:
    both = {**LIST_PODS, "nonResourceAttributes": {"path": "/x", "verb": "get"}, "user": "x"}
    r = access_review(cluster, "SubjectAccessReview", both)
    assert r.status_code == 422
    assert r.json()["message"] == (
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: '
        'Invalid value: authorization.NonResourceAttributes{Path:"/x", Verb:"get"}: '
        "cannot be specified in combination with resourceAttributes"
    )
    path = "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews"
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "LocalSubjectAccessReview",
        "metadata": {"namespace": "other"},
        "spec": {**LIST_PODS, "user": "x"},
    }
    r = call(cluster.app, "POST", path, body)
    assert r.status_code == 400
    assert r.json()["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": 5}}
    r = call(cluster.app, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert r.status_code == 400
    assert r.json()["message"].startswith(
        'TokenReview in version "v1" cannot be handled as a TokenReview: '
        "json: cannot unmarshal number into Go struct field"
    )


def test_self_subject_rules_review_lists_the_users_rules(cluster: Cluster) -> None:
    grant_pod_reader(cluster, {"kind": "ServiceAccount", "name": "x"})
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview"}
    path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
    resp = call(cluster.app, "POST", path, {**body, "spec": {"namespace": "default"}}, **AS_SA)
    status = resp.json()["status"]
    assert POD_READER in status["resourceRules"]
    assert {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    } in status["resourceRules"]
    assert {
        "verbs": ["get"],
        "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
    } in status["nonResourceRules"]
    assert status["incomplete"] is False
    other = call(cluster.app, "POST", path, {**body, "spec": {"namespace": "other"}}, **AS_SA)
    assert POD_READER not in other.json()["status"]["resourceRules"]
    missing = call(cluster.app, "POST", path, {**body, "spec": {}}, **AS_SA)
    assert missing.status_code == 400 and missing.json()["message"] == "no namespace on request"


# ---- impersonation ------------------------------------------------------------------------


def test_impersonating_needs_the_impersonate_verb(cluster: Cluster) -> None:
    grant_pod_reader(cluster, {"kind": "ServiceAccount", "name": "x"})
    assert call(cluster.app, "GET", PODS, **AS_SA).status_code == 200  # admin: any user
    as_bob = call(cluster.app, "GET", PODS, impersonate_user="bob", impersonate_group="dev")
    assert as_bob.status_code == 403  # ... and then has bob's rights, none
    rule = {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}
    cluster.put(rbac("ClusterRole", "as-bob", rules=[{**rule, "resourceNames": ["bob"]}]))
    cluster.put(
        rbac(
            "ClusterRoleBinding",
            "carol-as-bob",
            roleRef=role_ref("ClusterRole", "as-bob"),
            subjects=[{"kind": "User", "name": "carol", "apiGroup": RBAC}],
        )
    )
    carol = User("carol", ("system:authenticated",))
    decide = cluster.authorizer.authorize
    assert decide(Attributes(carol, "impersonate", resource="users", name="bob")).allowed
    assert not decide(Attributes(carol, "impersonate", resource="users", name="eve")).allowed


def test_impersonation_forbidden_message(cluster: Cluster) -> None:
    from kubelite.apiserver import errors
    from kubelite.apiserver.impersonation import impersonate

    carol = User("carol", ("system:authenticated",))
    with pytest.raises(errors.Forbidden) as denied:
        impersonate(carol, [("impersonate-user", "x")], cluster.authorizer.authorize)
    assert str(denied.value) == (
        'users "x" is forbidden: User "carol" cannot impersonate resource "users" in API '
        'group "" at the cluster scope'
    )
    with pytest.raises(errors.Forbidden) as sa:
        impersonate(carol, [("impersonate-user", SA)], cluster.authorizer.authorize)
    assert str(sa.value) == (
        'serviceaccounts "x" is forbidden: User "carol" cannot impersonate resource '
        '"serviceaccounts" in API group "" in the namespace "default"'
    )
    with pytest.raises(errors.BadRequest):
        impersonate(carol, [("impersonate-group", "g")], None)


def test_impersonated_groups(cluster: Cluster) -> None:
    from kubelite.apiserver.impersonation import impersonate

    admin = User("system:admin", ("system:masters",))
    sa = impersonate(admin, [("impersonate-user", SA)], None)
    assert sa is not None
    assert sa.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    )
    bob = impersonate(
        admin,
        [("impersonate-user", "bob"), ("impersonate-group", "a"), ("impersonate-group", "b")],
        None,
    )
    assert bob is not None and bob.groups == ("a", "b", "system:authenticated")
    anon = impersonate(admin, [("impersonate-user", "system:anonymous")], None)
    assert anon is not None and anon.groups == ("system:unauthenticated",)


# ---- escalation (upstream's RBAC storage) ------------------------------------------------

ROLES = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles"
BINDINGS = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
ROLE_WRITER = {
    "apiGroups": [RBAC],
    "resources": ["roles", "rolebindings"],
    "verbs": ["create", "update"],
}


def test_a_role_may_grant_only_what_its_writer_holds(cluster: Cluster) -> None:
    cluster.put(rbac("Role", "writer", "default", rules=[ROLE_WRITER, POD_READER]))
    cluster.put(
        rbac(
            "RoleBinding",
            "writer",
            "default",
            roleRef=role_ref("Role", "writer"),
            subjects=[{"kind": "ServiceAccount", "name": "x"}],
        )
    )
    held = rbac("Role", "held", "default", rules=[{**POD_READER, "verbs": ["list"]}])
    assert call(cluster.app, "POST", ROLES, held, **AS_SA).status_code == 201
    more = rbac(
        "Role",
        "more",
        "default",
        rules=[{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "delete"]}],
    )
    resp = call(cluster.app, "POST", ROLES, more, **AS_SA)
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        'roles.rbac.authorization.k8s.io "more" is forbidden: user '
        f'"{SA}" (groups=["system:serviceaccounts" "system:serviceaccounts:default" '
        '"system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}'
    )
    assert resp.json()["details"] == {"name": "more", "group": RBAC, "kind": "roles"}
    # ... unless they may `escalate` roles.
    cluster.put(
        rbac(
            "Role",
            "escalator",
            "default",
            rules=[{"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}],
        )
    )
    cluster.put(
        rbac(
            "RoleBinding",
            "escalator",
            "default",
            roleRef=role_ref("Role", "escalator"),
            subjects=[{"kind": "ServiceAccount", "name": "x"}],
        )
    )
    assert call(cluster.app, "POST", ROLES, more, **AS_SA).status_code == 201


def test_a_binding_needs_the_roles_permissions_or_bind(cluster: Cluster) -> None:
    cluster.put(rbac("Role", "writer", "default", rules=[ROLE_WRITER]))
    cluster.put(
        rbac(
            "RoleBinding",
            "writer",
            "default",
            roleRef=role_ref("Role", "writer"),
            subjects=[{"kind": "ServiceAccount", "name": "x"}],
        )
    )
    cluster.put(rbac("Role", "pod-reader", "default", rules=[POD_READER]))
    body = rbac(
        "RoleBinding",
        "bob-reads",
        "default",
        roleRef=role_ref("Role", "pod-reader"),
        subjects=[{"kind": "User", "name": "bob", "apiGroup": RBAC}],
    )
    resp = call(cluster.app, "POST", BINDINGS, body, **AS_SA)
    assert resp.status_code == 403
    assert "is attempting to grant RBAC permissions not currently held" in resp.json()["message"]
    assert resp.json()["message"].startswith(
        'rolebindings.rbac.authorization.k8s.io "bob-reads" is forbidden: '
    )
    cluster.put(
        rbac(
            "Role",
            "binder",
            "default",
            rules=[
                {
                    "apiGroups": [RBAC],
                    "resources": ["roles"],
                    "verbs": ["bind"],
                    "resourceNames": ["pod-reader"],
                }
            ],
        )
    )
    cluster.put(
        rbac(
            "RoleBinding",
            "binder",
            "default",
            roleRef=role_ref("Role", "binder"),
            subjects=[{"kind": "ServiceAccount", "name": "x"}],
        )
    )
    assert call(cluster.app, "POST", BINDINGS, body, **AS_SA).status_code == 201


CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
AGGREGATION = {"clusterRoleSelectors": [{"matchLabels": {"foo": "bar"}}]}


def test_writing_an_aggregated_cluster_role_needs_full_authority(cluster: Cluster) -> None:
    # Upstream's clusterrole policybased Storage.Update: when the old or the new object
    # has a non-empty aggregationRule, the writer needs * on *.* -- also to relabel it
    # or to remove the rule (which would freeze what it gathered).
    writer = {
        "apiGroups": [RBAC],
        "resources": ["clusterroles"],
        "verbs": ["create", "update", "get", "patch"],
    }
    cluster.put(rbac("ClusterRole", "cr-writer", rules=[writer]))
    cluster.put(
        rbac(
            "ClusterRoleBinding",
            "cr-writer",
            roleRef=role_ref("ClusterRole", "cr-writer"),
            subjects=[{"kind": "ServiceAccount", "name": "x", "namespace": "default"}],
        )
    )
    cluster.put(rbac("ClusterRole", "aggx", aggregationRule=AGGREGATION))
    cluster.put(rbac("ClusterRole", "plain", aggregationRule={"clusterRoleSelectors": []}))

    def put(name: str, change: dict[str, Any]) -> Any:
        current = call(cluster.app, "GET", f"{CLUSTER_ROLES}/{name}").json()
        return call(cluster.app, "PUT", f"{CLUSTER_ROLES}/{name}", {**current, **change}, **AS_SA)

    refused = (
        'clusterroles.rbac.authorization.k8s.io "aggx" is forbidden: '
        "must have cluster-admin privileges to use the aggregationRule"
    )
    labelled = put("aggx", {"metadata": {"name": "aggx", "labels": {"x": "y"}}})
    assert (labelled.status_code, labelled.json()["message"]) == (403, refused)
    removed = put("aggx", {"aggregationRule": None})
    assert (removed.status_code, removed.json()["message"]) == (403, refused)
    # An empty selector list is no aggregation rule (upstream's hasAggregationRule).
    assert put("plain", {"metadata": {"name": "plain", "labels": {"x": "y"}}}).status_code == 200


def test_in_process_writes_are_privileged(cluster: Cluster) -> None:
    # The in-process client (controllers, the RBAC bootstrap) writes as the loopback
    # user in system:masters: no escalation check stops it.
    cluster.put(
        rbac(
            "ClusterRole",
            "anything",
            rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        )
    )


# ---- AlwaysAllow stays as it was ---------------------------------------------------------


def test_always_allow_authorizes_everyone(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    try:
        storage = RestStorage(store)
        storage.create(
            REGISTRY.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
            None,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
        )
        app = ApiApp(storage, token=TOKEN)
        assert call(app, "GET", PODS, **AS_SA).status_code == 200
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": LIST_PODS,
        }
        resp = call(
            app, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, **AS_SA
        )
        assert resp.json()["status"] == {"allowed": True}
        who = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        me = call(app, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", who, **AS_SA)
        assert me.json()["status"]["userInfo"]["username"] == SA
    finally:
        store.close()


def test_admission_policies_ask_the_real_authorizer(cluster: Cluster) -> None:
    """`authorizer` in a ValidatingAdmissionPolicy asks RBAC for the request's user;
    `authorizer.requestResource` is the request's own resource."""
    arg = "admissionregistration.k8s.io/v1"
    checks = [
        ("list-secrets", "authorizer.group('').resource('secrets').namespace('default').check('list').allowed()"),
        ("own-resource", "authorizer.requestResource.check('get').allowed()"),
    ]  # fmt: skip
    for name, expression in checks:
        cluster.put(
            {
                "apiVersion": arg,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE"],
                                "resources": ["configmaps"],
                            }  # fmt: skip
                        ]
                    },
                    "validations": [{"expression": expression, "message": f"{name} needed"}],
                },
            }
        )
        cluster.put(
            {
                "apiVersion": arg,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {"policyName": name, "validationActions": ["Deny"]},
            }
        )
    writer = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}
    cluster.put(rbac("Role", "cm-writer", "default", rules=[writer]))
    subject = {"kind": "ServiceAccount", "name": "x", "namespace": "default"}
    binding = rbac("RoleBinding", "cm-writer", "default", roleRef=role_ref("Role", "cm-writer"))
    cluster.put({**binding, "subjects": [subject]})
    body = {"metadata": {"name": "c1"}}
    path = "/api/v1/namespaces/default/configmaps"
    refused = call(cluster.app, "POST", path, body, **AS_SA)
    assert refused.status_code == 422, refused.text  # a policy's denial: reason Invalid
    assert refused.json()["message"].endswith("denied request: list-secrets needed")

    def grant(name: str, rule: dict[str, Any]) -> None:
        cluster.put(rbac("Role", name, "default", rules=[rule]))
        bound = rbac("RoleBinding", name, "default", roleRef=role_ref("Role", name))
        cluster.put({**bound, "subjects": [subject]})

    grant("secret-lister", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]})
    refused = call(cluster.app, "POST", path, body, **AS_SA)
    assert refused.json()["message"].endswith("denied request: own-resource needed")
    grant("cm-getter", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]})
    assert call(cluster.app, "POST", path, body, **AS_SA).status_code == 201
