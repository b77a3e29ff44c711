"""Pods nominated to nodes: preemptors waiting for their victims to go.

A preemptor does not run where it evicted pods until the victims are gone, so
the room it freed must stay its own meanwhile: when another pod is filtered on
that node, nominated pods of equal or higher priority count as if they ran
there (``Framework.run_filter_with_nominated_pods``). Upstream keeps this map
inside the scheduling queue; here the queue, the scheduler and the plugins'
handle share one instance.

It is fed from two sides. The watch: a pending pod's ``status.nominatedNodeName``
(so a restarted scheduler rebuilds it from the pods it lists). The scheduler's
own decisions, recorded at once so the next cycle sees them before the API
write comes back. An in-memory nomination survives a watch update that shows
no nomination on either side (the write has not landed yet), as upstream's
UpdateNominatedPod. Entries go when the pod is assumed, bound or deleted, or its
nomination is cleared. Pods are keyed ``namespace/name``, like the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.scheduler.framework.types import PodInfo

__all__ = ["Nominator", "nominated_node_name"]

Obj = Mapping[str, Any]


def nominated_node_name(pod: Obj) -> str:
    """The pod's ``status.nominatedNodeName``, or ''."""
    return (pod.get("status") or {}).get("nominatedNodeName") or ""


class Nominator:
    """Nominated pods by node name, and each pod's node by key."""

    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._node_of)

    def node_for(self, key: str) -> str:
        """Where the pod ``key`` is nominated, or ''."""
        return self._node_of.get(key, "")

    def pods_for(self, node_name: str) -> list[PodInfo]:
        """The pods nominated to ``node_name``, in nomination order."""
        pods = self._by_node.get(node_name)
        return list(pods.values()) if pods else []

    def any_at_least(self, priority: int, except_key: str = "") -> bool:
        """Whether a pod other than ``except_key`` with this priority or more is nominated."""
        return any(
            pi.priority >= priority and pi.key != except_key
            for pods in self._by_node.values()
            for pi in pods.values()
        )

    def add(self, pi: PodInfo, node_name: str | None = None) -> None:
        """Nominate ``pi`` on ``node_name``: None means where its status says, '' clears.

        A pod that is already bound is never nominated (upstream checks the lister).
        """
        self.delete(pi.key)
        name = nominated_node_name(pi.pod) if node_name is None else node_name
        if not name or pi.node_name:
            return
        self._node_of[pi.key] = name
        self._by_node.setdefault(name, {})[pi.key] = pi

    def update(self, pi: PodInfo) -> None:
        """A newer copy of a pending pod arrived from the watch."""
        old = self._pod_info(pi.key)
        keep = (
            old is not None and not nominated_node_name(old.pod) and not nominated_node_name(pi.pod)
        )
        self.add(pi, self._node_of[pi.key] if keep else None)

    def delete(self, key: str) -> None:
        node = self._node_of.pop(key, None)
        if node is None:
            return
        pods = self._by_node.get(node)
        if pods is not None:
            pods.pop(key, None)
            if not pods:
                del self._by_node[node]

    def _pod_info(self, key: str) -> PodInfo | None:
        node = self._node_of.get(key)
        return None if node is None else self._by_node[node].get(key)
