"""ReplicaSet controller: replica count, adoption, victims, status, events."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, make_pod, make_rs

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.controllers.controller import SyncError
from kubelite.controllers.replicaset import ReplicaSetController

pytestmark = pytest.mark.anyio


async def rs_setup(h: Harness, replicas: int = 3, **spec: object) -> ReplicaSetController:
    ctrl = ReplicaSetController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_rs(replicas=replicas, **spec))
    return ctrl


async def test_creates_missing_pods_with_owner_and_generate_name(h: Harness) -> None:
    ctrl = await rs_setup(h)
    await h.sync(ctrl)
    pods = await h.pods()
    assert len(pods) == 3
    rs = await h.get("ReplicaSet", "web")
    for pod in pods:
        assert pod["metadata"]["generateName"] == "web-"
        assert pod["metadata"]["name"].startswith("web-")
        assert pod["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": rs["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    names = sorted(p["metadata"]["name"] for p in pods)
    assert sorted(await h.events("SuccessfulCreate")) == [f"Created pod: {n}" for n in names]


async def test_expectations_prevent_double_create(h: Harness) -> None:
    ctrl = await rs_setup(h)
    await h.sync(ctrl)
    # The cache has not seen the pods yet: a second sync must not create more.
    await ctrl.reconcile("default/web")
    assert len(await h.pods()) == 3


async def test_status_counts_ready_and_available(h: Harness) -> None:
    ctrl = await rs_setup(h, minReadySeconds=10)
    await h.sync(ctrl)
    pods = await h.pods()
    await h.set_ready(pods[0])
    await h.set_ready(pods[1], ready=False)
    after = await h.sync(ctrl)
    status = (await h.get("ReplicaSet", "web"))["status"]
    assert status == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 1,
        "observedGeneration": 1,
    }
    assert after is None  # not all ready: nothing to wait for
    await h.set_ready(pods[1])
    await h.set_ready(pods[2])
    assert await h.sync(ctrl) == 10.0  # all ready; available after minReadySeconds
    h.clock.step(10)
    await h.sync(ctrl)
    assert (await h.get("ReplicaSet", "web"))["status"]["availableReplicas"] == 3


async def test_adopts_orphans_and_releases_mismatches(h: Harness) -> None:
    await h.create(make_pod("orphan"))
    ctrl = await rs_setup(h, replicas=1)
    await h.sync(ctrl)
    pods = await h.pods()
    assert [p["metadata"]["name"] for p in pods] == ["orphan"]
    assert pods[0]["metadata"]["ownerReferences"][0]["name"] == "web"
    await h.client.patch(
        "v1", "Pod", "orphan", {"metadata": {"labels": {"app": "other"}}}, "default"
    )
    await h.sync(ctrl)
    released = await h.get("Pod", "orphan")
    assert "ownerReferences" not in released["metadata"]
    assert len(await h.pods(label_selector="app=web")) == 1


async def test_does_not_adopt_pods_controlled_by_others(h: Harness) -> None:
    other = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "x",
        "uid": "u-1",
        "controller": True,
    }
    await h.create(make_pod("taken", ownerReferences=[other]))
    ctrl = await rs_setup(h, replicas=1)
    await h.sync(ctrl)
    assert len(await h.pods()) == 2


@pytest.mark.parametrize(
    ("setup", "expected_victims"),
    [
        pytest.param({"a": "unassigned", "b": "running-ready"}, ["a"], id="unassigned-first"),
        pytest.param({"a": "running-ready", "b": "running-not-ready"}, ["b"], id="not-ready-first"),
        pytest.param({"a": "cost-10", "b": "cost-0"}, ["b"], id="lower-deletion-cost-first"),
        pytest.param({"a": "cost-0", "b": "cost--5"}, ["b"], id="negative-cost-first"),
    ],
)
async def test_scale_down_victim_order(
    h: Harness, setup: dict[str, str], expected_victims: list[str]
) -> None:
    for name, state in setup.items():
        meta: dict[str, object] = {}
        if state.startswith("cost-"):
            meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": state[5:]}
        await h.create(make_pod(name, **meta))
        if state != "unassigned":
            await h.set_ready(await h.get("Pod", name), ready=state != "running-not-ready")
    ctrl = await rs_setup(h, replicas=1)
    await h.sync(ctrl)
    remaining = {p["metadata"]["name"] for p in await h.pods()}
    assert sorted(set(setup) - remaining) == expected_victims
    assert await h.events("SuccessfulDelete") == [f"Deleted pod: {v}" for v in expected_victims]


class QuotaClient(LocalClient):
    """Refuses every pod, as a namespace over its quota would."""

    async def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        if obj.get("kind") == "Pod":
            raise errors.Forbidden(
                'pods "web-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'
            )
        return await super().create(obj, namespace)


async def test_failed_create_sets_replica_failure_and_recovers(h: Harness) -> None:
    ctrl = ReplicaSetController(clock=h.clock)
    ctrl.bind(QuotaClient(h.storage), h.informers)
    await h.create(make_rs(replicas=2))
    with pytest.raises(SyncError):
        await h.sync(ctrl)
    status = (await h.get("ReplicaSet", "web"))["status"]
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("ReplicaFailure", "FailedCreate")
    ]
    assert await h.events("FailedCreate") == [
        'Error creating: pods "web-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'
    ]
    h.bind(ctrl)  # quota lifted
    h.clock.step(301)  # expectations of the failed sync expire
    await h.sync(ctrl)
    assert "conditions" not in (await h.get("ReplicaSet", "web"))["status"]
    assert len(await h.pods()) == 2
