"""Deployment arithmetic and bookkeeping, as upstream's deployment util.

Pure functions over wire dicts: surge and unavailability fenceposts (a
percentage of replicas, surge rounded up and unavailability down), the
pod-template-hash, revision and replica annotations, conditions, and the
replica counts summed over ReplicaSets. Kept free of I/O so the tables in
the tests can pin every rounding rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from kubelite.controllers.objects import (
    Obj,
    created_at,
    get_condition,
    meta,
    timestamp,
)
from kubelite.controllers.objects import annotations as annotations_of

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
POD_TEMPLATE_HASH = "pod-template-hash"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
MAX_REV_HISTORY_CHARS = 2000
# Annotations the deployment keeps to itself rather than copying onto its ReplicaSets.
_NOT_COPIED = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)

# Condition types and reasons, upstream's wording.
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_MAX_INT32 = 2**31 - 1


# ---- pod-template-hash -------------------------------------------------------------


def normalize(value: Any) -> Any:
    """Drop nulls and empty values, so equal templates compare and hash equal.

    A template read back from the API, edited by kubectl (`rollout undo`
    sends a ReplicaSet's template) or written by hand differs only in such
    empty fields; none of them changes what a pod runs.
    """
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def template_without_hash(template: Mapping[str, Any]) -> Any:
    t = normalize(template)
    labels = (t.get("metadata") or {}).get("labels") or {}
    if POD_TEMPLATE_HASH in labels:
        labels.pop(POD_TEMPLATE_HASH)
        if not labels:
            t["metadata"].pop("labels")
            if not t["metadata"]:
                t.pop("metadata")
    return t


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(template_without_hash(a) == template_without_hash(b))


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """`rand.SafeEncodeString`: map bytes onto an alphabet with no vowels."""
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in text.encode())


def compute_hash(template: Mapping[str, Any], collision_count: int | None) -> str:
    """FNV-32a of the template, then the collision count, printed and safe-encoded."""
    data = orjson.dumps(template_without_hash(template), option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    return safe_encode(str(fnv32a(data)))


# ---- surge and unavailability -------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """`intstr.GetScaledValueFromIntOrPercent`."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    percent = int(value[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def replicas(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas") or 0)


def is_rolling(d: Mapping[str, Any]) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get(
        "type", "RollingUpdate"
    ) == "RollingUpdate"


def fenceposts(d: Mapping[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; never both zero."""
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Mapping[str, Any]) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Mapping[str, Any]) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


# ---- counts over ReplicaSets -----------------------------------------------------------


def _status(rs: Mapping[str, Any], field: str) -> int:
    return int((rs.get("status") or {}).get(field) or 0)


def spec_replicas(rss: Iterable[Obj | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_replicas(rss: Iterable[Obj | None]) -> int:
    return sum(_status(rs, "replicas") for rs in rss if rs is not None)


def ready_replicas(rss: Iterable[Obj | None]) -> int:
    return sum(_status(rs, "readyReplicas") for rs in rss if rs is not None)


def available_replicas(rss: Iterable[Obj | None]) -> int:
    return sum(_status(rs, "availableReplicas") for rs in rss if rs is not None)


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first; ties broken by name (`ReplicaSetsByCreationTimestamp`)."""
    return sorted(rss, key=lambda rs: (created_at(rs), meta(rs)["name"]))


def revision(rs: Mapping[str, Any]) -> int:
    try:
        return int(annotations_of(rs).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


# ---- annotations -------------------------------------------------------------------


def _annotations(obj: Obj) -> dict[str, str]:
    md = obj.setdefault("metadata", {})
    if not isinstance(md.get("annotations"), dict):
        md["annotations"] = {}
    return md["annotations"]  # type: ignore[no-any-return]


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = _annotations(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """Copy the deployment's annotations and stamp the revision; True if anything changed."""
    ann = _annotations(rs)
    changed = False
    for key, value in annotations_of(d).items():
        if key not in _NOT_COPIED and ann.get(key) != value:
            ann[key] = value
            changed = True
    old = ann.get(REVISION, "")
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return changed
    if old_int < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old:
            history = ann.get(REVISION_HISTORY, "")
            ann[REVISION_HISTORY] = f"{history},{old}" if history else old
            while (
                len(ann[REVISION_HISTORY]) > MAX_REV_HISTORY_CHARS and "," in ann[REVISION_HISTORY]
            ):
                ann[REVISION_HISTORY] = ann[REVISION_HISTORY].split(",", 1)[1]
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def max_replicas_annotation(rs: Mapping[str, Any]) -> int | None:
    try:
        return int(annotations_of(rs)[MAX_REPLICAS])
    except (KeyError, ValueError):
        return None


def desired_replicas_annotation(rs: Mapping[str, Any]) -> int | None:
    try:
        return int(annotations_of(rs)[DESIRED_REPLICAS])
    except (KeyError, ValueError):
        return None


# ---- conditions ----------------------------------------------------------------------


def new_condition(kind: str, status: str, reason: str, message: str, now: float) -> dict[str, Any]:
    ts = timestamp(now)
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """Replace the condition of that type; keep lastTransitionTime while status holds."""
    current = get_condition(status, cond["type"])
    if (
        current is not None
        and current["status"] == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    if current is not None and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    others = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = [*others, cond]


def has_progress_deadline(d: Mapping[str, Any]) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and pds != _MAX_INT32


def complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = replicas(d)
    return (
        int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
        and int(status.get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0)
    )


def progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = d.get("status") or {}

    def n(s: Mapping[str, Any], f: str) -> int:
        return int(s.get(f) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (
        n(new, "updatedReplicas") > n(old, "updatedReplicas")
        or new_old < old_old
        or n(new, "readyReplicas") > n(old, "readyReplicas")
        or n(new, "availableReplicas") > n(old, "availableReplicas")
    )


def timed_out(d: Mapping[str, Any], status: Mapping[str, Any], now: float) -> bool:
    from kubelite.controllers.objects import parse_time

    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime")) or 0.0
    return since + int(d["spec"]["progressDeadlineSeconds"]) < now


def created_at_of(rs: Mapping[str, Any]) -> float:
    return created_at(rs)


def annotations_revision(rs: Mapping[str, Any]) -> str | None:
    return annotations_of(rs).get(REVISION)
