"""The events a CronJob sync records, as values: reasons and words are upstream's.

Sync logic returns `Note`s instead of calling the recorder, so the decisions
stay plain functions a test can read back.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelite.controllers.events import NORMAL, WARNING


@dataclass(frozen=True)
class Note:
    type: str
    reason: str
    message: str


def successful_create(job: str) -> Note:
    return Note(NORMAL, "SuccessfulCreate", f"Created job {job}")


def failed_create(error: str) -> Note:
    return Note(WARNING, "FailedCreate", f"Error creating job: {error}")


def successful_delete(job: str) -> Note:
    return Note(NORMAL, "SuccessfulDelete", f"Deleted job {job}")


def failed_delete(error: str) -> Note:
    return Note(WARNING, "FailedDelete", f"Deleted job: {error}")


def failed_get(error: str) -> Note:
    return Note(WARNING, "FailedGet", f"Get job: {error}")


def saw_completed_job(job: str, outcome: str) -> Note:
    return Note(NORMAL, "SawCompletedJob", f"Saw completed job: {job}, status: {outcome}")


def unexpected_job(job: str) -> Note:
    return Note(
        WARNING, "UnexpectedJob", f"Saw a job that the controller did not create or forgot: {job}"
    )


def missing_job(job: str) -> Note:
    return Note(NORMAL, "MissingJob", f"Active job went missing: {job}")


def unknown_time_zone(zone: str, error: str) -> Note:
    return Note(WARNING, "UnknownTimeZone", f'invalid timeZone: "{zone}": {error}')


def unsupported_schedule(schedule: str) -> Note:
    return Note(
        WARNING,
        "UnsupportedSchedule",
        f'CRON_TZ or TZ used in schedule "{schedule}" is not officially supported, see '
        "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
    )


def unparseable_schedule(schedule: str, error: str) -> Note:
    return Note(WARNING, "UnparseableSchedule", f'unparseable schedule: "{schedule}" : {error}')


def invalid_schedule(schedule: str, error: str) -> Note:
    return Note(WARNING, "InvalidSchedule", f"invalid schedule: {schedule} : {error}")


def too_many_missed_times() -> Note:
    return Note(
        WARNING,
        "TooManyMissedTimes",
        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
        "or check clock skew",
    )


def miss_schedule(rfc1123z: str) -> Note:
    return Note(WARNING, "MissSchedule", f"Missed scheduled time to start a job: {rfc1123z}")


def job_already_active() -> Note:
    return Note(
        NORMAL,
        "JobAlreadyActive",
        "Not starting job because prior execution is running and concurrency policy is Forbid",
    )
