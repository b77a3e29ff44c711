"""PodTopologySpread: spread matching pods evenly across topology domains.

Filter (DoNotSchedule): ``count(domain) + self - min(domains) <= maxSkew``,
with ``min`` taken as 0 while fewer than ``minDomains`` domains exist. Only
nodes passing the constraint's nodeAffinityPolicy (default Honor) and
nodeTaintsPolicy (default Ignore) count. Score (ScheduleAnyway, or the system
defaults hostname/3 and zone/5 for pods a Service/RS/SS selects): each
constraint adds ``count * log(domains + 2) + maxSkew - 1``; fewer is better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.helpers import (
    Selector,
    compile_label_selector,
    find_untolerated_taint,
    required_node_affinity_matches,
)
from kubelite.scheduler.framework.interfaces import MAX_NODE_SCORE, Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "PodTopologySpread"
EVENTS = frozenset(
    {
        events.NODE_ADD,
        events.NODE_UPDATE,
        events.ASSIGNED_POD_ADD,
        events.ASSIGNED_POD_UPDATE,
        events.ASSIGNED_POD_DELETE,
    }
)
ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"
SYSTEM_DEFAULT_CONSTRAINTS = (
    {"maxSkew": 3, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 5, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
)
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME
_DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})
_MAX_INT32 = 2**31 - 1

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: Selector
    min_domains: int
    node_affinity_policy: str
    node_taints_policy: str

    def includes(self, pod: PodInfo, node: NodeInfo) -> bool:
        """upstream matchNodeInclusionPolicies."""
        if self.node_affinity_policy == "Honor" and not required_node_affinity_matches(
            pod.pod, node.node
        ):
            return False
        if self.node_taints_policy == "Honor":
            tols = pod.pod.get("spec", {}).get("tolerations") or ()
            if find_untolerated_taint(node.taints, tols, _DO_NOT_SCHEDULE) is not None:
                return False
        return True


def _selector_with_match_label_keys(raw: Obj, labels: Mapping[str, str]) -> Selector:
    sel = dict(raw.get("labelSelector") or {}) if raw.get("labelSelector") is not None else None
    keys = [k for k in raw.get("matchLabelKeys") or () if k in labels]
    if keys:
        sel = dict(sel or {})
        sel["matchExpressions"] = [
            *(sel.get("matchExpressions") or ()),
            *({"key": k, "operator": "In", "values": [labels[k]]} for k in keys),
        ]
    return compile_label_selector(sel)


def _constraints(
    raw: Any, pod: PodInfo, action: str, selector: Selector | None = None
) -> list[Constraint]:
    out = []
    for c in raw:
        if c.get("whenUnsatisfiable", "DoNotSchedule") != action:
            continue
        out.append(
            Constraint(
                max_skew=int(c.get("maxSkew", 1)),
                topology_key=c["topologyKey"],
                selector=selector or _selector_with_match_label_keys(c, pod.labels),
                min_domains=int(c.get("minDomains") or 1),
                node_affinity_policy=c.get("nodeAffinityPolicy") or "Honor",
                node_taints_policy=c.get("nodeTaintsPolicy") or "Ignore",
            )
        )
    return out


def _has_all_keys(labels: Mapping[str, str], constraints: list[Constraint]) -> bool:
    return all(c.topology_key in labels for c in constraints)


def count_matching(node: NodeInfo, selector: Selector, namespace: str) -> int:
    return sum(
        1
        for p in node.pods
        if not p.terminating and p.namespace == namespace and selector.matches(p.labels)
    )


class _FilterState:
    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.match_num: dict[tuple[str, str], int] = {}
        self.min_by_key: dict[str, int] = {}
        self.domains_by_key: dict[str, int] = {}

    def recompute(self) -> None:
        self.min_by_key = {c.topology_key: _MAX_INT32 for c in self.constraints}
        self.domains_by_key = {c.topology_key: 0 for c in self.constraints}
        for (key, _), num in self.match_num.items():
            self.domains_by_key[key] += 1
            self.min_by_key[key] = min(self.min_by_key[key], num)

    def clone(self) -> _FilterState:
        out = _FilterState(self.constraints)
        out.match_num = dict(self.match_num)
        out.min_by_key = dict(self.min_by_key)
        out.domains_by_key = dict(self.domains_by_key)
        return out


class _ScoreState:
    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.ignored: set[str] = set()
        self.pair_counts: dict[tuple[str, str], int] = {}
        self.weights: list[float] = []


class PodTopologySpread:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        defaulting = args.get("defaultingType") or "System"
        if defaulting == "System":
            self.default_constraints: tuple[Obj, ...] = SYSTEM_DEFAULT_CONSTRAINTS
        else:
            self.default_constraints = tuple(args.get("defaultConstraints") or ())
        self.system_defaulted = defaulting == "System"

    def _pod_constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        own = pod.pod.get("spec", {}).get("topologySpreadConstraints")
        if own:
            return _constraints(own, pod, action)
        defaults = _constraints(self.default_constraints, pod, action, Selector({}, []))
        if not defaults:
            return []
        raw = self.handle.spread_selector(pod.pod)
        selector = compile_label_selector(raw) if raw is not None else None
        if selector is None or selector.empty:
            return []
        return _constraints(self.default_constraints, pod, action, selector)

    # -- PreFilter / Filter ----------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        constraints = self._pod_constraints(pod, "DoNotSchedule")
        if not constraints:
            return Status.skip()
        s = _FilterState(constraints)
        for node in self.handle.cache.node_infos():
            if not _has_all_keys(node.labels, constraints):
                continue
            for c in constraints:
                if not c.includes(pod, node):
                    continue
                pair = (c.topology_key, node.labels[c.topology_key])
                s.match_num[pair] = s.match_num.get(pair, 0) + count_matching(
                    node, c.selector, pod.namespace
                )
        s.recompute()
        state.write(_PRE_FILTER_KEY, s)
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None:
        self._update(state, pod, other, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None:
        self._update(state, pod, other, node, -1)

    def _update(
        self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, delta: int
    ) -> None:
        s: _FilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None or other.namespace != pod.namespace:
            return
        if not _has_all_keys(node.labels, s.constraints):
            return
        for c in s.constraints:
            if not c.selector.matches(other.labels) or not c.includes(pod, node):
                continue
            pair = (c.topology_key, node.labels[c.topology_key])
            s.match_num[pair] = s.match_num.get(pair, 0) + delta
        s.recompute()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state.read(_PRE_FILTER_KEY)
        for c in s.constraints:
            tv = node.labels.get(c.topology_key)
            if tv is None:
                return Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH)
            min_match = s.min_by_key[c.topology_key]
            if s.domains_by_key[c.topology_key] < c.min_domains:
                min_match = 0
            self_match = 1 if c.selector.matches(pod.labels) else 0
            skew = s.match_num.get((c.topology_key, tv), 0) + self_match - min_match
            if skew > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return None

    # -- Score -----------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        all_nodes = self.handle.cache.node_infos()
        if not nodes or not all_nodes:
            return Status.skip()
        constraints = self._pod_constraints(pod, "ScheduleAnyway")
        if not constraints:
            return Status.skip()
        own = bool(pod.pod.get("spec", {}).get("topologySpreadConstraints"))
        require_all = own or not self.system_defaulted
        s = _ScoreState(constraints)
        sizes = [0] * len(constraints)
        for node in nodes:
            if require_all and not _has_all_keys(node.labels, constraints):
                s.ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key == LABEL_HOSTNAME:
                    continue
                pair = (c.topology_key, node.labels.get(c.topology_key, ""))
                if pair not in s.pair_counts:
                    s.pair_counts[pair] = 0
                    sizes[i] += 1
        for i, c in enumerate(constraints):
            size = len(nodes) - len(s.ignored) if c.topology_key == LABEL_HOSTNAME else sizes[i]
            s.weights.append(math.log(size + 2))
        for node in all_nodes:
            if require_all and not _has_all_keys(node.labels, constraints):
                continue
            for c in constraints:
                if not c.includes(pod, node):
                    continue
                pair = (c.topology_key, node.labels.get(c.topology_key, ""))
                if pair in s.pair_counts:
                    s.pair_counts[pair] += count_matching(node, c.selector, pod.namespace)
        state.write(_PRE_SCORE_KEY, s)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        s: _ScoreState = state.read(_PRE_SCORE_KEY)
        if node.name in s.ignored:
            return 0
        total = 0.0
        for i, c in enumerate(s.constraints):
            tv = node.labels.get(c.topology_key)
            if tv is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                cnt = count_matching(node, c.selector, pod.namespace)
            else:
                cnt = s.pair_counts[(c.topology_key, tv)]
            total += cnt * s.weights[i] + (c.max_skew - 1)
        return _round_half_away(total)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[list[Any]]) -> None:
        s: _ScoreState = state.read(_PRE_SCORE_KEY)
        valid = [v for name, v in scores if name not in s.ignored]
        lo = min(valid, default=0)
        hi = max(max(valid, default=0), 0)
        for pair in scores:
            if pair[0] in s.ignored:
                pair[1] = 0
            elif hi == 0:
                pair[1] = MAX_NODE_SCORE
            else:
                pair[1] = MAX_NODE_SCORE * (hi + lo - pair[1]) // hi


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def new(args: dict[str, Any], handle: Handle) -> PodTopologySpread:
    return PodTopologySpread(args, handle)
