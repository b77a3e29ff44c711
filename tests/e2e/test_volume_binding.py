"""Claim binding beyond matching: pre-bound claims, ReadWriteOncePod, generic
ephemeral volumes, expansion, and the metadata upstream's PV controller writes."""

from __future__ import annotations

import uuid

import pytest
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

RWOP_CONFLICT = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)


def _suffix() -> str:
    return uuid.uuid4().hex[:6]


def _node(name: str) -> str:
    return f"""apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/hostname: {name}, e2e-volumes: "{name}"}}
status:
  allocatable: {{cpu: "4", memory: 8Gi, pods: "110"}}
  capacity: {{cpu: "4", memory: 8Gi, pods: "110"}}
  conditions: [{{type: Ready, status: "True"}}]
"""


def _pod(name: str, node: str, volume: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeSelector: {{e2e-volumes: "{node}"}}
  containers: [{{name: c, image: python:3.11}}]
  volumes: [{volume}]
"""


def _events(c, ns, name, reason):
    items = c.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return [e for e in items if e["reason"] == reason]


def _get(c, kind, name, ns=None):
    args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
    got = c.kubectl(*args, check=False)
    if got.returncode != 0:
        return None
    import json

    return json.loads(got.stdout)


def _phase(c, kind, name, ns=None):
    obj = _get(c, kind, name, ns)
    return (obj or {}).get("status", {}).get("phase")


def test_a_claim_naming_its_volume_is_checked_and_reserves_it(cluster, namespace, tmp_path):
    c, ns, s = cluster, namespace, _suffix()
    named, plain = f"pv-named-{s}", f"pv-plain-{s}"
    c.kubectl(
        "apply",
        "-f",
        "-",
        input=f"""apiVersion: v1
kind: PersistentVolume
metadata: {{name: {named}}}
spec: {{capacity: {{storage: 10Gi}}, accessModes: [ReadWriteOnce], storageClassName: "", hostPath: {{path: {tmp_path / "a"}}}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {plain}}}
spec: {{capacity: {{storage: 1Gi}}, accessModes: [ReadWriteOnce], storageClassName: "", hostPath: {{path: {tmp_path / "b"}}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: c-named, namespace: {ns}}}
spec: {{accessModes: [ReadWriteOnce], storageClassName: "", volumeName: {named}, resources: {{requests: {{storage: 1Gi}}}}}}
""",
    )
    wait_for(lambda: _phase(c, "pvc", "c-named", ns) == "Bound", "c-named Bound")
    pv = wait_for(lambda: _phase(c, "pv", named) == "Bound" and _get(c, "pv", named), "PV Bound")
    ref = pv["spec"]["claimRef"]
    assert (ref["namespace"], ref["name"]) == (ns, "c-named")
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert pv["status"]["lastPhaseTransitionTime"]
    claim = _get(c, "pvc", "c-named", ns)
    assert "pv.kubernetes.io/bound-by-controller" not in claim["metadata"]["annotations"]

    c.kubectl(
        "apply",
        "-f",
        "-",
        input=f"""apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: c-thief, namespace: {ns}}}
spec: {{accessModes: [ReadWriteOnce], storageClassName: "", resources: {{requests: {{storage: 8Gi}}}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: c-toobig, namespace: {ns}}}
spec: {{accessModes: [ReadWriteOnce], storageClassName: "", volumeName: {plain}, resources: {{requests: {{storage: 50Gi}}}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: c-ghost, namespace: {ns}}}
spec: {{accessModes: [ReadWriteOnce], storageClassName: "", volumeName: does-not-exist-{s}, resources: {{requests: {{storage: 1Gi}}}}}}
""",
    )
    [mismatch] = wait_for(lambda: _events(c, ns, "c-toobig", "VolumeMismatch"), "VolumeMismatch")
    assert mismatch["type"] == "Warning"
    assert mismatch["source"]["component"] == "persistentvolume-controller"
    assert (
        mismatch["message"]
        == f'Cannot bind to requested volume "{plain}": requested PV is too small'
    )
    wait_for(lambda: _events(c, ns, "c-thief", "FailedBinding"), "c-thief FailedBinding")
    assert _phase(c, "pvc", "c-thief", ns) == "Pending"
    assert _phase(c, "pvc", "c-toobig", ns) == "Pending"
    assert _phase(c, "pvc", "c-ghost", ns) == "Pending"
    assert _events(c, ns, "c-ghost", "ClaimLost") == []
    assert "claimRef" not in _get(c, "pv", plain)["spec"]
    assert _get(c, "pv", named)["spec"]["claimRef"]["name"] == "c-named"

    # Static claims cannot grow.
    grown = c.kubectl(
        "patch", "pvc", "-n", ns, "c-named", "-p",
        '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}',
        check=False,
    )  # fmt: skip
    assert grown.returncode != 0
    assert grown.stderr.strip() == (
        'Error from server (Forbidden): persistentvolumeclaims "c-named" is forbidden: only '
        "dynamically provisioned pvc can be resized and the storageclass that provisions the "
        "pvc must support resize"
    )


def test_a_read_write_once_pod_claim_serves_one_pod(cluster, namespace):
    c, ns, node = cluster, namespace, f"rwop-{_suffix()}"
    c.kubectl("apply", "-f", "-", input=_node(node))
    claim = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: rwop}
spec: {accessModes: [ReadWriteOncePod], resources: {requests: {storage: 1Mi}}}
"""
    volume = "{name: v, persistentVolumeClaim: {claimName: rwop}}"
    c.kubectl("apply", "-n", ns, "-f", "-", input=claim)
    c.kubectl("apply", "-n", ns, "-f", "-", input=_pod("a", node, volume))
    wait_for(lambda: (_get(c, "pod", "a", ns) or {}).get("spec", {}).get("nodeName"), "a placed")
    c.kubectl("apply", "-n", ns, "-f", "-", input=_pod("b", node, volume))
    [event] = wait_for(lambda: _events(c, ns, "b", "FailedScheduling"), "b FailedScheduling")
    assert f"1 {RWOP_CONFLICT}" in event["message"]
    assert not _get(c, "pod", "b", ns)["spec"].get("nodeName")
    # Once the holder is gone, the claim is free for the next pod.
    c.kubectl("delete", "pod", "-n", ns, "a", "--grace-period=0", "--force", check=False)
    wait_for(lambda: _get(c, "pod", "b", ns)["spec"].get("nodeName") == node, "b placed")


def test_a_generic_ephemeral_volume_gets_a_claim_that_goes_with_the_pod(cluster, namespace):
    c, ns, node = cluster, namespace, f"eph-{_suffix()}"
    c.kubectl("apply", "-f", "-", input=_node(node))
    volume = (
        "{name: data, ephemeral: {volumeClaimTemplate: {metadata: {labels: {kind: scratch}}, "
        "spec: {accessModes: [ReadWriteOnce], storageClassName: local-path, "
        "resources: {requests: {storage: 1Mi}}}}}}"
    )
    c.kubectl("apply", "-n", ns, "-f", "-", input=_pod("eph", node, volume))
    pod = _get(c, "pod", "eph", ns)
    pvc = wait_for(lambda: _get(c, "pvc", "eph-data", ns), "eph-data created")
    assert pvc["metadata"]["labels"] == {"kind": "scratch"}
    [owner] = pvc["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "eph", pod["metadata"]["uid"])
    assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
    # The scheduler waited for the claim, then treated it as any claim: provisioned on the node.
    wait_for(lambda: _phase(c, "pvc", "eph-data", ns) == "Bound", "eph-data Bound")
    assert _get(c, "pod", "eph", ns)["spec"]["nodeName"] == node
    c.kubectl("delete", "pod", "-n", ns, "eph", "--grace-period=0", "--force", check=False)
    wait_for(lambda: _get(c, "pvc", "eph-data", ns) is None, "eph-data garbage-collected")


def test_an_expandable_claim_grows(cluster, namespace):
    c, ns, cls = cluster, namespace, f"expand-{_suffix()}"
    c.kubectl(
        "apply",
        "-f",
        "-",
        input=f"""apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: {cls}}}
provisioner: kubelite.io/local-path
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: {ns}}}
spec: {{accessModes: [ReadWriteOnce], storageClassName: {cls}, resources: {{requests: {{storage: 10Mi}}}}}}
""",
    )
    wait_for(lambda: _phase(c, "pvc", "data", ns) == "Bound", "data Bound")
    claim = _get(c, "pvc", "data", ns)
    ann = claim["metadata"]["annotations"]
    assert ann["volume.kubernetes.io/storage-provisioner"] == "kubelite.io/local-path"
    assert ann["volume.beta.kubernetes.io/storage-provisioner"] == "kubelite.io/local-path"
    volume = claim["spec"]["volumeName"]
    assert _get(c, "pv", volume)["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == (
        "kubelite.io/local-path"
    )
    patch = '{"spec":{"resources":{"requests":{"storage":"%s"}}}}'
    refused = c.kubectl("patch", "pvc", "-n", ns, "data", "-p", patch % "20Mi", check=False)
    assert "only dynamically provisioned pvc can be resized" in refused.stderr
    c.kubectl("patch", "storageclass", cls, "-p", '{"allowVolumeExpansion":true}')
    c.kubectl("patch", "pvc", "-n", ns, "data", "-p", patch % "30Mi")
    wait_for(
        lambda: _get(c, "pvc", "data", ns)["status"].get("capacity") == {"storage": "30Mi"},
        "claim capacity 30Mi",
    )
    status = _get(c, "pvc", "data", ns)["status"]
    assert status["allocatedResources"] == {"storage": "30Mi"}
    assert not status.get("conditions")
    assert _get(c, "pv", volume)["spec"]["capacity"] == {"storage": "30Mi"}
    [done] = wait_for(lambda: _events(c, ns, "data", "VolumeResizeSuccessful"), "resize event")
    assert done["message"] == "Resize volume succeeded"
