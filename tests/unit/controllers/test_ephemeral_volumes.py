"""The ephemeral volume controller: one claim per generic ephemeral volume, owned by the pod."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, drain, make_pod

from kubelite.controllers import all_controllers
from kubelite.controllers.controller import SyncError
from kubelite.controllers.ephemeral import EphemeralVolumeController
from kubelite.controllers.garbagecollector import GarbageCollector

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]
TEMPLATE = {
    "metadata": {"labels": {"team": "a"}, "annotations": {"note": "scratch"}},
    "spec": {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "local-path",
        "resources": {"requests": {"storage": "1Mi"}},
    },
}


def pod_with_ephemeral(name: str = "eph") -> Obj:
    pod = make_pod(name)
    pod["spec"]["volumes"] = [
        {"name": "data", "ephemeral": {"volumeClaimTemplate": TEMPLATE}},
        {"name": "cache", "emptyDir": {}},
    ]
    return pod


def test_the_controller_runs_with_kubelite_up(tmp_path: Any) -> None:
    assert any(isinstance(c, EphemeralVolumeController) for c in all_controllers(tmp_path))


async def test_a_claim_is_made_per_ephemeral_volume(h: Harness) -> None:
    ctrl = EphemeralVolumeController(clock=h.clock)
    h.bind(ctrl)
    pod = await h.create(pod_with_ephemeral())
    await h.sync(ctrl, "default/eph")
    (pvc,) = await h.list("PersistentVolumeClaim")
    md = pvc["metadata"]
    assert md["name"] == "eph-data"
    assert md["labels"] == {"team": "a"}
    assert md["annotations"] == {"note": "scratch"}
    assert md["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "eph",
            "uid": pod["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert pvc["spec"]["storageClassName"] == "local-path"
    assert pvc["spec"]["resources"] == {"requests": {"storage": "1Mi"}}
    # A second sync changes nothing.
    await h.sync(ctrl, "default/eph")
    assert len(await h.list("PersistentVolumeClaim")) == 1


async def test_a_foreign_claim_of_that_name_is_not_taken(h: Harness) -> None:
    ctrl = EphemeralVolumeController(clock=h.clock)
    h.bind(ctrl)
    await h.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "eph-data", "namespace": "default"},
            "spec": TEMPLATE["spec"],
        }
    )
    await h.create(pod_with_ephemeral())
    with pytest.raises(SyncError):
        await h.sync(ctrl, "default/eph")
    assert await h.events("FailedBinding") == [
        "ephemeral volume data: PVC default/eph-data was not created for pod default/eph "
        "(pod is not owner)"
    ]
    (pvc,) = await h.list("PersistentVolumeClaim")
    assert "ownerReferences" not in pvc["metadata"]


async def test_the_claim_is_remade_while_its_pod_lives_and_goes_with_the_pod(h: Harness) -> None:
    ctrl, gc = EphemeralVolumeController(clock=h.clock), GarbageCollector(clock=h.clock)
    h.bind(ctrl, gc)
    await h.create(pod_with_ephemeral())
    await drain(h, ctrl, gc)
    await h.client.delete("v1", "PersistentVolumeClaim", "eph-data", "default")
    await drain(h, ctrl, gc)
    assert [p["metadata"]["name"] for p in await h.list("PersistentVolumeClaim")] == ["eph-data"]
    await h.client.delete("v1", "Pod", "eph", "default", grace_period_seconds=0)
    await drain(h, ctrl, gc)
    assert await h.list("PersistentVolumeClaim") == []
