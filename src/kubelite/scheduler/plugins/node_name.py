"""NodeName: a pod that names its node (``spec.nodeName``) fits only there."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "NodeName"
EVENTS = frozenset({events.NODE_ADD})
ERR_REASON = "node(s) didn't match the requested node name"
_REJECT = Status.unresolvable(ERR_REASON)


class NodeName:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not pod.node_name or pod.node_name == node.name:
            return None
        return _REJECT


def new(args: dict[str, Any], handle: Handle) -> NodeName:
    return NodeName()
