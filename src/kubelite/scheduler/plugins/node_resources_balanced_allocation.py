"""NodeResourcesBalancedAllocation: favour nodes whose cpu and memory fill evenly.

Score = (1 - std(fraction of each resource requested)) * 100, fractions capped
at 1; for two resources std is |f1 - f2| / 2. Uses plain requests (no
non-zero defaults), as upstream does.
"""

from __future__ import annotations

import math
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.interfaces import MAX_NODE_SCORE, Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events
from kubelite.scheduler.plugins._resource_allocation import (
    ResourceAllocationScorer,
    ResourceSpec,
)

NAME = "NodeResourcesBalancedAllocation"
EVENTS = frozenset({events.NODE_ADD, events.NODE_UPDATE, events.ASSIGNED_POD_DELETE})
DEFAULT_RESOURCES = (ResourceSpec("cpu", 1), ResourceSpec("memory", 1))
_PRE_SCORE_KEY = "PreScore" + NAME


def balanced_resource_score(requested: list[int], allocatable: list[int]) -> int:
    fractions = []
    for req, alloc in zip(requested, allocatable, strict=True):
        if alloc == 0:
            continue
        fractions.append(min(req / alloc, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


class BalancedAllocation:
    name = NAME

    def __init__(self, args: dict[str, Any]) -> None:
        resources = (
            tuple(
                ResourceSpec(r["name"], int(r.get("weight") or 1))
                for r in args.get("resources") or ()
            )
            or DEFAULT_RESOURCES
        )
        self.allocation = ResourceAllocationScorer(resources, balanced_resource_score, True)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        state.write(_PRE_SCORE_KEY, self.allocation.pod_request_list(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        reqs = state.get(_PRE_SCORE_KEY)
        if reqs is None:
            reqs = self.allocation.pod_request_list(pod)
        return self.allocation.score(node, reqs)


def new(args: dict[str, Any], handle: Handle) -> BalancedAllocation:
    return BalancedAllocation(args)
