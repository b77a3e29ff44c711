"""CronJobs end to end: the real kubectl, real Jobs running real pods.

A schedule only comes due at a minute boundary, so the module waits for one
exactly once (the `ran` fixture: up to a minute): a `* * * * *` CronJob runs
while an identical suspended one, made at the same moment, must not. The
other tests need no boundary: a start already missed is made due at once by
writing an older `status.lastScheduleTime` (what a controller coming back
after a while would find).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# One minute boundary plus the Job's own run, with room for a loaded machine.
FIRST_RUN_TIMEOUT = 150.0


def cronjob(name: str, schedule: str = "* * * * *", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"app": name}, "annotations": {"team": "e2e"}},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "tick",
                                    "image": "python:3.11",
                                    "command": ["python", "-c", "print('tick')"],
                                }
                            ],
                        }
                    }
                },
            },
            **spec,
        },
    }


def apply(cluster: Cluster, ns: str, *objs: dict[str, Any]) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=body)


def jobs_of(cluster: Cluster, ns: str, owner: str) -> list[dict[str, Any]]:
    items = cluster.kubectl_json("get", "jobs", "-n", ns)["items"]
    return [
        j
        for j in items
        if any(
            r["kind"] == "CronJob" and r["name"] == owner
            for r in j["metadata"].get("ownerReferences") or []
        )
    ]


def get(cluster: Cluster, ns: str, what: str) -> dict[str, Any]:
    obj: dict[str, Any] = cluster.kubectl_json("get", what, "-n", ns)
    return obj


def complete(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


def table(text: str) -> list[dict[str, str]]:
    """kubectl's columns, cut where the header's names start (values hold spaces)."""
    header, *rows = text.splitlines()
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)?(?=\s{2,}|$)", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {n: row[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
        for row in rows
    ]


@dataclass
class Ran:
    ns: str
    job: dict[str, Any]


@pytest.fixture(scope="module")
def ran(cluster: Cluster) -> Iterator[Ran]:
    """`every-minute` has run once, and its Job completed; `paused` sat out the same start."""
    ns = "cron-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", ns)
    apply(
        cluster,
        ns,
        cronjob("every-minute"),
        cronjob("paused", suspend=True),
    )
    job = wait_for(
        lambda: jobs_of(cluster, ns, "every-minute"),
        "the first scheduled Job",
        timeout=FIRST_RUN_TIMEOUT,
    )[0]
    name = job["metadata"]["name"]
    done = wait_for(
        lambda: [
            j
            for j in jobs_of(cluster, ns, "every-minute")
            if j["metadata"]["name"] == name and complete(j)
        ],
        "the scheduled Job to complete",
        timeout=FIRST_RUN_TIMEOUT,
    )[0]
    yield Ran(ns, done)
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_the_scheduled_job_is_named_and_stamped_for_its_start(cluster: Cluster, ran: Ran) -> None:
    md = ran.job["metadata"]
    minutes = int(md["name"].removeprefix("every-minute-"))
    scheduled = datetime.fromisoformat(md["annotations"][SCHEDULED_AT])
    assert scheduled.second == 0
    assert int(scheduled.timestamp()) == minutes * 60
    assert md["labels"]["app"] == "every-minute"
    assert md["annotations"]["team"] == "e2e"
    cj = get(cluster, ran.ns, "cronjob/every-minute")
    assert [(r["kind"], r["uid"], r["controller"]) for r in md["ownerReferences"]] == [
        ("CronJob", cj["metadata"]["uid"], True)
    ]


def test_completion_sets_last_successful_time(cluster: Cluster, ran: Ran) -> None:
    def recorded() -> dict[str, Any] | None:
        status = get(cluster, ran.ns, "cronjob/every-minute").get("status") or {}
        return status if status.get("lastSuccessfulTime") else None

    status = wait_for(recorded, "status.lastSuccessfulTime")
    assert status["lastScheduleTime"]
    finished = datetime.fromisoformat(ran.job["status"]["completionTime"])
    assert datetime.fromisoformat(status["lastSuccessfulTime"]) >= finished


def test_the_run_is_an_event_on_the_cronjob(cluster: Cluster, ran: Ran) -> None:
    events = cluster.kubectl_json(
        "get",
        "events",
        "-n",
        ran.ns,
        "--field-selector",
        "involvedObject.kind=CronJob,involvedObject.name=every-minute",
    )["items"]
    created = [(e["type"], e["message"]) for e in events if e["reason"] == "SuccessfulCreate"]
    assert ("Normal", f"Created job {ran.job['metadata']['name']}") in created
    assert {e["source"]["component"] for e in events} == {"cronjob-controller"}


def test_a_suspended_cronjob_sat_out_the_start(cluster: Cluster, ran: Ran) -> None:
    assert jobs_of(cluster, ran.ns, "paused") == []
    assert "lastScheduleTime" not in (get(cluster, ran.ns, "cronjob/paused").get("status") or {})


def test_get_cronjobs_columns(cluster: Cluster, ran: Ran) -> None:
    rows = {r["NAME"]: r for r in table(cluster.kubectl("get", "cronjobs", "-n", ran.ns).stdout)}
    assert list(rows["every-minute"]) == [
        "NAME",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "ACTIVE",
        "LAST SCHEDULE",
        "AGE",
    ]
    assert rows["every-minute"]["SCHEDULE"] == "* * * * *"
    assert rows["every-minute"]["TIMEZONE"] == "<none>"
    assert rows["every-minute"]["SUSPEND"] == "False"
    assert re.fullmatch(r"\d+s|\d+m(\d+s)?", rows["every-minute"]["LAST SCHEDULE"])
    assert rows["paused"]["SUSPEND"] == "True"
    assert rows["paused"]["LAST SCHEDULE"] == "<none>"


def test_create_job_from_a_cronjob(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, cronjob("nightly", "0 3 * * *", suspend=True))
    out = cluster.kubectl("create", "job", "manual", "--from=cronjob/nightly", "-n", namespace)
    assert "job.batch/manual created" in out.stdout
    job = get(cluster, namespace, "job/manual")
    cj = get(cluster, namespace, "cronjob/nightly")
    md = job["metadata"]
    assert md["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert md["annotations"]["team"] == "e2e"
    assert [(r["kind"], r["name"], r["uid"]) for r in md["ownerReferences"]] == [
        ("CronJob", "nightly", cj["metadata"]["uid"])
    ]
    wait_for(lambda: complete(get(cluster, namespace, "job/manual")), "the manual Job to complete")


def test_a_missed_start_runs_at_once_in_its_time_zone(cluster: Cluster, namespace: str) -> None:
    # On the hour in Kolkata (+05:30) is half past the hour in UTC.
    apply(cluster, namespace, cronjob("hourly", "0 * * * *", timeZone="Asia/Kolkata"))
    earlier = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.kubectl(
        "patch",
        "cronjob",
        "hourly",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"lastScheduleTime": earlier}}),
    )
    jobs = wait_for(lambda: jobs_of(cluster, namespace, "hourly"), "the missed start's Job")
    # Three starts were missed; only the latest runs, named for it.
    assert len(jobs) == 1
    scheduled = datetime.fromisoformat(jobs[0]["metadata"]["annotations"][SCHEDULED_AT])
    assert scheduled.utcoffset() == timedelta(hours=5, minutes=30)
    assert (scheduled.minute, scheduled.second) == (0, 0)
    assert jobs[0]["metadata"]["name"] == f"hourly-{int(scheduled.timestamp()) // 60}"
    cj = get(cluster, namespace, "cronjob/hourly")
    in_utc = scheduled.astimezone(UTC)
    assert in_utc.minute == 30
    assert cj["status"]["lastScheduleTime"] == in_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = table(cluster.kubectl("get", "cronjobs", "-n", namespace).stdout)
    assert [(r["NAME"], r["TIMEZONE"]) for r in rows] == [("hourly", "Asia/Kolkata")]


def test_a_bad_schedule_is_refused_with_422(cluster: Cluster, namespace: str) -> None:
    body = json.dumps(cronjob("bad", "61 * * * *"))
    proc = cluster.kubectl("create", "-n", namespace, "-f", "-", "-v=6", input=body, check=False)
    assert proc.returncode != 0
    assert "422" in proc.stderr
    assert (
        'The CronJob "bad" is invalid: spec.schedule: Invalid value: "61 * * * *": '
        "end of range (61) above maximum (59): 61"
    ) in proc.stderr
