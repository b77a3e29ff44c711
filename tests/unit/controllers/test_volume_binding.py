"""The PV controller: pre-bound claims, binding metadata, phases, expansion, resize admission."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, drain

from kubelite.apiserver import errors
from kubelite.controllers.objects import timestamp
from kubelite.controllers.volumes import (
    ANN_BETA_PROVISIONER,
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_PROVISIONED_BY,
    ANN_PROVISIONER,
    PROVISIONER,
    PersistentVolumeController,
)

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


def volume(name: str, size: str = "10Gi", *, cls: str = "", modes: list[str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": modes or ["ReadWriteOnce"],
            "storageClassName": cls,
            "hostPath": {"path": f"/tmp/{name}"},
        },
    }


def claim(
    name: str,
    size: str = "1Gi",
    *,
    cls: str | None = "",
    volume_name: str = "",
    modes: list[str] | None = None,
) -> Obj:
    spec: Obj = {
        "accessModes": modes or ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if cls is not None:
        spec["storageClassName"] = cls
    if volume_name:
        spec["volumeName"] = volume_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def controller(h: Harness) -> PersistentVolumeController:
    ctrl = PersistentVolumeController(h.tmp_path / "storage", clock=h.clock)
    h.bind(ctrl)
    return ctrl


async def sync_claim(h: Harness, ctrl: PersistentVolumeController, name: str) -> Obj:
    await h.sync(ctrl, f"default/{name}")
    return await h.get("PersistentVolumeClaim", name)


async def pv(h: Harness, name: str) -> Obj:
    return await h.get("PersistentVolume", name, None)


def annotations(obj: Obj) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


async def test_a_claim_naming_a_fitting_volume_binds_it_both_ways(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(volume("pv-named"))
    created = await h.create(claim("c-named", volume_name="pv-named"))
    got = await sync_claim(h, ctrl, "c-named")
    assert got["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "10Gi"},
    }
    named = await pv(h, "pv-named")
    ref = named["spec"]["claimRef"]
    assert (ref["namespace"], ref["name"], ref["uid"]) == (
        "default",
        "c-named",
        created["metadata"]["uid"],
    )
    assert named["status"]["phase"] == "Bound"
    # The controller chose the claim for the volume, the user the volume for the claim.
    assert annotations(named).get(ANN_BOUND_BY_CONTROLLER) == "yes"
    assert ANN_BOUND_BY_CONTROLLER not in annotations(got)
    assert annotations(got)[ANN_BIND_COMPLETED] == "yes"


async def test_a_reserved_volume_is_not_offered_to_other_claims(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(volume("pv-named"))
    await h.create(claim("c-named", volume_name="pv-named"))
    await sync_claim(h, ctrl, "c-named")
    await h.create(claim("c-thief", "8Gi"))
    thief = await sync_claim(h, ctrl, "c-thief")
    assert thief["status"]["phase"] == "Pending"
    assert "volumeName" not in thief["spec"]
    assert (await pv(h, "pv-named"))["spec"]["claimRef"]["name"] == "c-named"


@pytest.mark.parametrize(
    ("pv_obj", "pvc_obj", "why"),
    [
        (volume("v", "1Gi"), claim("c", "50Gi", volume_name="v"), "requested PV is too small"),
        (
            volume("v", cls="gold"),
            claim("c", cls="manual", volume_name="v"),
            "storageClassName does not match",
        ),
        (
            volume("v", modes=["ReadOnlyMany"]),
            claim("c", volume_name="v"),
            "incompatible accessMode",
        ),
        (
            {**volume("v"), "spec": {**volume("v")["spec"], "volumeMode": "Block"}},
            claim("c", volume_name="v"),
            "incompatible volumeMode",
        ),
    ],
    ids=["too-small", "class", "access-mode", "volume-mode"],
)
async def test_a_claim_naming_an_unfit_volume_stays_pending(
    h: Harness, pv_obj: Obj, pvc_obj: Obj, why: str
) -> None:
    ctrl = controller(h)
    await h.create(pv_obj)
    await h.create(pvc_obj)
    got = await sync_claim(h, ctrl, "c")
    assert got["status"] == {"phase": "Pending"}
    assert "claimRef" not in (await pv(h, "v"))["spec"]
    assert await h.events("VolumeMismatch") == [f'Cannot bind to requested volume "v": {why}']


async def test_a_claim_naming_a_missing_volume_waits_instead_of_being_lost(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(claim("c-ghost", volume_name="does-not-exist"))
    got = await sync_claim(h, ctrl, "c-ghost")
    assert got["status"] == {"phase": "Pending"}
    assert await h.events() == []
    # ... and binds once the volume appears.
    await h.create(volume("does-not-exist"))
    got = await sync_claim(h, ctrl, "c-ghost")
    assert got["status"]["phase"] == "Bound"
    # Lost is for a claim whose binding had completed and whose volume then went.
    await h.client.delete("v1", "PersistentVolume", "does-not-exist")
    got = await sync_claim(h, ctrl, "c-ghost")
    assert got["status"] == {"phase": "Lost"}
    assert await h.events("ClaimLost") == [
        "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
    ]


async def test_a_claim_naming_a_volume_bound_elsewhere_stays_pending(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(volume("pv-named"))
    await h.create(claim("first"))
    assert (await sync_claim(h, ctrl, "first"))["spec"]["volumeName"] == "pv-named"
    await h.create(claim("second", volume_name="pv-named"))
    got = await sync_claim(h, ctrl, "second")
    assert got["status"] == {"phase": "Pending"}
    assert await h.events("FailedBinding") == [
        'volume "pv-named" already bound to a different claim.'
    ]
    assert (await pv(h, "pv-named"))["spec"]["claimRef"]["name"] == "first"


async def test_a_volume_reserved_by_its_creator_binds_only_its_claim(h: Harness) -> None:
    ctrl = controller(h)
    reserved = volume("pv-res")
    reserved["spec"]["claimRef"] = {"namespace": "default", "name": "mine"}
    await h.create(reserved)
    await h.sync(ctrl, "pv:pv-res")
    assert (await pv(h, "pv-res"))["status"]["phase"] == "Available"
    await h.create(claim("other"))
    assert (await sync_claim(h, ctrl, "other"))["status"]["phase"] == "Pending"
    await h.create(claim("mine"))
    got = await sync_claim(h, ctrl, "mine")
    assert got["spec"]["volumeName"] == "pv-res"
    assert annotations(got)[ANN_BOUND_BY_CONTROLLER] == "yes"  # the controller set volumeName
    bound = await pv(h, "pv-res")
    assert bound["spec"]["claimRef"]["uid"] == got["metadata"]["uid"]
    assert ANN_BOUND_BY_CONTROLLER not in annotations(bound)  # the user set claimRef


async def test_volume_phase_changes_record_their_time(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(volume("v"))
    await h.sync(ctrl, "pv:v")
    available = (await pv(h, "v"))["status"]
    assert available == {"phase": "Available", "lastPhaseTransitionTime": timestamp(h.clock())}
    h.clock.step(120)
    await h.create(claim("c"))
    await sync_claim(h, ctrl, "c")
    bound = (await pv(h, "v"))["status"]
    assert bound == {"phase": "Bound", "lastPhaseTransitionTime": timestamp(h.clock())}


def local_path(**extra: Any) -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "fast"},
        "provisioner": PROVISIONER,
        "volumeBindingMode": "Immediate",
        **extra,
    }


async def test_provisioning_names_the_provisioner_and_events_come_from_the_pv_controller(
    h: Harness,
) -> None:
    ctrl = controller(h)
    await h.create(local_path())
    await h.create(claim("c", "10Mi", cls="fast"))
    got = await sync_claim(h, ctrl, "c")
    ann = annotations(got)
    assert ann[ANN_PROVISIONER] == ann[ANN_BETA_PROVISIONER] == PROVISIONER
    assert ann[ANN_BOUND_BY_CONTROLLER] == ann[ANN_BIND_COMPLETED] == "yes"
    made = await pv(h, got["spec"]["volumeName"])
    assert annotations(made)[ANN_PROVISIONED_BY] == PROVISIONER
    events = await h.list("Event")
    assert events and {e["source"]["component"] for e in events} == {"persistentvolume-controller"}


async def test_an_external_class_claim_is_annotated_for_its_provisioner(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(local_path(provisioner="example.com/nfs"))
    await h.create(claim("c", cls="fast"))
    got = await sync_claim(h, ctrl, "c")
    assert annotations(got)[ANN_PROVISIONER] == "example.com/nfs"
    assert got["status"]["phase"] == "Pending"


# ---- expansion --------------------------------------------------------------------------

FORBIDDEN = (
    'persistentvolumeclaims "c" is forbidden: only dynamically provisioned pvc can be '
    "resized and the storageclass that provisions the pvc must support resize"
)


async def grow(h: Harness, size: str) -> Obj:
    patch = {"spec": {"resources": {"requests": {"storage": size}}}}
    return await h.client.patch("v1", "PersistentVolumeClaim", "c", patch, "default")


async def test_resize_admission_refuses_static_and_non_expandable_claims(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(volume("v"))
    await h.create(claim("c"))  # class "" bound to a static volume
    await sync_claim(h, ctrl, "c")
    with pytest.raises(errors.Forbidden) as exc:
        await grow(h, "2Gi")
    assert str(exc.value) == FORBIDDEN


async def test_a_claim_grows_when_its_class_allows_expansion(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(local_path())
    await h.create(claim("c", "10Mi", cls="fast"))
    name = (await sync_claim(h, ctrl, "c"))["spec"]["volumeName"]
    with pytest.raises(errors.Forbidden) as exc:  # allowVolumeExpansion unset
        await grow(h, "20Mi")
    assert str(exc.value) == FORBIDDEN
    await h.client.patch(
        "storage.k8s.io/v1", "StorageClass", "fast", {"allowVolumeExpansion": True}, None
    )
    await grow(h, "30Mi")  # admitted now
    got = await sync_claim(h, ctrl, "c")
    assert got["status"]["capacity"] == {"storage": "30Mi"}
    assert got["status"]["allocatedResources"] == {"storage": "30Mi"}
    assert "conditions" not in got["status"]
    assert (await pv(h, name))["spec"]["capacity"] == {"storage": "30Mi"}
    assert await h.events("Resizing") == [f"External resizer is resizing volume {name}"]
    assert await h.events("VolumeResizeSuccessful") == ["Resize volume succeeded"]
    # Nothing more to do on the next sync.
    await sync_claim(h, ctrl, "c")
    assert await h.events("Resizing") == [f"External resizer is resizing volume {name}"]


async def test_a_volume_made_after_the_claim_naming_it_binds_it(h: Harness) -> None:
    ctrl = controller(h)
    await h.create(claim("late", volume_name="pv-late"))
    await drain(h, ctrl)
    assert (await h.get("PersistentVolumeClaim", "late"))["status"] == {"phase": "Pending"}
    await h.create(volume("pv-late"))
    await drain(h, ctrl)  # the volume's sync queues the claims still waiting
    assert (await h.get("PersistentVolumeClaim", "late"))["status"]["phase"] == "Bound"
