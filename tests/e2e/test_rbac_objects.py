"""RBAC objects apply as on a real cluster (stored and listed; the API allows everyone all)."""

from __future__ import annotations

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

CHART = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator-reads-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: operator}
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-watcher-%(ns)s}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}
- {nonResourceURLs: [/healthz], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: operator-watches-nodes-%(ns)s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-watcher-%(ns)s}
subjects:
- {kind: ServiceAccount, name: operator, namespace: %(ns)s}
"""


def test_a_chart_with_rbac_applies_and_lists(cluster: Cluster, namespace: str) -> None:
    out = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=CHART % {"ns": namespace}
    ).stdout
    assert "role.rbac.authorization.k8s.io/pod-reader created" in out
    assert (
        f"clusterrolebinding.rbac.authorization.k8s.io/operator-watches-nodes-{namespace} created"
        in out
    )
    wide = cluster.kubectl("get", "rolebindings", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    cells = wide[1].split()
    assert cells[:2] == ["operator-reads-pods", "Role/pod-reader"]
    # no groups (an empty cell); the subject gave no namespace, printed as upstream prints it
    assert cells[3:] == ["alice", "/operator"]
    roles = cluster.kubectl("get", "roles", "-n", namespace).stdout.splitlines()
    assert roles[0].split() == ["NAME", "CREATED", "AT"] and roles[1].startswith("pod-reader")
    again = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=CHART % {"ns": namespace})
    assert "role.rbac.authorization.k8s.io/pod-reader unchanged" in again.stdout


def test_a_binding_keeps_its_role_ref(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "rolebinding", "b", "-n", namespace, "--clusterrole=view", "--user=x")
    proc = cluster.kubectl(
        "patch",
        "rolebinding",
        "b",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"roleRef":{"name":"edit"}}',
        check=False,
    )
    assert proc.returncode != 0
    assert 'The RoleBinding "b" is invalid: roleRef: Invalid value' in proc.stderr
    assert "cannot change roleRef" in proc.stderr


def test_a_deleted_namespace_takes_its_roles(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "rbac-gone")
    cluster.kubectl("create", "role", "r", "-n", "rbac-gone", "--verb=get", "--resource=pods")
    cluster.kubectl("delete", "namespace", "rbac-gone", "--wait=false")
    wait_for(
        lambda: cluster.kubectl("get", "namespace", "rbac-gone", check=False).returncode != 0,
        timeout=30,
        what="namespace gone",
    )
    assert cluster.kubectl("get", "roles", "-A", "-o", "name").stdout.count("/r\n") == 0
