"""NodeUnschedulable: keep pods off cordoned nodes unless they tolerate the cordon taint."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.helpers import tolerates
from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "NodeUnschedulable"
EVENTS = frozenset({events.NODE_ADD, events.NODE_UPDATE})
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
_CORDON_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_REJECT = Status.unresolvable(ERR_REASON_UNSCHEDULABLE)


class NodeUnschedulable:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable:
            return None
        tols = pod.pod.get("spec", {}).get("tolerations") or ()
        if any(tolerates(t, _CORDON_TAINT) for t in tols):
            return None
        return _REJECT


def new(args: dict[str, Any], handle: Handle) -> NodeUnschedulable:
    return NodeUnschedulable()
