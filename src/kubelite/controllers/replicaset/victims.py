"""Which pods a ReplicaSet deletes first when it scales down.

Upstream's `ActivePodsWithRanks` order, earliest deleted first:
unassigned before assigned; Pending before Unknown before Running; not
ready before ready; lower `controller.kubernetes.io/pod-deletion-cost`
first; pods doubled up on a node with related pods first; ready for less
time first; more container restarts first; newer first. Ages are compared
in logarithmic buckets (LogarithmicScaleDown, on by default), so pods of
about the same age are picked by uid: scale-down stays fair without always
killing the very newest pod.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.controllers.objects import (
    Obj,
    created_at,
    meta,
    pod_condition,
    pod_ready,
)
from kubelite.controllers.objects import annotations as annotations_of

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True)
class Ranked:
    pod: Obj
    rank: int  # related pods on the same node


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int, *, now: float) -> list[Obj]:
    if count >= len(pods):
        return list(pods)
    on_node = Counter(
        p.get("spec", {}).get("nodeName") for p in related if p.get("spec", {}).get("nodeName")
    )
    ranked = [Ranked(p, on_node.get(p.get("spec", {}).get("nodeName"), 0)) for p in pods]
    ranked.sort(key=functools.cmp_to_key(lambda a, b: _compare(a, b, now)))
    return [r.pod for r in ranked[:count]]


def deletion_cost(pod: Mapping[str, Any]) -> int:
    value = annotations_of(pod).get(DELETION_COST)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _compare(a: Ranked, b: Ranked, now: float) -> int:
    """Negative when `a` goes first."""
    for c in (
        _unassigned_first(a.pod, b.pod),
        _by(_PHASE_ORDER.get(_phase(a.pod), 3), _PHASE_ORDER.get(_phase(b.pod), 3)),
        _by(pod_ready(a.pod), pod_ready(b.pod)),
        _by(deletion_cost(a.pod), deletion_cost(b.pod)),
        _by(b.rank, a.rank),
        _ready_time(a.pod, b.pod, now),
        _by(_restarts(b.pod), _restarts(a.pod)),
        _age(created_at(a.pod), created_at(b.pod), a.pod, b.pod, now),
    ):
        if c:
            return c
    return 0


def _by(x: Any, y: Any) -> int:
    return (x > y) - (x < y)


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _unassigned_first(a: Obj, b: Obj) -> int:
    na, nb = a.get("spec", {}).get("nodeName") or "", b.get("spec", {}).get("nodeName") or ""
    if na != nb and (not na or not nb):
        return -1 if not na else 1
    return 0


def _ready_since(pod: Obj) -> float | None:
    from kubelite.controllers.objects import parse_time

    cond = pod_condition(pod, "Ready")
    return parse_time(cond.get("lastTransitionTime")) if cond else None


def _ready_time(a: Obj, b: Obj, now: float) -> int:
    if not (pod_ready(a) and pod_ready(b)):
        return 0
    ta, tb = _ready_since(a), _ready_since(b)
    if ta == tb:
        return 0
    return _age(ta, tb, a, b, now)


def _age(ta: float | None, tb: float | None, a: Obj, b: Obj, now: float) -> int:
    """Newer (later, or unknown) first; equal log2 buckets fall back to uid order."""
    if ta == tb:
        return 0
    if not ta or not tb:
        return -1 if not ta else 1
    diff = _log_bucket(now - ta) - _log_bucket(now - tb)
    if diff == 0:
        return _by(meta(a).get("uid", ""), meta(b).get("uid", ""))
    return diff


def _log_bucket(age_s: float) -> int:
    ns = age_s * 1e9
    return int(math.log2(ns)) if ns > 0 else -1


def _restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)
