"""What a Job sync does once its pods are counted: pure decisions, no I/O.

As upstream's syncJob/manageJob for Kubernetes 1.32: a Job that meets its
success criteria or a failure cause first gets the interim condition
(`SuccessCriteriaMet`, or `FailureTarget` with the cause), its remaining
active pods are deleted, and only once no pod runs or terminates does it get
the terminal `Complete` or `Failed` condition (and the event). Failure
causes, in upstream's order: a podFailurePolicy FailJob rule, the backoff
limit (failed pods, or container restarts under restartPolicy OnFailure),
then activeDeadlineSeconds; success is an Indexed Job's successPolicy, or
its completions. A suspended Job keeps no active pods. Too many active pods
(or an Indexed Job's unusable ones) are deleted in upstream's order
(`removal`), and a sync that deletes creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelite.controllers.job import indexes, perindex
from kubelite.controllers.job.pods import (
    PodFailureMatch,
    is_active,
    is_ready,
    is_terminating,
    only_failed_replaced,
    restarts,
    spec_of,
)
from kubelite.controllers.job.removal import pods_for_removal
from kubelite.controllers.job.tracking import condition_true
from kubelite.controllers.objects import Obj, parse_time, timestamp

BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
POD_FAILURE_POLICY = "PodFailurePolicy"
SUCCESS_POLICY = "SuccessPolicy"
MAX_FAILED_INDEXES_EXCEEDED = (
    "MaxFailedIndexesExceeded",
    "Job has exceeded the specified maximal number of failed indexes",
)
FAILED_INDEXES = ("FailedIndexes", "Job has failed indexes")

Event = tuple[str, str, str]  # type, reason, message


@dataclass
class Decision:
    status: dict[str, Any]
    create: list[int | None] = field(default_factory=list)  # one entry per pod; its index
    delete: list[Obj] = field(default_factory=list)  # deleted, then counted as failed
    discard: list[Obj] = field(default_factory=list)  # untracked first: never counted
    # Backoff limit per index: (failures, ignored failures) to annotate new pods with.
    index_counts: dict[int, tuple[int, int]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    requeue: float | None = None


def condition(kind: str, status: str, reason: str, message: str, now: float) -> dict[str, Any]:
    ts = timestamp(now)
    return {
        "type": kind,
        "status": status,
        "lastProbeTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def _interim(status: dict[str, Any]) -> dict[str, Any] | None:
    for c in status.get("conditions") or []:
        if c.get("type") in ("FailureTarget", "SuccessCriteriaMet") and c.get("status") == "True":
            return dict(c)
    return None


def _set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """Add, or replace a condition of the same type (keeping its time if the status holds)."""
    conds = list(status.get("conditions") or [])
    for i, old in enumerate(conds):
        if old.get("type") == cond["type"]:
            if old.get("status") == cond["status"]:
                cond = {**cond, "lastTransitionTime": old.get("lastTransitionTime")}
            conds[i] = cond
            break
    else:
        conds.append(cond)
    status["conditions"] = conds


@dataclass(frozen=True)
class Inputs:
    job: Obj
    status: dict[str, Any]  # counters already flushed
    pods: list[Obj]
    now: float
    backoff_remaining: float = 0.0
    fail_job: PodFailureMatch | None = None
    can_manage: bool = True  # expectations met: the pod cache is trustworthy
    backoff_base_s: float = 10.0  # per-index replacement backoff
    backoff_max_s: float = 360.0


def decide(i: Inputs) -> Decision:
    status = dict(i.status)
    spec = spec_of(i.job)
    active = [p for p in i.pods if is_active(p)]
    d = Decision(status)
    suspended = spec.get("suspend") is True
    if status.get("startTime") is None and not suspended:
        status["startTime"] = timestamp(i.now)
    if perindex.per_index(i.job):
        failed = perindex.failed_indexes(i.job, status, perindex.index_states(i.job, i.pods))
        status["failedIndexes"] = indexes.format_indexes(failed)
    interim = _interim(status) or _new_interim(i, status, active)
    if interim is not None:
        _finish(i, d, interim, active)
    elif suspended:
        _suspend(i, d, active)
    else:
        _run(i, d, active)
    _set_counts(i, d)
    return d


def _succeeded(i: Inputs) -> int:
    unc = i.status.get("uncountedTerminatedPods") or {}
    return int(i.status.get("succeeded") or 0) + len(unc.get("succeeded") or [])


def _failed(i: Inputs) -> int:
    unc = i.status.get("uncountedTerminatedPods") or {}
    return int(i.status.get("failed") or 0) + len(unc.get("failed") or [])


def _completed_indexes(i: Inputs) -> set[int]:
    completions = int(spec_of(i.job).get("completions") or 0)
    return indexes.parse(str(i.status.get("completedIndexes") or ""), completions)


def _success_reached(i: Inputs, active: list[Obj]) -> bool:
    spec = spec_of(i.job)
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed":
        return len(_completed_indexes(i)) >= int(completions or 0)
    if completions is None:
        return _succeeded(i) > 0 and not active
    return _succeeded(i) >= int(completions)


def _past_backoff_limit(i: Inputs, active: list[Obj]) -> bool:
    spec = spec_of(i.job)
    configured = spec.get("backoffLimit")
    limit = 6 if configured is None else int(configured)
    if _failed(i) > limit:
        return True
    template_spec = (spec.get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    total = sum(restarts(p) for p in active)
    return total > 0 if limit == 0 else total >= limit


def _failed_indexes_cause(i: Inputs, status: dict[str, Any]) -> tuple[str, str, str] | None:
    if not perindex.per_index(i.job):
        return None
    spec = spec_of(i.job)
    completions = int(spec.get("completions") or 0)
    failed = indexes.parse(str(status.get("failedIndexes") or ""), completions)
    most = spec.get("maxFailedIndexes")
    if most is not None and len(failed) > int(most):
        return ("FailureTarget", *MAX_FAILED_INDEXES_EXCEEDED)
    if failed and len(failed) + len(_completed_indexes(i)) >= completions:
        return ("FailureTarget", *FAILED_INDEXES)
    return None


def _success_policy_rule(i: Inputs) -> int | None:
    """The first successPolicy rule the succeeded indexes meet (Indexed Jobs only)."""
    spec = spec_of(i.job)
    policy = spec.get("successPolicy")
    done = _completed_indexes(i)
    if not isinstance(policy, dict) or spec.get("completionMode") != "Indexed" or not done:
        return None
    completions = int(spec.get("completions") or 0)
    for n, rule in enumerate(policy.get("rules") or []):
        wanted_count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = indexes.parse(str(rule["succeededIndexes"]), completions)
            if not required:
                continue
            hits = len(required & done)
            if (wanted_count is None and hits == len(required)) or (
                wanted_count is not None and hits >= int(wanted_count)
            ):
                return n
        elif wanted_count is not None and len(done) >= int(wanted_count):
            return n
    return None


def deadline_left(job: Obj, status: dict[str, Any], now: float) -> float | None:
    """Seconds until activeDeadlineSeconds runs out (<= 0: it has), None without one."""
    spec = spec_of(job)
    ads, start = spec.get("activeDeadlineSeconds"), parse_time(status.get("startTime"))
    if ads is None or start is None or spec.get("suspend") is True:
        return None
    return start + float(ads) - now


def _cause(i: Inputs, status: dict[str, Any], active: list[Obj]) -> tuple[str, str, str] | None:
    """The interim condition (type, reason, message) the Job has earned, if any."""
    if i.fail_job is not None:
        return ("FailureTarget", POD_FAILURE_POLICY, i.fail_job.message)
    if _past_backoff_limit(i, active):
        return ("FailureTarget", *BACKOFF_LIMIT_EXCEEDED)
    left = deadline_left(i.job, status, i.now)
    if left is not None and left <= 0:
        return ("FailureTarget", *DEADLINE_EXCEEDED)
    failed_indexes = _failed_indexes_cause(i, status)
    if failed_indexes is not None:
        return failed_indexes
    rule = _success_policy_rule(i)
    if rule is not None:
        return ("SuccessCriteriaMet", SUCCESS_POLICY, f"Matched rules at index {rule}")
    if _success_reached(i, active):
        return ("SuccessCriteriaMet", *COMPLETIONS_REACHED)
    return None


def _new_interim(i: Inputs, status: dict[str, Any], active: list[Obj]) -> dict[str, Any] | None:
    cause = _cause(i, status, active)
    if cause is None:
        return None
    cond = condition(cause[0], "True", cause[1], cause[2], i.now)
    _set_condition(status, cond)
    return cond


def _finish(i: Inputs, d: Decision, interim: dict[str, Any], active: list[Obj]) -> None:
    """Delete what still runs; once nothing runs or terminates, the terminal condition.

    Pods still running when the Job fails count as failed; surplus pods of a
    Job that met its success criteria are not counted at all.
    """
    if i.can_manage:
        if interim["type"] == "SuccessCriteriaMet":
            d.discard = list(active)
        else:
            d.delete = list(active)
    unc = d.status.get("uncountedTerminatedPods") or {}
    busy = active or any(is_terminating(p) for p in i.pods)
    if busy or unc.get("succeeded") or unc.get("failed"):
        return
    reason, message = str(interim.get("reason") or ""), str(interim.get("message") or "")
    if interim["type"] == "SuccessCriteriaMet":
        _set_condition(d.status, condition("Complete", "True", reason, message, i.now))
        d.status["completionTime"] = timestamp(i.now)
        d.events.append(("Normal", "Completed", "Job completed"))
    else:
        _set_condition(d.status, condition("Failed", "True", reason, message, i.now))
        d.events.append(("Warning", reason, message))


def _suspend(i: Inputs, d: Decision, active: list[Obj]) -> None:
    if i.can_manage:
        d.discard = list(active)  # a suspension is no failure
    if not condition_true(d.status, "Suspended"):
        _set_condition(
            d.status, condition("Suspended", "True", "JobSuspended", "Job suspended", i.now)
        )
        d.events.append(("Normal", "Suspended", "Job suspended"))


def _resume(i: Inputs, d: Decision) -> None:
    if condition_true(d.status, "Suspended"):
        _set_condition(
            d.status, condition("Suspended", "False", "JobResumed", "Job resumed", i.now)
        )
        # The deadline counts from the resumption, not from the first start.
        d.status["startTime"] = timestamp(i.now)
        d.events.append(("Normal", "Resumed", "Job resumed"))


def _want_active(i: Inputs, active: list[Obj]) -> int:
    spec = spec_of(i.job)
    parallelism = int(spec.get("parallelism") or 0)
    completions = spec.get("completions")
    if completions is None:
        return len(active) if _succeeded(i) > 0 else parallelism
    if spec.get("completionMode") == "Indexed":
        remaining = int(completions) - len(_completed_indexes(i))
    else:
        remaining = int(completions) - _succeeded(i)
    return max(0, min(parallelism, remaining))


def _run(i: Inputs, d: Decision, active: list[Obj]) -> None:
    _resume(i, d)
    left = deadline_left(i.job, d.status, i.now)
    if left is not None:
        d.requeue = max(left, 0.0)
    if not i.can_manage:
        return
    want = _want_active(i, active)
    d.discard = pods_for_removal(i.job, active, len(active) - want)
    if d.discard:
        return  # deletions first: this sync creates nothing, as upstream's manageJob
    # Under podReplacementPolicy Failed a terminating pod still holds its place,
    # but it is no reason to delete a running one.
    terminating = sum(1 for p in i.pods if is_terminating(p)) if only_failed_replaced(i.job) else 0
    diff = want - terminating - len(active)
    if diff > 0:
        if perindex.per_index(i.job):
            _create_per_index(i, d, active, diff)
        elif i.backoff_remaining > 0:
            d.requeue = _sooner(d.requeue, i.backoff_remaining)
        else:
            d.create = _new_indexes(i, active, diff)


def _sooner(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _create_per_index(i: Inputs, d: Decision, active: list[Obj], count: int) -> None:
    """Free indexes that are not failed, each after its own backoff."""
    states = perindex.index_states(i.job, i.pods)
    failed = indexes.parse(
        str(d.status.get("failedIndexes") or ""), int(spec_of(i.job).get("completions") or 0)
    )
    for index in _new_indexes(i, active, None):
        if len(d.create) == count:
            break
        if index is None or index in failed:
            continue
        state = states.get(index, perindex.IndexState())
        wait = perindex.creation_delay(state, base=i.backoff_base_s, cap=i.backoff_max_s, now=i.now)
        if wait > 0:
            d.requeue = _sooner(d.requeue, wait)
            continue
        d.create.append(index)
        d.index_counts[index] = (state.failures, state.ignored)


def _new_indexes(i: Inputs, active: list[Obj], count: int | None) -> list[int | None]:
    """`count` new pods' indexes (None when NonIndexed); every free index for None."""
    spec = spec_of(i.job)
    if spec.get("completionMode") != "Indexed":
        return [None] * int(count or 0)
    taken = _completed_indexes(i) | {indexes.pod_index(p) for p in active}
    free = [n for n in range(int(spec.get("completions") or 0)) if n not in taken]
    return list(free if count is None else free[:count])


def _set_counts(i: Inputs, d: Decision) -> None:
    active = [p for p in i.pods if is_active(p)]
    deleted = {id(p) for p in d.delete + d.discard}
    remaining = [p for p in active if id(p) not in deleted]
    d.status["active"] = len(remaining) + len(d.create)
    d.status["ready"] = sum(1 for p in remaining if is_ready(p))
    d.status["terminating"] = sum(1 for p in i.pods if is_terminating(p)) + len(deleted)
    if condition_true(d.status, "Complete") or condition_true(d.status, "Failed"):
        d.status["active"] = 0
        d.status["terminating"] = 0
    d.status.setdefault("uncountedTerminatedPods", {})
