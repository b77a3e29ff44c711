"""Disruption controller: disruptionsAllowed from healthy pods and the budget."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, make_deployment, make_pod, make_rs

from kubelite.controllers.disruption import DisruptionController, desired_healthy, scaled_value
from kubelite.controllers.objects import owner_ref_for

pytestmark = pytest.mark.anyio


def make_pdb(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }


async def pdb_status(h: Harness) -> dict[str, Any]:
    pdb = await h.client.get("policy/v1", "PodDisruptionBudget", "web", "default")
    return pdb["status"]


async def setup(
    h: Harness, pods: int, ready: int, owner: dict[str, Any] | None = None, **spec: Any
) -> DisruptionController:
    ctrl = DisruptionController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_pdb(**spec))
    for i in range(pods):
        extra = {"ownerReferences": [owner_ref_for(owner)]} if owner else {}
        pod = await h.create(make_pod(f"web-{i}", **extra))
        if i < ready:
            await h.set_ready(pod)
    return ctrl


def test_scaled_value_rounds_as_intstr() -> None:
    assert scaled_value(2, 10, round_up=True) == 2
    assert scaled_value("25%", 10, round_up=True) == 3  # 2.5 -> 3
    assert scaled_value("25%", 10, round_up=False) == 2


def test_neither_field_expects_nothing() -> None:
    assert desired_healthy({}, [{}, {}], lambda pods: 2) == (0, 0)


async def test_min_available_count(h: Harness) -> None:
    ctrl = await setup(h, pods=4, ready=3, minAvailable=2)
    await h.sync(ctrl)
    status = await pdb_status(h)
    # expected = 4 matched pods; desired = 2; healthy = 3 ready -> allowed = 3 - 2 = 1
    assert {
        k: status[k]
        for k in ("expectedPods", "desiredHealthy", "currentHealthy", "disruptionsAllowed")
    } == {
        "expectedPods": 4,
        "desiredHealthy": 2,
        "currentHealthy": 3,
        "disruptionsAllowed": 1,
    }
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "DisruptionAllowed",
        "True",
        "SufficientPods",
    )
    assert status["observedGeneration"] == 1


async def test_min_available_not_met_allows_nothing(h: Harness) -> None:
    ctrl = await setup(h, pods=3, ready=1, minAvailable=2)
    await h.sync(ctrl)
    status = await pdb_status(h)
    # healthy 1 - desired 2 = -1 -> 0
    assert status["disruptionsAllowed"] == 0
    assert (status["conditions"][0]["status"], status["conditions"][0]["reason"]) == (
        "False",
        "InsufficientPods",
    )


async def test_max_unavailable_uses_the_owners_scale(h: Harness) -> None:
    ctrl = DisruptionController(clock=h.clock)
    h.bind(ctrl)
    rs = await h.create(make_rs(replicas=5))
    await h.create(make_pdb(maxUnavailable="30%"))
    for i in range(4):
        pod = await h.create(make_pod(f"web-{i}", ownerReferences=[owner_ref_for(rs)]))
        await h.set_ready(pod)
    await h.sync(ctrl)
    status = await pdb_status(h)
    # expected = rs replicas 5; maxUnavailable = ceil(30% of 5) = ceil(1.5) = 2
    # desired = 5 - 2 = 3; healthy 4 -> allowed = 4 - 3 = 1
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        5,
        3,
        1,
    )


async def test_min_available_percent_through_a_deployment(h: Harness) -> None:
    ctrl = DisruptionController(clock=h.clock)
    h.bind(ctrl)
    dep = await h.create(make_deployment(replicas=4))
    rs = make_rs(replicas=4)
    rs["metadata"]["ownerReferences"] = [owner_ref_for(dep)]
    rs = await h.create(rs)
    await h.create(make_pdb(minAvailable="50%"))
    for i in range(4):
        pod = await h.create(make_pod(f"web-{i}", ownerReferences=[owner_ref_for(rs)]))
        await h.set_ready(pod)
    await h.sync(ctrl)
    status = await pdb_status(h)
    # expected = deployment replicas 4; desired = ceil(50% of 4) = 2; healthy 4 -> 2
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        4,
        2,
        2,
    )


async def test_missing_controller_fails_safe(h: Harness) -> None:
    ghost = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "gone", "uid": "nope"},
    }
    ctrl = await setup(h, pods=2, ready=2, owner=ghost, maxUnavailable=1)
    await h.sync(ctrl)
    status = await pdb_status(h)
    assert status["disruptionsAllowed"] == 0
    cond = status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "SyncFailed")
    assert cond["message"] == 'found no controllers for pod "web-0"'


async def test_pod_turning_ready_enqueues_its_budget(h: Harness) -> None:
    ctrl = await setup(h, pods=2, ready=1, minAvailable=1)
    await h.sync(ctrl)
    assert (await pdb_status(h))["disruptionsAllowed"] == 0
    ctrl.queue = type(ctrl.queue)()
    await h.set_ready((await h.pods())[1])
    await h.informers.relist(h.client)
    assert len(ctrl.queue) == 1
    await ctrl.reconcile(str(await ctrl.queue.get()))
    assert (await pdb_status(h))["disruptionsAllowed"] == 1
