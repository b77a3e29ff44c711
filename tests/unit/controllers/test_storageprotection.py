"""In-use protection: a claim a scheduled pod names, or a Bound volume, waits to go."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, make_pod

from kubelite.api.registry import REGISTRY
from kubelite.apiserver.admission import Attributes, StorageObjectInUseProtection, server_plugins
from kubelite.controllers.storageprotection import (
    PV_PROTECTION_FINALIZER,
    PVC_PROTECTION_FINALIZER,
    StorageProtectionController,
    pod_uses_claim,
)

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]
PVC = "kubernetes.io/pvc-protection"


def claim(name: str = "data") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "finalizers": [PVC]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def volume(name: str = "pv1", phase: str = "Bound") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "finalizers": [PV_PROTECTION_FINALIZER]},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/pv1"},
        },
        "status": {"phase": phase},
    }


def pod_with_claim(name: str, claim_name: str = "data", *, node: str = "node-1") -> Obj:
    pod = make_pod(name, node=node)
    pod["spec"]["volumes"] = [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]
    return pod


def test_admission_adds_the_finalizers_on_create_only() -> None:
    plugin = StorageObjectInUseProtection()
    pvc_rt = REGISTRY.by_kind("v1", "PersistentVolumeClaim")
    pv_rt = REGISTRY.by_kind("v1", "PersistentVolume")
    assert pvc_rt is not None and pv_rt is not None
    new_claim: Obj = {"metadata": {"name": "c", "finalizers": ["x"]}}
    plugin.admit(Attributes("CREATE", pvc_rt, "default", "c"), new_claim, None, None)
    assert new_claim["metadata"]["finalizers"] == ["x", PVC_PROTECTION_FINALIZER]
    new_volume: Obj = {"metadata": {"name": "v"}}
    plugin.admit(Attributes("CREATE", pv_rt, None, "v"), new_volume, None, None)
    assert new_volume["metadata"]["finalizers"] == [PV_PROTECTION_FINALIZER]
    updated: Obj = {"metadata": {"name": "c"}}
    plugin.admit(Attributes("UPDATE", pvc_rt, "default", "c"), updated, {}, None)
    assert "finalizers" not in updated["metadata"]
    assert any(isinstance(p, StorageObjectInUseProtection) for p in server_plugins())


def test_only_a_scheduled_pod_uses_a_claim() -> None:
    assert pod_uses_claim(pod_with_claim("a"), "data")
    assert not pod_uses_claim(pod_with_claim("a", node=""), "data")
    assert not pod_uses_claim(pod_with_claim("a"), "other")


def test_a_pod_uses_the_claims_of_its_ephemeral_volumes() -> None:
    pod = make_pod("a", node="node-1")
    pod["spec"]["volumes"] = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}]
    assert pod_uses_claim(pod, "a-scratch")


async def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(h: Harness) -> None:
    ctrl = StorageProtectionController()
    h.bind(ctrl)
    await h.create(claim())
    await h.create(pod_with_claim("user"))
    await h.client.delete("v1", "PersistentVolumeClaim", "data", "default")

    await h.sync(ctrl, "default/data")
    pvc = await h.get("PersistentVolumeClaim", "data")
    assert pvc["metadata"]["deletionTimestamp"]
    assert pvc["metadata"]["finalizers"] == [PVC_PROTECTION_FINALIZER]

    await h.client.delete("v1", "Pod", "user", "default", grace_period_seconds=0)
    await h.sync(ctrl, "default/data")
    assert await h.list("PersistentVolumeClaim") == []


async def test_an_unscheduled_pod_does_not_hold_the_claim(h: Harness) -> None:
    ctrl = StorageProtectionController()
    h.bind(ctrl)
    await h.create(claim())
    await h.create(pod_with_claim("pending", node=""))
    await h.client.delete("v1", "PersistentVolumeClaim", "data", "default")
    await h.sync(ctrl, "default/data")
    assert await h.list("PersistentVolumeClaim") == []


async def test_a_bound_volume_waits_until_released(h: Harness) -> None:
    ctrl = StorageProtectionController()
    h.bind(ctrl)
    await h.create(volume())
    pv = await h.get("PersistentVolume", "pv1", None)
    pv["status"] = {"phase": "Bound"}
    await h.client.update_status(pv)
    await h.client.delete("v1", "PersistentVolume", "pv1")
    await h.sync(ctrl, "pv:pv1")
    assert (await h.get("PersistentVolume", "pv1", None))["metadata"]["deletionTimestamp"]

    pv = await h.get("PersistentVolume", "pv1", None)
    pv["status"] = {"phase": "Released"}
    await h.client.update_status(pv)
    await h.sync(ctrl, "pv:pv1")
    assert await h.list("PersistentVolume", None) == []


async def test_a_volume_deleted_while_bound_goes_once_its_claim_is_gone(h: Harness) -> None:
    """The binder still releases a volume being deleted, so its protection can end."""
    from kubelite.controllers.volumes import PersistentVolumeController

    binder, ctrl = PersistentVolumeController(h.tmp_path / "storage"), StorageProtectionController()
    h.bind(binder, ctrl)
    pvc = claim()
    pvc["metadata"]["finalizers"] = []
    pvc["spec"]["volumeName"] = "pv1"
    created = await h.create(pvc)
    pv = volume()
    pv["spec"]["persistentVolumeReclaimPolicy"] = "Retain"
    pv["spec"]["claimRef"] = {
        "kind": "PersistentVolumeClaim",
        "namespace": "default",
        "name": "data",
        "uid": created["metadata"]["uid"],
    }
    await h.create(pv)
    bound = await h.get("PersistentVolume", "pv1", None)
    bound["status"] = {"phase": "Bound"}
    await h.client.update_status(bound)

    await h.client.delete("v1", "PersistentVolume", "pv1")  # still bound: it waits
    await h.sync(ctrl, "pv:pv1")
    assert (await h.get("PersistentVolume", "pv1", None))["metadata"]["deletionTimestamp"]

    await h.client.delete("v1", "PersistentVolumeClaim", "data", "default")
    await h.sync(binder, "pv:pv1")
    assert (await h.get("PersistentVolume", "pv1", None))["status"]["phase"] == "Released"
    await h.sync(ctrl, "pv:pv1")
    assert await h.list("PersistentVolume", None) == []
