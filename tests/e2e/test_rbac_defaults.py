"""The default RBAC objects every cluster has, and ClusterRole aggregation, through kubectl."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

WIDGETS_VIEWER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-viewer
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [example.com], resources: [widgets], verbs: [get, list, watch]}
"""


def bootstrapped(cluster: Cluster) -> bool:
    proc = cluster.kubectl(
        "get", "--raw", "/readyz/poststarthook/rbac/bootstrap-roles", check=False
    )
    return proc.returncode == 0 and proc.stdout == "ok"


def describes_widgets(cluster: Cluster, role: str) -> bool:
    return "widgets.example.com" in cluster.kubectl("describe", "clusterrole", role).stdout


def test_the_well_known_roles_and_bindings_exist(cluster: Cluster) -> None:
    wait_for(lambda: bootstrapped(cluster), "the RBAC post-start hook")
    rows = cluster.kubectl("get", "clusterrole", "cluster-admin", "view", "edit", "admin")
    names = [line.split()[0] for line in rows.stdout.splitlines()[1:]]
    assert names == ["cluster-admin", "view", "edit", "admin"]
    admin = cluster.kubectl_json("get", "clusterrolebinding", "cluster-admin")
    assert admin["roleRef"]["name"] == "cluster-admin"
    assert admin["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}
    ]
    assert admin["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    assert admin["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"
    viewer = cluster.kubectl_json("get", "clusterrolebinding", "system:public-info-viewer")
    assert [s["name"] for s in viewer["subjects"]] == [
        "system:authenticated",
        "system:unauthenticated",
    ]
    wide = cluster.kubectl("get", "clusterrolebinding", "system:basic-user", "-o", "wide").stdout
    assert "ClusterRole/system:basic-user" in wide and "system:authenticated" in wide
    roles = cluster.kubectl("get", "roles", "-n", "kube-system").stdout
    assert "system::leader-locking-kube-scheduler" in roles
    verbose = cluster.kubectl("get", "--raw", "/readyz?verbose").stdout
    assert "[+]poststarthook/rbac/bootstrap-roles ok" in verbose.splitlines()


def test_view_aggregates_a_users_role_and_drops_it_again(cluster: Cluster) -> None:
    wait_for(lambda: bootstrapped(cluster), "the RBAC post-start hook")
    # view's own rules come from system:aggregate-to-view
    wait_for(lambda: "pods/log" in cluster.kubectl("describe", "clusterrole", "view").stdout)
    cluster.kubectl("apply", "-f", "-", input=WIDGETS_VIEWER)
    wait_for(lambda: describes_widgets(cluster, "view"), "view to aggregate widgets-viewer")
    # view is aggregated into edit, edit into admin
    wait_for(lambda: describes_widgets(cluster, "admin"), "admin to aggregate it through edit")
    cluster.kubectl("delete", "clusterrole", "widgets-viewer")
    wait_for(lambda: not describes_widgets(cluster, "view"), "view to drop widgets-viewer")
    wait_for(lambda: not describes_widgets(cluster, "admin"), "admin to drop it")


def test_edits_survive_a_restart_as_their_annotation_says(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    wait_for(lambda: bootstrapped(c), "the RBAC post-start hook")
    kept = {
        "op": "replace",
        "path": "/rules",
        "value": [{"nonResourceURLs": ["/version"], "verbs": ["get"]}],
    }
    protect = {
        "op": "replace",
        "path": "/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate",
        "value": "false",
    }
    c.kubectl(
        "patch", "clusterrole", "system:discovery", "--type=json", "-p", json.dumps([kept, protect])
    )
    # autoupdate "true": the lost rule comes back, the added one stays
    mine = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
    c.kubectl(
        "patch",
        "clusterrole",
        "system:basic-user",
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": "/rules", "value": [mine]}]),
    )
    c.kubectl("delete", "clusterrolebinding", "system:monitoring")

    c.stop()
    c.start()
    wait_for(lambda: bootstrapped(c), "the RBAC post-start hook after the restart")
    discovery = c.kubectl_json("get", "clusterrole", "system:discovery")
    assert discovery["rules"] == [{"nonResourceURLs": ["/version"], "verbs": ["get"]}]
    basic = c.kubectl_json("get", "clusterrole", "system:basic-user")["rules"]
    assert basic[0] == mine
    assert any("selfsubjectaccessreviews" in r.get("resources", []) for r in basic[1:])
    assert c.kubectl_json("get", "clusterrolebinding", "system:monitoring")["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:monitoring"}
    ]
