"""ValidatingAdmissionPolicy and bindings with the real kubectl: served, printed, enforced.

Each test binds its policy to its own labelled namespace only, so nothing
else in the module's cluster is affected.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = "vap-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"policy={name}")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _policy(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "operations": ["CREATE", "UPDATE"],
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "variables": [{"name": "replicas", "expression": "object.spec.replicas"}],
                "validations": [
                    {
                        "expression": "variables.replicas <= 5",
                        "messageExpression": "'replicas must be at most 5, not ' + "
                        "string(variables.replicas)",
                    }
                ],
            },
        }
    )


def _binding(name: str, policy: str, namespace: str, action: str) -> str:
    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": policy,
                "validationActions": [action],
                "matchResources": {"namespaceSelector": {"matchLabels": {"policy": namespace}}},
            },
        }
    )


def _deploy(cluster: Cluster, namespace: str, name: str, replicas: int) -> object:
    return cluster.kubectl(
        "create", "deployment", name, "--image=busybox", f"--replicas={replicas}", "-n", namespace,
        "--dry-run=server", check=False,
    )  # fmt: skip


def test_deny_and_tables(cluster, namespace):
    policy, binding = f"max-{namespace}", f"max-{namespace}-deny"
    cluster.kubectl("apply", "-f", "-", input=_policy(policy))
    cluster.kubectl("apply", "-f", "-", input=_binding(binding, policy, namespace, "Deny"))
    try:
        denied = _deploy(cluster, namespace, "big", 9)
        assert denied.returncode != 0
        assert (
            f"deployments.apps \"big\" is forbidden: ValidatingAdmissionPolicy '{policy}' with "
            f"binding '{binding}' denied request: replicas must be at most 5, not 9"
        ) in denied.stderr
        assert _deploy(cluster, namespace, "small", 2).returncode == 0
        table = cluster.kubectl("get", "validatingadmissionpolicy", policy).stdout.split("\n")
        assert table[0].split() == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
        assert table[1].split()[:3] == [policy, "1", "<unset>"]
        rows = cluster.kubectl("get", "validatingadmissionpolicybinding", binding).stdout
        assert rows.split("\n")[1].split()[:3] == [binding, policy, "<unset>"]
        explained = cluster.kubectl("explain", "validatingadmissionpolicy.spec.validations").stdout
        assert "messageExpression" in explained
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", binding, check=False)
        cluster.kubectl("delete", "validatingadmissionpolicy", policy, check=False)


def test_warn_lets_the_request_through(cluster, namespace):
    policy, binding = f"max-{namespace}", f"max-{namespace}-warn"
    cluster.kubectl("apply", "-f", "-", input=_policy(policy))
    cluster.kubectl("apply", "-f", "-", input=_binding(binding, policy, namespace, "Warn"))
    try:
        out = _deploy(cluster, namespace, "big", 9)
        assert out.returncode == 0
        assert (
            f"Warning: Validation failed for ValidatingAdmissionPolicy '{policy}' with binding "
            f"'{binding}': replicas must be at most 5, not 9"
        ) in out.stderr
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", binding, check=False)
        cluster.kubectl("delete", "validatingadmissionpolicy", policy, check=False)


def test_invalid_policy_is_refused(cluster):
    bad = json.loads(_policy("broken-policy"))
    bad["spec"]["validations"][0]["expression"] = "variables.replicas <="
    out = cluster.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0
    assert 'The ValidatingAdmissionPolicy "broken-policy" is invalid' in out.stderr
    assert "spec.validations[0].expression: Invalid value: " in out.stderr
    assert "compilation failed: ERROR: <input>:1:" in out.stderr
