"""Disruption controller: disruptionsAllowed from healthy pods and the budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ctl_builders import Harness, make_deployment, make_pod, make_rs

from kubelite.api.registry import REGISTRY
from kubelite.controllers.disruption import (
    DisruptionController,
    desired_healthy,
    go_selector,
    needs_scale,
    scaled_value,
)
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
    assert desired_healthy({}, 2, 2) == (0, 0)


@pytest.mark.parametrize(
    ("spec", "needed"),
    [
        ({"maxUnavailable": 1}, True),
        ({"minAvailable": "50%"}, True),
        ({"minAvailable": 2}, False),  # the matched pods are expected: no owner looked up
        ({}, False),
    ],
)
def test_only_relative_budgets_look_up_the_owners_scale(spec: dict[str, Any], needed: bool) -> None:
    assert needs_scale(spec) is needed


def test_selector_prints_as_go_does() -> None:
    selector = {
        "matchLabels": {"tier": "db", "app": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}],
    }
    assert go_selector(selector) == (
        "&LabelSelector{MatchLabels:map[string]string{app: web,tier: db,},"
        "MatchExpressions:[]LabelSelectorRequirement{"
        "LabelSelectorRequirement{Key:env,Operator:In,Values:[a b],},},}"
    )
    assert go_selector(None) == "nil"


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


def counters(status: dict[str, Any]) -> tuple[int, int, int, int]:
    """(expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed)"""
    return (
        status["expectedPods"],
        status["desiredHealthy"],
        status["currentHealthy"],
        status["disruptionsAllowed"],
    )


def condition(status: dict[str, Any]) -> tuple[str, str, str]:
    cond = status["conditions"][0]
    return cond["status"], cond["reason"], cond["message"]


def make_rc(replicas: int) -> dict[str, Any]:
    rs = make_rs(replicas=replicas)
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": rs["metadata"],
        "spec": {**rs["spec"], "selector": {"app": "web"}},
    }


def make_ds() -> dict[str, Any]:
    rs = make_rs()
    spec = {k: v for k, v in rs["spec"].items() if k != "replicas"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": rs["metadata"], "spec": spec}


async def test_replication_controller_pods_use_its_scale(h: Harness) -> None:
    rc = await h.create(make_rc(replicas=2))
    ctrl = await setup(h, pods=2, ready=2, owner=rc, maxUnavailable=1)
    await h.sync(ctrl)
    status = await pdb_status(h)
    # expected = rc replicas 2; desired = 2 - 1 = 1; healthy 2 -> allowed 1
    assert counters(status) == (2, 1, 2, 1)
    assert condition(status) == ("True", "SufficientPods", "")
    assert await h.events() == []


async def test_a_replica_set_whose_deployment_is_gone_counts_through_its_scale(h: Harness) -> None:
    ghost = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "uid": "no"}}
    rs = make_rs(replicas=4)
    rs["metadata"]["ownerReferences"] = [owner_ref_for(ghost)]
    rs = await h.create(rs)
    ctrl = await setup(h, pods=2, ready=2, owner=rs, maxUnavailable="50%")
    await h.sync(ctrl)
    # neither the Deployment finder (gone) nor the ReplicaSet one (it has a Deployment
    # owner) counts it: the scale subresource does -> 4 - ceil(50% of 4) = 2 desired
    assert counters(await pdb_status(h)) == (4, 2, 2, 0)


async def test_daemon_set_pods_have_no_scale_and_fail_safe(h: Harness) -> None:
    ds = await h.create(make_ds())
    ctrl = await setup(h, pods=2, ready=2, owner=ds, maxUnavailable="50%")
    before = await pdb_status(h)
    await h.sync(ctrl)
    status = await pdb_status(h)
    error = "daemonsets.apps does not implement the scale subresource"
    assert condition(status) == ("False", "SyncFailed", error)
    # The fail-safe allows nothing and leaves the counters as they were.
    assert counters(status) == counters(before) == (0, 0, 0, 0)
    assert await h.events("CalculateExpectedPodCountFailed") == [
        f"Failed to calculate the number of expected pods: {error}"
    ]


async def test_an_integer_min_available_needs_no_scale(h: Harness) -> None:
    ds = await h.create(make_ds())
    ctrl = await setup(h, pods=2, ready=2, owner=ds, minAvailable=1)
    await h.sync(ctrl)
    status = await pdb_status(h)
    assert counters(status) == (2, 1, 2, 1)
    assert await h.events() == []


async def test_an_owner_of_an_unknown_kind_fails_safe(h: Harness) -> None:
    owner = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g", "uid": "1"},
    }
    ctrl = await setup(h, pods=1, ready=1, owner=owner, maxUnavailable=1)
    await h.sync(ctrl)
    message = 'no matches for kind "Gadget" in version "example.com/v1"'
    assert condition(await pdb_status(h)) == ("False", "SyncFailed", message)


async def test_no_matching_pods_is_an_event(h: Harness) -> None:
    ctrl = await setup(h, pods=0, ready=0, minAvailable=1)
    await h.sync(ctrl)
    await h.sync(ctrl)
    assert await h.events("NoPods") == ["No matching pods found"]
    (event,) = await h.list("Event")
    assert (event["type"], event["count"]) == ("Normal", 2)  # a repeat bumps the count
    assert event["involvedObject"]["kind"] == "PodDisruptionBudget"
    assert event["source"] == {"component": "controllermanager"}  # kubectl's "From"


async def test_unmanaged_pods_are_left_out_with_a_warning(h: Harness) -> None:
    rs = await h.create(make_rs(replicas=2))
    ctrl = await setup(h, pods=2, ready=2, owner=rs, maxUnavailable=1)
    bare = await h.create(make_pod("web-bare"))
    await h.set_ready(bare)
    await h.sync(ctrl)
    # expected = rs replicas 2 (the bare pod has no scale); desired 1; healthy 3 -> 2
    assert counters(await pdb_status(h)) == (2, 1, 3, 2)
    assert await h.events("UnmanagedPods") == [
        "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:"
        "map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}) were "
        "found to be unmanaged. As a result, the status of the PDB cannot be calculated "
        "correctly, which may result in undefined behavior. To account for these pods please "
        'set ".spec.minAvailable" field of the PDB to an integer value.'
    ]


# --- owners that are custom resources: the generic scale subresource ---


@pytest.fixture
def forget_custom_types() -> Iterator[None]:
    yield
    for owner in {rt.custom.crd_name for rt in REGISTRY.dynamic_resources()}:
        REGISTRY.set_dynamic(owner, ())


def make_crd(scale: dict[str, Any] | None) -> dict[str, Any]:
    spec_schema = {"type": "object", "properties": {"size": {"type": "integer"}}}
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}},
    }
    if scale is not None:
        version["subresources"] = {"scale": scale}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [version],
        },
    }


def make_widget(**spec: Any) -> dict[str, Any]:
    meta = {"name": "w", "namespace": "default"}
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta, "spec": spec}


@pytest.mark.usefixtures("forget_custom_types")
async def test_custom_resource_owners_count_through_their_scale(h: Harness) -> None:
    scale = {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}
    await h.create(make_crd(scale))
    widget = await h.create(make_widget(size=5))
    ctrl = await setup(h, pods=3, ready=3, owner=widget, minAvailable="60%")
    await h.sync(ctrl)
    # expected = the widget's scale, .spec.size 5; desired = ceil(60% of 5) = 3; healthy 3 -> 0
    assert counters(await pdb_status(h)) == (5, 3, 3, 0)


@pytest.mark.usefixtures("forget_custom_types")
async def test_custom_resource_owners_without_scale_fail_safe(h: Harness) -> None:
    await h.create(make_crd(None))
    widget = await h.create(make_widget())
    ctrl = await setup(h, pods=1, ready=1, owner=widget, maxUnavailable=1)
    await h.sync(ctrl)
    message = "widgets.example.com does not implement the scale subresource"
    assert condition(await pdb_status(h)) == ("False", "SyncFailed", message)
