"""Which active pods a Job deletes when it has too many: upstream's activePodsForRemoval.

An Indexed Job first removes every pod it cannot use, however many it
wants to keep: pods without a completion index, pods whose index is out of
range (an elastic Indexed Job scaled down: `completions` 4 -> 1 leaves
indexes 1-3 out of range), and all but one pod of each repeated index
(appendDuplicatedIndexPodsForRemoval; the kept one is the furthest along).
Only if that is still fewer than needed are more taken, from the pods that
remain, in `controller.ActivePods` order: unscheduled before scheduled,
Pending before Unknown before Running, not ready before ready, ready for
less time before ready for longer, more container restarts before fewer,
newer before older. The pods in the earliest stages go first, so the least
work is lost.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from itertools import groupby
from typing import Any

from kubelite.controllers.job.indexes import UNKNOWN, pod_index
from kubelite.controllers.job.pods import is_ready, phase, spec_of
from kubelite.controllers.objects import Obj, created_at, parse_time, pod_condition

# podPhaseToOrdinal; a phase it does not list counts as 0, as Go's map lookup.
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def pods_for_removal(job: Mapping[str, Any], active: list[Obj], at_least: int) -> list[Obj]:
    """The pods to delete: the unusable ones of an Indexed Job, then at least `at_least`."""
    spec = spec_of(job)
    if spec.get("completionMode") == "Indexed":
        remove, left = unusable_indexed_pods(active, int(spec.get("completions") or 0))
    else:
        remove, left = [], list(active)
    if len(remove) < at_least:
        remove += sorted(left, key=active_pods_order)[: at_least - len(remove)]
    return remove


def unusable_indexed_pods(active: list[Obj], completions: int) -> tuple[list[Obj], list[Obj]]:
    """(pods to remove, pods left): no index, an index >= `completions`, or a repeat."""
    remove: list[Obj] = []
    left: list[Obj] = []
    for index, group in groupby(sorted(active, key=pod_index), key=pod_index):
        pods = list(group)
        if index == UNKNOWN or index >= completions:
            remove += pods
            continue
        ordered = sorted(pods, key=active_pods_order)
        remove += ordered[:-1]
        left.append(ordered[-1])
    return remove, left


def _compare(a: Obj, b: Obj) -> int:
    """controller.ActivePods' Less as a comparison: negative when `a` goes first."""
    node_a, node_b = _node(a), _node(b)
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    for x, y in (
        (_PHASE_ORDINAL.get(phase(a), 0), _PHASE_ORDINAL.get(phase(b), 0)),
        (is_ready(a), is_ready(b)),
    ):
        if x != y:
            return -1 if x < y else 1
    if is_ready(a) and is_ready(b):
        by_ready = _later_or_zero_first(_ready_since(a), _ready_since(b))
        if by_ready:
            return by_ready
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    return _later_or_zero_first(created_at(a), created_at(b))


active_pods_order = functools.cmp_to_key(_compare)


def _later_or_zero_first(t1: float, t2: float) -> int:
    """afterOrZero: a zero time counts as the latest."""
    if t1 == t2:
        return 0
    if not t1 or not t2:
        return -1 if not t1 else 1
    return -1 if t1 > t2 else 1


def _node(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _ready_since(pod: Obj) -> float:
    cond = pod_condition(pod, "Ready") or {}
    return parse_time(cond.get("lastTransitionTime")) or 0.0


def _max_restarts(pod: Obj) -> int:
    """maxContainerRestarts: the app containers only."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)
