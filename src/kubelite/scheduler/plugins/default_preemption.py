"""DefaultPreemption (PostFilter): find a node where evicting lower-priority
pods lets the pod fit, and nominate it.

Dry-runs on copies of the nodes that failed with plain ``Unschedulable``:
remove every lower-priority pod, check the filters, then reprieve pods while
the pod still fits - first those whose eviction would violate a
PodDisruptionBudget, then the others, each group from the most important down
(upstream SelectVictimsOnNode), so a budget is broken only when nothing else
makes room. Among candidate nodes the upstream pickOneNodeForPreemption order
decides: fewest PDB violations, lowest highest-victim priority, smallest
priority sum, fewest victims, latest start of the highest-priority victims,
then the first. The victims are returned for the caller to delete gracefully;
the pod's nominatedNodeName is the caller's write too, as is clearing the
nominations of lower-priority pods nominated to the chosen node.

Dry runs filter with the nominated pods of equal or higher priority, as the
scheduling cycle does. A preemptor whose nominated node still has a
lower-priority pod terminating is not eligible to preempt again: its victims
are on their way out (upstream PodEligibleToPreemptOthers).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.diagnosis import Diagnosis, FitError, NodeToStatus
from kubelite.scheduler.framework.interfaces import Handle, PostFilterResult
from kubelite.scheduler.framework.nominator import nominated_node_name
from kubelite.scheduler.framework.status import Code, Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "DefaultPreemption"
EVENTS: frozenset[str] = frozenset({events.ASSIGNED_POD_DELETE})
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
_MAX_INT32 = 2**31 - 1


def more_important(a: PodInfo, b: PodInfo) -> bool:
    """Higher priority first; among equals the one running longer."""
    if a.priority != b.priority:
        return a.priority > b.priority
    return a.start_time < b.start_time


def _sort_by_importance(pods: list[PodInfo]) -> list[PodInfo]:
    import functools

    def cmp(a: PodInfo, b: PodInfo) -> int:
        return -1 if more_important(a, b) else (1 if more_important(b, a) else 0)

    return sorted(pods, key=functools.cmp_to_key(cmp))


def _earliest_start_of_highest(victims: list[PodInfo]) -> str:
    top = max(v.priority for v in victims)
    return min(v.start_time for v in victims if v.priority == top)


def filter_pods_with_pdb_violation(
    pods: list[PodInfo], pdbs: list[Mapping[str, Any]]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """upstream filterPodsWithPDBViolation: (violating, non-violating), order kept.

    Each budget starts from its ``status.disruptionsAllowed``; every matching
    pod (not already in ``status.disruptedPods``) takes one, and a pod that
    drives any budget below zero is violating. A budget with a nil or empty
    selector matches nothing here, as upstream.
    """
    from kubelite.api.selectors import SelectorError, selector_from_dict

    budgets: list[list[Any]] = []
    for pdb in pdbs:
        sel_raw = (pdb.get("spec") or {}).get("selector")
        if not sel_raw or not (sel_raw.get("matchLabels") or sel_raw.get("matchExpressions")):
            continue
        try:
            selector = selector_from_dict(sel_raw)
        except SelectorError:
            continue
        status = pdb.get("status") or {}
        budgets.append(
            [
                pdb["metadata"].get("namespace") or "default",
                selector,
                set(status.get("disruptedPods") or ()),
                int(status.get("disruptionsAllowed") or 0),
            ]
        )
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for pi in pods:
        violated = False
        if pi.labels:
            for budget in budgets:
                namespace, selector, disrupted, _ = budget
                if namespace != pi.namespace or not selector.matches(pi.labels):
                    continue
                if pi.name in disrupted:
                    continue  # the API already counted this eviction
                budget[3] -= 1
                if budget[3] < 0:
                    violated = True
        (violating if violated else non_violating).append(pi)
    return violating, non_violating


def pick_one_node(candidates: dict[str, list[PodInfo]], violations: dict[str, int]) -> str:
    """upstream pickOneNodeForPreemption with its default score functions."""
    funcs: list[Callable[[str], Any]] = [
        lambda n: -violations.get(n, 0),
        lambda n: -candidates[n][0].priority,
        lambda n: -sum(v.priority + _MAX_INT32 + 1 for v in candidates[n]),
        lambda n: -len(candidates[n]),
        lambda n: _earliest_start_of_highest(candidates[n]),
    ]
    names = list(candidates)
    for f in funcs:
        best = max(f(n) for n in names)
        names = [n for n in names if f(n) == best]
        if len(names) == 1:
            return names[0]
    return names[0]


class DefaultPreemption:
    name = NAME

    def __init__(
        self, args: Mapping[str, Any], handle: Handle, rng: random.Random | None = None
    ) -> None:
        self.handle = handle
        self.min_pct = int(args.get("minCandidateNodesPercentage", 10))
        self.min_abs = int(args.get("minCandidateNodesAbsolute", 100))
        self.rng = rng or random.Random()

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status | None]:
        result, status = self._preempt(state, pod, statuses)
        if status is not None and status.reasons:
            return result, Status(status.code, (f"preemption: {status.message}",))
        return result, status

    def _eligible(self, pod: PodInfo, statuses: NodeToStatus) -> str:
        if pod.pod.get("spec", {}).get("preemptionPolicy") == "Never":
            return "not eligible due to preemptionPolicy=Never."
        nominated = self.nominated_node(pod)
        if nominated:
            st = statuses.get(nominated)
            if st is not None and st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return ""
            info = self.handle.cache.get(nominated)
            if info is not None and any(
                p.terminating and p.priority < pod.priority for p in info.pods
            ):
                return "not eligible due to a terminating pod on the nominated node."
        return ""

    def nominated_node(self, pod: PodInfo) -> str:
        """The pod's nominated node: the nominator knows our own nomination before
        the pod's status shows it (upstream re-reads the pod from the lister)."""
        return self.handle.nominator.node_for(pod.key) or nominated_node_name(pod.pod)

    def lower_priority_nominated(self, pod: PodInfo, node_name: str) -> tuple[Any, ...]:
        """upstream getLowerPriorityNominatedPods: they may not fit beside the preemptor."""
        return tuple(
            pi.pod for pi in self.handle.nominator.pods_for(node_name) if pi.priority < pod.priority
        )

    def _num_candidates(self, n: int) -> int:
        return min(max(n * self.min_pct // 100, self.min_abs), n)

    def _preempt(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status | None]:
        msg = self._eligible(pod, statuses)
        if msg:
            return None, Status.unschedulable(msg)
        all_nodes = self.handle.cache.node_infos()
        potential = [
            n
            for n in all_nodes
            if (st := statuses.get(n.name)) is not None and st.code == Code.UNSCHEDULABLE
        ]
        candidates, violations, dry_statuses = self._dry_run(state, pod, potential)
        if not candidates:
            dry_statuses.absent = Status.unresolvable(NOT_HELPFUL)
            fit = FitError(pod.key, len(all_nodes), Diagnosis(node_to_status=dry_statuses))
            return PostFilterResult(""), Status.unschedulable(fit.message)
        best = pick_one_node(candidates, violations)
        victims = tuple(v.pod for v in candidates[best])
        return PostFilterResult(best, victims, self.lower_priority_nominated(pod, best)), None

    def _dry_run(
        self, state: CycleState, pod: PodInfo, potential: list[NodeInfo]
    ) -> tuple[dict[str, list[PodInfo]], dict[str, int], NodeToStatus]:
        """Candidates (non-violating first, as upstream returns them) and their violations.

        Stops once there is a candidate that breaks no budget and enough in all.
        """
        non_violating: dict[str, list[PodInfo]] = {}
        violating: dict[str, list[PodInfo]] = {}
        violations: dict[str, int] = {}
        statuses = NodeToStatus()
        if not potential:
            return {}, violations, statuses
        pdbs = self.handle.pdbs()
        offset = self.rng.randrange(len(potential))
        want = self._num_candidates(len(potential))
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)]
            victims, num_violating, status = self.select_victims(
                state.clone(), pod, node.clone(), pdbs
            )
            if status is None and victims:
                violations[node.name] = num_violating
                (violating if num_violating else non_violating)[node.name] = victims
                if non_violating and len(non_violating) + len(violating) >= want:
                    break
                continue
            statuses.set(
                node.name,
                status or Status.error(f'expected at least one victim pod on node "{node.name}"'),
            )
        return {**non_violating, **violating}, violations, statuses

    def select_victims(
        self,
        state: CycleState,
        pod: PodInfo,
        node: NodeInfo,
        pdbs: list[Mapping[str, Any]] | None = None,
    ) -> tuple[list[PodInfo], int, Status | None]:
        """upstream SelectVictimsOnNode: (victims, how many violate a PDB, status)."""
        fw = self.handle.framework
        potential = [p for p in node.pods if p.priority < pod.priority]
        for p in potential:
            node.remove_pod(p.key)
            fw.run_pre_filter_extension("remove_pod", state, pod, p, node)
        if not potential:
            return [], 0, Status.unresolvable(NO_VICTIMS)
        st = fw.run_filter_with_nominated_pods(state, pod, node)
        if st is not None:
            return [], 0, st
        violating, non_violating = filter_pods_with_pdb_violation(
            _sort_by_importance(potential), pdbs or []
        )
        victims: list[PodInfo] = []

        def reprieve(p: PodInfo) -> bool:
            node.add_pod(p)
            fw.run_pre_filter_extension("add_pod", state, pod, p, node)
            if fw.run_filter_with_nominated_pods(state, pod, node) is None:
                return True
            node.remove_pod(p.key)
            fw.run_pre_filter_extension("remove_pod", state, pod, p, node)
            victims.append(p)
            return False

        num_violating = sum(1 for p in violating if not reprieve(p))
        for p in non_violating:
            reprieve(p)
        if violating and non_violating:
            victims = _sort_by_importance(victims)
        return victims, num_violating, None


def new(args: dict[str, Any], handle: Handle) -> DefaultPreemption:
    return DefaultPreemption(args, handle, getattr(handle, "rng", None))
