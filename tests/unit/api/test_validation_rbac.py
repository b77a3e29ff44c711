"""rbac.authorization.k8s.io/v1 validation, with upstream's wording."""

from __future__ import annotations

from typing import Any

from kubelite.api.validation import validate

GROUP = "rbac.authorization.k8s.io/v1"
RBAC = "rbac.authorization.k8s.io"


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in validate(obj, old=old)]


def role(kind: str = "Role", **rule: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "r"}
    if kind == "Role":
        meta["namespace"] = "default"
    return {"apiVersion": GROUP, "kind": kind, "metadata": meta, "rules": [rule]}


def test_a_good_role_and_cluster_role() -> None:
    assert messages(role(verbs=["get"], apiGroups=[""], resources=["pods"])) == []
    assert messages(role("ClusterRole", verbs=["get"], nonResourceURLs=["/healthz"])) == []


def test_rules_need_verbs_groups_and_resources() -> None:
    assert messages(role()) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[0].resources: Required value: resource rules must supply at least one resource",
    ]


def test_non_resource_urls_only_in_cluster_wide_rules() -> None:
    errs = messages(role(verbs=["get"], nonResourceURLs=["/x"], resources=["pods"]))
    assert errs == [
        'rules[0].nonResourceURLs: Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs',
        'rules[0].nonResourceURLs: Invalid value: ["/x"]: rules cannot apply to both regular resources and non-resource URLs',
    ]


def binding(binding_kind: str = "RoleBinding", **ref: Any) -> dict[str, Any]:
    kind = binding_kind
    meta: dict[str, Any] = {"name": "b"}
    if kind == "RoleBinding":
        meta["namespace"] = "default"
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r", **ref}
    subjects = [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]
    return {
        "apiVersion": GROUP,
        "kind": kind,
        "metadata": meta,
        "roleRef": role_ref,
        "subjects": subjects,
    }


def test_bindings_name_a_role_of_this_group() -> None:
    assert messages(binding()) == []
    assert messages(binding("ClusterRoleBinding")) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'
    ]
    assert messages(binding(apiGroup="")) == [
        'roleRef.apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"'
    ]
    bad_subject = binding()
    bad_subject["subjects"] = [{"kind": "Robot", "name": ""}]
    assert messages(bad_subject) == [
        "subjects[0].name: Required value",
        'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
    ]


SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def test_binding_subjects_as_upstreams_validate_role_binding_subject() -> None:
    # The QA reproduction: a service account is named as an object name; an empty
    # User name is only "Required" (kubernetes#66203 dropped "user name cannot be empty").
    bad = binding(name="a/b")
    bad["subjects"] = [
        {"kind": "ServiceAccount", "name": "a:b"},
        {"kind": "User", "name": "", "apiGroup": RBAC},
        {"kind": "ServiceAccount", "name": "x", "apiGroup": RBAC},
        {"kind": "ServiceAccount", "name": "Bad_Name"},
        {"kind": "Group", "name": "", "apiGroup": RBAC},
    ]
    assert messages(bad) == [
        "roleRef.name: Invalid value: \"a/b\": may not contain '/'",
        f'subjects[0].name: Invalid value: "a:b": {SUBDOMAIN}',
        "subjects[1].name: Required value",
        'subjects[2].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: ""',
        f'subjects[3].name: Invalid value: "Bad_Name": {SUBDOMAIN}',
        "subjects[4].name: Required value",
    ]


def test_a_cluster_binding_names_its_service_accounts_namespace() -> None:
    cluster_wide = binding("ClusterRoleBinding", kind="ClusterRole")
    del cluster_wide["subjects"][0]["namespace"]
    assert messages(cluster_wide) == ["subjects[0].namespace: Required value"]


def test_role_ref_cannot_change() -> None:
    old = binding()
    old["metadata"]["resourceVersion"] = "1"
    new = binding(name="other")
    new["metadata"]["resourceVersion"] = "1"
    assert messages(new, old=old) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"}: cannot change roleRef'
    ]
