"""NodePorts: a pod's hostPorts must be free on the node (0.0.0.0 conflicts with any IP)."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "NodePorts"
EVENTS = frozenset({events.NODE_ADD, events.ASSIGNED_POD_DELETE})
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_REJECT = Status.unschedulable(ERR_REASON)
_ANY_IP = "0.0.0.0"


def port_conflict(used: dict[tuple[str, int], set[str]], ip: str, proto: str, port: int) -> bool:
    ips = used.get((proto, port))
    if not ips:
        return False
    return ip == _ANY_IP or ip in ips or _ANY_IP in ips


class NodePorts:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.host_ports else Status.skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for ip, proto, port in pod.host_ports:
            if port_conflict(node.used_ports, ip, proto, port):
                return _REJECT
        return None


def new(args: dict[str, Any], handle: Handle) -> NodePorts:
    return NodePorts()
