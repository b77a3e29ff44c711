"""Cron schedules as CronJobs read them: the standard five-field syntax.

Upstream validates and runs `spec.schedule` with robfig/cron's ParseStandard,
so this accepts what it accepts and refuses the rest with its wording (which
ends up in the API's 422): five fields (minute, hour, day of month, month,
day of week), `*` and `?`, lists, ranges, steps (`N/s` means `N-max/s`),
month and weekday names, the descriptors `@yearly` `@annually` `@monthly`
`@weekly` `@daily` `@midnight` `@hourly` and `@every <duration>`, and a
leading `TZ=zone` or `CRON_TZ=zone`. No seconds field, no `L`, `W` or `#`,
and day of week 7 is out of range, as there.

    schedule = parse("*/5 * * * *")
    schedule.next(datetime.now(ZoneInfo("Europe/Berlin")))

`next(after)` works in `after`'s time zone (it must be aware) unless the
schedule names its own zone; pass the CronJob's `spec.timeZone` in that way.
It returns the first activation strictly after `after`, or None when there
is none within five years (`0 0 30 2 *`). Like cron, a day matches when
both day fields match, or either one when both are restricted (neither is
`*` or `?`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["EverySchedule", "Schedule", "SpecSchedule", "parse"]

_SEARCH_YEARS = 5


class Schedule(Protocol):
    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after `after` (an aware datetime)."""
        ...


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int]


_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (
    _Bounds(0, 59, {}),  # minute
    _Bounds(0, 23, {}),  # hour
    _Bounds(1, 31, {}),  # day of month
    _Bounds(1, 12, _MONTHS),
    _Bounds(0, 6, _DAYS),  # day of week
)
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class _Field:
    values: frozenset[int]
    star: bool  # `*` or `?` with no step: matters only for the day fields


@dataclass(frozen=True)
class SpecSchedule:
    """A five-field schedule."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: _Field
    months: frozenset[int]
    dow: _Field
    tz: tzinfo | None = None

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.dom.values
        dow = (day.isoweekday() % 7) in self.dow.values
        if self.dom.star or self.dow.star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime) -> datetime | None:
        if after.tzinfo is None:
            raise ValueError("after must be an aware datetime")
        zone = self.tz or after.tzinfo
        local = after.astimezone(zone)
        day = local.date()
        for _ in range(_SEARCH_YEARS * 366 + 1):
            if self._day_matches(day):
                hit = self._first_on(day, zone, after)
                if hit is not None:
                    return hit
            day += timedelta(days=1)
        return None

    def _first_on(self, day: date, zone: tzinfo, after: datetime) -> datetime | None:
        if _falls_back(day, zone):
            return self._first_on_fall_back_day(day, zone, after)
        for hour in self.hours:
            for minute in self.minutes:
                candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                if not _exists(candidate):
                    continue  # skipped by a daylight-saving jump
                if candidate > after:
                    return candidate
        return None

    def _first_on_fall_back_day(self, day: date, zone: tzinfo, after: datetime) -> datetime | None:
        """A repeated wall-clock time fires on both passes, as upstream's cron library
        steps through absolute time: the earliest of every match, both folds counted."""
        found: datetime | None = None
        limit = after.astimezone(UTC)
        for hour in self.hours:
            for minute in self.minutes:
                for fold in (0, 1):
                    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    instant = wall.replace(fold=fold).astimezone(UTC)
                    if instant > limit and (found is None or instant < found):
                        found = instant
        return None if found is None else found.astimezone(zone)


def _falls_back(day: date, zone: tzinfo) -> bool:
    """Whether the clocks go back during `day` in `zone` (some wall times repeat)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + timedelta(days=1)
    before, later = start.utcoffset(), end.utcoffset()
    return before is not None and later is not None and later < before


def _exists(moment: datetime) -> bool:
    """False for a wall-clock time a daylight-saving jump skips."""
    back = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return back.replace(tzinfo=None) == moment.replace(tzinfo=None)


@dataclass(frozen=True)
class EverySchedule:
    """`@every <duration>`: a fixed delay, whole seconds, at least one."""

    seconds: int

    def next(self, after: datetime) -> datetime | None:
        return after.replace(microsecond=0) + timedelta(seconds=self.seconds)


def parse(schedule: str) -> SpecSchedule | EverySchedule:
    """Parse a CronJob schedule; ValueError carries upstream's message."""
    if not schedule:
        raise ValueError("empty spec string")
    tz: tzinfo | None = None
    if schedule.startswith(("TZ=", "CRON_TZ=")):
        head, _, schedule = schedule.partition(" ")
        zone_name = head.split("=", 1)[1]
        tz = _load_zone(zone_name, head)
        schedule = schedule.strip()
    if schedule.startswith("@"):
        return _descriptor(schedule, tz)
    fields = schedule.split()
    if len(fields) != 5:
        shown = "[" + " ".join(fields) + "]"
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {shown}")
    parsed = [_field(text, bounds) for text, bounds in zip(fields, _FIELDS, strict=True)]
    minutes, hours, dom, months, dow = parsed
    return SpecSchedule(
        minutes=tuple(sorted(minutes.values)),
        hours=tuple(sorted(hours.values)),
        dom=dom,
        months=months.values,
        dow=dow,
        tz=tz,
    )


def _load_zone(name: str, head: str) -> tzinfo:
    if name in ("", "UTC"):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"provided bad location {name}: unknown time zone {name}") from None


def _descriptor(text: str, tz: tzinfo | None) -> SpecSchedule | EverySchedule:
    if text in _DESCRIPTORS:
        spec = parse(_DESCRIPTORS[text])
        assert isinstance(spec, SpecSchedule)
        return SpecSchedule(spec.minutes, spec.hours, spec.dom, spec.months, spec.dow, tz)
    if text.startswith("@every "):
        duration = text[len("@every ") :]
        try:
            seconds = go_duration_seconds(duration)
        except ValueError as err:
            raise ValueError(f"failed to parse duration {text}: {err}") from None
        return EverySchedule(max(1, int(seconds)))
    raise ValueError(f"unrecognized descriptor: {text}")


def _field(text: str, bounds: _Bounds) -> _Field:
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        part, part_star = _range(expr, bounds)
        values |= part
        star = star or part_star
    return _Field(frozenset(values), star)


def _range(expr: str, bounds: _Bounds) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = bounds.low, bounds.high, True
    else:
        start = _int_or_name(low_high[0], bounds.names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], bounds.names)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _non_negative_int(range_and_step[1])
        if single:
            end = bounds.high
        if step > 1:
            star = False
    else:
        raise ValueError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise ValueError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise ValueError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _int_or_name(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    return _non_negative_int(text)


_GO_INT = re.compile(r"[+-]?[0-9]+")


def _non_negative_int(text: str) -> int:
    if not _GO_INT.fullmatch(text):
        raise ValueError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    number = int(text)
    if number < 0:
        raise ValueError(f"negative number ({number}) not allowed: {text}")
    return number


_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def go_duration_seconds(text: str) -> float:
    """Go's time.ParseDuration ("1h30m", "90s", "1.5h"), in seconds."""
    quoted = f'"{text}"'
    body = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"time: invalid duration {quoted}")
    total, pos = 0.0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        number, unit = (m.group(1), m.group(2)) if m else ("", "")
        if not number or number == ".":
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {_go_quote(unit)} in duration {quoted}")
        total += float(number) * _UNITS[unit]
        pos = m.end() if m else len(body)
    return sign * total


def _go_quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'
