"""Rollout progress: the Progressing condition and the progress deadline.

Progressing is True while replicas move (ReplicaSetUpdated), True with
NewReplicaSetAvailable once the rollout completes, and False with
ProgressDeadlineExceeded when nothing moved for progressDeadlineSeconds —
which is what makes `kubectl rollout status` fail. A stuck deployment is
looked at again when its deadline would pass, so the condition appears
without any other event.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.controllers.deployment import util as u
from kubelite.controllers.deployment.sync import Sync, status_equal
from kubelite.controllers.objects import Obj, get_condition, meta, parse_time, remove_condition


async def sync_rollout_status(
    s: Sync, all_rss: Sequence[Obj | None], new: Obj | None
) -> float | None:
    d = s.d
    status = s.calculate_status(all_rss, new)
    if not u.has_progress_deadline(d):
        remove_condition(status, u.PROGRESSING)
    current = get_condition(d.get("status") or {}, u.PROGRESSING)
    done = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current.get("reason") == u.NEW_RS_AVAILABLE
    )
    if u.has_progress_deadline(d) and not done:
        _set_progressing(s, status, new, current)
    failures = _replica_failures(all_rss, new)
    if failures:
        u.set_condition(status, failures)
    else:
        remove_condition(status, u.REPLICA_FAILURE)
    if status_equal(d.get("status") or {}, status):
        return requeue_stuck(d, status, s.now)
    await s.write_status(status)
    return None


def _set_progressing(
    s: Sync, status: dict[str, object], new: Obj | None, current: dict[str, object] | None
) -> None:
    d = s.d
    what = (
        f'ReplicaSet "{meta(new)["name"]}"'
        if new is not None
        else f'Deployment "{meta(d)["name"]}"'
    )
    if u.complete(d, status):
        msg = f"{what} has successfully progressed."
        u.set_condition(
            status, u.new_condition(u.PROGRESSING, "True", u.NEW_RS_AVAILABLE, msg, s.now)
        )
    elif u.progressing(d, status):
        msg = f"{what} is progressing."
        cond = u.new_condition(u.PROGRESSING, "True", u.RS_UPDATED, msg, s.now)
        if current is not None and current.get("status") == "True":
            cond["lastTransitionTime"] = current.get("lastTransitionTime")
        remove_condition(status, u.PROGRESSING)
        u.set_condition(status, cond)
    elif u.timed_out(d, status, s.now):
        msg = f"{what} has timed out progressing."
        u.set_condition(status, u.new_condition(u.PROGRESSING, "False", u.TIMED_OUT, msg, s.now))


def _replica_failures(all_rss: Sequence[Obj | None], new: Obj | None) -> dict[str, object] | None:
    """A ReplicaFailure on the new ReplicaSet (else any) shows on the deployment."""
    ordered = [new, *[rs for rs in all_rss if rs is not new]]
    for rs in ordered:
        if rs is None:
            continue
        cond = get_condition(rs.get("status") or {}, u.REPLICA_FAILURE)
        if cond is not None:
            return {
                "type": u.REPLICA_FAILURE,
                "status": cond.get("status"),
                "lastUpdateTime": cond.get("lastTransitionTime"),
                "lastTransitionTime": cond.get("lastTransitionTime"),
                "reason": cond.get("reason"),
                "message": cond.get("message"),
            }
    return None


def requeue_stuck(d: Obj, status: dict[str, object], now: float) -> float | None:
    """Seconds until the progress deadline would pass, for a rollout still under way."""
    if not u.has_progress_deadline(d):
        return None
    cond = get_condition(status, u.PROGRESSING)
    if cond is None or cond.get("reason") == u.NEW_RS_AVAILABLE or u.timed_out(d, status, now):
        return None
    if u.complete(d, status):
        return None
    since = parse_time(str(cond.get("lastUpdateTime") or "")) or now
    after = since + int(d["spec"]["progressDeadlineSeconds"]) - now
    # Just past the deadline, so the next sync sees it passed.
    return max(after, 0.0) + 0.01
