"""CronJob controller against an in-process API, time moved by hand.

The harness clock starts at 2023-11-14T22:13:20Z (1_700_000_000 s), so a
`* * * * *` CronJob made then is first due at 22:14:00, 40 s later; that
start's Job is `tick-28333334` (1_700_000_040 s / 60).
"""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness

from kubelite.apiserver import errors
from kubelite.controllers.cronjob import CronJobController
from kubelite.controllers.objects import timestamp

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]
KEY = "default/tick"
FIRST = "tick-28333334"  # the 22:14 start
SECOND = "tick-28333335"  # the 22:15 start


def make_cronjob(name: str = "tick", schedule: str = "* * * * *", **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": schedule,
            "timeZone": "UTC",
            "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "python:3.11"}],
                        }
                    }
                },
            },
            **spec,
        },
    }


async def setup(h: Harness, **spec: Any) -> CronJobController:
    ctrl = CronJobController(clock=h.clock)
    h.bind(ctrl)
    await h.client.create(make_cronjob(**spec))
    return ctrl


async def cronjob(h: Harness, name: str = "tick") -> Obj:
    return await h.client.get("batch/v1", "CronJob", name, "default")


async def jobs(h: Harness) -> list[str]:
    items, _ = await h.client.list("batch/v1", "Job", "default")
    return sorted(
        j["metadata"]["name"] for j in items if not j["metadata"].get("deletionTimestamp")
    )


async def finish(h: Harness, name: str, outcome: str = "Complete") -> None:
    """Play the Job controller: the Job ran from now and just ended."""
    now = timestamp(h.clock())
    status: Obj = {
        "startTime": now,
        "conditions": [{"type": outcome, "status": "True", "lastTransitionTime": now}],
    }
    if outcome == "Complete":
        status["completionTime"] = now
        status["succeeded"] = 1
    else:
        status["failed"] = 1
    await h.client.patch(
        "batch/v1", "Job", name, {"status": status}, "default", subresource="status"
    )


async def run_first(h: Harness, ctrl: CronJobController) -> None:
    assert await h.sync(ctrl, KEY) == pytest.approx(40.1)  # nothing due until 22:14
    h.clock.step(40.1)
    await h.sync(ctrl, KEY)


async def test_nothing_runs_before_the_first_start(h: Harness) -> None:
    ctrl = await setup(h)
    before = (await cronjob(h))["metadata"]["resourceVersion"]
    # requeued for 22:14:00 plus the 0.1 s pad, not polled
    assert await h.sync(ctrl, KEY) == pytest.approx(40.1)
    assert await jobs(h) == []
    # nothing changed, nothing written
    assert (await cronjob(h))["metadata"]["resourceVersion"] == before


async def test_the_due_start_creates_its_job(h: Harness) -> None:
    ctrl = await setup(h)
    await h.sync(ctrl, KEY)
    h.clock.step(40.1)
    after = await h.sync(ctrl, KEY)
    assert after == pytest.approx(60.0)  # 22:15:00.1 - 22:14:00.1
    job = await h.client.get("batch/v1", "Job", FIRST, "default")
    cj = await cronjob(h)
    md = job["metadata"]
    assert md["labels"]["app"] == "tick"
    assert md["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == (
        "2023-11-14T22:14:00Z"
    )
    assert md["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "tick",
            "uid": cj["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert cj["status"]["lastScheduleTime"] == "2023-11-14T22:14:00Z"
    assert [(r["kind"], r["name"], r["uid"]) for r in cj["status"]["active"]] == [
        ("Job", FIRST, md["uid"])
    ]
    assert await h.events("SuccessfulCreate") == [f"Created job {FIRST}"]


async def test_a_stale_cache_never_creates_a_start_twice(h: Harness) -> None:
    ctrl = await setup(h)
    await run_first(h, ctrl)
    # The caches have not seen the Job nor the status write: the same start
    # looks due again. The create meets AlreadyExists; the status write meets
    # the newer CronJob and the sync is retried.
    with pytest.raises(errors.Conflict):
        await ctrl.reconcile(KEY)
    await h.sync(ctrl, KEY)
    assert await jobs(h) == [FIRST]
    assert await h.events("SuccessfulCreate") == [f"Created job {FIRST}"]
    assert [r["name"] for r in (await cronjob(h))["status"]["active"]] == [FIRST]


async def test_a_finished_job_leaves_active_and_sets_last_success(h: Harness) -> None:
    ctrl = await setup(h)
    await run_first(h, ctrl)
    h.clock.step(5)
    await finish(h, FIRST)
    await h.sync(ctrl, KEY)
    status = (await cronjob(h))["status"]
    assert "active" not in status
    assert status["lastSuccessfulTime"] == "2023-11-14T22:14:05Z"
    assert await h.events("SawCompletedJob") == [f"Saw completed job: {FIRST}, status: Complete"]


async def test_forbid_skips_a_start_while_a_job_runs(h: Harness) -> None:
    ctrl = await setup(h, concurrencyPolicy="Forbid")
    await run_first(h, ctrl)
    h.clock.step(60)
    await h.sync(ctrl, KEY)
    assert await jobs(h) == [FIRST]
    assert await h.events("JobAlreadyActive") == [
        "Not starting job because prior execution is running and concurrency policy is Forbid"
    ]


async def test_replace_deletes_the_running_job_for_the_new_one(h: Harness) -> None:
    ctrl = await setup(h, concurrencyPolicy="Replace")
    await run_first(h, ctrl)
    h.clock.step(60)
    await h.sync(ctrl, KEY)
    assert await jobs(h) == [SECOND]
    assert await h.events("SuccessfulDelete") == [f"Deleted job {FIRST}"]
    assert [r["name"] for r in (await cronjob(h))["status"]["active"]] == [SECOND]


async def test_allow_runs_starts_side_by_side(h: Harness) -> None:
    ctrl = await setup(h)
    await run_first(h, ctrl)
    h.clock.step(60)
    await h.sync(ctrl, KEY)
    assert await jobs(h) == [FIRST, SECOND]
    assert [r["name"] for r in (await cronjob(h))["status"]["active"]] == [FIRST, SECOND]


async def test_history_limit_prunes_the_oldest_successes(h: Harness) -> None:
    ctrl = await setup(h, successfulJobsHistoryLimit=1)
    await run_first(h, ctrl)
    await finish(h, FIRST)
    h.clock.step(60)
    await h.sync(ctrl, KEY)  # 22:15 runs; one success kept
    await finish(h, SECOND)
    await h.sync(ctrl, KEY)  # two successes now: the 22:14 one goes
    assert await jobs(h) == [SECOND]
    assert await h.events("SuccessfulDelete") == [f"Deleted job {FIRST}"]


async def test_a_job_made_by_hand_is_unexpected(h: Harness) -> None:
    ctrl = await setup(h)
    await h.sync(ctrl, KEY)
    cj = await cronjob(h)
    manual = make_cronjob()["spec"]["jobTemplate"]
    await h.client.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "manual",
                "namespace": "default",
                "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "CronJob",
                        "name": "tick",
                        "uid": cj["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": manual["spec"],
        }
    )
    await h.sync(ctrl, KEY)
    assert await h.events("UnexpectedJob") == [
        "Saw a job that the controller did not create or forgot: manual"
    ]
    assert "active" not in (await cronjob(h)).get("status", {})


async def test_an_active_job_gone_missing_is_dropped(h: Harness) -> None:
    ctrl = await setup(h)
    await run_first(h, ctrl)
    await h.client.delete("batch/v1", "Job", FIRST, "default", propagation_policy="Background")
    await h.sync(ctrl, KEY)
    assert await h.events("MissingJob") == [f"Active job went missing: {FIRST}"]
    assert "active" not in (await cronjob(h))["status"]


async def test_suspend_stops_runs_and_resuming_runs_the_missed_start(h: Harness) -> None:
    ctrl = await setup(h, suspend=True)
    assert await h.sync(ctrl, KEY) is None  # nothing to wait for while suspended
    h.clock.step(40.1)
    assert await h.sync(ctrl, KEY) is None
    assert await jobs(h) == []
    await h.client.patch("batch/v1", "CronJob", "tick", {"spec": {"suspend": False}}, "default")
    h.clock.step(10)
    await h.sync(ctrl, KEY)
    # the 22:14 start was missed while suspended; with no deadline it still runs
    assert await jobs(h) == [FIRST]


async def drain_queue(ctrl: CronJobController) -> None:
    while len(ctrl.queue):
        ctrl.queue.done(await ctrl.queue.get())


async def test_a_schedule_change_waits_for_the_new_schedules_start(h: Harness) -> None:
    ctrl = await setup(h)
    await h.sync(ctrl, KEY)
    await drain_queue(ctrl)
    patch = {"spec": {"schedule": "0 * * * *"}}
    await h.client.patch("batch/v1", "CronJob", "tick", patch, "default")
    await h.informers.relist(h.client)
    # not synced now: the key waits for 23:00:00.1, the new schedule's start
    assert len(ctrl.queue) == 0
    await h.client.patch("batch/v1", "CronJob", "tick", {"spec": {"suspend": True}}, "default")
    await h.informers.relist(h.client)
    # any other change is looked at right away
    assert len(ctrl.queue) == 1
    ctrl.queue.close()
