"""What a sync does about the schedule, decided without touching the API.

After the status is folded (`active.py`), one start may be due. `plan_start`
walks upstream's checks in upstream's order — deleting, bad time zone,
suspended, unparseable or impossible schedule, nothing due, too late
(startingDeadlineSeconds), already started, Forbid with a Job running — and
answers with a `Plan`: the events to record, the start to create a Job for
(if any), the running Jobs Replace deletes first, and when to look again.
A CronJob that cannot run until its spec changes gets no requeue: the update
event brings it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from kubelite.api.cron import Schedule
from kubelite.controllers.cronjob import notes
from kubelite.controllers.cronjob.active import active_refs, in_active_by_name
from kubelite.controllers.cronjob.notes import Note
from kubelite.controllers.cronjob.schedule import (
    Missed,
    ScheduleError,
    at,
    job_name,
    most_recent_schedule_time,
    next_schedule_delay,
)
from kubelite.controllers.cronjob.zones import ZoneError, zone_of
from kubelite.controllers.objects import Obj, created_at, deleting, meta, parse_time

FORBID = "Forbid"
REPLACE = "Replace"

Parser = Callable[[str, tzinfo], Schedule]


@dataclass(frozen=True)
class Plan:
    notes: list[Note] = field(default_factory=list)
    start: datetime | None = None
    replace: list[dict[str, Any]] = field(default_factory=list)
    requeue_s: float | None = None


def plan_start(cronjob: Obj, *, now: datetime, parse: Parser) -> Plan:
    if deleting(cronjob):
        return Plan()
    spec = cronjob.get("spec") or {}
    try:
        zone = zone_of(spec.get("timeZone"))
    except ZoneError as exc:
        return Plan([notes.unknown_time_zone(str(spec.get("timeZone")), str(exc))])
    if spec.get("suspend"):
        return Plan()
    text = str(spec.get("schedule") or "")
    said: list[Note] = []
    if "TZ" in text:
        said.append(notes.unsupported_schedule(text))
    try:
        schedule = parse(text, zone)
    except ValueError as exc:
        return Plan([*said, notes.unparseable_schedule(text, str(exc))])
    return _plan_with(cronjob, schedule, now=now, said=said)


def _plan_with(cronjob: Obj, schedule: Schedule, *, now: datetime, said: list[Note]) -> Plan:
    spec = cronjob.get("spec") or {}
    deadline = spec.get("startingDeadlineSeconds")
    created, last = schedule_bounds(cronjob)
    try:
        recent = most_recent_schedule_time(
            schedule, now=now, created=created, last_scheduled=last, deadline_s=deadline
        )
    except ScheduleError as exc:
        return Plan([*said, notes.invalid_schedule(str(spec.get("schedule")), str(exc))])

    def wait(*more: Note) -> Plan:
        delay = next_schedule_delay(schedule, now=now, created=created, last_scheduled=last)
        return Plan([*said, *more], requeue_s=delay)

    start = recent.most_recent
    if start is None:
        return wait()
    if recent.missed is Missed.MANY:
        said.append(notes.too_many_missed_times())
    # Upstream's check, kept as it is: the search above already starts at
    # now - deadline, so a start it finds is never this late.
    if deadline is not None and start + timedelta(seconds=int(deadline)) < now:
        return wait(notes.miss_schedule(rfc1123z(start)))
    if in_active_by_name(cronjob, job_name(meta(cronjob)["name"], start)) or (
        last is not None and last == start
    ):
        return wait()
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == FORBID and active_refs(cronjob):
        return wait(notes.job_already_active())
    replace = active_refs(cronjob) if policy == REPLACE else []
    after = next_schedule_delay(schedule, now=now, created=created, last_scheduled=start)
    return Plan(said, start=start, replace=replace, requeue_s=after)


def schedule_bounds(cronjob: Obj) -> tuple[datetime, datetime | None]:
    """(creationTimestamp, status.lastScheduleTime) as datetimes."""
    last = parse_time((cronjob.get("status") or {}).get("lastScheduleTime"))
    return at(created_at(cronjob)), (None if last is None else at(last))


def rfc1123z(when: datetime) -> str:
    """Go's time.RFC1123Z in UTC, as the MissSchedule event prints the start."""
    utc = at(when.timestamp())
    day, month = _DAYS[utc.weekday()], _MONTHS[utc.month - 1]
    return f"{day}, {utc.day:02d} {month} {utc.year} {utc:%H:%M:%S} +0000"


# English names whatever the process locale, as Go prints them.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
