"""DaemonSet status: per-node counts, as upstream's `updateDaemonSetStatus`.

Each node that should run the daemon counts once toward desiredNumberScheduled;
if it has pods, toward currentNumberScheduled, and its oldest pod decides
whether it counts as ready, available (ready for minReadySeconds) and
updated. Pods on nodes that should not run the daemon are misscheduled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.controllers.daemonset.pods import oldest_first_key
from kubelite.controllers.objects import Obj, meta, pod_available, pod_ready

COUNTS = (
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "numberMisscheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
)
# Go's DaemonSetStatus serialises these even when zero; the rest are omitempty.
_ALWAYS = frozenset(
    {"currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"}
)


def counts(
    ds: Obj,
    wanted_nodes: dict[str, bool],
    node_pods: dict[str, list[Obj]],
    is_new: Callable[[Obj], bool],
    *,
    now: float,
) -> dict[str, int]:
    out = dict.fromkeys(COUNTS, 0)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    for name, should_run in wanted_nodes.items():
        pods = node_pods.get(name) or []
        if not should_run:
            out["numberMisscheduled"] += bool(pods)
            continue
        out["desiredNumberScheduled"] += 1
        if not pods:
            continue
        out["currentNumberScheduled"] += 1
        pod = min(pods, key=oldest_first_key)
        if pod_ready(pod):
            out["numberReady"] += 1
            out["numberAvailable"] += pod_available(pod, min_ready, now)
        out["updatedNumberScheduled"] += is_new(pod)
    out["numberUnavailable"] = out["desiredNumberScheduled"] - out["numberAvailable"]
    return out


def unchanged(ds: Obj, new_counts: dict[str, int]) -> bool:
    """storeDaemonSetStatus's test: same counts and the generation already observed."""
    status = ds.get("status") or {}
    if any(int(status.get(k) or 0) != v for k, v in new_counts.items()):
        return False
    return int(status.get("observedGeneration") or 0) >= int(meta(ds).get("generation") or 0)


def wire_status(
    old: dict[str, Any], new_counts: dict[str, int], observed_generation: int | None
) -> dict[str, Any]:
    """The status to write: the new counts over the old status (conditions and
    collisionCount kept), zero values omitted where Go omits them."""
    status = {k: v for k, v in old.items() if k not in COUNTS}
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    for k, v in new_counts.items():
        if v or k in _ALWAYS:
            status[k] = v
    return status
