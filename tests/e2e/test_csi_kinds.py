"""The CSI kinds of storage.k8s.io/v1 through the real kubectl: a chart's CSIDriver
applies, and `kubectl get` prints upstream's columns for it and its kin."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e

DRIVER = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "CSIDriver",
    "metadata": {"name": "secrets-store.csi.k8s.io"},
    "spec": {
        "podInfoOnMount": True,
        "attachRequired": False,
        "volumeLifecycleModes": ["Ephemeral"],
        "tokenRequests": [{"audience": "vault"}],
    },
}
ATTACHMENT = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "VolumeAttachment",
    "metadata": {"name": "csi-abc"},
    "spec": {
        "attacher": "ebs.csi.aws.com",
        "nodeName": "node-1",
        "source": {"persistentVolumeName": "pv-1"},
    },
}
CAPACITY = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "CSIStorageCapacity",
    "metadata": {"name": "cap-1"},
    "storageClassName": "fast",
    "capacity": "10Gi",
}


def test_a_csidriver_applies_and_is_listed_with_kubectls_columns(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(DRIVER))
    header, row = cluster.kubectl("get", "csidrivers").stdout.splitlines()
    assert header.split() == [
        "NAME", "ATTACHREQUIRED", "PODINFOONMOUNT", "STORAGECAPACITY", "TOKENREQUESTS",
        "REQUIRESREPUBLISH", "MODES", "AGE",
    ]  # fmt: skip
    assert row.split()[:7] == [
        "secrets-store.csi.k8s.io", "false", "true", "false", "vault", "false", "Ephemeral",
    ]  # fmt: skip
    # applied again unchanged: nothing to do, as on a cluster
    again = cluster.kubectl("apply", "-f", "-", input=json.dumps(DRIVER))
    assert "unchanged" in again.stdout
    got = json.loads(
        cluster.kubectl("get", "csidriver", DRIVER["metadata"]["name"], "-o", "json").stdout
    )
    assert got["spec"]["fsGroupPolicy"] == "ReadWriteOnceWithFSType"


def test_attachments_nodes_and_capacities_are_listed_with_kubectls_columns(
    cluster: Cluster,
) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(ATTACHMENT))
    header, row = cluster.kubectl("get", "volumeattachments").stdout.splitlines()
    assert header.split() == ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
    assert row.split()[:5] == ["csi-abc", "ebs.csi.aws.com", "pv-1", "node-1", "false"]

    cluster.kubectl("apply", "-f", "-", input=json.dumps(CAPACITY))
    header, row = cluster.kubectl("get", "csistoragecapacities").stdout.splitlines()
    assert header.split() == ["NAME", "STORAGECLASSNAME", "CAPACITY"]
    assert row.split() == ["cap-1", "fast", "10Gi"]

    none = cluster.kubectl("get", "csinodes")
    assert "No resources found" in none.stdout + none.stderr
