"""RBAC v1 defaulting: a binding's roleRef, and its User and Group subjects, belong to
the RBAC group when the manifest leaves the group out."""

from __future__ import annotations

from kubelite.api.defaults import apply_defaults


def test_role_ref_and_user_and_group_subjects_get_the_rbac_group() -> None:
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        binding = apply_defaults(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": "b"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [
                    {"kind": "User", "name": "ivan"},
                    {"kind": "Group", "name": "devs"},
                    {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
                ],
            }
        )
        assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
        groups = [s.get("apiGroup") for s in binding["subjects"]]
        assert groups == ["rbac.authorization.k8s.io", "rbac.authorization.k8s.io", None]
