"""Jobs as a CronJob sees them: the Job made for a start, and how a Job ended.

The Job for a start is named after the start (`schedule.job_name`), so
creating it twice is an AlreadyExists, never a second run. It carries the
template's labels and annotations, a controller ownerReference, and (as
1.32's CronJobsScheduledAnnotation) the start time in RFC 3339, read in the
CronJob's time zone (UTC when it names none).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from kubelite.controllers.cronjob.schedule import job_name
from kubelite.controllers.objects import Obj, copy, meta, owner_ref_for, parse_time

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
COMPLETE = "Complete"
FAILED = "Failed"


def job_from_template(cronjob: Obj, scheduled: datetime, zone: tzinfo) -> Obj:
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations: dict[str, str] = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = rfc3339(scheduled.astimezone(zone))
    md: dict[str, Any] = {
        "name": job_name(meta(cronjob)["name"], scheduled),
        "namespace": meta(cronjob).get("namespace"),
        "annotations": annotations,
        "ownerReferences": [owner_ref_for(cronjob)],
    }
    if tmeta.get("labels"):
        md["labels"] = dict(tmeta["labels"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": md,
        "spec": copy(template.get("spec") or {}),
    }


def rfc3339(when: datetime) -> str:
    """Go's time.RFC3339: whole seconds, `Z` for UTC, else the numeric offset."""
    text = when.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def finished_condition(job: Obj) -> str | None:
    """`Complete` or `Failed` once the Job has ended, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in (COMPLETE, FAILED) and cond.get("status") == "True":
            return str(cond["type"])
    return None


def object_reference(job: Obj) -> dict[str, Any]:
    """The ObjectReference `status.active` lists, as `ref.GetReference` fills it."""
    md = meta(job)
    ref = {
        "kind": "Job",
        "namespace": md.get("namespace"),
        "name": md.get("name"),
        "uid": md.get("uid"),
        "apiVersion": "batch/v1",
        "resourceVersion": md.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


def start_order(job: Obj) -> tuple[bool, float, str]:
    """Oldest first by `status.startTime`; never-started Jobs last; ties by name."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    return (started is None, started or 0.0, str(meta(job).get("name")))


def completion_time(job: Obj) -> float | None:
    return parse_time((job.get("status") or {}).get("completionTime"))
