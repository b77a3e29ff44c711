"""Counting finished pods exactly once (upstream's trackJobStatusAndRemoveFinalizers).

`track` is the first step of a sync: which finished pods become "uncounted"
(recorded in `status.uncountedTerminatedPods` before anything else is
written) and which pods lose the tracking finalizer. `flush` is the last
step: uncounted pods whose finalizer is gone move to the counters. Both are
pure; the controller does the writes in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelite.controllers.job import indexes
from kubelite.controllers.job.pods import (
    PodFailureMatch,
    is_failed,
    match_failure_policy,
    phase,
    spec_of,
    tracked,
)
from kubelite.controllers.objects import Obj, deleting, meta

TERMINAL = ("Complete", "Failed")


def condition_true(status: dict[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or []
    )


def finished(job: Obj) -> bool:
    status = job.get("status") or {}
    return any(condition_true(status, kind) for kind in TERMINAL)


def uncounted(status: dict[str, Any]) -> tuple[list[str], list[str]]:
    unc = status.get("uncountedTerminatedPods") or {}
    return list(unc.get("succeeded") or []), list(unc.get("failed") or [])


@dataclass
class Tracking:
    succeeded: list[str]  # uncounted uids, old and new
    failed: list[str]
    completed_indexes: set[int]
    unfinalize: list[Obj] = field(default_factory=list)
    fail_job: PodFailureMatch | None = None
    changed: bool = False  # uncounted or completedIndexes grew: write before unfinalizing


def track(job: Obj, pods: list[Obj], removing: set[str]) -> Tracking:
    """Record newly finished pods as uncounted; choose the pods to unfinalize.

    `removing` holds uids whose finalizer removal was already sent but not
    yet seen in the cache: they must not be counted twice.
    """
    status = job.get("status") or {}
    succeeded, failed = uncounted(status)
    completions = int(spec_of(job).get("completions") or 0)
    indexed = spec_of(job).get("completionMode") == "Indexed"
    done = indexes.parse(str(status.get("completedIndexes") or ""), completions)
    out = Tracking(succeeded, failed, set(done))
    seen = set(succeeded) | set(failed)
    job_gone = finished(job) or deleting(job)
    for pod in pods:
        uid = str(meta(pod).get("uid"))
        if not tracked(pod) or uid in removing:
            continue
        if uid in seen or job_gone:
            out.unfinalize.append(pod)
            continue
        if phase(pod) == "Succeeded":
            _count_success(out, pod, uid, indexed=indexed, completions=completions)
        elif is_failed(pod, job):
            match = match_failure_policy(job, pod)
            if match is None or match.action != "Ignore":
                out.failed.append(uid)
                out.changed = True
            if match is not None and match.action == "FailJob" and out.fail_job is None:
                out.fail_job = match
        else:
            continue
        out.unfinalize.append(pod)
    return out


def _count_success(out: Tracking, pod: Obj, uid: str, *, indexed: bool, completions: int) -> None:
    if not indexed:
        out.succeeded.append(uid)
        out.changed = True
        return
    index = indexes.pod_index(pod)
    if 0 <= index < completions:
        # Counted through completedIndexes: a second success of an index adds nothing.
        out.succeeded.append(uid)
        out.completed_indexes.add(index)
        out.changed = True


def uncounted_status(status: dict[str, Any], t: Tracking, *, indexed: bool) -> dict[str, Any]:
    """The status to write before any finalizer is removed."""
    new = dict(status)
    new["uncountedTerminatedPods"] = _uncounted_wire(t.succeeded, t.failed)
    if indexed:
        new["completedIndexes"] = indexes.format_indexes(t.completed_indexes)
    return new


def _uncounted_wire(succeeded: list[str], failed: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if succeeded:
        out["succeeded"] = succeeded
    if failed:
        out["failed"] = failed
    return out


@dataclass(frozen=True)
class Flushed:
    succeeded: int
    failed: int


def flush(
    status: dict[str, Any], t: Tracking, settled: set[str], *, indexed: bool
) -> tuple[dict[str, Any], Flushed]:
    """Move uncounted pods in `settled` (finalizer gone, or pod gone) to the counters."""
    new = dict(status)
    succeeded = [u for u in t.succeeded if u not in settled]
    failed = [u for u in t.failed if u not in settled]
    n_ok, n_failed = len(t.succeeded) - len(succeeded), len(t.failed) - len(failed)
    if indexed:
        new["completedIndexes"] = indexes.format_indexes(t.completed_indexes)
        new["succeeded"] = len(t.completed_indexes)
    else:
        new["succeeded"] = int(status.get("succeeded") or 0) + n_ok
    new["failed"] = int(status.get("failed") or 0) + n_failed
    new["uncountedTerminatedPods"] = _uncounted_wire(succeeded, failed)
    return new, Flushed(n_ok, n_failed)
