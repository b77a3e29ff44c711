"""A ReplicaSet's status, computed from the pods it controls.

`replicas` counts active pods, `fullyLabeledReplicas` those whose labels
match the template's, `readyReplicas` the Ready ones, `availableReplicas`
those Ready for minReadySeconds. A failed create or delete shows as the
`ReplicaFailure` condition until a later sync succeeds, as upstream.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.selectors import selector_from_set
from kubelite.controllers.objects import (
    Obj,
    copy,
    get_condition,
    labels,
    pod_available,
    pod_ready,
    remove_condition,
    timestamp,
)

REPLICA_FAILURE = "ReplicaFailure"
_FIELDS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def calculate_status(
    rs: Obj, pods: list[Obj], *, error: tuple[str, str] | None, now: float
) -> dict[str, Any]:
    """`error` is (reason, message) of a failed manageReplicas, or None."""
    spec = rs.get("spec") or {}
    status = copy(rs.get("status") or {})
    template_labels = selector_from_set(
        (spec.get("template") or {}).get("metadata", {}).get("labels")
    )
    min_ready = int(spec.get("minReadySeconds") or 0)
    status["replicas"] = len(pods)
    status["fullyLabeledReplicas"] = sum(1 for p in pods if template_labels.matches(labels(p)))
    status["readyReplicas"] = sum(1 for p in pods if pod_ready(p))
    status["availableReplicas"] = sum(1 for p in pods if pod_available(p, min_ready, now))
    failure = get_condition(status, REPLICA_FAILURE)
    if error is not None and failure is None:
        cond = {
            "type": REPLICA_FAILURE,
            "status": "True",
            "lastTransitionTime": timestamp(now),
            "reason": error[0],
            "message": error[1],
        }
        status["conditions"] = [*(status.get("conditions") or []), cond]
    elif error is None and failure is not None:
        remove_condition(status, REPLICA_FAILURE)
    return status


def status_changed(rs: Obj, status: dict[str, Any]) -> bool:
    old = rs.get("status") or {}
    generation = (rs.get("metadata") or {}).get("generation")
    if old.get("observedGeneration") != generation:
        return True
    if any(int(old.get(f) or 0) != int(status.get(f) or 0) for f in _FIELDS):
        return True
    return (old.get("conditions") or []) != (status.get("conditions") or [])


def wire_status(status: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty: zero counts are left out, `replicas` always stays."""
    out = {k: v for k, v in status.items() if v not in (0, None, []) or k == "replicas"}
    return out
