"""NodeResourcesFit: the pod's requests must fit the node's free allocatable.

Filter reports every insufficient resource ("Insufficient cpu", "Too many
pods"). Score follows the configured strategy: LeastAllocated (default, cpu and
memory weight 1), MostAllocated or RequestedToCapacityRatio, always on the
non-zero requests (100m CPU / 200MiB for containers that set none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.interfaces import MAX_NODE_SCORE, Handle
from kubelite.scheduler.framework.resources import Resource
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events
from kubelite.scheduler.plugins._helpers import go_div
from kubelite.scheduler.plugins._resource_allocation import (
    ResourceAllocationScorer,
    ResourceSpec,
)

NAME = "NodeResourcesFit"
EVENTS = frozenset({events.NODE_ADD, events.NODE_UPDATE, events.ASSIGNED_POD_DELETE})
LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
MAX_CUSTOM_PRIORITY_SCORE = 10
MAX_UTILIZATION = 100
DEFAULT_RESOURCES = (ResourceSpec("cpu", 1), ResourceSpec("memory", 1))
DEFAULT_SHAPE = ((0, 10), (100, 0))
_PRE_SCORE_KEY = "PreScore" + NAME


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    requested = min(requested, capacity)  # non-zero defaults can overshoot
    return requested * MAX_NODE_SCORE // capacity


def _weighted_mean(per_resource: Any, resources: Sequence[ResourceSpec]) -> Any:
    def scorer(requested: list[int], allocatable: list[int]) -> int:
        node_score = weight_sum = 0
        for i, spec in enumerate(resources):
            if allocatable[i] == 0:
                continue
            node_score += per_resource(requested[i], allocatable[i]) * spec.weight
            weight_sum += spec.weight
        return node_score // weight_sum if weight_sum else 0

    return scorer


def broken_linear(shape: Sequence[tuple[int, int]]) -> Any:
    """upstream helper.BuildBrokenLinearFunction (Go integer arithmetic)."""

    def fn(p: int) -> int:
        for i, (util, score) in enumerate(shape):
            if p <= util:
                if i == 0:
                    return score
                pu, ps = shape[i - 1]
                return ps + go_div((score - ps) * (p - pu), util - pu)
        return shape[-1][1]

    return fn


def requested_to_capacity_ratio_scorer(
    resources: Sequence[ResourceSpec], shape: Sequence[tuple[int, int]]
) -> Any:
    scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
    raw = broken_linear([(u, s * scale) for u, s in shape])

    def per_resource(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return raw(MAX_UTILIZATION)
        return raw(requested * MAX_UTILIZATION // capacity)

    def scorer(requested: list[int], allocatable: list[int]) -> int:
        node_score = weight_sum = 0
        for i, spec in enumerate(resources):
            if allocatable[i] == 0:
                continue
            s = per_resource(requested[i], allocatable[i])
            if s > 0:
                node_score += s * spec.weight
                weight_sum += spec.weight
        return math.floor(node_score / weight_sum + 0.5) if weight_sum else 0

    return scorer


def insufficient_resources(
    req: Resource,
    node: NodeInfo,
    ignored: frozenset[str] = frozenset(),
    ignored_groups: frozenset[str] = frozenset(),
) -> list[str]:
    """upstream fitsRequest: every reason the pod does not fit right now."""
    reasons = []
    if len(node.pods) + 1 > node.allocatable.allowed_pod_number:
        reasons.append("Too many pods")
    if not (req.milli_cpu or req.memory or req.ephemeral_storage or req.scalar):
        return reasons
    alloc, used = node.allocatable, node.requested
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        reasons.append("Insufficient memory")
    if (
        req.ephemeral_storage > 0
        and req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
    ):
        reasons.append("Insufficient ephemeral-storage")
    for name, amount in req.scalar.items():
        if amount == 0 or name in ignored or name.split("/", 1)[0] in ignored_groups:
            continue
        if amount > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


class NodeResourcesFit:
    name = NAME

    def __init__(self, args: dict[str, Any]) -> None:
        strategy = args.get("scoringStrategy") or {}
        self.strategy = strategy.get("type") or LEAST_ALLOCATED
        self.resources = (
            tuple(
                ResourceSpec(r["name"], int(r.get("weight") or 1))
                for r in strategy.get("resources") or ()
            )
            or DEFAULT_RESOURCES
        )
        self.ignored = frozenset(args.get("ignoredResources") or ())
        self.ignored_groups = frozenset(args.get("ignoredResourceGroups") or ())
        if self.strategy == LEAST_ALLOCATED:
            scorer = _weighted_mean(least_requested_score, self.resources)
        elif self.strategy == MOST_ALLOCATED:
            scorer = _weighted_mean(most_requested_score, self.resources)
        elif self.strategy == REQUESTED_TO_CAPACITY_RATIO:
            points = (strategy.get("requestedToCapacityRatio") or {}).get("shape")
            shape = (
                [(int(p["utilization"]), int(p["score"])) for p in points]
                if points
                else DEFAULT_SHAPE
            )
            scorer = requested_to_capacity_ratio_scorer(self.resources, shape)
        else:
            raise ValueError(f'scoring strategy "{self.strategy}" is not supported')
        self.allocation = ResourceAllocationScorer(self.resources, scorer, use_requested=False)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        reasons = insufficient_resources(pod.request, node, self.ignored, self.ignored_groups)
        return Status.unschedulable(*reasons) if reasons else None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        state.write(_PRE_SCORE_KEY, self.allocation.pod_request_list(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        reqs = state.get(_PRE_SCORE_KEY)
        if reqs is None:
            reqs = self.allocation.pod_request_list(pod)
        return self.allocation.score(node, reqs)


def new(args: dict[str, Any], handle: Handle) -> NodeResourcesFit:
    return NodeResourcesFit(args)
