"""`kubectl get jobs` and `kubectl get cronjobs`: upstream's columns and cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.apiserver.tables import to_table

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
SELECTOR = {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    table = to_table(kind, [obj], now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    (row,) = table["rows"]
    return dict(zip(names, row["cells"], strict=True))


def columns(kind: str) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in to_table(kind, [], now=NOW)["columnDefinitions"]]


def job(spec: dict[str, Any], status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    template = {"spec": {"containers": [{"name": "main", "image": "python:3.11"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "work", "creationTimestamp": ago(minutes=5), **meta},
        "spec": {"selector": SELECTOR, "template": template, **spec},
        "status": status,
    }


def cond(kind: str, status: str = "True") -> dict[str, str]:
    return {"type": kind, "status": status}


def test_job_columns() -> None:
    assert columns("Job") == [
        ("Name", 0),
        ("Status", 0),
        ("Completions", 0),
        ("Duration", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ]


@pytest.mark.parametrize(
    ("conditions", "meta", "expected"),
    [
        ([], {}, "Running"),
        ([cond("SuccessCriteriaMet"), cond("Complete")], {}, "Complete"),
        ([cond("FailureTarget"), cond("Failed")], {}, "Failed"),
        ([cond("FailureTarget")], {}, "FailureTarget"),
        ([cond("Suspended")], {}, "Suspended"),
        ([cond("Suspended", "False")], {}, "Running"),
        ([cond("Suspended")], {"deletionTimestamp": ago(seconds=1)}, "Terminating"),
    ],
)
def test_job_status(conditions: list[dict[str, str]], meta: dict[str, Any], expected: str) -> None:
    obj = job({"completions": 1}, {"conditions": conditions}, **meta)
    assert cells("Job", obj)["Status"] == expected


@pytest.mark.parametrize(
    ("spec", "succeeded", "expected"),
    [
        ({"completions": 3, "parallelism": 2}, 3, "3/3"),
        ({"completions": 3}, 0, "0/3"),
        ({"parallelism": 1}, 0, "0/1"),  # no completions: one success finishes it
        ({"parallelism": 4}, 1, "1/1 of 4"),
    ],
)
def test_job_completions(spec: dict[str, Any], succeeded: int, expected: str) -> None:
    assert cells("Job", job(spec, {"succeeded": succeeded}))["Completions"] == expected


def test_job_duration_and_wide_cells() -> None:
    running = job({"completions": 1}, {"startTime": ago(seconds=75)})
    done = job(
        {"completions": 1},
        {"startTime": ago(minutes=4), "completionTime": ago(minutes=4, seconds=-12)},
    )
    assert cells("Job", job({"completions": 1}, {}))["Duration"] == ""
    assert cells("Job", running)["Duration"] == "75s"
    row = cells("Job", done)
    assert (row["Duration"], row["Age"]) == ("12s", "5m")
    assert (row["Containers"], row["Images"]) == ("main", "python:3.11")
    assert row["Selector"] == "batch.kubernetes.io/controller-uid=u1"


def test_cron_job_columns_and_cells() -> None:
    assert [name for name, _ in columns("CronJob")] == [
        "Name",
        "Schedule",
        "Timezone",
        "Suspend",
        "Active",
        "Last Schedule",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    template = {"spec": {"template": {"spec": {"containers": [{"name": "t", "image": "i:1"}]}}}}
    obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "creationTimestamp": ago(hours=1)},
        "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": template},
        "status": {"active": [{"name": "tick-1"}], "lastScheduleTime": ago(seconds=30)},
    }
    row = cells("CronJob", obj)
    assert row == {
        "Name": "tick",
        "Schedule": "*/5 * * * *",
        "Timezone": "<none>",
        "Suspend": "False",
        "Active": 1,
        "Last Schedule": "30s",
        "Age": "60m",
        "Containers": "t",
        "Images": "i:1",
        "Selector": "<none>",
    }
    obj["spec"] |= {"timeZone": "Europe/Berlin", "suspend": None}
    obj["status"] = {}
    row = cells("CronJob", obj)
    assert (row["Timezone"], row["Suspend"], row["Active"], row["Last Schedule"]) == (
        "Europe/Berlin",
        "<unset>",
        0,
        "<none>",
    )
