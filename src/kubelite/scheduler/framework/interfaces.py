"""One Protocol per extension point, plus the handle plugins get at build time.

A plugin implements only the methods of the points it takes part in; the
runner finds them with ``isinstance`` checks on these runtime-checkable
protocols. Plugins receive a :class:`PodInfo` (the parsed pod) and
:class:`NodeInfo`s; they return ``None`` for success or a :class:`Status`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.nominator import Nominator
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo

if TYPE_CHECKING:
    from kubelite.scheduler.framework.diagnosis import NodeToStatus
    from kubelite.scheduler.framework.queue import QueuedPodInfo

__all__ = [
    "BindPlugin",
    "FilterPlugin",
    "Handle",
    "NamespaceLister",
    "PermitPlugin",
    "Plugin",
    "PostFilterPlugin",
    "PostFilterResult",
    "PreFilterExtensions",
    "PreFilterPlugin",
    "PreScorePlugin",
    "QueueSortPlugin",
    "ReservePlugin",
    "ScorePlugin",
    "SpreadSelectorLister",
    "VolumeLister",
]

Obj = Mapping[str, Any]
MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class QueueSortPlugin(Protocol):
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool: ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None: ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    """Keep PreFilter state right when preemption removes or re-adds pods."""

    def add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None: ...

    def remove_pod(
        self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo
    ) -> None: ...


@runtime_checkable
class FilterPlugin(Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    """What PostFilter (preemption) found: a nominated node and the victims to evict.

    ``nominated_pods_to_clear`` are lower-priority pods nominated to that node:
    they may no longer fit there, so their nominations are cleared and they
    look for another place (upstream getLowerPriorityNominatedPods).
    """

    nominated_node_name: str = ""
    victims: tuple[Obj, ...] = ()
    nominated_pods_to_clear: tuple[Obj, ...] = ()


@runtime_checkable
class PostFilterPlugin(Protocol):
    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status | None]: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Protocol):
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class NormalizeScorePlugin(Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[list[Any]]) -> None:
        """Rewrite ``scores`` (``[node_name, score]`` pairs) in place into [0, 100]."""
        ...


@runtime_checkable
class ReservePlugin(Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class PermitPlugin(Protocol):
    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...


@runtime_checkable
class BindPlugin(Protocol):
    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...


class NamespaceLister(Protocol):
    def __call__(self, namespace: str) -> Mapping[str, str] | None:
        """The labels of a namespace, or None when it is unknown."""
        ...


class SpreadSelectorLister(Protocol):
    def __call__(self, pod: Obj) -> Obj | None:
        """The label selector of the Services/RCs/RSs/StatefulSets selecting the pod."""
        ...


class VolumeLister(Protocol):
    def pvc(self, namespace: str, name: str) -> Obj | None: ...

    def pv(self, name: str) -> Obj | None: ...

    def pvs(self) -> Sequence[Obj]: ...

    def storage_class(self, name: str) -> Obj | None: ...


def _no_namespaces(namespace: str) -> Mapping[str, str] | None:
    return {"kubernetes.io/metadata.name": namespace}


def _no_selector(pod: Obj) -> Obj | None:
    return None


def _no_pdbs() -> list[Obj]:
    return []


@dataclass
class Handle:
    """What a plugin may reach at build time: the snapshot, the nominator, the listers."""

    cache: Cache
    nominator: Nominator = field(default_factory=Nominator)
    namespace_labels: Callable[[str], Mapping[str, str] | None] = _no_namespaces
    spread_selector: Callable[[Obj], Obj | None] = _no_selector
    pdbs: Callable[[], list[Obj]] = _no_pdbs  # the PodDisruptionBudgets, for preemption
    volumes: VolumeLister | None = None
    rng: random.Random | None = None
    framework: Any = field(default=None, repr=False)  # the Framework, set once built
