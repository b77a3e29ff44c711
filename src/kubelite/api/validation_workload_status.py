"""Status writes of the workload kinds, as apps and batch validation check them.

A `/status` write is a controller's report; upstream refuses one that cannot be
true (a negative count, more ready replicas than replicas, a collision count
going back) so a buggy or foreign controller cannot publish nonsense that
`kubectl rollout status` or an autoscaler would then act on.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.fielderrors import FieldError, invalid, required
from kubelite.api.validation_meta import _d, _i, child, nonnegative, validate_object_meta_update
from kubelite.api.validation_replicationcontroller import (
    validate_replication_controller_status_update,
)

Obj = dict[str, Any]
Errs = list[FieldError]
NOT_ABOVE_REPLICAS = "cannot be greater than status.replicas"


def _counts(status: Obj, fields: tuple[str, ...], path: str) -> tuple[dict[str, int], Errs]:
    counts = {f: _i(status, f) for f in fields}
    errs: Errs = []
    for name, value in counts.items():
        errs += nonnegative(value, child(path, name))
    return counts, errs


def _not_above(counts: dict[str, int], fields: tuple[str, ...], path: str) -> Errs:
    return [
        invalid(child(path, f), counts[f], NOT_ABOVE_REPLICAS)
        for f in fields
        if counts[f] > counts["replicas"]
    ]


def _collision_count(status: Obj, old_status: Obj, path: str) -> Errs:
    """Non-negative when set, and never decremented (IsDecremented: a set count may
    not go down or be unset)."""
    errs: Errs = []
    new, old = status.get("collisionCount"), old_status.get("collisionCount")
    if isinstance(new, int):
        errs += nonnegative(new, child(path, "collisionCount"))
    if isinstance(old, int) and (not isinstance(new, int) or new < old):
        value = new if isinstance(new, int) else 0
        errs.append(invalid(child(path, "collisionCount"), value, "cannot be decremented"))
    return errs


def _replica_status(
    new: Obj, old: Obj, fields: tuple[str, ...], bounded: tuple[str, ...], ready_word: str
) -> tuple[Obj, Errs]:
    """The shape apps validation shares: non-negative counts, none above `replicas`,
    no more available than ready."""
    status, path = _d(new, "status"), "status"
    counts, errs = _counts(status, fields, path)
    errs = validate_object_meta_update(new, old) + errs + _not_above(counts, bounded, path)
    if counts["availableReplicas"] > counts["readyReplicas"]:
        errs.append(invalid(child(path, "availableReplicas"), counts["availableReplicas"],
                            f"cannot be greater than {ready_word}"))  # fmt: skip
    return status, errs


def validate_deployment_status_update(new: Obj, old: Obj) -> Errs:
    fields = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
              "availableReplicas", "unavailableReplicas")  # fmt: skip
    bounded = ("updatedReplicas", "readyReplicas", "availableReplicas")
    status, errs = _replica_status(new, old, fields, bounded, "readyReplicas")
    return errs + _collision_count(status, _d(old, "status"), "status")


# A ReplicaSet's status has the ReplicationController's fields and rules.
validate_replica_set_status_update = validate_replication_controller_status_update


def validate_stateful_set_status_update(new: Obj, old: Obj) -> Errs:
    fields = ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas",
              "availableReplicas", "observedGeneration")  # fmt: skip
    bounded = ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas")
    status, errs = _replica_status(new, old, fields, bounded, "status.readyReplicas")
    return errs + _collision_count(status, _d(old, "status"), "status")


def validate_daemon_set_status_update(new: Obj, old: Obj) -> Errs:
    status, path = _d(new, "status"), "status"
    fields = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
              "numberReady", "observedGeneration", "updatedNumberScheduled", "numberAvailable",
              "numberUnavailable")  # fmt: skip
    _, errs = _counts(status, fields, path)
    errs = validate_object_meta_update(new, old) + errs
    return errs + _collision_count(status, _d(old, "status"), path)


def validate_job_status_counts(new: Obj) -> Errs:
    """The counters every Job status write keeps non-negative (validateJobStatus)."""
    status, path = _d(new, "status"), "status"
    _, errs = _counts(status, ("active", "succeeded", "failed"), path)
    for optional in ("ready", "terminating"):
        if isinstance(status.get(optional), int):
            errs += nonnegative(status[optional], child(path, optional))
    return errs


def _condition_true(status: Obj, kind: str) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def validate_job_status_transitions(new: Obj, old: Obj) -> Errs:
    """What a status write that finishes a Job must carry (1.32's JobManagedBy rules,
    checked when the verdict or the time changes, so old objects keep working)."""
    status, old_status = _d(new, "status"), _d(old, "status")
    errs: Errs = []
    complete, was_complete = (
        _condition_true(status, "Complete"),
        _condition_true(old_status, "Complete"),
    )
    finished = complete or _condition_true(status, "Failed")
    was_finished = was_complete or _condition_true(old_status, "Failed")
    completion_changed = status.get("completionTime") != old_status.get("completionTime")
    if (
        complete
        and not status.get("completionTime")
        and (complete != was_complete or completion_changed)
    ):
        errs.append(
            required("status.completionTime", "completionTime is required for Complete jobs")
        )
    start_changed = status.get("startTime") != old_status.get("startTime")
    if finished and not status.get("startTime") and (finished != was_finished or start_changed):
        errs.append(required("status.startTime", "startTime is required for finished job"))
    return errs


__all__ = [
    "validate_daemon_set_status_update",
    "validate_deployment_status_update",
    "validate_job_status_counts",
    "validate_job_status_transitions",
    "validate_replica_set_status_update",
    "validate_stateful_set_status_update",
]
