"""A vectorized path for the common pod: resources, taints, nodeSelector only.

Most pods ask for cpu/memory and maybe a nodeSelector, nothing else. For them
the default profile reduces to NodeUnschedulable + TaintToleration +
NodeAffinity(selector) + NodeResourcesFit filters and LeastAllocated +
BalancedAllocation + TaintToleration + ImageLocality scores, which
numpy evaluates over arrays of node allocatable/requested kept current from
cache events. Rejected nodes get their status from the reference filters, so
verdicts, scores, the rotating start index and the tie-breaking RNG calls are
exactly those of the plugin-by-plugin path (tests hold both to that).
Anything else falls back to the reference path, including a pod that must
yield to nominated pods (preemptors waiting for their victims) of equal or
higher priority, or that is nominated itself: the arrays know nothing of
nominations, and there are seldom any.
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
from kubelite.scheduler.framework.nominator import nominated_node_name
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
            "NodeResourcesFit", "VolumeRestrictions", "VolumeBinding", "PodTopologySpread",
            "InterPodAffinity"]  # fmt: skip
_SCORE_WEIGHTS = {n: w for n, w in DEFAULT_MULTI_POINT if w}
_CORDON = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_SKIPPED_PRE_FILTER = {
    "NodePorts",
    "VolumeRestrictions",
    "VolumeBinding",
    "PodTopologySpread",
    "InterPodAffinity",
}


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
        # What is left, kept beside the totals so a filter is one comparison.
        self.free_cpu = self.alloc_cpu.copy()
        self.free_mem = self.alloc_mem.copy()
        self.free_pods = self.alloc_pods.copy()
        # Rows (cpu, memory) for the score math over both resources at once.
        self.alloc2 = np.stack((self.alloc_cpu, self.alloc_mem))
        self.nz2 = np.zeros((2, n), dtype=np.int64)
        self.req2 = np.zeros((2, n), dtype=np.int64)
        self.all_alloc_positive = bool((self.alloc2 > 0).all()) if n else False
        self.unschedulable = np.array([i.unschedulable for i in infos], dtype=bool)
        self.tainted = np.flatnonzero(np.array([bool(i.taints) for i in infos], dtype=bool))
        self.selector_masks: dict[tuple[str, str], np.ndarray] = {}
        for i, info in enumerate(infos):
            self.update(i, info)

    def update(self, i: int, info: NodeInfo) -> None:
        cpu, mem = info.requested.milli_cpu, info.requested.memory
        nz_cpu, nz_mem = info.non_zero_requested.milli_cpu, info.non_zero_requested.memory
        pods = len(info.pods)
        self.req_cpu[i] = self.req2[0, i] = cpu
        self.req_mem[i] = self.req2[1, i] = mem
        self.nz_cpu[i] = self.nz2[0, i] = nz_cpu
        self.nz_mem[i] = self.nz2[1, i] = nz_mem
        self.num_pods[i] = pods
        self.free_cpu[i] = self.alloc_cpu[i] - cpu
        self.free_mem[i] = self.alloc_mem[i] - mem
        self.free_pods[i] = self.alloc_pods[i] - pods

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
        if pi.node_name or spec.get("affinity") or self._nominations_matter(fw, pi):
            return False
        if req.ephemeral_storage or req.scalar:
            return False
        if self.cache.pods_with_affinity or self.cache.pods_with_required_anti_affinity:
            return False
        return not (spec.get("topologySpreadConstraints") or fw.handle.spread_selector(pi.pod))

    @staticmethod
    def _nominations_matter(fw: Framework, pi: PodInfo) -> bool:
        """The pod is nominated, or nominated pods it must yield to would change the filters."""
        nominator = fw.handle.nominator
        if nominated_node_name(pi.pod) or nominator.node_for(pi.key):
            return True
        return bool(nominator) and nominator.any_at_least(pi.priority, pi.key)

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
        # The nodes that pass, in the order the reference path visits them:
        # from the rotating start index round to just before it.
        passing = np.flatnonzero(fits)
        if passing.size == 0:
            return False  # let the reference path build the diagnosis and preempt
        split = int(np.searchsorted(passing, start))
        to_find = num_feasible_nodes_to_find(sched.percentage_for(fw), n)
        after = passing[split : split + to_find]
        if after.size < to_find:  # wrap round to the nodes before the start index
            feasible = np.concatenate((after, passing[: min(split, to_find - after.size)]))
        else:
            feasible = after
        processed = (int(feasible[-1]) - start) % n + 1 if feasible.size >= to_find else n
        sched.next_start_node_index = (start + processed) % n
        self._record_verdicts(fw, state, pi, arr, start, processed, fits, res)
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
        fits = arr.free_pods >= 1
        if req.milli_cpu > 0:
            fits &= arr.free_cpu >= req.milli_cpu
        if req.memory > 0:
            fits &= arr.free_mem >= req.memory
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
        start: int,
        processed: int,
        fits: np.ndarray,
        res: ScheduleResult,
    ) -> None:
        """Reference statuses for the evaluated nodes that failed; the rest pass."""
        n = len(fits)
        end = start + processed
        failing = np.flatnonzero(~fits)
        if end <= n:
            failed = failing[(failing >= start) & (failing < end)]
        else:
            failed = failing[(failing >= start) | (failing < end - n)]
        statuses = {i: fw.run_filter(state, pi, arr.infos[i]) for i in failed.tolist()}

        def evaluated() -> list[int]:
            return [(start + k) % n for k in range(processed)]

        res.filter_verdicts = _LazyColumn(  # type: ignore[assignment]
            lambda: [arr.names[i] for i in evaluated()],
            lambda: [statuses.get(i) for i in evaluated()],
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
        if arr.all_alloc_positive:
            # Feasible nodes are mostly one run of neighbours: a slice, not a gather.
            first, count = int(feasible[0]), len(feasible)
            cols: slice | np.ndarray = feasible
            if int(feasible[-1]) - first == count - 1:
                cols = slice(first, first + count)
            alloc2 = arr.alloc2[:, cols]
            nz2 = arr.nz2[:, cols] + np.array([[pi.non_zero_cpu], [pi.non_zero_mem]])
            req2 = arr.req2[:, cols] + np.array([[pi.request.milli_cpu], [pi.request.memory]])
            fit_s = _least_allocated_positive(alloc2, nz2)
            bal_s = _balanced_positive(alloc2, req2)
        else:
            fit_s = _least_allocated(
                [(arr.alloc_cpu[feasible], arr.nz_cpu[feasible] + pi.non_zero_cpu),
                 (arr.alloc_mem[feasible], arr.nz_mem[feasible] + pi.non_zero_mem)]
            )  # fmt: skip
            bal_s = _balanced(
                [(arr.alloc_cpu[feasible], arr.req_cpu[feasible] + pi.request.milli_cpu),
                 (arr.alloc_mem[feasible], arr.req_mem[feasible] + pi.request.memory)]
            )  # fmt: skip
        taint_raw = np.zeros(len(feasible), dtype=np.int64)
        max_count = 0
        if taint_counts:
            taint_raw = np.array(
                [taint_counts.get(i, 0) for i in feasible.tolist()], dtype=np.int64
            )
            max_count = max(int(taint_raw.max()), 0)
        if max_count == 0:
            taint_s = np.full(len(feasible), 100, dtype=np.int64)
        else:
            taint_s = 100 - (100 * taint_raw) // max_count
        image_s = self._image_locality(pi, arr, feasible)
        totals = taint_s * 3 + fit_s + bal_s + image_s

        def names() -> list[str]:
            return [arr.names[i] for i in feasible.tolist()]

        res.scores = _LazyScores(
            names,
            {
                taint_toleration.NAME: (taint_raw, taint_s, 3),
                fit.NAME: (fit_s, fit_s, 1),
                balanced.NAME: (bal_s, bal_s, 1),
                image_locality.NAME: (image_s, image_s, 1),
            },
        )  # type: ignore[assignment]
        res.total_scores = _LazyColumn(names, totals.tolist)  # type: ignore[assignment]
        ties = np.flatnonzero(totals == totals.max())
        pick = int(ties[0]) if len(ties) == 1 else int(ties[sched.rng.randrange(len(ties))])
        res.node_name = arr.names[int(feasible[pick])]
        res.node_score = int(totals[pick])

    def _image_locality(self, pi: PodInfo, arr: _Arrays, feasible: np.ndarray) -> np.ndarray:
        """ImageLocality over the feasible nodes, from the cache's image index.

        upstream ImageLocality: per node the sum of scaledImageScore over the
        pod's images present there, then calculatePriority.
        """
        images = pod_images(pi)
        known = self.cache._images  # noqa: SLF001 - same package, read-only
        present = [known[name] for name in images if name in known]
        if not present:
            return np.zeros(len(feasible), dtype=np.int64)
        total_nodes = len(arr.infos)
        sums = np.zeros(total_nodes, dtype=np.int64)
        for state in present:
            scaled = image_locality.scaled_image_score(state.size, len(state.nodes), total_nodes)
            rows = [i for name in state.nodes if (i := arr.index.get(name)) is not None]
            sums[rows] += scaled
        return _image_priority(sums[feasible], len(images))


def _image_priority(sums: np.ndarray, num_containers: int) -> np.ndarray:
    """upstream ImageLocality calculatePriority, over an array of sums."""
    if num_containers == 0:
        return np.zeros(len(sums), dtype=np.int64)
    low, high = image_locality.MIN_THRESHOLD, image_locality.MAX_CONTAINER_THRESHOLD
    high *= num_containers
    clamped = np.clip(sums, low, high)
    return (image_locality.MAX_NODE_SCORE * (clamped - low)) // (high - low)


def _least_allocated_positive(alloc2: np.ndarray, req2: np.ndarray) -> np.ndarray:
    """LeastAllocated over (cpu, memory) rows when every node has both.

    upstream leastResourceScorer: per resource (alloc - req) * 100 / alloc,
    0 when the request exceeds it, then the weighted mean (weights 1, 1).
    """
    free = np.maximum(alloc2 - req2, 0)
    free *= 100
    free //= alloc2
    return (free[0] + free[1]) // 2


def _balanced_positive(alloc2: np.ndarray, req2: np.ndarray) -> np.ndarray:
    """BalancedAllocation over (cpu, memory) rows when every node has both.

    upstream balancedResourceScorer with two resources: std = |f0 - f1| / 2 of
    the requested fractions (each capped at 1); score = (1 - std) * 100.
    """
    frac = np.minimum(req2 / alloc2, 1.0)
    std = np.abs(frac[0] - frac[1]) / 2
    return ((1 - std) * 100).astype(np.int64)


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
