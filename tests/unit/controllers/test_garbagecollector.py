"""Garbage collector: Background, Orphan and Foreground propagation, dangling owners."""

from __future__ import annotations

import pytest
from ctl_builders import Harness, drain, make_deployment, make_pod, make_rs

from kubelite.controllers.deployment import DeploymentController
from kubelite.controllers.garbagecollector import GarbageCollector
from kubelite.controllers.replicaset import ReplicaSetController

pytestmark = pytest.mark.anyio


async def with_rs(h: Harness) -> tuple[GarbageCollector, ReplicaSetController]:
    gc, rc = GarbageCollector(clock=h.clock), ReplicaSetController(clock=h.clock)
    h.bind(gc, rc)
    await h.create(make_rs(replicas=2))
    await drain(h, gc, rc)
    assert len(await h.pods()) == 2
    return gc, rc


async def test_background_deletes_dependents(h: Harness) -> None:
    gc, rc = await with_rs(h)
    await h.client.delete(
        "apps/v1", "ReplicaSet", "web", "default", propagation_policy="Background"
    )
    await drain(h, gc, rc)
    assert await h.list("Pod") == []


async def test_orphan_keeps_dependents_without_owner(h: Harness) -> None:
    gc, rc = await with_rs(h)
    await h.client.delete("apps/v1", "ReplicaSet", "web", "default", propagation_policy="Orphan")
    assert (await h.get("ReplicaSet", "web"))["metadata"]["finalizers"] == ["orphan"]
    await drain(h, gc, rc)
    assert await h.list("ReplicaSet") == []
    pods = await h.list("Pod")
    assert len(pods) == 2 and all("ownerReferences" not in p["metadata"] for p in pods)


async def test_foreground_deletes_dependents_before_owner(h: Harness) -> None:
    gc, rc = GarbageCollector(clock=h.clock), ReplicaSetController(clock=h.clock)
    dc = DeploymentController(clock=h.clock)
    h.bind(gc, rc, dc)
    await h.create(make_deployment(replicas=2))
    await drain(h, gc, rc, dc, ready=True)  # pods bound to a node: graceful deletion
    await h.client.delete(
        "apps/v1", "Deployment", "web", "default", propagation_policy="Foreground"
    )
    await drain(h, gc, rc, dc)
    # Pods are terminating; the deployment and its ReplicaSet wait for them.
    d = await h.get("Deployment", "web")
    assert d["metadata"]["finalizers"] == ["foregroundDeletion"]
    [rs] = await h.list("ReplicaSet")
    assert rs["metadata"]["finalizers"] == ["foregroundDeletion"]
    await drain(h, gc, rc, dc, ready=True)  # the kubelet finishes the pods
    assert await h.list("Pod") == []
    assert await h.list("ReplicaSet") == []
    assert await h.list("Deployment") == []


async def test_dangling_owner_uid_mismatch_is_collected(h: Harness) -> None:
    gc = GarbageCollector(clock=h.clock)
    h.bind(gc)
    await h.create(make_rs(replicas=0))
    stale = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": "not-the-current-uid",
        "controller": True,
    }
    await h.create(make_pod("p", ownerReferences=[stale]))
    await drain(h, gc)
    assert await h.list("Pod") == []


async def test_dependent_with_another_live_owner_survives(h: Harness) -> None:
    gc = GarbageCollector(clock=h.clock)
    h.bind(gc)
    live = await h.create(make_rs(name="keep", replicas=0))
    refs = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "gone", "uid": "u-gone"},
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "keep",
            "uid": live["metadata"]["uid"],
        },
    ]
    await h.create(make_pod("p", ownerReferences=refs))
    await drain(h, gc)
    pod = await h.get("Pod", "p")
    assert [r["name"] for r in pod["metadata"]["ownerReferences"]] == ["keep"]


async def test_a_second_delete_swaps_the_gc_finalizers(h: Harness) -> None:
    """As upstream's deletionFinalizersForGarbageCollection: the latest request's policy
    wins, other finalizers stay, and a delete naming no policy changes nothing."""
    rs = make_rs(replicas=0)
    rs["metadata"]["finalizers"] = ["example.com/hold"]
    await h.create(rs)

    async def finalizers_after(policy: str | None) -> list[str]:
        await h.client.delete("apps/v1", "ReplicaSet", "web", "default", propagation_policy=policy)
        return list((await h.get("ReplicaSet", "web"))["metadata"]["finalizers"])

    assert await finalizers_after("Orphan") == ["example.com/hold", "orphan"]
    assert await finalizers_after("Foreground") == ["example.com/hold", "foregroundDeletion"]
    marked = (await h.get("ReplicaSet", "web"))["metadata"]
    assert await finalizers_after(None) == ["example.com/hold", "foregroundDeletion"]
    again = (await h.get("ReplicaSet", "web"))["metadata"]
    assert again["resourceVersion"] == marked["resourceVersion"]
    assert again["deletionTimestamp"] == marked["deletionTimestamp"]
    assert await finalizers_after("Background") == ["example.com/hold"]
    assert (await h.get("ReplicaSet", "web"))["metadata"]["generation"] == 2  # bumped once


async def test_an_orphan_delete_ends_a_foreground_wait(h: Harness) -> None:
    gc, rc = GarbageCollector(clock=h.clock), ReplicaSetController(clock=h.clock)
    h.bind(gc, rc)
    rs = make_rs(replicas=2)
    await h.create(rs)
    await drain(h, gc, rc, ready=True)  # pods bound to a node: graceful deletion
    await h.client.delete(
        "apps/v1", "ReplicaSet", "web", "default", propagation_policy="Foreground"
    )
    await drain(h, gc, rc)
    assert (await h.get("ReplicaSet", "web"))["metadata"]["finalizers"] == ["foregroundDeletion"]
    await h.client.delete("apps/v1", "ReplicaSet", "web", "default", propagation_policy="Orphan")
    await drain(h, gc, rc)
    assert await h.list("ReplicaSet") == []  # no longer waits for its terminating pods
    assert all("ownerReferences" not in p["metadata"] for p in await h.list("Pod"))
