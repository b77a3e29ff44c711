"""PersistentVolumes: static binding, local-path provisioning, reclaim."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e

NODE = """apiVersion: v1
kind: Node
metadata:
  name: storage-node
  labels: {kubernetes.io/hostname: storage-node}
status:
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  conditions: [{type: Ready, status: "True"}]
"""


def _wait(fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _phase(c, kind, name):
    got = c.kubectl("get", kind, name, "-o", "jsonpath={.status.phase}", check=False)
    return got.stdout if got.returncode == 0 else None


def test_static_volume_binds_smallest_fit_and_is_retained(fresh_cluster, tmp_path):
    c = fresh_cluster
    pvs = "---\n".join(
        f"""apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}, labels: {{tier: fast}}}}
spec:
  capacity: {{storage: {size}}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {{path: {tmp_path / name}}}
"""
        for name, size in (("big", "10Gi"), ("small", "2Gi"), ("tiny", "500Mi"))
    )
    c.kubectl("apply", "-f", "-", input=pvs)
    claim = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  selector: {matchLabels: {tier: fast}}
  resources: {requests: {storage: 1Gi}}
"""
    c.kubectl("apply", "-f", "-", input=claim)
    assert _wait(lambda: _phase(c, "pvc", "claim") == "Bound")
    pvc = c.kubectl_json("get", "pvc", "claim")
    assert pvc["spec"]["volumeName"] == "small"  # the smallest volume that fits
    assert pvc["status"]["capacity"] == {"storage": "2Gi"}
    assert _phase(c, "pv", "small") == "Bound"
    assert _phase(c, "pv", "tiny") == "Available"
    c.kubectl("delete", "pvc", "claim")
    assert _wait(lambda: _phase(c, "pv", "small") == "Released")  # Retain keeps it


def test_unsatisfiable_claim_stays_pending_with_event(fresh_cluster):
    c = fresh_cluster
    claim = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: lonely}
spec:
  storageClassName: ""
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""
    c.kubectl("apply", "-f", "-", input=claim)

    def events():
        items = c.kubectl_json("get", "events", "--field-selector", "involvedObject.name=lonely")[
            "items"
        ]
        return [e for e in items if e["reason"] == "FailedBinding"]

    message = _wait(events)[0]["message"]
    assert message == "no persistent volumes available for this claim and no storage class is set"
    assert _phase(c, "pvc", "lonely") == "Pending"


def test_local_path_provisions_on_first_consumer_and_deletes(fresh_cluster):
    c = fresh_cluster
    sc = c.kubectl_json("get", "storageclass", "local-path")
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    c.kubectl("apply", "-f", "-", input=NODE)
    claim = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""
    c.kubectl("apply", "-f", "-", input=claim)
    assert c.kubectl_json("get", "pvc", "data")["spec"]["storageClassName"] == "local-path"
    time.sleep(0.5)
    assert _phase(c, "pvc", "data") == "Pending"  # waits for a consumer
    pod = """apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  containers: [{name: c, image: python:3.11}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
"""
    c.kubectl("apply", "-f", "-", input=pod)
    assert _wait(lambda: _phase(c, "pvc", "data") == "Bound")
    volume = c.kubectl_json("get", "pvc", "data")["spec"]["volumeName"]
    pv = c.kubectl_json("get", "pv", volume)
    path = pv["spec"]["hostPath"]["path"]
    assert path.startswith(str(c.data_dir / "storage"))
    import os

    assert os.path.isdir(path)
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    node = c.kubectl_json("get", "pod", "user")["spec"]["nodeName"]
    assert terms[0]["matchExpressions"][0]["values"] == [node]
    c.kubectl("delete", "pod", "user", "--grace-period=0", "--force", check=False)
    c.kubectl("delete", "pvc", "data")
    assert _wait(lambda: c.kubectl("get", "pv", volume, check=False).returncode != 0)
    assert not os.path.exists(path)


def test_claim_no_volume_fits_stays_pending_with_event(fresh_cluster, tmp_path):
    """Static volumes all too small, and the class names no StorageClass to provision from."""
    c = fresh_cluster
    small = f"""apiVersion: v1
kind: PersistentVolume
metadata: {{name: small}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {{path: {tmp_path / "small"}}}
"""
    c.kubectl("apply", "-f", "-", input=small)
    claim = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: greedy}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
"""
    c.kubectl("apply", "-f", "-", input=claim)

    def events():
        items = c.kubectl_json("get", "events", "--field-selector", "involvedObject.name=greedy")[
            "items"
        ]
        return [e for e in items if e["reason"] == "ProvisioningFailed"]

    [event] = _wait(events)
    assert event["type"] == "Warning"
    assert event["message"] == 'storageclass.storage.k8s.io "manual" not found'
    assert _phase(c, "pvc", "greedy") == "Pending"
    assert _phase(c, "pv", "small") == "Available"
