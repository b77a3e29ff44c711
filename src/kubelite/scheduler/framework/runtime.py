"""The framework runner: one profile's plugins run in extension-point order.

Filters stop at the first failing plugin per node, like upstream
``RunFilterPlugins``. An exception raised by a plugin becomes an ``Error``
status naming the plugin, so one broken plugin fails one pod's attempt (the
caller requeues it with backoff) and never the scheduler.

The scheduler and preemption filter through ``run_filter_with_nominated_pods``:
pods nominated to the node with at least the pod's priority count as running
there, and when there are any the filters run again without them, so the pod
must fit both ways (resources and anti-affinity fail sooner with them,
affinity without them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.diagnosis import NodeToStatus
from kubelite.scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    Handle,
    NormalizeScorePlugin,
    PostFilterResult,
)
from kubelite.scheduler.framework.status import Code, Status, as_status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo

__all__ = ["Framework", "PluginScore", "num_feasible_nodes_to_find"]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """How many feasible nodes to find before scoring (upstream numFeasibleNodesToFind)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage == 0:
        percentage = 50 - num_all_nodes // 125
        percentage = max(percentage, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    num = num_all_nodes * percentage // 100
    return max(num, MIN_FEASIBLE_NODES_TO_FIND)


@dataclass(frozen=True, slots=True)
class PluginScore:
    """One score plugin's verdict on one node: raw, normalized, and its weight."""

    raw: int
    score: int
    weight: int

    @property
    def weighted(self) -> int:
        return self.score * self.weight


class Framework:
    """A profile instantiated: plugin objects per extension point, with weights."""

    def __init__(
        self,
        scheduler_name: str,
        points: dict[str, list[Any]],
        weights: dict[str, int],
        handle: Handle,
        *,
        percentage_of_nodes_to_score: int | None = None,
    ) -> None:
        self.scheduler_name = scheduler_name
        self.points = points
        self.weights = weights
        self.handle = handle
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.queue_sort = (points.get("queueSort") or [None])[0]
        handle.framework = self

    def plugins(self, point: str) -> list[Any]:
        return self.points.get(point, [])

    def plugin_names(self, point: str) -> list[str]:
        return [p.name for p in self.plugins(point)]

    # -- PreFilter / Filter ----------------------------------------------
    def run_pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        for pl in self.plugins("preFilter"):
            try:
                st = pl.pre_filter(state, pod)
            except Exception as exc:  # noqa: BLE001 - a plugin bug fails this pod only
                return as_status(exc, pl.name)
            if st is None or st.code == Code.SUCCESS:
                continue
            if st.code == Code.SKIP:
                state.skip_filter_plugins.add(pl.name)
                continue
            return st.with_plugin(pl.name)
        return None

    def run_filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        skip = state.skip_filter_plugins
        pl = None
        try:
            for pl in self.plugins("filter"):
                if pl.name in skip:
                    continue
                st = pl.filter(state, pod, node)
                if st is not None and st.code != Code.SUCCESS:
                    return st.with_plugin(pl.name)
        except Exception as exc:  # noqa: BLE001
            return as_status(exc, pl.name if pl is not None else "")
        return None

    def run_filter_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status | None:
        """upstream RunFilterPluginsWithNominatedPods: fit with and without the
        nominated pods of equal or higher priority; one pass when there are none."""
        if not self.handle.nominator:
            return self.run_filter(state, pod, node)
        try:
            added = self._add_nominated_pods(state, pod, node)
        except Exception as exc:  # noqa: BLE001 - a plugin bug fails this pod only
            return as_status(exc)
        if added is None:
            return self.run_filter(state, pod, node)
        st = self.run_filter(added[0], pod, added[1])
        if st is not None:
            return st
        return self.run_filter(state, pod, node)

    def _add_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> tuple[CycleState, NodeInfo] | None:
        """Copies of state and node with the nominated pods the pod must yield to.

        Only equal or higher priority: a pod may take room freed for a
        lower-priority preemptor (upstream addGENominatedPods). None when no pod
        was added, so callers skip the copies.
        """
        nominated = [
            pi
            for pi in self.handle.nominator.pods_for(node.name)
            if pi.priority >= pod.priority and pi.key != pod.key
        ]
        if not nominated:
            return None
        state_out, node_out = state.clone(), node.clone()
        for pi in nominated:
            node_out.add_pod(pi)
            self.run_pre_filter_extension("add_pod", state_out, pod, pi, node_out)
        return state_out, node_out

    def run_pre_filter_extension(
        self, op: str, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo
    ) -> None:
        for pl in self.plugins("preFilter"):
            if pl.name in state.skip_filter_plugins:
                continue
            fn = getattr(pl, op, None)
            if fn is not None:
                fn(state, pod, other, node)

    # -- PostFilter ------------------------------------------------------
    def run_post_filter(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status | None]:
        """Run PostFilter plugins until one succeeds; messages joined like upstream."""
        reasons: list[str] = []
        result: PostFilterResult | None = None
        for pl in self.plugins("postFilter"):
            try:
                res, st = pl.post_filter(state, pod, statuses)
            except Exception as exc:  # noqa: BLE001
                return None, as_status(exc, pl.name)
            if st is None or st.code == Code.SUCCESS:
                return res, None
            if st.code == Code.ERROR:
                return None, st.with_plugin(pl.name)
            reasons.extend(st.reasons)
            if res is not None:
                result = res
        return result, Status(Code.UNSCHEDULABLE, tuple(reasons))

    # -- Score -----------------------------------------------------------
    def run_pre_score(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> Status | None:
        for pl in self.plugins("preScore"):
            try:
                st = pl.pre_score(state, pod, nodes)
            except Exception as exc:  # noqa: BLE001
                return as_status(exc, pl.name)
            if st is None or st.code == Code.SUCCESS:
                continue
            if st.code == Code.SKIP:
                state.skip_score_plugins.add(pl.name)
                continue
            return st.with_plugin(pl.name)
        return None

    def run_score(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> tuple[dict[str, dict[str, PluginScore]], Status | None]:
        out: dict[str, dict[str, PluginScore]] = {n.name: {} for n in nodes}
        for pl in self.plugins("score"):
            if pl.name in state.skip_score_plugins:
                continue
            try:
                raw = [[n.name, pl.score(state, pod, n)] for n in nodes]
                scores = [list(pair) for pair in raw]
                if isinstance(pl, NormalizeScorePlugin):
                    pl.normalize_score(state, pod, scores)
            except Exception as exc:  # noqa: BLE001
                return out, as_status(exc, pl.name)
            weight = self.weights.get(pl.name, 1)
            for (name, r), (_, s) in zip(raw, scores, strict=True):
                if not MIN_NODE_SCORE <= s <= MAX_NODE_SCORE:
                    return out, Status.error(
                        f'plugin "{pl.name}" returns an invalid score {s}, it should in the '
                        f"range of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing"
                    ).with_plugin(pl.name)
                out[name][pl.name] = PluginScore(int(r), int(s), weight)
        return out, None

    # -- Reserve / Permit / Bind -----------------------------------------
    def run_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for pl in self.plugins("reserve"):
            try:
                st = pl.reserve(state, pod, node_name)
            except Exception as exc:  # noqa: BLE001
                return as_status(exc, pl.name)
            if st is not None and st.code != Code.SUCCESS:
                return st.with_plugin(pl.name)
        return None

    def run_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for pl in reversed(self.plugins("reserve")):
            pl.unreserve(state, pod, node_name)

    def run_permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for pl in self.plugins("permit"):
            try:
                st = pl.permit(state, pod, node_name)
            except Exception as exc:  # noqa: BLE001
                return as_status(exc, pl.name)
            if st is not None and st.code not in (Code.SUCCESS, Code.SKIP):
                return st.with_plugin(pl.name)
        return None
