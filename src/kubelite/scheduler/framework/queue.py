"""The scheduling queue: activeQ, backoffQ and the unschedulable pool.

activeQ pops in QueueSort order (PrioritySort: priority, then enqueue time).
A pod that failed waits out a backoff of 1 s doubling per attempt up to 10 s
in backoffQ. A pod found unschedulable waits in the unschedulable pool until a
cluster event one of its rejecting plugins cares about (node added, pod
deleted, PVC bound...) moves it back, or until it has waited 5 minutes. All
state transitions are synchronous; time comes from an injectable clock.
Every pending pod added, updated or deleted here also updates the nominator,
as upstream's PriorityQueue does, so nominations follow the watch.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.scheduler.framework.nominator import Nominator
from kubelite.scheduler.framework.types import PodInfo, pod_key

__all__ = ["QueuedPodInfo", "SchedulingQueue", "pod_updated"]

Obj = Mapping[str, Any]
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_UNSCHEDULABLE = 300.0


@dataclass
class QueuedPodInfo:
    pod_info: PodInfo
    timestamp: float
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    seq: int = 0

    @property
    def pod(self) -> Obj:
        return self.pod_info.pod

    @property
    def key(self) -> str:
        return self.pod_info.key


class _Ordered:
    __slots__ = ("qpi", "less")

    def __init__(self, qpi: QueuedPodInfo, less: Callable[[Any, Any], bool]) -> None:
        self.qpi, self.less = qpi, less

    def __lt__(self, other: _Ordered) -> bool:
        if self.less(self.qpi, other.qpi):
            return True
        if self.less(other.qpi, self.qpi):
            return False
        return self.qpi.seq < other.qpi.seq


class SchedulingQueue:
    def __init__(
        self,
        less: Callable[[Any, Any], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
        initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        max_unschedulable: float = DEFAULT_MAX_UNSCHEDULABLE,
        plugin_events: Mapping[str, frozenset[str]] | None = None,
        nominator: Nominator | None = None,
    ) -> None:
        self.less = less
        self.nominator = nominator if nominator is not None else Nominator()
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.plugin_events = dict(plugin_events or {})
        self._active: list[_Ordered] = []
        self._backoff: list[tuple[float, int, QueuedPodInfo]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._where: dict[
            str, str
        ] = {}  # key -> "active" | "backoff" | "unschedulable" | "inflight"
        self._seq = itertools.count()
        self.scheduling_cycle = 0
        self.move_request_cycle = -1

    # -- inspection --------------------------------------------------------
    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def pending(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"active": [], "backoff": [], "unschedulable": []}
        for key, place in self._where.items():
            if place in out:
                out[place].append(key)
        return out

    def __len__(self) -> int:
        return sum(1 for p in self._where.values() if p != "inflight")

    # -- adding ------------------------------------------------------------
    def add(self, pod: Obj) -> None:
        """A new pending pod: straight to activeQ."""
        if pod_key(pod) in self._where:
            self.update(pod)
            return
        pi = PodInfo(pod)
        self.nominator.add(pi)
        self._push_active(QueuedPodInfo(pi, self.clock(), seq=next(self._seq)))

    def update(self, pod: Obj) -> None:
        place = self._where.get(pod_key(pod))
        if place is None:
            self.add(pod)
            return
        pi = PodInfo(pod)
        self.nominator.update(pi)
        if place == "inflight":
            return  # being scheduled now; its outcome requeues the stored copy
        if place == "unschedulable":
            qpi = self._unschedulable[pi.key]
            changed = pod_updated(qpi.pod, pod)
            qpi.pod_info = pi
            if changed:  # a changed pod may now fit; its status (our own
                del self._unschedulable[pi.key]  # PodScheduled write) changes nothing
                self._requeue(qpi)
            return
        for qpi in self._iter_queued(place):
            if qpi.key == pi.key:
                qpi.pod_info = pi

    def delete(self, pod: Obj) -> None:
        key = pod_key(pod)
        self.nominator.delete(key)
        place = self._where.pop(key, None)
        if place == "unschedulable":
            self._unschedulable.pop(key, None)
        elif place == "active":
            self._active = [o for o in self._active if o.qpi.key != key]
            heapq.heapify(self._active)
        elif place == "backoff":
            self._backoff = [e for e in self._backoff if e[2].key != key]
            heapq.heapify(self._backoff)

    def _iter_queued(self, place: str) -> list[QueuedPodInfo]:
        if place == "active":
            return [o.qpi for o in self._active]
        if place == "backoff":
            return [e[2] for e in self._backoff]
        return []

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        heapq.heappush(self._active, _Ordered(qpi, self.less))
        self._where[qpi.key] = "active"

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        heapq.heappush(self._backoff, (self.backoff_expiry(qpi), qpi.seq, qpi))
        self._where[qpi.key] = "backoff"

    # -- popping -----------------------------------------------------------
    def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule, or None when activeQ is empty."""
        self.flush_backoff_completed()
        if not self._active:
            return None
        qpi = heapq.heappop(self._active).qpi
        qpi.attempts += 1
        if qpi.initial_attempt_timestamp is None:
            qpi.initial_attempt_timestamp = self.clock()
        qpi.unschedulable_plugins = set()
        self.scheduling_cycle += 1
        self._where[qpi.key] = "inflight"
        return qpi

    def done(self, key: str) -> None:
        """The popped pod was scheduled (or deleted): forget it."""
        if self._where.get(key) == "inflight":
            del self._where[key]

    # -- failures ----------------------------------------------------------
    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        if qpi.attempts == 0:
            return 0.0
        duration = self.initial_backoff
        for _ in range(1, qpi.attempts):
            if duration > self.max_backoff - duration:
                return self.max_backoff
            duration += duration
        return duration

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def is_backing_off(self, qpi: QueuedPodInfo) -> bool:
        return self.backoff_expiry(qpi) > self.clock()

    def add_unschedulable(
        self,
        qpi: QueuedPodInfo,
        *,
        pod_scheduling_cycle: int,
        unschedulable_plugins: set[str] | None = None,
        error: bool = False,
    ) -> None:
        """Requeue a pod whose attempt failed (upstream AddUnschedulableIfNotPresent)."""
        if self._where.get(qpi.key) not in (None, "inflight"):
            return
        qpi.timestamp = self.clock()
        qpi.unschedulable_plugins = set(unschedulable_plugins or ())
        if error or self.move_request_cycle >= pod_scheduling_cycle:
            self._push_backoff(qpi)  # errors, or an event arrived while it was in flight
            return
        self._unschedulable[qpi.key] = qpi
        self._where[qpi.key] = "unschedulable"

    # -- moves -------------------------------------------------------------
    def _requeue(self, qpi: QueuedPodInfo) -> None:
        if self.is_backing_off(qpi):
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    def _interested(self, qpi: QueuedPodInfo, event: str) -> bool:
        if not qpi.unschedulable_plugins:
            return True
        return any(event in self.plugin_events.get(p, ()) for p in qpi.unschedulable_plugins)

    def move_all_to_active_or_backoff(self, event: str) -> int:
        """A cluster event happened: retry the unschedulable pods it may help."""
        moved = 0
        for key, qpi in list(self._unschedulable.items()):
            if self._interested(qpi, event):
                del self._unschedulable[key]
                self._requeue(qpi)
                moved += 1
        self.move_request_cycle = self.scheduling_cycle
        return moved

    def activate(self, key: str) -> None:
        qpi = self._unschedulable.pop(key, None)
        if qpi is not None:
            self._push_active(qpi)

    def flush_backoff_completed(self) -> None:
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, qpi = heapq.heappop(self._backoff)
            self._push_active(qpi)

    def flush_unschedulable_leftover(self) -> None:
        """Retry pods that have waited in the unschedulable pool for 5 minutes."""
        now = self.clock()
        for key, qpi in list(self._unschedulable.items()):
            if now - qpi.timestamp > self.max_unschedulable:
                del self._unschedulable[key]
                self._requeue(qpi)

    def next_wakeup(self) -> float | None:
        """When the loop should next call :meth:`flush_backoff_completed`."""
        return self._backoff[0][0] if self._backoff else None


_NOT_SCHEDULING_METADATA = ("resourceVersion", "generation", "managedFields", "finalizers")


def pod_updated(old: Obj, new: Obj) -> bool:
    """Upstream's isPodUpdated: a change beyond status and bookkeeping metadata."""

    def strip(pod: Obj) -> dict[str, Any]:
        md = dict(pod.get("metadata") or {})
        for key in _NOT_SCHEDULING_METADATA:
            md.pop(key, None)
        out = {k: v for k, v in pod.items() if k not in ("status", "metadata")}
        out["metadata"] = md
        return out

    return strip(old) != strip(new)
