"""Why a pod fits nowhere, in the upstream FitError wording.

``0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2
Insufficient cpu. preemption: 0/3 nodes are available: ...``: every reason of
every rejected node is counted, each "<count> <reason>" string is sorted as a
string (so "10 x" sorts before "2 y", as upstream), and nodes absent from the
map count with the "absent" status when one is set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kubelite.scheduler.framework.status import Code, Status

__all__ = ["Diagnosis", "FitError", "NodeToStatus", "NO_NODE_AVAILABLE_MSG"]

NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"


@dataclass
class NodeToStatus:
    """Rejection status per node name; nodes not listed get ``absent``."""

    statuses: dict[str, Status] = field(default_factory=dict)
    absent: Status | None = None

    def set(self, node: str, status: Status) -> None:
        self.statuses[node] = status

    def get(self, node: str) -> Status | None:
        return self.statuses.get(node, self.absent)

    def __len__(self) -> int:
        return len(self.statuses)

    def nodes_with_code(self, all_nodes: list[str], code: Code) -> list[str]:
        """upstream NodesForStatusCode: absent nodes count with the absent code."""
        out = []
        for name in all_nodes:
            st = self.get(name)
            if st is not None and st.code == code:
                out.append(name)
        return out


@dataclass
class Diagnosis:
    node_to_status: NodeToStatus = field(default_factory=NodeToStatus)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""

    def add_plugin_status(self, status: Status) -> None:
        if status.plugin and status.is_rejection:
            self.unschedulable_plugins.add(status.plugin)


@dataclass
class FitError:
    """The pod fits on none of ``num_all_nodes`` nodes."""

    pod_key: str
    num_all_nodes: int
    diagnosis: Diagnosis

    @property
    def message(self) -> str:
        msg = NO_NODE_AVAILABLE_MSG.format(self.num_all_nodes) + ":"
        d = self.diagnosis
        if d.pre_filter_msg:
            msg += f" {d.pre_filter_msg}."
        else:
            reasons: Counter[str] = Counter()
            for status in d.node_to_status.statuses.values():
                for reason in status.reasons:
                    reasons[reason] += 1
            missing = self.num_all_nodes - len(d.node_to_status)
            if missing > 0 and d.node_to_status.absent is not None:
                for reason in d.node_to_status.absent.reasons:
                    reasons[reason] += missing
            histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
            if histogram:
                msg += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            msg += f" {d.post_filter_msg}"
        return msg

    def __str__(self) -> str:
        return self.message
