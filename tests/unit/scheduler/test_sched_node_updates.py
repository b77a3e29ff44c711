"""Node updates requeue unschedulable pods only when the node may now fit more.

The node agent rewrites its Node's status every few seconds (heartbeats,
images); upstream ignores those for requeueing, so a pod that does not fit is
not retried (and does not gather a FailedScheduling event) on every heartbeat.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sched_builders import make_node, make_pod, make_scheduler, taint

from kubelite.scheduler.scheduler import node_scheduling_properties_changed

Node = dict[str, Any]


def _heartbeat(n: Node) -> None:
    n["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:10Z"}
    ]


def _images(n: Node) -> None:
    n["status"]["images"] = [{"names": ["app:2"], "sizeBytes": 10}]


def _not_ready(n: Node) -> None:
    n["status"]["conditions"] = [{"type": "Ready", "status": "False"}]


def _more_cpu(n: Node) -> None:
    n["status"]["allocatable"]["cpu"] = "8"


def _label(n: Node) -> None:
    n["metadata"]["labels"]["disk"] = "ssd"


def _untaint(n: Node) -> None:
    n["spec"].pop("taints")


def _schedulable(n: Node) -> None:
    n["spec"]["unschedulable"] = False


def _cordon(n: Node) -> None:
    n["spec"]["unschedulable"] = True


def _annotate(n: Node) -> None:
    n["metadata"]["annotations"] = {"a": "b"}


def _base() -> Node:
    node = make_node("n1", cpu="1", taints=[taint("k")], unschedulable=True)
    node["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}
    ]
    return node


@pytest.mark.parametrize(
    ("change", "requeues"),
    [
        (_heartbeat, False),
        (_images, False),
        (_cordon, False),  # stays (or becomes) unschedulable: nothing new fits
        (_not_ready, True),  # condition statuses, not their times
        (_more_cpu, True),
        (_label, True),
        (_untaint, True),
        (_schedulable, True),
        (_annotate, True),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else str(v),
)
def test_which_node_changes_count(change: Callable[[Node], None], requeues: bool) -> None:
    old = _base()
    new = copy.deepcopy(old)
    change(new)
    assert node_scheduling_properties_changed(old, new) is requeues


def test_a_pod_that_does_not_fit_waits_through_heartbeats() -> None:
    node = make_node("n1", cpu="1")
    node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    sched = make_scheduler([node])
    sched.on_pod_add(make_pod("big", cpu="2"))
    scheduled = sched.schedule_next()
    assert scheduled is not None and not scheduled[1].scheduled
    assert sched.queue.pending()["unschedulable"] == ["default/big"]

    beat = copy.deepcopy(node)
    _heartbeat(beat)
    sched.on_node_update(beat)
    assert sched.queue.pending()["unschedulable"] == ["default/big"]

    bigger = copy.deepcopy(beat)
    bigger["status"]["allocatable"]["cpu"] = "4"
    sched.on_node_update(bigger)
    assert sched.queue.pending()["unschedulable"] == []
