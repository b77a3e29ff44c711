"""The scheduling algorithm: one pod in, one decision out.

``schedule_one`` is upstream's schedulingCycle without the API: PreFilter,
Filter over a rotating window of nodes (``percentageOfNodesToScore``), PostFilter
(preemption) when nothing fits, PreScore/Score/NormalizeScore with weights,
selectHost with uniformly random ties, then assume + Reserve + Permit. The
caller (the API loop) binds, writes events and conditions, deletes victims.
Filters count the pods nominated to a node (preemptors waiting for their
victims) of at least the pod's priority; the scheduler records its own
nominations in the shared nominator at once, before the API write echoes back.
Event hooks (``on_node_add``...) keep the cache and queue current so the
wiring stays thin.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubelite.scheduler.fastpath import FastPath
from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.diagnosis import Diagnosis, FitError
from kubelite.scheduler.framework.interfaces import Handle, VolumeLister
from kubelite.scheduler.framework.nominator import Nominator, nominated_node_name
from kubelite.scheduler.framework.queue import QueuedPodInfo, SchedulingQueue
from kubelite.scheduler.framework.runtime import Framework, num_feasible_nodes_to_find
from kubelite.scheduler.framework.status import Code, Status, as_status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo, pod_key
from kubelite.scheduler.plugins import events
from kubelite.scheduler.plugins.volume_binding import STATE_KEY as VOLUME_STATE_KEY
from kubelite.scheduler.profile import (
    DEFAULT_SCHEDULER_NAME,
    Profile,
    build_framework,
    default_profile,
)
from kubelite.scheduler.registry import EVENTS, REGISTRY, Factory
from kubelite.scheduler.result import ScheduleResult

__all__ = ["Scheduler", "select_host"]

log = logging.getLogger(__name__)
Obj = Mapping[str, Any]
ERR_NO_NODES = "no nodes available to schedule pods"


def select_host(totals: list[tuple[str, int]], rng: random.Random) -> str:
    """Highest total wins; ties go to a uniformly random one of them.

    Upstream reservoir-samples the tied nodes one ``rand.Intn`` call per tie;
    the outcome is the same uniform choice, which one ``randrange`` over the
    ties (in node order) gives without a call per node.
    """
    best = max(t for _, t in totals)
    ties = [name for name, total in totals if total == best]
    return ties[0] if len(ties) == 1 else ties[rng.randrange(len(ties))]


def node_scheduling_properties_changed(old: Obj, new: Obj) -> bool:
    """What upstream requeues unschedulable pods for on a node update: it turned
    schedulable, or its allocatable, labels, taints, condition statuses or
    annotations changed. Heartbeat times, images and addresses do not count."""
    if not old:
        return True
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if old_spec.get("unschedulable") and not new_spec.get("unschedulable"):
        return True
    if (old_spec.get("taints") or []) != (new_spec.get("taints") or []):
        return True
    old_md, new_md = old.get("metadata") or {}, new.get("metadata") or {}
    for field in ("labels", "annotations"):
        if (old_md.get(field) or {}) != (new_md.get(field) or {}):
            return True
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if (old_status.get("allocatable") or {}) != (new_status.get("allocatable") or {}):
        return True
    return _condition_statuses(old_status) != _condition_statuses(new_status)


def _condition_statuses(status: Obj) -> dict[str, str]:
    return {c.get("type", ""): c.get("status", "") for c in status.get("conditions") or []}


class Scheduler:
    def __init__(
        self,
        cache: Cache | None = None,
        profiles: list[Profile] | None = None,
        *,
        rng: random.Random | None = None,
        percentage_of_nodes_to_score: int = 0,
        namespace_labels: Callable[[str], Mapping[str, str] | None] | None = None,
        spread_selector: Callable[[Obj], Obj | None] | None = None,
        pdbs: Callable[[], list[Obj]] | None = None,
        volumes: VolumeLister | None = None,
        clock: Callable[[], float] = time.monotonic,
        fast_path: bool = True,
        registry: Mapping[str, Factory] = REGISTRY,
    ) -> None:
        self.cache = cache if cache is not None else Cache()
        self.rng = rng or random.Random()
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.frameworks: dict[str, Framework] = {}
        self.nominator = Nominator()
        for prof in profiles or [default_profile()]:
            handle = Handle(self.cache, self.nominator, rng=self.rng, volumes=volumes)
            if namespace_labels is not None:
                handle.namespace_labels = namespace_labels
            if spread_selector is not None:
                handle.spread_selector = spread_selector
            if pdbs is not None:
                handle.pdbs = pdbs
            self.frameworks[prof.scheduler_name] = build_framework(prof, handle, registry=registry)
        first = next(iter(self.frameworks.values()))
        self.queue = SchedulingQueue(
            first.queue_sort.less, clock=clock, plugin_events=EVENTS, nominator=self.nominator
        )
        self.next_start_node_index = 0
        self.fast_path = FastPath(self.cache) if fast_path else None

    # -- the algorithm -----------------------------------------------------
    def framework_for(self, pod: Obj) -> Framework | None:
        return self.frameworks.get(
            pod.get("spec", {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME
        )

    def schedule_one(
        self, pod: Obj, *, assume: bool = True, pod_info: PodInfo | None = None
    ) -> ScheduleResult:
        """Decide where ``pod`` goes; with ``assume`` account it there at once.

        ``pod_info`` is the queue's parse of the same pod, when there is one.
        """
        pi = pod_info if pod_info is not None and pod_info.pod is pod else PodInfo(pod)
        fw = self.framework_for(pod)
        res = ScheduleResult(pi.key, scheduler_name=fw.scheduler_name if fw else "")
        if fw is None:
            res.error = Status.error(
                f"profile not found for scheduler name {pod['spec'].get('schedulerName')!r}"
            )
            return res
        try:
            state = CycleState()
            self._schedule_pod(fw, state, pi, res)
            if res.node_name and res.error is None and assume:
                self._assume_and_reserve(fw, state, pi, res)
        except Exception as exc:  # noqa: BLE001 - one pod's failure must not stop the loop
            log.exception("scheduling pod %s failed", pi.key)
            res.error = as_status(exc)
            res.node_name = ""
        if not res.scheduled and res.fit_error is None:
            res.nominating, res.nominated_node_name = True, ""  # an error clears it, as upstream
        if assume and not res.scheduled:
            self._record_nominations(pi, res)
        return res

    def _record_nominations(self, pi: PodInfo, res: ScheduleResult) -> None:
        """What the caller will write to the API, in the nominator now
        (upstream handleSchedulingFailure), so the next cycle already sees it.

        Lower-priority pods that lose their nomination retry at once to find
        another place sooner (upstream prepareCandidate).
        """
        if res.nominating:
            self.nominator.add(pi, res.nominated_node_name)
        for other in res.nominated_pods_to_clear:
            key = pod_key(other)
            self.nominator.delete(key)
            self.queue.activate(key)

    def _schedule_pod(
        self, fw: Framework, state: CycleState, pi: PodInfo, res: ScheduleResult
    ) -> None:
        nodes = self.cache.node_infos()
        if not nodes:
            res.error = Status.error(ERR_NO_NODES)
            return
        diagnosis = Diagnosis()
        st = fw.run_pre_filter(state, pi)
        if st is not None:
            if st.code == Code.ERROR:
                res.error = st
                return
            diagnosis.pre_filter_msg = st.message
            diagnosis.node_to_status.absent = st
            diagnosis.add_plugin_status(st)
            self._fail(fw, state, pi, res, diagnosis, len(nodes))
            return
        if self.fast_path is not None and self.fast_path.try_schedule(self, fw, state, pi, res):
            return
        feasible = self._find_feasible(fw, state, pi, nodes, res, diagnosis)
        if res.error is not None:
            return
        res.feasible_nodes = len(feasible)
        if not feasible:
            self._fail(fw, state, pi, res, diagnosis, len(nodes))
            return
        if len(feasible) == 1:
            res.node_name = feasible[0].name
            return
        self._prioritize(fw, state, pi, feasible, res)

    def _find_feasible(
        self,
        fw: Framework,
        state: CycleState,
        pi: PodInfo,
        nodes: list[NodeInfo],
        res: ScheduleResult,
        diagnosis: Diagnosis,
    ) -> list[NodeInfo]:
        nominated = self.nominator.node_for(pi.key) or nominated_node_name(pi.pod)
        if nominated:
            info = self.cache.get(nominated)
            if info is not None and fw.run_filter_with_nominated_pods(state, pi, info) is None:
                res.filter_verdicts[info.name] = None
                res.evaluated_nodes = 1
                return [info]
        n = len(nodes)
        to_find = num_feasible_nodes_to_find(self.percentage_for(fw), n)
        start = self.next_start_node_index
        feasible: list[NodeInfo] = []
        processed = 0
        for i in range(n):
            node = nodes[(start + i) % n]
            processed += 1
            st = fw.run_filter_with_nominated_pods(state, pi, node)
            res.filter_verdicts[node.name] = st
            if st is None:
                feasible.append(node)
                if len(feasible) >= to_find:
                    break
            elif st.code == Code.ERROR:
                res.error = st
                return []
            else:
                diagnosis.node_to_status.set(node.name, st)
                diagnosis.add_plugin_status(st)
        self.next_start_node_index = (start + processed) % n
        res.evaluated_nodes = processed
        return feasible

    def percentage_for(self, fw: Framework) -> int:
        pct = fw.percentage_of_nodes_to_score
        return self.percentage_of_nodes_to_score if pct is None else pct

    def _prioritize(
        self,
        fw: Framework,
        state: CycleState,
        pi: PodInfo,
        feasible: list[NodeInfo],
        res: ScheduleResult,
    ) -> None:
        st = fw.run_pre_score(state, pi, feasible)
        if st is not None:
            res.error = st
            return
        scores, st = fw.run_score(state, pi, feasible)
        if st is not None:
            res.error = st
            return
        res.scores = scores
        res.total_scores = {n: sum(p.weighted for p in per.values()) for n, per in scores.items()}
        res.node_name = select_host(list(res.total_scores.items()), self.rng)
        res.node_score = res.total_scores[res.node_name]

    def _fail(
        self,
        fw: Framework,
        state: CycleState,
        pi: PodInfo,
        res: ScheduleResult,
        diagnosis: Diagnosis,
        num_nodes: int,
    ) -> None:
        fit = FitError(pi.key, num_nodes, diagnosis)
        if fw.plugins("postFilter"):
            result, st = fw.run_post_filter(state, pi, diagnosis.node_to_status)
            if st is not None:
                diagnosis.post_filter_msg = st.message
            if result is not None:
                res.nominating = True
                res.nominated_node_name = result.nominated_node_name
                res.victims = result.victims
                res.nominated_pods_to_clear = result.nominated_pods_to_clear
        res.fit_error = fit

    def _assume_and_reserve(
        self, fw: Framework, state: CycleState, pi: PodInfo, res: ScheduleResult
    ) -> None:
        res.assumed_pod = self.cache.assume_pod(pi.pod, res.node_name, pi)
        self.nominator.delete(pi.key)  # placed: it holds real room now (upstream assume)
        st = fw.run_reserve(state, pi, res.node_name)
        if st is None:
            st = fw.run_permit(state, pi, res.node_name)
        if st is not None:
            fw.run_unreserve(state, pi, res.node_name)
            self.cache.forget_pod(pi.pod)
            res.assumed_pod = None
            res.error = st if st.code == Code.ERROR else Status(Code.ERROR, st.reasons, st.plugin)
            res.node_name = ""
            return
        vb = state.get(VOLUME_STATE_KEY)
        if vb is not None:
            res.volume_bindings = dict(vb.decision)
            res.volume_provisions = list(vb.to_provision)

    # -- queue-driven loop helpers ----------------------------------------
    def schedule_next(self) -> tuple[QueuedPodInfo, ScheduleResult] | None:
        """Pop one pod, schedule it, and requeue it if that failed."""
        qpi = self.queue.pop()
        if qpi is None:
            return None
        cycle = self.queue.scheduling_cycle
        res = self.schedule_one(qpi.pod, pod_info=qpi.pod_info)
        if res.scheduled:
            self.queue.done(qpi.key)
        else:
            self.queue.add_unschedulable(
                qpi,
                pod_scheduling_cycle=cycle,
                unschedulable_plugins=res.unschedulable_plugins,
                error=res.error is not None,
            )
        return qpi, res

    def binding_failed(self, qpi: QueuedPodInfo) -> None:
        """The API refused the binding: forget the assumed pod and retry with backoff."""
        self.cache.forget_pod(qpi.pod)
        self.queue.add_unschedulable(
            qpi, pod_scheduling_cycle=self.queue.scheduling_cycle, error=True
        )

    def on_node_add(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(events.NODE_ADD)

    def on_node_update(self, node: Obj) -> None:
        info = self.cache.get(node["metadata"]["name"])
        old = info.node if info is not None else {}
        self.cache.update_node(node)
        # Only a node that may have become more schedulable retries pods: a status
        # heartbeat does not (upstream's nodeSchedulingPropertiesChange).
        if node_scheduling_properties_changed(old, node):
            self.queue.move_all_to_active_or_backoff(events.NODE_UPDATE)

    def on_node_delete(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def on_pod_add(self, pod: Obj) -> None:
        if pod.get("spec", {}).get("nodeName"):
            self.queue.delete(pod)  # bound: no longer pending, nor nominated
            self.cache.add_pod(pod)
            self.queue.move_all_to_active_or_backoff(events.ASSIGNED_POD_ADD)
        elif self.framework_for(pod) is not None:
            self.queue.add(pod)

    def on_pod_update(self, pod: Obj) -> None:
        if pod.get("spec", {}).get("nodeName"):
            self.queue.delete(pod)
            self.cache.update_pod(pod)
            self.queue.move_all_to_active_or_backoff(events.ASSIGNED_POD_UPDATE)
        elif self.framework_for(pod) is not None:
            self.queue.update(pod)

    def on_pod_delete(self, pod: Obj) -> None:
        if pod.get("spec", {}).get("nodeName") or self.cache.pod_info(pod_key(pod)):
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(events.ASSIGNED_POD_DELETE)
        self.queue.delete(pod)

    def on_volume_event(self, event: str) -> None:
        """PVC/PV/StorageClass added or changed (``events.PVC_ADD`` ...)."""
        self.queue.move_all_to_active_or_backoff(event)
