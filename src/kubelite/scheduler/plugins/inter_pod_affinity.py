"""InterPodAffinity: pod (anti-)affinity by topology domain.

Filter, in upstream order: the pod's required affinity must find a matching
pod in the node's domain (or be the first of a self-matching group), its
required anti-affinity must find none, and no existing pod's required
anti-affinity may match it there (symmetry). Score sums preferred term weights
(and existing pods' required affinity at ``hardPodAffinityWeight``) per domain,
then scales min..max onto 0..100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.interfaces import MAX_NODE_SCORE, Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import AffinityTerm, NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "InterPodAffinity"
EVENTS = frozenset(
    {
        events.NODE_ADD,
        events.NODE_UPDATE,
        events.ASSIGNED_POD_ADD,
        events.ASSIGNED_POD_UPDATE,
        events.ASSIGNED_POD_DELETE,
    }
)
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME

Pair = tuple[str, str]


class _Counts(dict[Pair, int]):
    def bump(self, labels: Mapping[str, str], key: str, value: int) -> None:
        tv = labels.get(key)
        if tv is None:
            return
        pair = (key, tv)
        n = self.get(pair, 0) + value
        if n == 0:
            self.pop(pair, None)
        else:
            self[pair] = n


def _matches_all(
    terms: list[AffinityTerm], pod: PodInfo, ns_labels: Mapping[str, str] | None
) -> bool:
    return bool(terms) and all(t.matches(pod, ns_labels) for t in terms)


class _PreFilterState:
    def __init__(self, pod: PodInfo, ns_labels: Mapping[str, str] | None) -> None:
        self.pod = pod
        self.ns_labels = ns_labels
        self.existing_anti = _Counts()
        self.affinity = _Counts()
        self.anti = _Counts()

    def clone(self) -> _PreFilterState:
        out = _PreFilterState(self.pod, self.ns_labels)
        out.existing_anti = _Counts(self.existing_anti)
        out.affinity = _Counts(self.affinity)
        out.anti = _Counts(self.anti)
        return out


class InterPodAffinity:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        weight = args.get("hardPodAffinityWeight")
        self.hard_weight = 1 if weight is None else int(weight)

    def _ns_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.handle.namespace_labels(namespace)

    # -- PreFilter -------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        cache = self.handle.cache
        if (
            not pod.required_affinity
            and not pod.required_anti_affinity
            and cache.pods_with_required_anti_affinity == 0
        ):
            return Status.skip()
        s = _PreFilterState(pod, self._ns_labels(pod.namespace))
        for node in cache.node_infos():
            for existing in node.pods_with_required_anti_affinity:
                self._existing_anti(s, existing, node, 1)
            if pod.required_affinity or pod.required_anti_affinity:
                for existing in node.pods:
                    self._incoming_terms(s, existing, node, 1)
        state.write(_PRE_FILTER_KEY, s)
        return None

    def _existing_anti(
        self, s: _PreFilterState, existing: PodInfo, node: NodeInfo, sign: int
    ) -> None:
        for t in existing.required_anti_affinity:
            if t.matches(s.pod, s.ns_labels):
                s.existing_anti.bump(node.labels, t.topology_key, sign)

    def _incoming_terms(
        self, s: _PreFilterState, other: PodInfo, node: NodeInfo, sign: int
    ) -> None:
        ns = self._ns_labels(other.namespace)
        if _matches_all(s.pod.required_affinity, other, ns):
            for t in s.pod.required_affinity:
                s.affinity.bump(node.labels, t.topology_key, sign)
        for t in s.pod.required_anti_affinity:
            if t.matches(other, ns):
                s.anti.bump(node.labels, t.topology_key, sign)

    def add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None:
        self._update(state, other, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None:
        self._update(state, other, node, -1)

    def _update(self, state: CycleState, other: PodInfo, node: NodeInfo, sign: int) -> None:
        s = state.get(_PRE_FILTER_KEY)
        if s is None:
            return
        self._existing_anti(s, other, node, sign)
        self._incoming_terms(s, other, node, sign)

    # -- Filter ----------------------------------------------------------
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState = state.read(_PRE_FILTER_KEY)
        if not self._satisfies_affinity(s, node):
            return Status.unresolvable(ERR_REASON_AFFINITY)
        for t in pod.required_anti_affinity:
            tv = node.labels.get(t.topology_key)
            if tv is not None and s.anti.get((t.topology_key, tv), 0) > 0:
                return Status.unschedulable(ERR_REASON_ANTI_AFFINITY)
        if s.existing_anti:
            for pair in node.labels.items():
                if s.existing_anti.get(pair, 0) > 0:
                    return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return None

    def _satisfies_affinity(self, s: _PreFilterState, node: NodeInfo) -> bool:
        pods_exist = True
        for t in s.pod.required_affinity:
            tv = node.labels.get(t.topology_key)
            if tv is None:
                return False  # every topology key must exist on the node
            if s.affinity.get((t.topology_key, tv), 0) <= 0:
                pods_exist = False
        if pods_exist:
            return True
        # The first pod of a group with affinity to itself may go anywhere the keys exist.
        return not s.affinity and _matches_all(s.pod.required_affinity, s.pod, s.ns_labels)

    # -- Score -----------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        has_constraints = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        cache = self.handle.cache
        if not has_constraints and cache.pods_with_affinity == 0:
            return Status.skip()
        ns_labels = self._ns_labels(pod.namespace)
        topo: dict[str, dict[str, int]] = {}
        for node in cache.node_infos():
            if not node.labels:
                continue
            existing_pods = node.pods if has_constraints else node.pods_with_affinity
            for existing in existing_pods:
                self._process_existing(topo, pod, ns_labels, existing, node)
        if not topo:
            return Status.skip()
        state.write(_PRE_SCORE_KEY, topo)
        return None

    def _process_existing(
        self,
        topo: dict[str, dict[str, int]],
        pod: PodInfo,
        ns_labels: Mapping[str, str] | None,
        existing: PodInfo,
        node: NodeInfo,
    ) -> None:
        existing_ns = self._ns_labels(existing.namespace)

        def add(term: AffinityTerm, weight: int, target: PodInfo, nsl: Any) -> None:
            if not term.matches(target, nsl):
                return
            tv = node.labels.get(term.topology_key)
            if tv is not None:
                bucket = topo.setdefault(term.topology_key, {})
                bucket[tv] = bucket.get(tv, 0) + weight

        for w in pod.preferred_affinity:
            add(w.term, w.weight, existing, existing_ns)
        for w in pod.preferred_anti_affinity:
            add(w.term, -w.weight, existing, existing_ns)
        if self.hard_weight > 0:
            for t in existing.required_affinity:
                add(t, self.hard_weight, pod, ns_labels)
        for w in existing.preferred_affinity:
            add(w.term, w.weight, pod, ns_labels)
        for w in existing.preferred_anti_affinity:
            add(w.term, -w.weight, pod, ns_labels)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        topo: dict[str, dict[str, int]] = state.read(_PRE_SCORE_KEY)
        total = 0
        for key, bucket in topo.items():
            tv = node.labels.get(key)
            if tv is not None:
                total += bucket.get(tv, 0)
        return total

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[list[Any]]) -> None:
        if not scores:
            return
        lo = min(s for _, s in scores)
        hi = max(s for _, s in scores)
        diff = hi - lo
        for pair in scores:
            pair[1] = int(MAX_NODE_SCORE * ((pair[1] - lo) / diff)) if diff > 0 else 0


def new(args: dict[str, Any], handle: Handle) -> InterPodAffinity:
    return InterPodAffinity(args, handle)
