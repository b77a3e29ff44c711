"""CronJob schedules: what robfig/cron's ParseStandard accepts, its errors, next times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kubelite.api.cron import go_duration_seconds, parse

# Friday 27 November 2026, 08:03 UTC.
AFTER = datetime(2026, 11, 27, 8, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("*/5 * * * *", datetime(2026, 11, 27, 8, 5, tzinfo=UTC)),
        ("3 * * * *", datetime(2026, 11, 27, 9, 3, tzinfo=UTC)),  # strictly after
        ("0 0 * * 0", datetime(2026, 11, 29, tzinfo=UTC)),  # next Sunday
        ("0 9 * * mon-fri", datetime(2026, 11, 27, 9, tzinfo=UTC)),
        ("0 0 1 JAN *", datetime(2027, 1, 1, tzinfo=UTC)),
        ("@hourly", datetime(2026, 11, 27, 9, tzinfo=UTC)),
        ("@daily", datetime(2026, 11, 28, tzinfo=UTC)),
        ("@midnight", datetime(2026, 11, 28, tzinfo=UTC)),
        ("@weekly", datetime(2026, 11, 29, tzinfo=UTC)),
        ("@monthly", datetime(2026, 12, 1, tzinfo=UTC)),
        ("@yearly", datetime(2027, 1, 1, tzinfo=UTC)),
        ("@annually", datetime(2027, 1, 1, tzinfo=UTC)),
        ("10/20 * * * ?", datetime(2026, 11, 27, 8, 10, tzinfo=UTC)),  # 10-59/20
        ("@every 1h30m", datetime(2026, 11, 27, 9, 33, tzinfo=UTC)),
        # Both day fields restricted: either matches (the 1st, or a Monday).
        ("0 0 1 * mon", datetime(2026, 11, 30, tzinfo=UTC)),
    ],
)
def test_next(schedule: str, expected: datetime) -> None:
    assert parse(schedule).next(AFTER) == expected


def test_next_in_the_time_zone_of_after() -> None:
    berlin = AFTER.astimezone(ZoneInfo("Europe/Berlin"))  # 09:03 there
    assert parse("0 9 * * *").next(berlin) == datetime(
        2026, 11, 28, 9, tzinfo=ZoneInfo("Europe/Berlin")
    )


def test_a_zone_in_the_schedule_wins() -> None:
    nxt = parse("CRON_TZ=America/New_York 0 9 * * *").next(AFTER)
    assert nxt == datetime(2026, 11, 27, 9, tzinfo=ZoneInfo("America/New_York"))


def test_times_a_daylight_saving_jump_skips_do_not_run() -> None:
    # 2027-03-28 02:30 does not exist in Berlin: the next run is a day later.
    after = datetime(2027, 3, 27, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    nxt = parse("30 2 * * *").next(after)
    assert nxt == datetime(2027, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_date_that_never_comes() -> None:
    assert parse("0 0 30 2 *").next(AFTER) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "empty spec string"),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "too many slashes: 1/2/3"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("L * * * *", 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'),
        ("* * 1W * *", 'failed to parse int from 1W: strconv.Atoi: parsing "1W": invalid syntax'),
        (
            "* * * * 1#2",
            'failed to parse int from 1#2: strconv.Atoi: parsing "1#2": invalid syntax',
        ),
        ("@reboot", "unrecognized descriptor: @reboot"),
        ("@every", "unrecognized descriptor: @every"),
        (
            "@every 5x",
            'failed to parse duration @every 5x: time: unknown unit "x" in duration "5x"',
        ),
        ("TZ=Mars/Base * * * * *", "provided bad location Mars/Base: unknown time zone Mars/Base"),
    ],
)
def test_refused_as_upstream(schedule: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse(schedule)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("500ms", 0.5), ("0", 0.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration_seconds(text) == pytest.approx(seconds)


def test_every_is_at_least_one_second() -> None:
    assert parse("@every 10ms").next(AFTER) == AFTER.replace(second=1)


@pytest.mark.parametrize(
    ("schedule", "start", "expected"),
    [
        ("0 * * * *", "2026-11-01T04:00", ["05:00", "06:00", "07:00"]),  # 01:00 EDT, then EST
        ("30 1 * * *", "2026-10-31T12:00", ["05:30", "06:30", "11-02 06:30"]),
    ],
    ids=["hourly", "daily-in-the-repeated-hour"],
)
def test_a_repeated_hour_fires_on_both_passes(
    schedule: str, start: str, expected: list[str]
) -> None:
    """On the fall-back day the repeated wall-clock time fires twice, as upstream's
    cron library (stepping through absolute time) fires it."""
    spec = parse(f"TZ=America/New_York {schedule}")
    t = datetime.fromisoformat(start).replace(tzinfo=UTC)
    got = []
    for _ in range(3):
        t = spec.next(t)
        text = t.astimezone(UTC).strftime("%m-%d %H:%M")
        got.append(text[6:] if text.startswith("11-01") else text)
    assert got == expected
