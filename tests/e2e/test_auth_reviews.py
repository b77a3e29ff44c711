"""`kubectl auth can-i`, `kubectl auth whoami` and TokenReview: every authenticated user may do all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e


def test_can_i_says_yes_to_everything(cluster: Cluster) -> None:
    assert cluster.kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    assert cluster.kubectl("auth", "can-i", "*", "*", "--all-namespaces").stdout.strip() == "yes"
    assert cluster.kubectl("auth", "can-i", "get", "/healthz").stdout.strip() == "yes"
    rules = cluster.kubectl("auth", "can-i", "--list").stdout.splitlines()
    assert rules[1].split() == ["*.*", "[]", "[]", "[*]"]
    assert rules[2].split() == ["[*]", "[]", "[*]"]


def test_whoami_for_the_admin_and_a_service_account(cluster: Cluster) -> None:
    admin = cluster.kubectl("auth", "whoami", "-o", "json").stdout
    assert json.loads(admin)["status"]["userInfo"] == {
        "username": "system:admin",
        "groups": ["system:masters", "system:authenticated"],
    }
    token = cluster.kubectl("create", "token", "default").stdout.strip()
    out = cluster.kubectl("--token", token, "auth", "whoami").stdout
    assert "system:serviceaccount:default:default" in out
    assert "system:serviceaccounts:default" in out
    assert (
        cluster.kubectl("--token", token, "auth", "can-i", "delete", "nodes").stdout.strip()
        == "yes"
    )


def test_token_review_checks_a_token_for_someone_else(cluster: Cluster) -> None:
    token = cluster.kubectl("create", "token", "default").stdout.strip()

    def review(candidate: str, *audiences: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"token": candidate}
        if audiences:
            spec["audiences"] = list(audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        out = cluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(body)).stdout
        status: dict[str, Any] = json.loads(out)["status"]
        return status

    good = review(token)
    assert good["authenticated"] is True
    assert good["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    sa = json.loads(cluster.kubectl("get", "sa", "default", "-o", "json").stdout)
    assert good["user"]["username"] == "system:serviceaccount:default:default"
    assert good["user"]["uid"] == sa["metadata"]["uid"]
    assert good["user"]["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    (credential,) = good["user"]["extra"]["authentication.kubernetes.io/credential-id"]
    assert credential.startswith("JTI=")
    bad = review("not-a-token")
    assert bad == {"user": {}, "error": "invalid bearer token"}  # authenticated: omitempty
    # A token for another audience (Vault's Kubernetes auth) is checked for that audience.
    vault = cluster.kubectl("create", "token", "default", "--audience", "vault").stdout.strip()
    assert review(vault, "vault")["audiences"] == ["vault"]
    assert "is invalid for the target audiences" in review(vault)["error"]
    assert "authenticated" not in review(token, "vault")


def test_a_review_without_attributes_is_invalid(cluster: Cluster) -> None:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}}
    proc = cluster.kubectl("create", "-f", "-", input=json.dumps(body), check=False)
    assert proc.returncode != 0
    assert (
        "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        in proc.stderr
    )
