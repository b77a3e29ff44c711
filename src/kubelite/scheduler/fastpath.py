"""A vectorized path for the common pod: resources, taints, nodeSelector only.

Most pods ask for cpu/memory and maybe a nodeSelector, nothing else. For them
the default profile reduces to NodeUnschedulable + TaintToleration +
NodeAffinity(selector) + NodeResourcesFit filters and LeastAllocated +
BalancedAllocation + TaintToleration (+ a zero ImageLocality) scores, which
numpy evaluates over arrays of node allocatable/requested kept current from
cache events. Rejected nodes get their status from the reference filters, so
verdicts, scores, the rotating start index and the tie-breaking RNG calls are
exactly those of the plugin-by-plugin path (tests hold both to that).
Anything else falls back to the reference path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
else:

    class _LazyNumpy:
        """numpy loads when the first pod is scheduled, not at start-up (idle memory)."""

        def __getattr__(self, name: str) -> Any:
            import numpy

            globals()["np"] = numpy
            return getattr(numpy, name)

    np = _LazyNumpy()

from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.helpers import find_untolerated_taint, tolerates
from kubelite.scheduler.framework.runtime import Framework, PluginScore, num_feasible_nodes_to_find
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import (
    image_locality,
    taint_toleration,
)
from kubelite.scheduler.plugins import (
    node_resources_balanced_allocation as balanced,
)
from kubelite.scheduler.plugins import (
    node_resources_fit as fit,
)
from kubelite.scheduler.plugins.image_locality import pod_images
from kubelite.scheduler.plugins.node_resources_fit import DEFAULT_RESOURCES, LEAST_ALLOCATED
from kubelite.scheduler.plugins.taint_toleration import (
    DO_NOT_SCHEDULE,
    count_intolerable_prefer_no_schedule,
    prefer_no_schedule_tolerations,
)
from kubelite.scheduler.profile import DEFAULT_MULTI_POINT

if TYPE_CHECKING:
    from kubelite.scheduler.result import ScheduleResult
    from kubelite.scheduler.scheduler import Scheduler

__all__ = ["FastPath"]

_FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
            "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]  # fmt: skip
_SCORE_WEIGHTS = {n: w for n, w in DEFAULT_MULTI_POINT if w}
_CORDON = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_SKIPPED_PRE_FILTER = {"NodePorts", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"}


def _framework_is_default(fw: Framework) -> bool:
    if fw.plugin_names("filter") != _FILTERS or fw.weights != _SCORE_WEIGHTS:
        return False
    fit_pl = next(p for p in fw.plugins("score") if p.name == fit.NAME)
    bal_pl = next(p for p in fw.plugins("score") if p.name == balanced.NAME)
    return (
        fit_pl.strategy == LEAST_ALLOCATED
        and tuple(fit_pl.resources) == DEFAULT_RESOURCES
        and not fit_pl.ignored
        and not fit_pl.ignored_groups
        and tuple(bal_pl.allocation.resources) == balanced.DEFAULT_RESOURCES
    )


class _Arrays:
    """Per-node columns in cache order."""

    def __init__(self, infos: list[NodeInfo]) -> None:
        n = len(infos)
        self.infos = infos
        self.index = {info.name: i for i, info in enumerate(infos)}
        self.nodes = [info.node for info in infos]
        self.names = [info.name for info in infos]
        self.alloc_cpu = np.array([i.allocatable.milli_cpu for i in infos], dtype=np.int64)
        self.alloc_mem = np.array([i.allocatable.memory for i in infos], dtype=np.int64)
        self.alloc_pods = np.array(
            [i.allocatable.allowed_pod_number for i in infos], dtype=np.int64
        )
        self.req_cpu = np.zeros(n, dtype=np.int64)
        self.req_mem = np.zeros(n, dtype=np.int64)
        self.nz_cpu = np.zeros(n, dtype=np.int64)
        self.nz_mem = np.zeros(n, dtype=np.int64)
        self.num_pods = np.zeros(n, dtype=np.int64)
        self.unschedulable = np.array([i.unschedulable for i in infos], dtype=bool)
        self.tainted = np.flatnonzero(np.array([bool(i.taints) for i in infos], dtype=bool))
        self.selector_masks: dict[tuple[str, str], np.ndarray] = {}
        for i, info in enumerate(infos):
            self.update(i, info)

    def update(self, i: int, info: NodeInfo) -> None:
        self.req_cpu[i] = info.requested.milli_cpu
        self.req_mem[i] = info.requested.memory
        self.nz_cpu[i] = info.non_zero_requested.milli_cpu
        self.nz_mem[i] = info.non_zero_requested.memory
        self.num_pods[i] = len(info.pods)

    def selector_mask(self, key: str, value: str) -> np.ndarray:
        mask = self.selector_masks.get((key, value))
        if mask is None:
            mask = np.array([i.labels.get(key) == value for i in self.infos], dtype=bool)
            self.selector_masks[(key, value)] = mask
        return mask


class _LazyScores(Mapping[str, dict[str, PluginScore]]):
    """Per-node plugin scores, built only when someone reads them."""

    def __init__(
        self, names: Callable[[], list[str]], columns: dict[str, tuple[np.ndarray, np.ndarray, int]]
    ) -> None:
        self._make_names = names
        self._names: list[str] | None = None
        self._columns = columns
        self._pos: dict[str, int] = {}

    def _list(self) -> list[str]:
        if self._names is None:
            self._names = self._make_names()
            self._pos = {n: i for i, n in enumerate(self._names)}
        return self._names

    def __getitem__(self, node: str) -> dict[str, PluginScore]:
        self._list()
        i = self._pos[node]
        return {p: PluginScore(int(r[i]), int(s[i]), w) for p, (r, s, w) in self._columns.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self._list())

    def __len__(self) -> int:
        return len(self._list())


class _LazyColumn(Mapping[str, Any]):
    """node name -> value from parallel arrays, materialized on first read."""

    def __init__(self, names: Callable[[], list[str]], values: Callable[[], list[Any]]) -> None:
        self._make = (names, values)
        self._data: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        if self._data is None:
            names, values = self._make
            self._data = dict(zip(names(), values(), strict=True))
        return self._data

    def __getitem__(self, node: str) -> Any:
        return self._dict()[node]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


class FastPath:
    """Cache observer holding the arrays, and the vectorized scheduling step."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._arrays: _Arrays | None = None
        self._default_fw: dict[int, bool] = {}
        cache.subscribe(self)

    # -- cache observer ----------------------------------------------------
    def node_changed(self, info: NodeInfo) -> None:
        arr = self._arrays
        if arr is None:
            return
        i = arr.index.get(info.name)
        if i is None or arr.nodes[i] is not info.node:
            self._arrays = None  # a node was added or its spec/labels changed
            return
        arr.update(i, info)

    def node_removed(self, name: str) -> None:
        self._arrays = None

    def arrays(self) -> _Arrays:
        if self._arrays is None:
            self._arrays = _Arrays(self.cache.node_infos())
        return self._arrays

    # -- eligibility ---------------------------------------------------------
    def eligible(self, fw: Framework, state: CycleState, pi: PodInfo) -> bool:
        ok = self._default_fw.get(id(fw))
        if ok is None:
            ok = self._default_fw[id(fw)] = _framework_is_default(fw)
        if not ok or not state.skip_filter_plugins >= _SKIPPED_PRE_FILTER:
            return False
        spec = pi.pod.get("spec", {})
        req = pi.request
        if (
            pi.node_name
            or spec.get("affinity")
            or (pi.pod.get("status") or {}).get("nominatedNodeName")
        ):
            return False
        if req.ephemeral_storage or req.scalar:
            return False
        if self.cache.pods_with_affinity or self.cache.pods_with_required_anti_affinity:
            return False
        if spec.get("topologySpreadConstraints") or fw.handle.spread_selector(pi.pod):
            return False
        images = self.cache._images  # noqa: SLF001 - same package, read-only
        return not any(img in images for img in pod_images(pi))

    # -- the step ------------------------------------------------------------
    def try_schedule(
        self, sched: Scheduler, fw: Framework, state: CycleState, pi: PodInfo, res: ScheduleResult
    ) -> bool:
        if not self.eligible(fw, state, pi):
            return False
        arr = self.arrays()
        n = len(arr.infos)
        fits, taint_counts = self._filter_mask(arr, pi)
        start = sched.next_start_node_index
        order = (start + np.arange(n)) % n
        passed = np.flatnonzero(fits[order])
        if passed.size == 0:
            return False  # let the reference path build the diagnosis and preempt
        to_find = num_feasible_nodes_to_find(sched.percentage_for(fw), n)
        processed = int(passed[to_find - 1]) + 1 if passed.size >= to_find else n
        feasible = order[passed[:to_find]]
        sched.next_start_node_index = (start + processed) % n
        self._record_verdicts(fw, state, pi, arr, order[:processed], fits, res)
        res.fast_path = True
        res.evaluated_nodes = processed
        res.feasible_nodes = len(feasible)
        if len(feasible) == 1:
            res.node_name = arr.names[int(feasible[0])]
            return True
        self._score(pi, arr, feasible, taint_counts, res, sched)
        return True

    def _filter_mask(self, arr: _Arrays, pi: PodInfo) -> tuple[np.ndarray, dict[int, int]]:
        spec = pi.pod.get("spec", {})
        tols = spec.get("tolerations") or ()
        req = pi.request
        fits = arr.num_pods + 1 <= arr.alloc_pods
        if req.milli_cpu > 0:
            fits &= req.milli_cpu <= arr.alloc_cpu - arr.req_cpu
        if req.memory > 0:
            fits &= req.memory <= arr.alloc_mem - arr.req_mem
        if not any(tolerates(t, _CORDON) for t in tols):
            fits &= ~arr.unschedulable
        for key, value in (spec.get("nodeSelector") or {}).items():
            fits &= arr.selector_mask(key, value)
        prefer_tols = prefer_no_schedule_tolerations(pi)
        counts: dict[int, int] = {}
        for i in arr.tainted:
            taints = arr.infos[i].taints
            if find_untolerated_taint(taints, tols, DO_NOT_SCHEDULE) is not None:
                fits[i] = False
            counts[int(i)] = count_intolerable_prefer_no_schedule(taints, prefer_tols)
        return fits, counts

    def _record_verdicts(
        self,
        fw: Framework,
        state: CycleState,
        pi: PodInfo,
        arr: _Arrays,
        evaluated: np.ndarray,
        fits: np.ndarray,
        res: ScheduleResult,
    ) -> None:
        failed = evaluated[~fits[evaluated]].tolist()
        statuses = {i: fw.run_filter(state, pi, arr.infos[i]) for i in failed}
        idx = evaluated.tolist()
        res.filter_verdicts = _LazyColumn(  # type: ignore[assignment]
            lambda: [arr.names[i] for i in idx], lambda: [statuses.get(i) for i in idx]
        )

    def _score(
        self,
        pi: PodInfo,
        arr: _Arrays,
        feasible: np.ndarray,
        taint_counts: dict[int, int],
        res: ScheduleResult,
        sched: Scheduler,
    ) -> None:
        fit_s = _least_allocated(
            [(arr.alloc_cpu[feasible], arr.nz_cpu[feasible] + pi.non_zero_cpu),
             (arr.alloc_mem[feasible], arr.nz_mem[feasible] + pi.non_zero_mem)]
        )  # fmt: skip
        bal_s = _balanced(
            [(arr.alloc_cpu[feasible], arr.req_cpu[feasible] + pi.request.milli_cpu),
             (arr.alloc_mem[feasible], arr.req_mem[feasible] + pi.request.memory)]
        )  # fmt: skip
        taint_raw = np.zeros(len(feasible), dtype=np.int64)
        if taint_counts:
            taint_raw = np.array(
                [taint_counts.get(i, 0) for i in feasible.tolist()], dtype=np.int64
            )
        max_count = max(int(taint_raw.max()), 0)
        if max_count == 0:
            taint_s = np.full(len(feasible), 100, dtype=np.int64)
        else:
            taint_s = 100 - (100 * taint_raw) // max_count
        zeros = np.zeros(len(feasible), dtype=np.int64)
        totals = taint_s * 3 + fit_s + bal_s
        idx = feasible.tolist()

        def names() -> list[str]:
            return [arr.names[i] for i in idx]

        res.scores = _LazyScores(
            names,
            {
                taint_toleration.NAME: (taint_raw, taint_s, 3),
                fit.NAME: (fit_s, fit_s, 1),
                balanced.NAME: (bal_s, bal_s, 1),
                image_locality.NAME: (zeros, zeros, 1),
            },
        )  # type: ignore[assignment]
        res.total_scores = _LazyColumn(names, totals.tolist)  # type: ignore[assignment]
        ties = np.flatnonzero(totals == totals.max())
        pick = int(ties[0]) if len(ties) == 1 else int(ties[sched.rng.randrange(len(ties))])
        res.node_name = arr.names[idx[pick]]


def _least_allocated(columns: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    score = np.zeros(len(columns[0][0]), dtype=np.int64)
    weights = np.zeros_like(score)
    for alloc, req in columns:
        has = alloc != 0
        safe = np.where(has, alloc, 1)
        s = np.where(req > alloc, 0, ((alloc - req) * 100) // safe)
        score += np.where(has, s, 0)
        weights += has
    return np.where(weights > 0, score // np.maximum(weights, 1), 0)


def _balanced(columns: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    (a0, r0), (a1, r1) = columns
    has0, has1 = a0 != 0, a1 != 0
    f0 = np.minimum(r0 / np.where(has0, a0, 1), 1.0)
    f1 = np.minimum(r1 / np.where(has1, a1, 1), 1.0)
    std = np.where(has0 & has1, np.abs((f0 - f1) / 2), 0.0)
    return ((1 - std) * 100).astype(np.int64)
