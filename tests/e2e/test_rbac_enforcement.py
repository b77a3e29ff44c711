"""`kubelite up --authorization-mode RBAC`: the real kubectl and a pod's in-cluster client
are refused, then allowed, as on a cluster running upstream's RBAC authorizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for
from tests.e2e.test_service_accounts import finished_log, python_pod

pytestmark = pytest.mark.e2e


@pytest.fixture
def ns(rbac_cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = "rbac-" + request.node.name.replace("_", "-")[5:30].strip("-")
    rbac_cluster.kubectl("create", "namespace", name)
    return name


def kubectl_with(cluster: Cluster, token: str, *args: str) -> Any:
    return cluster.kubectl("--token", token, *args, check=False)


def forbidden_line(user: str, verb: str, resource: str, ns: str) -> str:
    return (
        f'Error from server (Forbidden): {resource} is forbidden: User "{user}" cannot '
        f'{verb} resource "{resource}" in API group "" in the namespace "{ns}"'
    )


def test_service_account_token_is_denied_then_allowed(rbac_cluster: Cluster, ns: str) -> None:
    c = rbac_cluster
    c.kubectl("create", "serviceaccount", "reader", "-n", ns)
    token = c.kubectl("create", "token", "reader", "-n", ns).stdout.strip()
    user = f"system:serviceaccount:{ns}:reader"
    denied = kubectl_with(c, token, "get", "pods", "-n", ns)
    assert denied.returncode != 0
    assert denied.stderr.strip() == forbidden_line(user, "list", "pods", ns)
    c.kubectl("create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", ns)
    c.kubectl(
        "create",
        "rolebinding",
        "reader-reads",
        "--role=pod-reader",
        f"--serviceaccount={ns}:reader",
        "-n",
        ns,
    )
    allowed = kubectl_with(c, token, "get", "pods", "-n", ns)
    assert allowed.returncode == 0, allowed.stderr
    assert "No resources found" in allowed.stderr
    # Only in the binding's namespace, and only the role's verbs.
    elsewhere = kubectl_with(c, token, "get", "pods", "-n", "default")
    assert elsewhere.stderr.strip() == forbidden_line(user, "list", "pods", "default")
    delete = kubectl_with(c, token, "delete", "pod", "nope", "-n", ns)
    assert 'pods "nope" is forbidden' in delete.stderr
    assert f'cannot delete resource "pods" in API group "" in the namespace "{ns}"' in delete.stderr


def can_i(cluster: Cluster, *args: str) -> str:
    proc = cluster.kubectl("auth", "can-i", *args, check=False)
    return proc.stdout.strip()


def test_can_i_as_a_service_account(rbac_cluster: Cluster, ns: str) -> None:
    c = rbac_cluster
    who = f"--as=system:serviceaccount:{ns}:x"
    assert can_i(c, "list", "pods", "-n", ns, who) == "no"
    c.kubectl("create", "role", "lister", "--verb=list", "--resource=pods", "-n", ns)
    c.kubectl(
        "create", "rolebinding", "x-lists", "--role=lister", f"--serviceaccount={ns}:x", "-n", ns
    )
    assert can_i(c, "list", "pods", "-n", ns, who) == "yes"
    assert can_i(c, "delete", "pods", "-n", ns, who) == "no"
    assert can_i(c, "list", "pods", "-n", "default", who) == "no"
    assert can_i(c, "get", "/apis", who) == "yes"  # system:discovery, to everyone
    rules = c.kubectl("auth", "can-i", "--list", "-n", ns, who).stdout
    assert any(line.split()[:4] == ["pods", "[]", "[]", "[list]"] for line in rules.splitlines())
    # The SelfSubjectAccessReview says which binding allows it.
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": ns}},
    }
    out = c.kubectl("create", "-f", "-", "-o", "json", who, input=json.dumps(review)).stdout
    assert json.loads(out)["status"] == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "x-lists/{ns}" of Role "lister" to '
        f'ServiceAccount "x/{ns}"',
    }


def test_impersonation_needs_the_impersonate_verb(rbac_cluster: Cluster, ns: str) -> None:
    c = rbac_cluster
    c.kubectl("create", "serviceaccount", "plain", "-n", ns)
    token = c.kubectl("create", "token", "plain", "-n", ns).stdout.strip()
    proc = kubectl_with(c, token, "get", "pods", "--as=someone")
    assert proc.stderr.strip() == (
        'Error from server (Forbidden): users "someone" is forbidden: User '
        f'"system:serviceaccount:{ns}:plain" cannot impersonate resource "users" in API '
        'group "" at the cluster scope'
    )


IN_CLUSTER_RETRY = """
import time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()
api = client.CoreV1Api()
denied = False
while True:
    try:
        pods = api.list_namespaced_pod(ns)
    except ApiException as exc:
        if not denied:
            print('DENIED', exc.status, exc.body, flush=True)
            denied = True
        time.sleep(0.2)
        continue
    print('ALLOWED', sorted(p.metadata.name for p in pods.items), flush=True)
    break
"""


def test_a_pod_in_cluster_is_denied_then_allowed(rbac_cluster: Cluster, ns: str) -> None:
    c = rbac_cluster
    manifest = python_pod("incluster", IN_CLUSTER_RETRY)
    c.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))

    def denied_line() -> str | None:
        out = c.kubectl("logs", "incluster", "-n", ns, check=False).stdout
        return next((line for line in out.splitlines() if line.startswith("DENIED")), None)

    line = wait_for(denied_line, what="the pod to be denied", timeout=120)
    status = json.loads(line.split(" ", 2)[2])
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    assert status["message"] == (
        f'pods is forbidden: User "system:serviceaccount:{ns}:default" cannot list resource '
        f'"pods" in API group "" in the namespace "{ns}"'
    )
    c.kubectl(
        "create", "rolebinding", "default-views", "--clusterrole=view",
        f"--serviceaccount={ns}:default", "-n", ns,
    )  # fmt: skip
    assert "ALLOWED ['incluster']" in finished_log(c, ns, "incluster")


def test_admin_kubeconfig_may_do_everything(rbac_cluster: Cluster, ns: str) -> None:
    c = rbac_cluster
    assert can_i(c, "*", "*", "--all-namespaces") == "yes"
    c.kubectl("create", "configmap", "cfg", "--from-literal=a=b", "-n", ns)
    assert c.kubectl_json("get", "configmap", "cfg", "-n", ns)["data"] == {"a": "b"}
    assert c.kubectl("get", "nodes").returncode == 0
    assert c.kubectl("get", "--raw", "/healthz").stdout == "ok"


def test_kubelites_own_parts_still_work(rbac_cluster: Cluster, ns: str) -> None:
    """Controllers, scheduler and node agents write through the in-process client:
    a Deployment still becomes ready pods under RBAC."""
    c = rbac_cluster
    manifest = python_pod("sleeper", "import time; time.sleep(600)")
    template = {"metadata": {"labels": {"app": "s"}}, "spec": manifest["spec"]}
    template["spec"] = {**manifest["spec"], "restartPolicy": "Always"}
    template["spec"].pop("nodeName")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "s"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "s"}}, "template": template},
    }
    c.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(deployment))
    c.kubectl("rollout", "status", "deployment/s", "-n", ns, "--timeout=120s", timeout=150)


def test_escalation_is_refused(rbac_cluster: Cluster, ns: str) -> None:
    c = rbac_cluster
    c.kubectl("create", "serviceaccount", "admin-ish", "-n", ns)
    c.kubectl(
        "create", "rolebinding", "admin-ish", "--clusterrole=admin",
        f"--serviceaccount={ns}:admin-ish", "-n", ns,
    )  # fmt: skip
    token = c.kubectl("create", "token", "admin-ish", "-n", ns).stdout.strip()
    ok = kubectl_with(c, token, "create", "role", "r", "--verb=get", "--resource=pods", "-n", ns)
    assert ok.returncode == 0, ok.stderr
    nodes = kubectl_with(
        c, token, "create", "role", "n", "--verb=get", "--resource=nodes", "-n", ns
    )
    assert nodes.returncode != 0
    assert 'roles.rbac.authorization.k8s.io "n" is forbidden: user ' in nodes.stderr
    assert 'is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], ' in (
        nodes.stderr
    )
    binding = kubectl_with(
        c, token, "create", "rolebinding", "b", "--clusterrole=cluster-admin", "--user=u", "-n", ns
    )
    assert binding.returncode != 0
    assert 'rolebindings.rbac.authorization.k8s.io "b" is forbidden' in binding.stderr


def test_an_aggregated_cluster_role_needs_cluster_admin_to_change(
    rbac_cluster: Cluster, ns: str
) -> None:
    """Upstream's clusterrole storage: relabelling, or removing the aggregationRule of, an
    aggregated ClusterRole needs `*` on everything (the QA reproduction)."""
    c = rbac_cluster
    c.kubectl("create", "serviceaccount", "gina", "-n", ns)
    writer, agg = f"{ns}-cr-writer", f"{ns}-aggx"
    c.kubectl(
        "create", "clusterrole", writer, "--verb=create,update,get,patch",
        "--resource=clusterroles",
    )  # fmt: skip
    c.kubectl(
        "create", "clusterrolebinding", writer, f"--clusterrole={writer}",
        f"--serviceaccount={ns}:gina",
    )  # fmt: skip
    c.kubectl("create", "clusterrole", agg, "--aggregation-rule=foo=bar")
    token = c.kubectl("create", "token", "gina", "-n", ns).stdout.strip()
    refused = (
        f'Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io "{agg}" is '
        "forbidden: must have cluster-admin privileges to use the aggregationRule"
    )
    labelled = kubectl_with(c, token, "label", "clusterrole", agg, "x=y")
    assert labelled.returncode != 0 and refused in labelled.stderr
    removed = kubectl_with(
        c, token, "patch", "clusterrole", agg, "--type=json",
        "-p", '[{"op":"remove","path":"/aggregationRule"}]',
    )  # fmt: skip
    assert removed.returncode != 0 and refused in removed.stderr
    assert c.kubectl_json("get", "clusterrole", agg)["aggregationRule"]


def test_the_default_cluster_still_allows_everyone(cluster: Cluster, tmp_path: Path) -> None:
    token = cluster.kubectl("create", "token", "default").stdout.strip()
    assert kubectl_with(cluster, token, "get", "pods", "-n", "kube-system").returncode == 0
    assert can_i(cluster, "delete", "nodes", "--as=system:serviceaccount:default:x") == "yes"
