"""Taint eviction controller: NoExecute taints evict the pods that do not tolerate them."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, drain, make_pod

from kubelite.controllers.objects import timestamp
from kubelite.controllers.tainteviction import (
    TaintEvictionController,
    eviction_deadline,
    taint_id,
)

Obj = dict[str, Any]
pytestmark = pytest.mark.anyio

EVICT = {"key": "evict", "value": "now", "effect": "NoExecute"}


def toleration(seconds: int | None = None, **kw: Any) -> Obj:
    t: Obj = {"key": "evict", "operator": "Equal", "value": "now", "effect": "NoExecute", **kw}
    if seconds is not None:
        t["tolerationSeconds"] = seconds
    return t


# ---- pure parts --------------------------------------------------------------------


def test_deadline_rules() -> None:
    started = {taint_id(EVICT): 100.0}
    assert eviction_deadline([EVICT], [], started) == float("-inf")
    assert eviction_deadline([EVICT], [toleration(key="other")], started) == float("-inf")
    assert eviction_deadline([EVICT], [toleration()], started) is None
    assert eviction_deadline([EVICT], [toleration(8)], started) == 108.0
    assert eviction_deadline([EVICT], [toleration(-5)], started) == 100.0
    # the first matching toleration counts, as GetMatchingTolerations picks it
    assert eviction_deadline([EVICT], [toleration(30), {"operator": "Exists"}], started) == 130.0
    other = {"key": "b", "effect": "NoExecute"}
    started[taint_id(other)] = 50.0
    both = [toleration(30), {"key": "b", "operator": "Exists", "tolerationSeconds": 10}]
    assert eviction_deadline([EVICT, other], both, started) == 60.0


# ---- against the in-process API, with a fake clock -----------------------------------


async def _node(h: Harness, name: str = "n1", taints: list[Obj] | None = None) -> None:
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    if taints:
        node["spec"] = {"taints": taints}
    await h.client.create(node)


async def _taint(h: Harness, taints: list[Obj], name: str = "n1") -> None:
    def apply(node: Obj) -> Obj:
        node.setdefault("spec", {})["taints"] = taints
        return node

    await h.client.mutate("v1", "Node", name, apply)


async def _pod(h: Harness, name: str, tolerations: list[Obj] | None = None) -> Obj:
    pod = make_pod(name, node="n1")
    if tolerations:
        pod["spec"]["tolerations"] = tolerations
    return await h.create(pod)


async def _names(h: Harness) -> set[str]:
    return {p["metadata"]["name"] for p in await h.pods()}


async def _setup(h: Harness) -> TaintEvictionController:
    ctl = TaintEvictionController(clock=h.clock)
    h.bind(ctl)
    await _node(h)
    return ctl


async def test_untolerated_pod_is_evicted_now_with_condition_and_event(h: Harness) -> None:
    ctl = await _setup(h)
    await _pod(h, "ne2")
    await _pod(h, "other-toleration", [toleration(key="something-else")])
    await drain(h, ctl)
    assert await _names(h) == {"ne2", "other-toleration"}  # no taint yet

    await _taint(h, [dict(EVICT)])
    await drain(h, ctl)
    assert await _names(h) == set()
    assert sorted(await h.events("TaintManagerEviction")) == [
        "Marking for deletion Pod default/ne2",
        "Marking for deletion Pod default/other-toleration",
    ]
    # the pod has a grace period: it stays (terminating) with the DisruptionTarget condition
    pod = await h.get("Pod", "ne2")
    assert pod["metadata"].get("deletionTimestamp")
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert cond["status"] == "True"
    assert cond["reason"] == "DeletionByTaintManager"
    assert cond["message"] == "Taint manager: deleting due to NoExecute taint"


async def test_api_server_stamps_time_added_on_no_execute_taints(h: Harness) -> None:
    await _node(h, taints=[dict(EVICT), {"key": "s", "effect": "NoSchedule"}])
    node = await h.get("Node", "n1", None)
    added = {t["key"]: t.get("timeAdded") for t in node["spec"]["taints"]}
    assert added == {"evict": timestamp(h.clock()), "s": None}
    h.clock.step(30)
    await _taint(h, [*node["spec"]["taints"], {"key": "late", "effect": "NoExecute"}])
    node = await h.get("Node", "n1", None)
    added = {t["key"]: t.get("timeAdded") for t in node["spec"]["taints"]}
    assert added["evict"] == timestamp(h.clock() - 30)  # kept
    assert added["late"] == timestamp(h.clock())


async def test_toleration_seconds_honoured(h: Harness) -> None:
    ctl = await _setup(h)
    await _pod(h, "ne1", [toleration(8)])
    await _pod(h, "ne3", [toleration()])
    await _taint(h, [dict(EVICT)])
    await drain(h, ctl)
    assert await _names(h) == {"ne1", "ne3"}
    assert await h.events("TaintManagerEviction") == []
    assert await h.sync(ctl, "default/ne1") == pytest.approx(8.0)

    h.clock.step(7.5)
    assert await h.sync(ctl, "default/ne1") == pytest.approx(0.5)
    assert await _names(h) == {"ne1", "ne3"}

    h.clock.step(0.5)
    assert await h.sync(ctl, "default/ne1") is None
    assert await h.sync(ctl, "default/ne3") is None
    assert await _names(h) == {"ne3"}  # tolerated forever: kept
    assert await h.events("TaintManagerEviction") == ["Marking for deletion Pod default/ne1"]

    h.clock.step(3600)
    await h.sync(ctl, "default/ne3")
    assert await _names(h) == {"ne3"}


async def test_counts_from_time_added(h: Harness) -> None:
    ctl = await _setup(h)
    await _pod(h, "ne1", [toleration(8)])
    added = timestamp(h.clock() - 5)
    await _taint(h, [{**EVICT, "timeAdded": added}])
    await h.informers.relist(h.client)
    assert await h.sync(ctl, "default/ne1") == pytest.approx(3.0)


async def test_taint_removed_cancels(h: Harness) -> None:
    ctl = await _setup(h)
    await _pod(h, "ne1", [toleration(8)])
    await _taint(h, [dict(EVICT)])
    await drain(h, ctl)
    h.clock.step(5)
    await _taint(h, [])
    await drain(h, ctl)
    assert await h.events("TaintManagerEviction") == ["Cancelling deletion of Pod default/ne1"]
    h.clock.step(10)
    assert await h.sync(ctl, "default/ne1") is None
    assert await _names(h) == {"ne1"}
    assert ctl.scheduled == {}


async def test_taint_changed_to_tolerated_forever_cancels(h: Harness) -> None:
    ctl = await _setup(h)
    await _pod(h, "ne1", [toleration(8), {"key": "forever", "operator": "Exists"}])
    await _taint(h, [dict(EVICT)])
    await drain(h, ctl)
    await _taint(h, [{"key": "forever", "effect": "NoExecute"}])
    await drain(h, ctl)
    assert await h.events("TaintManagerEviction") == ["Cancelling deletion of Pod default/ne1"]
    h.clock.step(60)
    await h.sync(ctl, "default/ne1")
    assert await _names(h) == {"ne1"}


async def test_unscheduled_and_other_node_pods_untouched(h: Harness) -> None:
    ctl = await _setup(h)
    await _node(h, "n2")
    await h.create(make_pod("pending"))
    await h.create(make_pod("elsewhere", node="n2"))
    await _taint(h, [dict(EVICT)])
    await drain(h, ctl)
    await h.sync(ctl, "default/pending")
    assert await _names(h) == {"pending", "elsewhere"}
