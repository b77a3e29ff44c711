"""Job sync decisions, pure: what to create or delete and which conditions to set."""

from __future__ import annotations

from typing import Any

from kubelite.controllers.job.decide import Inputs, decide
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
