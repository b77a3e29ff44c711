"""RollingUpdate: which old pods to replace now (upstream's `rollingUpdate`).

maxUnavailable and maxSurge are numbers or percentages of the nodes that
should run the daemon, percentages rounded up (a DaemonSet never rounds an
update down to nothing). With maxSurge 0, old pods are deleted while the
count of unavailable nodes stays within maxUnavailable (an unavailable old
pod is always replaced) and the placement loop recreates them. With maxSurge
> 0, a new pod is started beside an old one on up to maxSurge nodes and the
old one goes once the new one is available. Nodes are visited by name so
decisions are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.controllers.objects import Obj, deleting, meta, pod_available


@dataclass
class Rollout:
    delete: list[str] = field(default_factory=list)  # pod names
    create_on: list[str] = field(default_factory=list)  # node names
    max_unavailable: int = 0
    max_surge: int = 0


def scaled_value(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent(value, total, roundUp=true)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value {text!r}: string is not a percentage")
    return math.ceil(int(text[:-1]) * total / 100)


def _rolling(ds: Obj) -> dict[str, Any] | None:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate")
    return rolling if isinstance(rolling, dict) else None


def surge_count(ds: Obj, desired: int) -> int:
    rolling = _rolling(ds)
    return 0 if rolling is None else scaled_value(rolling.get("maxSurge"), desired)


def unavailable_count(ds: Obj, desired: int) -> int:
    rolling = _rolling(ds)
    return 0 if rolling is None else scaled_value(rolling.get("maxUnavailable"), desired)


def allows_surge(ds: Obj) -> bool:
    """More than one pod may run on a node (a surging rolling update)."""
    try:
        return surge_count(ds, 1) > 0
    except ValueError:
        return False


def _updated_and_old(
    pods: list[Obj], is_new: Callable[[Obj], bool]
) -> tuple[Obj | None, Obj | None, bool]:
    """`findUpdatedPodsOnNode`: at most one new and one old live pod, else not ok."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if deleting(pod):
            continue
        if is_new(pod):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def plan(
    ds: Obj,
    node_pods: dict[str, list[Obj]],
    wanted_nodes: dict[str, bool],
    is_new: Callable[[Obj], bool],
    *,
    now: float,
) -> Rollout:
    """`wanted_nodes`: node name -> should run, for every node in the cluster."""
    desired = sum(wanted_nodes.values())
    pods_by_node = dict(node_pods)
    for name, wanted in wanted_nodes.items():
        if wanted:
            pods_by_node.setdefault(name, [])
    out = Rollout(
        max_unavailable=unavailable_count(ds, desired), max_surge=surge_count(ds, desired)
    )
    if desired > 0 and out.max_unavailable == 0 and out.max_surge == 0:
        out.max_unavailable = 1  # an impossible configuration: accept unavailability
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return pod_available(pod, min_ready, now)

    if out.max_surge == 0:
        _without_surge(out, pods_by_node, is_new, available)
    else:
        _with_surge(out, pods_by_node, wanted_nodes, is_new, available, desired)
    return out


def _without_surge(
    out: Rollout,
    pods_by_node: dict[str, list[Obj]],
    is_new: Callable[[Obj], bool],
    available: Callable[[Obj], bool],
) -> None:
    unavailable = 0
    replace: list[str] = []
    candidates: list[str] = []
    for _name, pods in sorted(pods_by_node.items()):
        new, old, ok = _updated_and_old(pods, is_new)
        if not ok or (new is None) == (old is None):
            unavailable += 1  # the placement loop creates or prunes here first
        elif new is not None:
            unavailable += not available(new)
        elif old is not None and not available(old):
            replace.append(meta(old)["name"])
            unavailable += 1
        elif old is not None and unavailable < out.max_unavailable:
            candidates.append(meta(old)["name"])
    room = max(0, min(out.max_unavailable - unavailable, len(candidates)))
    out.delete = replace + candidates[:room]


def _with_surge(
    out: Rollout,
    pods_by_node: dict[str, list[Obj]],
    wanted_nodes: dict[str, bool],
    is_new: Callable[[Obj], bool],
    available: Callable[[Obj], bool],
    desired: int,
) -> None:
    surging = 0
    available_count = 0
    allowed: list[str] = []
    candidates: list[str] = []
    leaving: list[str] = []  # available old pods on nodes that no longer qualify
    for name, pods in sorted(pods_by_node.items()):
        new, old, ok = _updated_and_old(pods, is_new)
        if not ok:
            surging += 1
            continue
        shown = old if old is not None else new
        available_count += shown is not None and available(shown)
        if old is None:
            continue
        if new is None:
            if not wanted_nodes.get(name, False):
                (leaving if available(old) else out.delete).append(meta(old)["name"])
            elif not available(old):
                allowed.append(name)
            elif surging < out.max_surge:
                candidates.append(name)
        elif not available(new):
            surging += 1
        else:
            out.delete.append(meta(old)["name"])
    # Full availability is the point of surging: a pod on a node that no longer
    # qualifies goes only once enough pods elsewhere are available.
    deletable = min(max(0, available_count - desired), len(leaving))
    out.delete += leaving[:deletable]
    room = max(0, min(out.max_surge - surging, len(candidates)))
    out.create_on = allowed + candidates[:room]
