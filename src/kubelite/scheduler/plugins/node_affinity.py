"""NodeAffinity: nodeSelector and required node affinity filter; preferred
terms add their weights to the score (normalized by the maximum)."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.helpers import (
    match_node_selector_terms,
    required_node_affinity_matches,
)
from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events
from kubelite.scheduler.plugins._helpers import default_normalize_score

NAME = "NodeAffinity"
EVENTS = frozenset({events.NODE_ADD, events.NODE_UPDATE})
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
_REJECT = Status.unresolvable(ERR_REASON_POD)
_PRE_SCORE_KEY = "PreScore" + NAME


def preferred_terms(pod: PodInfo) -> list[dict[str, Any]]:
    na = (pod.pod.get("spec", {}).get("affinity") or {}).get("nodeAffinity") or {}
    return [
        t
        for t in na.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        if t.get("weight")
    ]


def has_required_node_affinity(pod: PodInfo) -> bool:
    spec = pod.pod.get("spec", {})
    na = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    return bool(spec.get("nodeSelector")) or (
        na.get("requiredDuringSchedulingIgnoredDuringExecution") is not None
    )


class NodeAffinity:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if has_required_node_affinity(pod) else Status.skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if required_node_affinity_matches(pod.pod, node.node):
            return None
        return _REJECT

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        terms = preferred_terms(pod)
        if not terms:
            return Status.skip()
        state.write(_PRE_SCORE_KEY, terms)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        terms = state.get(_PRE_SCORE_KEY)
        if terms is None:
            terms = preferred_terms(pod)
        total = 0
        for t in terms:
            if match_node_selector_terms([t.get("preference") or {}], node.node):
                total += int(t["weight"])
        return total

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[list[Any]]) -> None:
        default_normalize_score(scores, reverse=False)


def new(args: dict[str, Any], handle: Handle) -> NodeAffinity:
    return NodeAffinity()
