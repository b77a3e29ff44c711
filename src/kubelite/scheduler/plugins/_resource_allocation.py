"""Shared scoring input for NodeResourcesFit and NodeResourcesBalancedAllocation.

upstream ``resourceAllocationScorer``: per configured resource, the node's
allocatable and (already requested + this pod's request). With
``use_requested`` false (Fit's strategies) cpu/memory use the non-zero
defaults on both sides; BalancedAllocation uses the plain requests. An
extended resource the pod does not request is left out of the score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubelite.scheduler._quantity import milli_value, value
from kubelite.scheduler.framework.resources import CPU, EPHEMERAL, MEMORY, pod_requests
from kubelite.scheduler.framework.types import NodeInfo, PodInfo

__all__ = ["ResourceSpec", "ResourceAllocationScorer"]

_NATIVE = (CPU, MEMORY, EPHEMERAL)


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    name: str
    weight: int = 1


Scorer = Callable[[list[int], list[int]], int]


@dataclass
class ResourceAllocationScorer:
    resources: Sequence[ResourceSpec]
    scorer: Scorer
    use_requested: bool

    def pod_request_list(self, pod: PodInfo) -> list[int]:
        reqs = pod_requests(pod.pod, non_zero=not self.use_requested)
        out = []
        for spec in self.resources:
            q = reqs.get(spec.name)
            if q is None:
                out.append(0)
            else:
                out.append(milli_value(q) if spec.name == CPU else value(q))
        return out

    def score(self, node: NodeInfo, pod_requests_list: list[int]) -> int:
        requested = [0] * len(self.resources)
        allocatable = [0] * len(self.resources)
        for i, spec in enumerate(self.resources):
            alloc, req = self._alloc_req(node, spec.name, pod_requests_list[i])
            if alloc == 0:
                continue
            allocatable[i] = alloc
            requested[i] = req
        return self.scorer(requested, allocatable)

    def _alloc_req(self, node: NodeInfo, name: str, pod_req: int) -> tuple[int, int]:
        base = node.requested if self.use_requested else node.non_zero_requested
        if name == CPU:
            return node.allocatable.milli_cpu, base.milli_cpu + pod_req
        if name == MEMORY:
            return node.allocatable.memory, base.memory + pod_req
        if pod_req == 0 and name not in _NATIVE:
            return 0, 0  # an extended resource the pod does not ask for
        if name == EPHEMERAL:
            return node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_req
        if name in node.allocatable.scalar:
            return node.allocatable.scalar[name], node.requested.scalar.get(name, 0) + pod_req
        return 0, 0
