"""Everyday kubectl workflows, compared with what a real cluster answers."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SSA_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
  labels: {{team: a{extra_label}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: ssa}}}}
  template:
    metadata: {{labels: {{app: ssa}}}}
    spec:
      containers:
      - {{name: c, image: python:3.11, command: [sleep, "3600"]}}
"""


def _ssa_manifest(tmp_path: Path, *, replicas: int, extra_label: bool = False) -> str:
    path = tmp_path / f"ssa-{replicas}-{extra_label}.yaml"
    path.write_text(
        SSA_DEPLOYMENT.format(replicas=replicas, extra_label=", tier: web" if extra_label else "")
    )
    return str(path)


def test_server_side_apply_conflicts_with_a_scale_until_forced(cluster, namespace, tmp_path):
    ns = ("-n", namespace)
    cluster.kubectl("apply", "--server-side", "-f", _ssa_manifest(tmp_path, replicas=1), *ns)
    cluster.kubectl("scale", "deployment/ssa", "--replicas=2", *ns)

    refused = cluster.kubectl(
        "apply", "--server-side", "-f", _ssa_manifest(tmp_path, replicas=3), *ns, check=False
    )
    assert refused.returncode != 0
    assert (
        'error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1: .spec.replicas"
    ) in refused.stderr
    assert cluster.kubectl_json("get", "deploy", "ssa", *ns)["spec"]["replicas"] == 2

    forced = cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        _ssa_manifest(tmp_path, replicas=3, extra_label=True),
        *ns,
    )
    assert forced.stdout.strip() == "deployment.apps/ssa serverside-applied"
    deploy = cluster.kubectl_json("get", "deploy", "ssa", *ns)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["metadata"]["labels"] == {"team": "a", "tier": "web"}

    # A label the applier no longer sets, and nobody else owns, is removed.
    cluster.kubectl("apply", "--server-side", "-f", _ssa_manifest(tmp_path, replicas=3), *ns)
    assert cluster.kubectl_json("get", "deploy", "ssa", *ns)["metadata"]["labels"] == {"team": "a"}


CLAIM_AND_POD = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: python:3.11, command: [sleep, "3600"],
     volumeMounts: [{name: data, mountPath: /data}]}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
"""


def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(cluster, namespace):
    ns = ("-n", namespace)
    cluster.kubectl("apply", "-f", "-", *ns, input=CLAIM_AND_POD)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/writer", "--timeout=60s", *ns)
    pvc = cluster.kubectl_json("get", "pvc", "data", *ns)
    assert pvc["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    volume = cluster.kubectl_json("get", "pv", pvc["spec"]["volumeName"])
    assert volume["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]

    cluster.kubectl("delete", "pvc", "data", "--wait=false", *ns)
    row = cluster.kubectl("get", "pvc", "data", "--no-headers", *ns).stdout.split()
    assert row[:2] == ["data", "Terminating"]  # the pod still mounts it
    described = cluster.kubectl("describe", "pvc", "data", *ns).stdout.splitlines()
    assert [line.split() for line in described if line.startswith("Used By:")] == [
        ["Used", "By:", "writer"]
    ]

    cluster.kubectl("delete", "pod", "writer", *ns)
    cluster.kubectl("wait", "--for=delete", "pvc/data", "--timeout=60s", *ns)
    cluster.kubectl("wait", "--for=delete", f"pv/{volume['metadata']['name']}", "--timeout=60s")


def test_diff_of_an_edited_copy_shows_only_the_edit(cluster, namespace, tmp_path):
    ns = ("-n", namespace)
    cluster.kubectl("create", "deployment", "d", "--image=python:3.11", *ns, "--", "sleep", "1")
    live = cluster.kubectl("get", "deployment", "d", "-o", "yaml", *ns).stdout
    assert "      creationTimestamp: null" in live  # kubectl create sends it in the template
    edited = tmp_path / "d.yaml"
    edited.write_text(live.replace("replicas: 1", "replicas: 2"))
    diff = cluster.kubectl("diff", "-f", str(edited), *ns, check=False)
    assert diff.returncode == 1, diff.stderr
    changed = [
        line
        for line in diff.stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ["-  generation: 1", "+  generation: 2", "-  replicas: 1", "+  replicas: 2"]


NODE_PORT_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: np}}
spec:
  type: {kind}
  selector: {{app: np}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def test_apply_changes_a_service_from_node_port_to_cluster_ip(cluster, namespace):
    ns = ("-n", namespace)
    cluster.kubectl("apply", "-f", "-", *ns, input=NODE_PORT_SERVICE.format(kind="NodePort"))
    changed = cluster.kubectl(
        "apply", "-f", "-", *ns, input=NODE_PORT_SERVICE.format(kind="ClusterIP")
    )
    assert changed.stdout.strip() == "service/np configured"
    spec = cluster.kubectl_json("get", "svc", "np", *ns)["spec"]
    assert spec["type"] == "ClusterIP"
    assert "nodePort" not in spec["ports"][0] and "externalTrafficPolicy" not in spec
