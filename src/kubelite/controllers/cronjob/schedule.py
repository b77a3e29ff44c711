"""When a CronJob should have run: the schedule arithmetic of a sync.

As upstream's `mostRecentScheduleTime`: the controller never walks every
missed start since the last one (a CronJob created years ago with a clock
gone wrong would eat the controller); it estimates how many were missed from
the gap between two consecutive starts, jumps close to `now`, and walks only
the last few. More than 100 missed starts is reported (`Missed.MANY`) but the
most recent one still runs. All times are aware datetimes; the schedule
decides which time zone its fields are read in.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from kubelite.api import cron
from kubelite.api.cron import Schedule

# Upstream pads every requeue by this much, so a timer firing a hair early
# (clock skew) still finds the start it was set for.
NEXT_SCHEDULE_DELTA_S = 0.1
TOO_MANY_MISSED = 100


class ScheduleError(ValueError):
    """A schedule that parses but cannot be run (February 31st)."""


_NEVER = "time difference between two schedules is less than 1 second"


@dataclass(frozen=True)
class ZonedSchedule:
    """A schedule read in a time zone, whatever zone the times handed to it are in."""

    inner: Schedule
    zone: tzinfo

    def next(self, after: datetime) -> datetime | None:
        return self.inner.next(after.astimezone(self.zone))


def parse_schedule(text: str, zone: tzinfo) -> ZonedSchedule:
    """`spec.schedule` read in `zone`; ValueError with the parser's words.

    A `TZ=`/`CRON_TZ=` prefix in the text wins over `zone`, as upstream.
    """
    return ZonedSchedule(cron.parse(text), zone)


class Missed(enum.Enum):
    NONE = "none"
    FEW = "few"
    MANY = "many"


@dataclass(frozen=True)
class RecentTime:
    """`earliest`: where counting started; `most_recent`: the start due, if any."""

    earliest: datetime
    most_recent: datetime | None
    missed: Missed


def at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def most_recent_schedule_time(
    schedule: Schedule,
    *,
    now: datetime,
    created: datetime,
    last_scheduled: datetime | None,
    deadline_s: int | None = None,
) -> RecentTime:
    """The latest start at or before `now` since the last one (or creation).

    With `deadline_s` (startingDeadlineSeconds), starts older than that are
    not looked at: the controller will never run them anyway.
    """
    earliest = last_scheduled if last_scheduled is not None else created
    if deadline_s is not None:
        earliest = max(earliest, now - timedelta(seconds=deadline_s))
    # A schedule such as "59 23 31 2 *" parses, yet its starts never come.
    t1 = schedule.next(earliest)
    if t1 is None:
        raise ScheduleError(_NEVER)
    if now < t1:
        return RecentTime(earliest, None, Missed.NONE)
    t2 = schedule.next(t1)
    if t2 is None:
        raise ScheduleError(_NEVER)
    if now < t2:
        return RecentTime(earliest, t1, Missed.NONE)
    interval = _round_seconds((t2 - t1).total_seconds())
    if interval < 1:
        raise ScheduleError(_NEVER)
    missed = int((now - t1).total_seconds()) // interval + 1
    # Start one interval before the estimate and let the schedule walk forward:
    # irregular schedules ("30 6-16/4 * * 1-5") are not evenly spaced.
    t = schedule.next(t1 + timedelta(seconds=(missed - 2) * interval))
    most_recent: datetime | None = None
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next(t)
    kind = Missed.MANY if missed > TOO_MANY_MISSED else Missed.FEW
    return RecentTime(earliest, most_recent, kind)


def next_schedule_delay(
    schedule: Schedule, *, now: datetime, created: datetime, last_scheduled: datetime | None
) -> float | None:
    """Seconds until the sync for the next start (`nextScheduleTimeDuration`).

    None when the schedule has no next start: nothing to wait for.
    """
    try:
        recent = most_recent_schedule_time(
            schedule, now=now, created=created, last_scheduled=last_scheduled
        )
    except ScheduleError:
        base = now
    else:
        if recent.most_recent is not None:
            base = recent.most_recent
        elif recent.missed is Missed.NONE:
            base = recent.earliest
        else:
            base = now
    due = schedule.next(base)
    if due is None:
        return None
    return (due - now).total_seconds() + NEXT_SCHEDULE_DELTA_S


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """`<cronjob>-<minutes since the epoch>`: one name per start, so a start runs once."""
    return f"{cronjob_name}-{math.floor(scheduled.timestamp()) // 60}"


def _round_seconds(seconds: float) -> int:
    """Go's Duration.Round(time.Second): halves away from zero."""
    return int(math.copysign(math.floor(abs(seconds) + 0.5), seconds))
