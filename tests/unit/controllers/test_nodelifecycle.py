"""Node lifecycle controller: silent nodes go Unknown, get tainted, and their pods go not Ready."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, make_pod

from kubelite.controllers.nodelifecycle import (
    NOT_READY,
    UNREACHABLE,
    NodeLifecycleController,
    reconcile_taints,
    unknown_conditions,
)
from kubelite.controllers.objects import timestamp

Obj = dict[str, Any]
NOW = "2026-01-01T00:00:00Z"


def node_conditions(heartbeat: str, status: str = "True") -> list[Obj]:
    return [
        {
            "type": t,
            "status": status if t == "Ready" else "False",
            "reason": "KubeletReady" if t == "Ready" else "KubeletHasNoPressure",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": heartbeat,
        }
        for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
    ]


# ---- pure parts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "before", "after"),
    [
        pytest.param("True", [], [], id="ready-untainted"),
        pytest.param(
            "Unknown",
            [],
            [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")],
            id="unknown-unreachable",
        ),
        pytest.param(
            "False", [], [(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")], id="false-not-ready"
        ),
        pytest.param(
            "True",
            [(UNREACHABLE, "NoExecute"), ("dedicated", "NoSchedule")],
            [("dedicated", "NoSchedule")],
            id="back-keeps-foreign-taints",
        ),
        pytest.param(
            "Unknown",
            [(NOT_READY, "NoExecute")],
            [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")],
            id="swap-not-ready-for-unreachable",
        ),
    ],
)
def test_taints_follow_ready(ready: str, before: list, after: list) -> None:
    taints = [{"key": k, "effect": e} for k, e in before]
    out = reconcile_taints(taints, ready, NOW)
    assert [(t["key"], t["effect"]) for t in out] == after
    for t in out:
        if t["key"] in (UNREACHABLE, NOT_READY):
            # upstream stamps only NoExecute taints (eviction counts from timeAdded)
            assert ("timeAdded" in t) == (t["effect"] == "NoExecute")


def test_unknown_conditions_keep_heartbeat_and_say_why() -> None:
    node = {"metadata": {"name": "n1"}, "status": {"conditions": node_conditions("T0")}}
    out = {c["type"]: c for c in unknown_conditions(node, NOW)}
    assert {c["status"] for c in out.values()} == {"Unknown"}
    assert out["Ready"]["reason"] == "NodeStatusUnknown"
    assert out["Ready"]["message"] == "Kubelet stopped posting node status."
    assert out["Ready"]["lastHeartbeatTime"] == "T0"
    assert out["Ready"]["lastTransitionTime"] == NOW


def test_never_updated_node_gets_every_condition() -> None:
    node = {"metadata": {"name": "n1", "creationTimestamp": "T0"}, "status": {}}
    out = {c["type"]: c for c in unknown_conditions(node, NOW)}
    assert set(out) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    assert out["Ready"]["reason"] == "NodeStatusNeverUpdated"
    assert out["Ready"]["message"] == "Kubelet never posted node status."


# ---- against the in-process API, with a fake clock -----------------------------------


async def _node(h: Harness, name: str = "n1") -> Obj:
    stamp = timestamp(h.clock())
    await h.client.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name},
            "spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]},
        }
    )
    await h.client.patch(
        "v1", "Node", name, {"status": {"conditions": node_conditions(stamp)}}, subresource="status"
    )
    await h.client.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "kube-node-lease"},
        }
    )
    await h.client.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "renewTime": stamp.replace("Z", ".000000Z")},
        },
        "kube-node-lease",
    )
    return await h.get("Node", name, None)


async def _renew(h: Harness, name: str = "n1") -> None:
    stamp = timestamp(h.clock()).replace("Z", ".000000Z")
    await h.client.patch(
        "coordination.k8s.io/v1",
        "Lease",
        name,
        {"spec": {"renewTime": stamp}},
        "kube-node-lease",
    )


def _ready(node: Obj) -> Obj:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def _taints(node: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


@pytest.mark.anyio
async def test_silent_node_goes_unknown_after_grace_and_recovers(h: Harness) -> None:
    ctrl = NodeLifecycleController(grace_period_s=40, clock=h.clock)
    h.bind(ctrl)
    await _node(h)
    pod = make_pod("web-1", node="n1")
    await h.create(pod)
    await h.set_ready(pod, node="n1")

    after = await h.sync(ctrl, "n1")
    assert after == pytest.approx(40)  # looked at again when the grace period ends
    h.clock.step(30)
    await _renew(h)  # the lease alone counts as a heartbeat
    await h.sync(ctrl, "n1")
    h.clock.step(39)  # 69 s after the node status, 39 s after the lease
    await h.sync(ctrl, "n1")
    node = await h.get("Node", "n1", None)
    assert _ready(node)["status"] == "True"
    assert _taints(node) == {("dedicated", "NoSchedule")}

    h.clock.step(2)  # 41 s of silence
    await h.sync(ctrl, "n1")
    node = await h.get("Node", "n1", None)
    assert _ready(node)["status"] == "Unknown"
    assert _ready(node)["reason"] == "NodeStatusUnknown"
    assert _taints(node) == {
        ("dedicated", "NoSchedule"),
        (UNREACHABLE, "NoExecute"),
        (UNREACHABLE, "NoSchedule"),
    }
    pod_ready = next(
        c for c in (await h.get("Pod", "web-1"))["status"]["conditions"] if c["type"] == "Ready"
    )
    assert pod_ready["status"] == "False"
    reasons = {(e["involvedObject"]["name"], e["reason"]) for e in await h.list("Event")}
    assert ("web-1", "NodeNotReady") in reasons

    # the agent comes back: its status posts Ready again, the controller lifts the taints
    h.clock.step(5)
    await _renew(h)
    await h.client.patch(
        "v1",
        "Node",
        "n1",
        {"status": {"conditions": node_conditions(timestamp(h.clock()))}},
        subresource="status",
    )
    await h.sync(ctrl, "n1")
    node = await h.get("Node", "n1", None)
    assert _ready(node)["status"] == "True"
    assert _taints(node) == {("dedicated", "NoSchedule")}


@pytest.mark.anyio
async def test_node_without_agent_is_never_updated_unknown(h: Harness) -> None:
    ctrl = NodeLifecycleController(grace_period_s=40, clock=h.clock)
    h.bind(ctrl)
    await h.client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"}})
    await h.sync(ctrl, "ghost")
    assert not _taints(await h.get("Node", "ghost", None))
    h.clock.step(41)
    await h.sync(ctrl, "ghost")
    node = await h.get("Node", "ghost", None)
    assert _ready(node)["reason"] == "NodeStatusNeverUpdated"
    assert _taints(node) == {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}
