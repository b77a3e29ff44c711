"""Status fields every object of a kind carries: those whose Go JSON tag has no `omitempty`.

kube-apiserver decodes each body into its Go type and encodes it back, so a
status field tagged without `omitempty` is on the wire even when nothing
set it: a ReplicaSet just created reads `status: {replicas: 0}`, before any
controller wrote its status. Clients generated from the OpenAPI document
(the official Python client among them) require these fields and refuse an
object without them. kubelite keeps objects as JSON, so defaulting fills
them in, on create and on every update (a status write that leaves one out
gets its zero value, as decoding into the struct would give it).

The table is read from k8s.io/api (v0.32) `*Status` structs: every
non-`omitempty` field of a kind's top-level status. Kinds whose status
fields are all `omitempty` (Deployment, Job, CronJob, ResourceQuota, ...)
are not listed.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

# (apiVersion, kind) -> {field: the value Go's zero value encodes to}.
ALWAYS_SERIALIZED: dict[tuple[str, str], dict[str, Any]] = {
    ("apps/v1", "ReplicaSet"): {"replicas": 0},
    ("apps/v1", "StatefulSet"): {"replicas": 0, "availableReplicas": 0},
    ("apps/v1", "DaemonSet"): {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    },
    ("v1", "ReplicationController"): {"replicas": 0},
    ("policy/v1", "PodDisruptionBudget"): {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    },
    # A nil slice without omitempty encodes as null.
    ("storage.k8s.io/v1", "VolumeAttachment"): {"attached": False},
    ("autoscaling/v2", "HorizontalPodAutoscaler"): {"desiredReplicas": 0, "currentMetrics": None},
}


def fill_status(obj: Obj) -> None:
    """Give `obj` (in place) the status fields its kind always serializes, if missing."""
    zeros = ALWAYS_SERIALIZED.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if zeros is None:
        return
    status = obj.get("status")
    if status is None:
        status = obj["status"] = {}
    if not isinstance(status, dict):
        return  # not an object: left for validation to refuse
    for field, zero in zeros.items():
        if zero is None:
            status.setdefault(field, None)
        elif status.get(field) is None:  # absent, or null (decoded as the zero value)
            status[field] = zero
