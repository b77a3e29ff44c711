"""ReplicationManager: the ReplicaSet controller's logic run for ReplicationControllers."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, drain, make_pod, template

from kubelite.controllers.garbagecollector import GarbageCollector
from kubelite.controllers.replicaset import ReplicaSetController
from kubelite.controllers.replication import ReplicationManager, rc_selector

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


def make_rc(name: str = "web", replicas: int = 3, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"app": "web"}, "template": template(), **spec},
    }


async def rc_setup(h: Harness, replicas: int = 3, **spec: Any) -> ReplicationManager:
    ctrl = ReplicationManager(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_rc(replicas=replicas, **spec))
    return ctrl


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param({"app": "web"}, {"app": "web", "x": "y"}, True, id="subset"),
        pytest.param({"app": "web", "tier": "a"}, {"app": "web"}, False, id="missing-key"),
        pytest.param({"app": "web"}, {"app": "db"}, False, id="other-value"),
        pytest.param({}, {"app": "web"}, False, id="empty-selects-nothing"),
    ],
)
def test_rc_selector_is_equality_based(
    selector: dict[str, str], labels: dict[str, str], matches: bool
) -> None:
    assert rc_selector({"spec": {"selector": selector}}).matches(labels) is matches


async def test_creates_pods_owned_by_the_rc(h: Harness) -> None:
    ctrl = await rc_setup(h)
    await h.sync(ctrl)
    pods = await h.pods()
    assert len(pods) == 3
    rc = await h.get("ReplicationController", "web")
    for pod in pods:
        assert pod["metadata"]["generateName"] == "web-"
        assert pod["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "v1",
                "kind": "ReplicationController",
                "name": "web",
                "uid": rc["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    names = sorted(p["metadata"]["name"] for p in pods)
    assert sorted(await h.events("SuccessfulCreate")) == [f"Created pod: {n}" for n in names]


async def test_status_counts_and_observed_generation(h: Harness) -> None:
    ctrl = await rc_setup(h, replicas=2)
    await h.sync(ctrl)
    pods = await h.pods()
    await h.set_ready(pods[0])
    await h.sync(ctrl)
    assert (await h.get("ReplicationController", "web"))["status"] == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "observedGeneration": 1,
    }


async def test_scales_up_and_down(h: Harness) -> None:
    ctrl = await rc_setup(h, replicas=2)
    await drain(h, ctrl, ready=True)
    await h.client.patch("v1", "ReplicationController", "web", {"spec": {"replicas": 3}}, "default")
    await drain(h, ctrl, ready=True)
    assert len(await h.pods()) == 3
    await h.client.patch("v1", "ReplicationController", "web", {"spec": {"replicas": 1}}, "default")
    ctrl.enqueue("default/web")
    await drain(h, ctrl, ready=True)
    assert len(await h.pods()) == 1
    status = (await h.get("ReplicationController", "web"))["status"]
    assert (status["replicas"], status["observedGeneration"]) == (1, 3)


async def test_adopts_orphans_and_releases_pods_that_stop_matching(h: Harness) -> None:
    await h.create(make_pod("orphan"))
    ctrl = await rc_setup(h, replicas=1)
    await h.sync(ctrl)
    pods = await h.pods()
    assert [p["metadata"]["name"] for p in pods] == ["orphan"]
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    await h.client.patch(
        "v1", "Pod", "orphan", {"metadata": {"labels": {"app": "other"}}}, "default"
    )
    await h.sync(ctrl)
    assert "ownerReferences" not in (await h.get("Pod", "orphan"))["metadata"]


async def test_leaves_pods_of_a_replicaset_alone(h: Harness) -> None:
    rs_ctrl = ReplicaSetController(clock=h.clock)
    rc_ctrl = await rc_setup(h, replicas=1)
    h.bind(rs_ctrl)
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "x",
        "uid": "u-1",
        "controller": True,
    }
    await h.create(make_pod("taken", ownerReferences=[owner]))
    await h.sync(rc_ctrl)
    assert len(await h.pods()) == 2


async def test_deleting_the_rc_collects_its_pods(h: Harness) -> None:
    ctrl = await rc_setup(h, replicas=2)
    gc = GarbageCollector(clock=h.clock)
    h.bind(gc)
    await drain(h, ctrl, ready=True)
    assert len(await h.pods()) == 2
    await h.client.delete("v1", "ReplicationController", "web", "default")
    await drain(h, ctrl, gc, ready=True)
    assert await h.pods() == []
