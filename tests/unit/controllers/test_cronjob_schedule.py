"""CronJob schedule math and sync decisions, as plain functions (no API, no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kubelite.controllers.cronjob.active import fold_finished, unlisted_running
from kubelite.controllers.cronjob.history import jobs_to_prune
from kubelite.controllers.cronjob.jobs import (
    SCHEDULED_TIMESTAMP_ANNOTATION,
    job_from_template,
    rfc3339,
)
from kubelite.controllers.cronjob.plan import plan_start, rfc1123z
from kubelite.controllers.cronjob.schedule import (
    Missed,
    ScheduleError,
    job_name,
    most_recent_schedule_time,
    next_schedule_delay,
    parse_schedule,
)
from kubelite.controllers.cronjob.zones import ZoneError, zone_of

Obj = dict[str, Any]
DAY = datetime(2026, 11, 27, tzinfo=UTC)  # a Friday
NY = ZoneInfo("America/New_York")


def utc(hour: int, minute: int = 0, second: float = 0, *, days: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hour, minutes=minute, seconds=second)


def stamp(when: datetime) -> str:
    return rfc3339(when)


def make_cronjob(
    schedule: str = "* * * * *",
    *,
    created: datetime | None = None,
    last: datetime | None = None,
    active: list[str] | None = None,
    **spec: Any,
) -> Obj:
    status: Obj = {}
    if last is not None:
        status["lastScheduleTime"] = stamp(last)
    if active:
        status["active"] = [
            {"kind": "Job", "namespace": "default", "name": n, "uid": f"uid-{n}"} for n in active
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "tick",
            "namespace": "default",
            "uid": "cj-uid",
            "creationTimestamp": stamp(created or utc(10, 0, 30)),
        },
        "spec": {
            "schedule": schedule,
            "timeZone": "UTC",
            "jobTemplate": {
                "metadata": {"labels": {"app": "tick"}, "annotations": {"team": "a"}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            },
            **spec,
        },
        "status": status,
    }


def make_job(
    name: str,
    outcome: str | None = None,
    *,
    started: datetime | None = None,
    done: datetime | None = None,
) -> Obj:
    status: Obj = {}
    if started is not None:
        status["startTime"] = stamp(started)
    if outcome is not None:
        status["conditions"] = [{"type": outcome, "status": "True"}]
    if done is not None:
        status["completionTime"] = stamp(done)
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "status": status,
    }


# ---- the most recent unmet start --------------------------------------------------------

RECENT_CASES = [
    # (schedule, created, last, deadline, now, expected start, expected missed)
    pytest.param(
        "* * * * *",
        utc(10, 0, 30),
        None,
        None,
        utc(10, 0, 59),
        None,
        Missed.NONE,
        id="next-start-not-yet-due",
    ),
    pytest.param(
        "* * * * *",
        utc(10, 0, 30),
        None,
        None,
        utc(10, 1),
        utc(10, 1),
        Missed.NONE,
        id="due-exactly-now",
    ),
    pytest.param(
        # 10:02 and 10:03 came since 10:01; only the latest runs.
        "* * * * *",
        utc(9),
        utc(10, 1),
        None,
        utc(10, 3, 10),
        utc(10, 3),
        Missed.FEW,
        id="missed-two-runs-latest",
    ),
    pytest.param(
        "0 * * * *",
        utc(10, 0, 30),
        None,
        None,
        utc(10, 30),
        None,
        Missed.NONE,
        id="hourly-created-after-the-hour",
    ),
    pytest.param(
        # 5 days of hourly starts: 120 > 100 missed, the latest (10:00 today) still runs.
        "0 * * * *",
        utc(10, days=-5),
        None,
        None,
        utc(10, 30),
        utc(10),
        Missed.MANY,
        id="too-many-missed",
    ),
    pytest.param(
        # the deadline moves the count's start to 10:03:10 - 200 s = 09:59:50:
        # 10:00..10:03 is 4 missed, not three days' worth.
        "* * * * *",
        utc(9, days=-3),
        utc(9, days=-3),
        200,
        utc(10, 3, 10),
        utc(10, 3),
        Missed.FEW,
        id="deadline-bounds-the-count",
    ),
    pytest.param(
        # 06:30, 10:30, 14:30 on weekdays. From Thursday 06:30 with a 4 h gap the
        # estimate is 32.5 h // 4 h + 1 = 9 missed; walking from Thursday 06:30
        # + 7 * 4 h = Friday 10:30 finds Friday 14:30.
        "30 6-16/4 * * 1-5",
        utc(0, days=-1),
        None,
        None,
        utc(15),
        utc(14, 30),
        Missed.FEW,
        id="irregular-schedule-walks-back",
    ),
    pytest.param(
        "@every 90s",
        utc(10),
        None,
        None,
        utc(10, 4),
        utc(10, 3),
        Missed.FEW,
        id="every-duration",
    ),
]


@pytest.mark.parametrize(
    ("text", "created", "last", "deadline", "now", "start", "missed"), RECENT_CASES
)
def test_most_recent_schedule_time(
    text: str,
    created: datetime,
    last: datetime | None,
    deadline: int | None,
    now: datetime,
    start: datetime | None,
    missed: Missed,
) -> None:
    schedule = parse_schedule(text, UTC)
    got = most_recent_schedule_time(
        schedule, now=now, created=created, last_scheduled=last, deadline_s=deadline
    )
    assert (got.most_recent, got.missed) == (start, missed)


def test_schedule_in_a_time_zone() -> None:
    # 09:00 in New York is 14:00 UTC in November (EST, -05:00).
    schedule = parse_schedule("0 9 * * *", NY)
    got = most_recent_schedule_time(schedule, now=utc(15), created=utc(0), last_scheduled=None)
    assert got.most_recent == utc(14)


def test_impossible_schedule_is_an_error() -> None:
    schedule = parse_schedule("59 23 31 2 *", UTC)
    with pytest.raises(ScheduleError, match="less than 1 second"):
        most_recent_schedule_time(schedule, now=utc(12), created=utc(0), last_scheduled=None)


@pytest.mark.parametrize(
    ("created", "last", "now", "delay"),
    [
        # created 10:00:30: the 10:01 start is 30 s away, plus the 0.1 s pad
        pytest.param(utc(10, 0, 30), None, utc(10, 0, 30), 30.1, id="first-start"),
        # just ran 10:01 (half a second late): the 10:02 start is 59.5 s away
        pytest.param(utc(10), utc(10, 1), utc(10, 1, 0.5), 59.6, id="after-a-run"),
        # missed starts since 10:01: wait for the next one after now (10:06)
        pytest.param(utc(10), utc(10, 1), utc(10, 5, 30), 30.1, id="missed-starts"),
    ],
)
def test_next_schedule_delay(
    created: datetime, last: datetime | None, now: datetime, delay: float
) -> None:
    schedule = parse_schedule("* * * * *", UTC)
    got = next_schedule_delay(schedule, now=now, created=created, last_scheduled=last)
    assert got == pytest.approx(delay)


def test_job_name_is_minutes_since_epoch() -> None:
    # 2026-11-27T10:01:00Z is 1_795_773_660 s = 29_929_561 minutes after the epoch
    assert job_name("tick", utc(10, 1)) == "tick-29929561"


def test_unknown_zone_has_gos_words() -> None:
    with pytest.raises(ZoneError, match="^unknown time zone Mars/Olympus$"):
        zone_of("Mars/Olympus")


# ---- the Job for a start -----------------------------------------------------------------


def test_job_from_template_names_owns_and_stamps() -> None:
    cj = make_cronjob(timeZone="America/New_York")
    job = job_from_template(cj, utc(14, 1), NY)
    md = job["metadata"]
    assert md["name"] == "tick-29929801"
    assert md["labels"] == {"app": "tick"}
    assert md["annotations"] == {
        "team": "a",
        SCHEDULED_TIMESTAMP_ANNOTATION: "2026-11-27T09:01:00-05:00",
    }
    assert md["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "tick",
            "uid": "cj-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"] == cj["spec"]["jobTemplate"]["spec"]


def test_scheduled_timestamp_in_utc_says_z() -> None:
    job = job_from_template(make_cronjob(), utc(10, 1), UTC)
    assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-11-27T10:01:00Z"


# ---- decisions ---------------------------------------------------------------------------


def reasons(plan: Any) -> list[str]:
    return [n.reason for n in plan.notes]


def test_plan_creates_the_due_start_and_requeues_for_the_next() -> None:
    plan = plan_start(make_cronjob(), now=utc(10, 1, 2), parse=parse_schedule)
    assert plan.start == utc(10, 1)
    assert plan.replace == []
    # the next start is 10:02, 58 s away (+0.1 s)
    assert plan.requeue_s == pytest.approx(58.1)


def test_plan_waits_when_the_start_already_ran() -> None:
    plan = plan_start(make_cronjob(last=utc(10, 1)), now=utc(10, 1, 30), parse=parse_schedule)
    assert plan.start is None
    assert plan.requeue_s == pytest.approx(30.1)


def test_plan_skips_a_start_whose_job_is_listed_active() -> None:
    cj = make_cronjob(active=[job_name("tick", utc(10, 1))])
    plan = plan_start(cj, now=utc(10, 1, 30), parse=parse_schedule)
    assert plan.start is None


def test_forbid_with_a_running_job_skips_the_start() -> None:
    cj = make_cronjob(last=utc(10, 1), active=["tick-old"], concurrencyPolicy="Forbid")
    plan = plan_start(cj, now=utc(10, 2, 1), parse=parse_schedule)
    assert plan.start is None
    assert [(n.reason, n.message) for n in plan.notes] == [
        (
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid",
        )
    ]
    assert plan.requeue_s == pytest.approx(59.1)


def test_replace_with_a_running_job_deletes_it_first() -> None:
    cj = make_cronjob(last=utc(10, 1), active=["tick-old"], concurrencyPolicy="Replace")
    plan = plan_start(cj, now=utc(10, 2, 1), parse=parse_schedule)
    assert plan.start == utc(10, 2)
    assert [r["name"] for r in plan.replace] == ["tick-old"]


def test_allow_runs_alongside() -> None:
    cj = make_cronjob(last=utc(10, 1), active=["tick-old"])
    plan = plan_start(cj, now=utc(10, 2, 1), parse=parse_schedule)
    assert (plan.start, plan.replace) == (utc(10, 2), [])


def test_a_start_older_than_the_deadline_is_skipped() -> None:
    # 10:02 is due, but only starts after 10:02:30 - 10 s are looked at: the
    # next one, 10:03, is the one to wait for (upstream's MissSchedule check
    # after this can then never fire, and does not here either).
    cj = make_cronjob(last=utc(10, 1), startingDeadlineSeconds=10)
    plan = plan_start(cj, now=utc(10, 2, 30), parse=parse_schedule)
    assert (plan.start, plan.notes) == (None, [])
    assert plan.requeue_s == pytest.approx(30.1)


def test_within_the_deadline_runs() -> None:
    cj = make_cronjob(last=utc(10, 1), startingDeadlineSeconds=60)
    plan = plan_start(cj, now=utc(10, 2, 30), parse=parse_schedule)
    assert plan.start == utc(10, 2)


def test_too_many_missed_warns_and_still_runs_the_latest() -> None:
    cj = make_cronjob("0 * * * *", created=utc(10, days=-5))
    plan = plan_start(cj, now=utc(10, 30), parse=parse_schedule)
    assert plan.start == utc(10)
    assert [(n.type, n.reason, n.message) for n in plan.notes] == [
        (
            "Warning",
            "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
            "or check clock skew",
        )
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"suspend": True}, [], id="suspended"),
        pytest.param(
            {"timeZone": "Mars/Olympus"},
            ['invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus'],
            id="unknown-zone",
        ),
        pytest.param(
            {"schedule": "61 * * * *"},
            ['unparseable schedule: "61 * * * *" : end of range (61) above maximum (59): 61'],
            id="unparseable",
        ),
        pytest.param(
            {"schedule": "0 0 31 2 *"},
            [
                "invalid schedule: 0 0 31 2 * : time difference between two schedules is less than 1 second"
            ],
            id="never-due",
        ),
    ],
)
def test_no_run_and_no_requeue(spec: Obj, expected: list[str]) -> None:
    cj = make_cronjob(**spec)
    plan = plan_start(cj, now=utc(12), parse=parse_schedule)
    assert (plan.start, plan.requeue_s) == (None, None)
    assert [n.message for n in plan.notes] == expected


def test_a_deleting_cronjob_starts_nothing() -> None:
    cj = make_cronjob()
    cj["metadata"]["deletionTimestamp"] = stamp(utc(10, 1))
    assert plan_start(cj, now=utc(10, 5), parse=parse_schedule).start is None


def test_rfc1123z_is_english_utc() -> None:
    assert rfc1123z(datetime(2026, 3, 1, 4, 5, 6, tzinfo=NY)) == "Sun, 01 Mar 2026 09:05:06 +0000"


# ---- status from the Jobs ------------------------------------------------------------------


def test_finished_active_job_leaves_the_list_and_sets_last_success() -> None:
    cj = make_cronjob(active=["a", "b", "c"])
    jobs = [
        make_job("a", "Complete", done=utc(10, 1, 5)),
        make_job("b", "Failed", done=utc(10, 1, 9)),
        make_job("c"),
        make_job("old", "Complete", done=utc(9, 1, 5)),  # not listed: counts for the time only
    ]
    said = fold_finished(cj, jobs)
    assert [r["name"] for r in cj["status"]["active"]] == ["c"]
    assert [n.message for n in said] == [
        "Saw completed job: a, status: Complete",
        "Saw completed job: b, status: Failed",
    ]
    assert cj["status"]["lastSuccessfulTime"] == "2026-11-27T10:01:05Z"


def test_last_success_only_moves_forward() -> None:
    cj = make_cronjob()
    cj["status"]["lastSuccessfulTime"] = stamp(utc(11))
    assert fold_finished(cj, [make_job("a", "Complete", done=utc(10))]) == []
    assert cj["status"]["lastSuccessfulTime"] == stamp(utc(11))


def test_running_jobs_the_list_does_not_name_are_reported() -> None:
    cj = make_cronjob(active=["a"])
    jobs = [make_job("a"), make_job("manual"), make_job("done", "Complete")]
    assert [j["metadata"]["name"] for j in unlisted_running(cj, jobs)] == ["manual"]


# ---- history ---------------------------------------------------------------------------------


def test_history_keeps_the_newest_of_each_outcome() -> None:
    cj = make_cronjob(successfulJobsHistoryLimit=2, failedJobsHistoryLimit=0)
    jobs = [
        make_job("s3", "Complete", started=utc(10, 3)),
        make_job("s1", "Complete", started=utc(10, 1)),
        make_job("s2", "Complete", started=utc(10, 2)),
        make_job("s0", "Complete"),  # never started: sorts last, so it is kept
        make_job("f1", "Failed", started=utc(10, 1)),
        make_job("run", started=utc(9)),  # running: never pruned
    ]
    # 4 successes, keep 2: the two oldest by start time go; the one failure goes.
    assert [j["metadata"]["name"] for j in jobs_to_prune(cj, jobs)] == ["s1", "s2", "f1"]


def test_history_without_limits_keeps_everything() -> None:
    cj = make_cronjob()
    jobs = [make_job(f"s{i}", "Complete", started=utc(10, i)) for i in range(5)]
    assert jobs_to_prune(cj, jobs) == []


def test_history_ties_on_start_time_go_by_name() -> None:
    cj = make_cronjob(successfulJobsHistoryLimit=1)
    jobs = [make_job(n, "Complete", started=utc(10)) for n in ("b", "c", "a")]
    assert [j["metadata"]["name"] for j in jobs_to_prune(cj, jobs)] == ["a", "b"]
