"""Garbage collector: owner references it cannot resolve never cost a dependent its life.

Upstream's rules: a cluster-scoped dependent naming a namespaced owner kind is
left alone for good; an owner of a kind the API does not serve is looked at
again later; a namespaced owner is only looked for in the dependent's
namespace, and one found in another namespace is reported with a Warning
`OwnerRefInvalidNamespace` event.
"""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, drain, make_pod

from kubelite.controllers.garbagecollector import UNKNOWN_KIND_RETRY_S, GarbageCollector

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


def owner_ref(obj: Obj) -> Obj:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
    }


def configmap(name: str, ns: str = "default") -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}


def priority_class(name: str, refs: list[Obj]) -> Obj:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name, "ownerReferences": refs},
        "value": 7,
    }


def cluster_role(name: str, refs: list[Obj]) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "ownerReferences": refs},
        "rules": [],
    }


async def exists(h: Harness, api_version: str, kind: str, name: str, ns: str | None) -> bool:
    return await h.client.get_or_none(api_version, kind, name, ns) is not None


async def gc_bound(h: Harness) -> GarbageCollector:
    gc = GarbageCollector(clock=h.clock)
    h.bind(gc)
    return gc


async def test_cluster_scoped_dependent_of_live_namespaced_owner_is_kept_and_reported(
    h: Harness,
) -> None:
    gc = await gc_bound(h)
    cm = await h.create(configmap("nsowner"))
    await h.create(priority_class("badowner-pc", [owner_ref(cm)]))
    await drain(h, gc)
    assert await exists(h, "scheduling.k8s.io/v1", "PriorityClass", "badowner-pc", None)
    uid = cm["metadata"]["uid"]
    [event] = [e for e in await h.list("Event") if e["reason"] == "OwnerRefInvalidNamespace"]
    assert event["type"] == "Warning"
    assert event["message"] == (
        f"ownerRef [v1/ConfigMap, namespace: , name: nsowner, uid: {uid}] "
        'does not exist in namespace ""'
    )
    assert event["involvedObject"]["kind"] == "PriorityClass"
    assert event["involvedObject"]["name"] == "badowner-pc"
    assert event["source"]["component"] == "garbage-collector-controller"


async def test_cluster_scoped_dependent_of_missing_namespaced_owner_is_kept(h: Harness) -> None:
    gc = await gc_bound(h)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "nowhere", "uid": "u-nowhere"}
    await h.create(cluster_role("badowner", [ref]))
    await drain(h, gc)
    assert await exists(h, "rbac.authorization.k8s.io/v1", "ClusterRole", "badowner", None)
    # Upstream reports only an owner it has seen; this one exists nowhere.
    assert await h.events("OwnerRefInvalidNamespace") == []


async def test_invalid_reference_keeps_even_the_dangling_ones(h: Harness) -> None:
    """Upstream gives up on the whole object: no reference is dropped either."""
    gc = await gc_bound(h)
    refs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u-cm"},
        {"apiVersion": "v1", "kind": "Node", "name": "gone", "uid": "u-gone"},
    ]
    await h.create(cluster_role("mixed", refs))
    await drain(h, gc)
    role = await h.client.get("rbac.authorization.k8s.io/v1", "ClusterRole", "mixed")
    assert [r["uid"] for r in role["metadata"]["ownerReferences"]] == ["u-cm", "u-gone"]


async def test_cluster_scoped_dependent_of_missing_cluster_scoped_owner_is_collected(
    h: Harness,
) -> None:
    gc = await gc_bound(h)
    ref = {"apiVersion": "v1", "kind": "Node", "name": "gone", "uid": "u-gone"}
    await h.create(cluster_role("orphaned", [ref]))
    await drain(h, gc)
    assert not await exists(h, "rbac.authorization.k8s.io/v1", "ClusterRole", "orphaned", None)


async def test_owner_in_another_namespace_is_dangling_and_reported(h: Harness) -> None:
    gc = await gc_bound(h)
    await h.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    cm = await h.create(configmap("elsewhere", "other"))
    await h.create(make_pod("p", ownerReferences=[owner_ref(cm)]))
    await drain(h, gc)
    assert not await exists(h, "v1", "Pod", "p", "default")
    uid = cm["metadata"]["uid"]
    assert await h.events("OwnerRefInvalidNamespace") == [
        f"ownerRef [v1/ConfigMap, namespace: default, name: elsewhere, uid: {uid}] "
        'does not exist in namespace "default"'
    ]


async def test_owner_of_an_unserved_kind_is_never_taken_for_gone(h: Harness) -> None:
    gc = await gc_bound(h)
    refs = [
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "u-w"},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "u-gone"},
    ]
    await h.create(make_pod("p", ownerReferences=refs))
    await h.informers.relist(h.client)
    assert await gc.reconcile("v1|Pod|default|p") == UNKNOWN_KIND_RETRY_S
    pod = await h.get("Pod", "p")
    assert [r["uid"] for r in pod["metadata"]["ownerReferences"]] == ["u-w", "u-gone"]
