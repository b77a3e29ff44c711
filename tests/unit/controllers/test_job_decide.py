"""Job sync decisions, pure: what to create or delete and which conditions to set."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controllers.job.decide import Inputs, decide
from kubelite.controllers.job.removal import pods_for_removal
from kubelite.controllers.objects import timestamp

NOW = 1_700_000_000.0


def job(**spec: Any) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "main"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "work", "namespace": "default", "uid": "u1"},
        "spec": {"parallelism": 1, "backoffLimit": 6, "template": template, **spec},
    }


def pod(name: str, phase: str = "Running", restarts: int = 0, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": name, "creationTimestamp": timestamp(NOW), **meta},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "main", "restartCount": restarts}],
        },
    }


def kinds(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c.get("reason", "") for c in status.get("conditions") or []}


def test_a_work_queue_job_stops_creating_after_the_first_success() -> None:
    spec = {"parallelism": 3}  # no completions
    first = decide(Inputs(job(**spec), {}, [], NOW))
    assert first.create == [None, None, None]
    running = [pod("a"), pod("b")]
    after = decide(Inputs(job(**spec), {"succeeded": 1}, running, NOW))
    assert after.create == [] and after.delete == []
    assert "Complete" not in kinds(after.status)
    done = decide(Inputs(job(**spec), {"succeeded": 3}, [], NOW))
    assert kinds(done.status) == {
        "SuccessCriteriaMet": "CompletionsReached",
        "Complete": "CompletionsReached",
    }


def test_parallelism_is_bounded_by_remaining_completions() -> None:
    d = decide(Inputs(job(completions=5, parallelism=4), {"succeeded": 3}, [pod("a")], NOW))
    assert d.create == [None]  # 5 - 3 = 2 wanted, one runs
    assert d.status["active"] == 2


def test_surplus_pods_are_deleted_not_ready_first() -> None:
    ready = pod("ready")
    ready["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    d = decide(Inputs(job(completions=5, parallelism=1), {}, [ready, pod("slow")], NOW))
    assert [p["metadata"]["name"] for p in d.discard] == ["slow"]  # surplus: not a failure


def test_restarts_count_toward_the_backoff_limit_under_on_failure() -> None:
    j = job(backoffLimit=2)
    j["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    d = decide(Inputs(j, {}, [pod("a", restarts=2)], NOW))
    assert kinds(d.status) == {"FailureTarget": "BackoffLimitExceeded"}
    assert [p["metadata"]["name"] for p in d.delete] == ["a"]
    # The same restarts under Never are the pod's own business.
    assert "FailureTarget" not in kinds(
        decide(Inputs(job(backoffLimit=2), {}, [pod("a", restarts=2)], NOW)).status
    )


def test_a_job_created_suspended_has_no_start_time() -> None:
    d = decide(Inputs(job(suspend=True), {}, [], NOW))
    assert "startTime" not in d.status
    assert kinds(d.status) == {"Suspended": "JobSuspended"}
    assert d.create == []


def test_backoff_delays_replacements() -> None:
    d = decide(Inputs(job(), {"failed": 1}, [], NOW, backoff_remaining=7.5))
    assert d.create == [] and d.requeue == 7.5


def test_unmet_expectations_hold_creations() -> None:
    d = decide(Inputs(job(parallelism=2, completions=2), {}, [], NOW, can_manage=False))
    assert d.create == []


def test_success_policy_finishes_an_indexed_job_early() -> None:
    policy = {"rules": [{"succeededIndexes": "0-1", "succeededCount": 3}, {"succeededCount": 2}]}
    j = job(completionMode="Indexed", completions=5, parallelism=2, successPolicy=policy)
    running = [pod("c")]
    d = decide(Inputs(j, {"completedIndexes": "0,3"}, running, NOW))
    assert kinds(d.status) == {"SuccessCriteriaMet": "SuccessPolicy"}
    met = next(c for c in d.status["conditions"] if c["type"] == "SuccessCriteriaMet")
    assert met["message"] == "Matched rules at index 1"
    assert d.discard == running and d.create == []
    # Nothing runs any more: the terminal condition follows with the same reason.
    done = decide(Inputs(j, d.status, [], NOW))
    assert kinds(done.status)["Complete"] == "SuccessPolicy"


def test_fail_index_rule_and_max_failed_indexes() -> None:
    policy = {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}]}
    spec = {
        "completionMode": "Indexed",
        "completions": 3,
        "parallelism": 3,
        "backoffLimitPerIndex": 5,
        "podFailurePolicy": policy,
    }
    failed = pod("a", "Failed", annotations={"batch.kubernetes.io/job-completion-index": "1"})
    failed["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 42}}
    # Index 1 is failed at once, whatever its backoff limit; 0 and 2 still run.
    d = decide(Inputs(job(**spec), {}, [failed], NOW))
    assert d.status["failedIndexes"] == "1"
    assert d.create == [0, 2]
    d = decide(Inputs(job(**spec, maxFailedIndexes=0), {}, [failed], NOW))
    assert kinds(d.status) == {
        "FailureTarget": "MaxFailedIndexesExceeded",
        "Failed": "MaxFailedIndexesExceeded",  # nothing else runs: terminal at once
    }


# --- which surplus pods go: upstream's activePodsForRemoval ---

INDEX = "batch.kubernetes.io/job-completion-index"


def indexed(name: str, index: int | None, *, ready: bool = True, age: float = 0.0) -> Any:
    annotations = {} if index is None else {INDEX: str(index)}
    p = pod(name, annotations=annotations, creationTimestamp=timestamp(NOW - age))
    p["spec"] = {"nodeName": "vm"}
    if ready:
        p["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    return p


def names(pods: list[Any]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_an_elastic_indexed_job_scaled_down_keeps_the_indexes_in_range() -> None:
    # completions = parallelism 4 -> 1: indexes 1-3 are out of range, 0 is the only valid one.
    j = job(completionMode="Indexed", completions=1, parallelism=1)
    running = [indexed(f"el-{n}", n, age=10 - n) for n in range(4)]
    d = decide(Inputs(j, {}, running, NOW))
    assert names(d.discard) == ["el-1", "el-2", "el-3"]
    assert d.create == [] and d.delete == []
    assert d.status["active"] == 1


def test_unusable_indexed_pods_go_even_when_none_are_surplus() -> None:
    # 3 wanted, 3 active: nothing is surplus, yet the pod without an index and the
    # repeat of index 0 (the not-ready one: the ready one is further along) go, and
    # index 2 is created only in a later sync (deletions first).
    j = job(completionMode="Indexed", completions=3, parallelism=3)
    pods = [
        indexed("a", 0),
        indexed("b", 0, ready=False),
        indexed("c", None),
        indexed("d", 1),
    ]
    d = decide(Inputs(j, {}, pods, NOW))
    assert names(d.discard) == ["c", "b"]  # by index: unknown (-1) first, then 0's repeat
    assert d.create == []
    after = decide(Inputs(j, {}, [indexed("a", 0), indexed("d", 1)], NOW))
    assert after.discard == [] and after.create == [2]


def test_a_surplus_beyond_unusable_pods_falls_back_to_active_pods_order() -> None:
    # 2 wanted, 4 active, one out of range: 4 - 2 = 2 to remove, the out-of-range
    # index 5 and then the least advanced of the rest (index 1, not ready).
    j = job(completionMode="Indexed", completions=3, parallelism=2)
    pods = [indexed("i0", 0), indexed("i1", 1, ready=False), indexed("i2", 2), indexed("i5", 5)]
    d = decide(Inputs(j, {}, pods, NOW))
    assert names(d.discard) == ["i5", "i1"]


def test_terminating_pods_hold_places_but_delete_nothing() -> None:
    # podReplacementPolicy Failed: 2 wanted, 2 active and 1 terminating -> no deletion
    # (upstream removes active - wanted = 0) and no creation (2 - 1 - 2 < 0).
    j = job(completions=5, parallelism=2, podReplacementPolicy="Failed")
    gone = pod("gone", deletionTimestamp=timestamp(NOW))
    d = decide(Inputs(j, {}, [pod("a"), pod("b"), gone], NOW))
    assert d.discard == [] and d.create == []
    # With one active pod the terminating one keeps the second place free.
    d = decide(Inputs(j, {}, [pod("a"), gone], NOW))
    assert d.discard == [] and d.create == []


def _ranked(**status: Any) -> Any:
    p = pod("x", creationTimestamp=timestamp(NOW - status.pop("age", 0.0)))
    p["spec"] = {"nodeName": status.pop("node", "vm")}
    p["status"].update(status)
    return p


READY_AT = [{"type": "Ready", "status": "True", "lastTransitionTime": timestamp(NOW - 5)}]
READY_LONG = [{"type": "Ready", "status": "True", "lastTransitionTime": timestamp(NOW - 500)}]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"node": ""}, {"phase": "Pending"}, id="unscheduled-before-scheduled"),
        pytest.param({"phase": "Pending"}, {"phase": "Unknown"}, id="pending-before-unknown"),
        pytest.param({"phase": "Unknown"}, {"phase": "Running"}, id="unknown-before-running"),
        pytest.param({}, {"conditions": READY_AT}, id="not-ready-before-ready"),
        pytest.param(
            {"conditions": READY_AT}, {"conditions": READY_LONG}, id="ready-for-less-time-first"
        ),
        pytest.param(
            {"containerStatuses": [{"name": "main", "restartCount": 3}]},
            {"containerStatuses": [{"name": "main", "restartCount": 1}]},
            id="more-restarts-first",
        ),
        pytest.param({"age": 1.0}, {"age": 100.0}, id="newer-first"),
    ],
)
def test_active_pods_order(first: dict[str, Any], second: dict[str, Any]) -> None:
    a, b = _ranked(**first), _ranked(**second)
    a["metadata"]["name"], b["metadata"]["name"] = "first", "second"
    for pods in ([a, b], [b, a]):
        assert names(pods_for_removal(job(), pods, 1)) == ["first"]
