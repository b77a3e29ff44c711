"""`status.active` and `status.lastSuccessfulTime`, brought in line with the Jobs.

A sync first folds what its Jobs did into the CronJob's status: a Job in the
active list that finished leaves it (`SawCompletedJob`), the latest
completion of a successful Job becomes `lastSuccessfulTime` whether or not it
was listed. Two cases need the API's word before acting, so they are only
reported here: running Jobs the list does not name (created by someone else,
or by us just before a lost status write) and listed Jobs the cache no
longer has.
"""

from __future__ import annotations

from typing import Any

from kubelite.controllers.cronjob import notes
from kubelite.controllers.cronjob.jobs import COMPLETE, completion_time, finished_condition
from kubelite.controllers.cronjob.notes import Note
from kubelite.controllers.objects import Obj, meta, parse_time


def active_refs(cronjob: Obj) -> list[dict[str, Any]]:
    return list((cronjob.get("status") or {}).get("active") or [])


def in_active(cronjob: Obj, uid: str | None) -> bool:
    return any(ref.get("uid") == uid for ref in active_refs(cronjob))


def in_active_by_name(cronjob: Obj, name: str) -> bool:
    ns = meta(cronjob).get("namespace")
    return any(
        ref.get("name") == name and ref.get("namespace") == ns for ref in active_refs(cronjob)
    )


def remove_active(cronjob: Obj, uid: str | None) -> None:
    status = cronjob.setdefault("status", {})
    status["active"] = [ref for ref in active_refs(cronjob) if ref.get("uid") != uid]


def unlisted_running(cronjob: Obj, jobs: list[Obj]) -> list[Obj]:
    """Running Jobs of this CronJob that its active list does not name."""
    return [
        j
        for j in jobs
        if finished_condition(j) is None and not in_active(cronjob, meta(j).get("uid"))
    ]


def fold_finished(cronjob: Obj, jobs: list[Obj]) -> list[Note]:
    """Drop finished Jobs from the active list, track the latest success.

    Changes `cronjob` (a copy) in place.
    """
    out = []
    status = cronjob.setdefault("status", {})
    for job in jobs:
        outcome = finished_condition(job)
        if outcome is None:
            continue
        uid = meta(job).get("uid")
        if in_active(cronjob, uid):
            remove_active(cronjob, uid)
            out.append(notes.saw_completed_job(meta(job)["name"], outcome))
        done = completion_time(job)
        if outcome != COMPLETE or done is None:
            continue
        last = parse_time(status.get("lastSuccessfulTime"))
        if last is None or done > last:
            status["lastSuccessfulTime"] = job["status"]["completionTime"]
    return out


def dangling_refs(cronjob: Obj, jobs: list[Obj]) -> list[dict[str, Any]]:
    """Active-list entries whose Job the cache does not hold."""
    uids = {meta(j).get("uid") for j in jobs}
    return [ref for ref in active_refs(cronjob) if ref.get("uid") not in uids]
