"""Node lifecycle controller: a cordoned node carries the unschedulable NoSchedule taint.

Upstream's NoSchedule tainting pass maps `spec.unschedulable` to
`node.kubernetes.io/unschedulable:NoSchedule` and each troubled condition
(MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable True) to its
NoSchedule taint; the daemon pods' default tolerations let them through.
"""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness

from kubelite.api.nodeaffinity import find_untolerated_taint
from kubelite.controllers.daemonset.eligibility import daemon_pod_spec, node_should_run
from kubelite.controllers.nodelifecycle import (
    UNSCHEDULABLE,
    NodeLifecycleController,
    reconcile_taints,
)
from kubelite.controllers.objects import timestamp

Obj = dict[str, Any]
NOW = "2026-01-01T00:00:00Z"
CORDON = (UNSCHEDULABLE, "NoSchedule")
FOREIGN = ("dedicated", "NoSchedule")


def pairs(taints: list[Obj]) -> list[tuple[str, str]]:
    return [(t["key"], t["effect"]) for t in taints]


@pytest.mark.parametrize(
    ("before", "unschedulable", "conditions", "after"),
    [
        pytest.param([], True, {}, [CORDON], id="cordon-adds"),
        pytest.param([CORDON, FOREIGN], False, {}, [FOREIGN], id="uncordon-removes-keeps-foreign"),
        pytest.param([FOREIGN, CORDON], True, {}, [FOREIGN, CORDON], id="cordoned-unchanged"),
        # a NoExecute taint with the cordon key is not upstream's: left alone
        pytest.param(
            [(UNSCHEDULABLE, "NoExecute")],
            False,
            {},
            [(UNSCHEDULABLE, "NoExecute")],
            id="other-effect-untouched",
        ),
        pytest.param(
            [],
            False,
            {"MemoryPressure": "True", "DiskPressure": "False"},
            [("node.kubernetes.io/memory-pressure", "NoSchedule")],
            id="pressure-true-taints",
        ),
        pytest.param(
            [("node.kubernetes.io/pid-pressure", "NoSchedule")],
            False,
            {"PIDPressure": "False"},
            [],
            id="pressure-gone-untaints",
        ),
    ],
)
def test_no_schedule_pass(
    before: list[tuple[str, str]],
    unschedulable: bool,
    conditions: dict[str, str],
    after: list[tuple[str, str]],
) -> None:
    taints = [{"key": k, "effect": e} for k, e in before]
    out = reconcile_taints(taints, "True", NOW, conditions=conditions, unschedulable=unschedulable)
    assert pairs(out) == after
    assert all("timeAdded" not in t for t in out if t["effect"] == "NoSchedule")


async def _ready_node(h: Harness, name: str = "n1") -> None:
    stamp = timestamp(h.clock())
    await h.client.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name},
            "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
        }
    )
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }
    await h.client.patch(
        "v1", "Node", name, {"status": {"conditions": [ready]}}, subresource="status"
    )


async def _cordon(h: Harness, on: bool, name: str = "n1") -> None:
    await h.client.patch("v1", "Node", name, {"spec": {"unschedulable": on}})


@pytest.mark.anyio
async def test_cordon_taints_and_uncordon_untaints(h: Harness) -> None:
    ctrl = NodeLifecycleController(grace_period_s=40, clock=h.clock)
    h.bind(ctrl)
    await _ready_node(h)
    await h.sync(ctrl, "n1")
    assert pairs((await h.get("Node", "n1", None))["spec"]["taints"]) == [FOREIGN]

    await _cordon(h, True)
    await h.sync(ctrl, "n1")
    node = await h.get("Node", "n1", None)
    assert node["spec"]["taints"] == [
        {"key": "dedicated", "effect": "NoSchedule"},
        {"key": UNSCHEDULABLE, "effect": "NoSchedule"},
    ]

    await _cordon(h, False)
    await h.sync(ctrl, "n1")
    assert pairs((await h.get("Node", "n1", None))["spec"]["taints"]) == [FOREIGN]


@pytest.mark.anyio
async def test_daemon_pods_still_run_on_a_cordoned_tainted_node(h: Harness) -> None:
    ctrl = NodeLifecycleController(grace_period_s=40, clock=h.clock)
    h.bind(ctrl)
    await h.client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}})
    await _cordon(h, True, "n2")
    await h.sync(ctrl, "n2")
    node = await h.get("Node", "n2", None)
    assert pairs(node["spec"]["taints"]) == [CORDON]
    ds = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    assert node_should_run(node, ds) == (True, True)
    tolerations = daemon_pod_spec(ds, "n2")["tolerations"]
    assert (
        find_untolerated_taint(node["spec"]["taints"], tolerations, frozenset({"NoSchedule"}))
        is None
    )
