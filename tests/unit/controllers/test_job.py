"""Job controller: pods up to parallelism, exactly-once counting, finishing, suspend, TTL."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness

from kubelite.apiserver import errors
from kubelite.controllers.job import JobController, TTLAfterFinishedController
from kubelite.controllers.job.pods import TRACKING_FINALIZER

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


def make_job(name: str = "work", **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "app:v1"}],
                }
            },
            **spec,
        },
    }


async def setup(h: Harness, **spec: Any) -> JobController:
    ctrl = JobController(clock=h.clock, backoff_base_s=10.0)
    h.bind(ctrl)
    await h.client.create(make_job(**spec))
    return ctrl


async def job(h: Harness, name: str = "work") -> Obj:
    return await h.client.get("batch/v1", "Job", name, "default")


async def live_pods(h: Harness) -> list[Obj]:
    return [p for p in await h.list("Pod") if not p["metadata"].get("deletionTimestamp")]


async def finish(h: Harness, pod: Obj, phase: str, exit_code: int = 0) -> None:
    """Play kubelet: the pod's only container ended."""
    status = {
        "phase": phase,
        "containerStatuses": [
            {
                "name": "main",
                "ready": False,
                "restartCount": 0,
                "image": "app:v1",
                "imageID": "",
                "state": {"terminated": {"exitCode": exit_code, "reason": phase}},
            }
        ],
    }
    await h.client.patch(
        "v1", "Pod", pod["metadata"]["name"], {"status": status}, "default", subresource="status"
    )


def conditions(obj: Obj) -> dict[str, tuple[str, str]]:
    return {
        c["type"]: (c["status"], c.get("reason", "")) for c in obj["status"].get("conditions", [])
    }


async def test_creates_parallelism_pods_bounded_by_completions(h: Harness) -> None:
    ctrl = await setup(h, completions=3, parallelism=2)
    await h.sync(ctrl, "default/work")
    pods = await live_pods(h)
    assert len(pods) == 2
    j = await job(h)
    for pod in pods:
        md = pod["metadata"]
        assert md["generateName"] == "work-"
        assert TRACKING_FINALIZER in md["finalizers"]
        assert md["labels"]["batch.kubernetes.io/job-name"] == "work"
        assert md["ownerReferences"][0]["uid"] == j["metadata"]["uid"]
        assert md["ownerReferences"][0]["blockOwnerDeletion"] is True
    assert j["status"]["active"] == 2
    assert "startTime" in j["status"]
    assert len(await h.events("SuccessfulCreate")) == 2


async def test_counts_each_success_once_and_completes(h: Harness) -> None:
    ctrl = await setup(h, completions=2, parallelism=2)
    await h.sync(ctrl, "default/work")
    for pod in await live_pods(h):
        await finish(h, pod, "Succeeded")
    await h.sync(ctrl, "default/work")
    await h.sync(ctrl, "default/work")  # a second pass must not count again
    j = await job(h)
    assert j["status"]["succeeded"] == 2
    assert j["status"]["uncountedTerminatedPods"] == {}
    assert conditions(j)["SuccessCriteriaMet"] == ("True", "CompletionsReached")
    assert conditions(j)["Complete"] == ("True", "CompletionsReached")
    assert "completionTime" in j["status"]
    for pod in await h.list("Pod"):
        assert TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or [])
    assert await h.events("Completed") == ["Job completed"]


async def test_failed_pod_is_replaced_after_backoff(h: Harness) -> None:
    ctrl = await setup(h, backoffLimit=3)
    await h.sync(ctrl, "default/work")
    (pod,) = await live_pods(h)
    await finish(h, pod, "Failed", exit_code=1)
    requeue = await h.sync(ctrl, "default/work")
    # 10 s after the first failure: nothing new yet, a look again in 10 s.
    assert requeue == pytest.approx(10.0)
    assert [p for p in await h.list("Pod") if p["status"].get("phase") != "Failed"] == []
    assert (await job(h))["status"]["failed"] == 1
    h.clock.step(10)
    await h.sync(ctrl, "default/work")
    pending = [p for p in await h.list("Pod") if p["status"].get("phase") != "Failed"]
    assert len(pending) == 1


async def test_backoff_limit_fails_the_job(h: Harness) -> None:
    ctrl = await setup(h, backoffLimit=0)
    await h.sync(ctrl, "default/work")
    (pod,) = await live_pods(h)
    await finish(h, pod, "Failed", exit_code=2)
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert conditions(j)["FailureTarget"] == ("True", "BackoffLimitExceeded")
    assert conditions(j)["Failed"] == ("True", "BackoffLimitExceeded")
    assert j["status"]["failed"] == 1
    assert await h.events("BackoffLimitExceeded") == ["Job has reached the specified backoff limit"]


async def test_deadline_deletes_active_pods_then_fails(h: Harness) -> None:
    ctrl = await setup(h, activeDeadlineSeconds=5)
    assert await h.sync(ctrl, "default/work") == pytest.approx(5.0)
    h.clock.step(6)
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert conditions(j)["FailureTarget"] == ("True", "DeadlineExceeded")
    assert "Failed" not in conditions(j)  # its pod still terminates
    assert len(await h.events("SuccessfulDelete")) == 1
    await h.sync(ctrl, "default/work")  # the deleting pod is counted, finalizer removed
    await h.finish_deletions()
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert conditions(j)["Failed"] == ("True", "DeadlineExceeded")
    assert await h.events("DeadlineExceeded") == ["Job was active longer than specified deadline"]


async def test_suspend_deletes_pods_and_resume_restarts(h: Harness) -> None:
    ctrl = await setup(h, parallelism=2, completions=4)
    await h.sync(ctrl, "default/work")
    await h.client.patch("batch/v1", "Job", "work", {"spec": {"suspend": True}}, "default")
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert conditions(j)["Suspended"] == ("True", "JobSuspended")
    assert await h.events("Suspended") == ["Job suspended"]
    await h.sync(ctrl, "default/work")
    await h.finish_deletions()
    await h.sync(ctrl, "default/work")
    assert await live_pods(h) == []
    assert (await job(h))["status"].get("failed") is None  # a suspension is no failure
    await h.client.patch("batch/v1", "Job", "work", {"spec": {"suspend": False}}, "default")
    await h.sync(ctrl, "default/work")  # no backoff either: new pods at once
    j = await job(h)
    assert conditions(j)["Suspended"] == ("False", "JobResumed")
    assert await h.events("Resumed") == ["Job resumed"]
    assert len(await live_pods(h)) == 2


async def test_indexed_pods_get_index_hostname_and_env(h: Harness) -> None:
    ctrl = await setup(h, completions=3, parallelism=3, completionMode="Indexed")
    await h.sync(ctrl, "default/work")
    pods = await live_pods(h)
    by_index = {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in pods
    }
    assert sorted(by_index) == ["0", "1", "2"]
    pod = by_index["1"]
    assert pod["metadata"]["generateName"] == "work-1-"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert pod["spec"]["hostname"] == "work-1"
    env = pod["spec"]["containers"][0]["env"]
    assert env[0]["name"] == "JOB_COMPLETION_INDEX"
    await finish(h, by_index["0"], "Succeeded")
    await finish(h, by_index["2"], "Succeeded")
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert j["status"]["completedIndexes"] == "0,2"
    assert j["status"]["succeeded"] == 2


async def test_pod_failure_policy_fail_job_and_ignore(h: Harness) -> None:
    policy = {
        "rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
        ]
    }
    ctrl = await setup(h, backoffLimit=5, podFailurePolicy=policy)
    await h.sync(ctrl, "default/work")
    (pod,) = await live_pods(h)
    await finish(h, pod, "Failed", exit_code=3)
    await h.sync(ctrl, "default/work")
    assert (await job(h))["status"].get("failed") is None  # ignored: not counted
    await h.sync(ctrl, "default/work")
    (pod,) = [p for p in await h.list("Pod") if p["status"].get("phase") != "Failed"]
    await finish(h, pod, "Failed", exit_code=42)
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert conditions(j)["Failed"] == ("True", "PodFailurePolicy")
    message = next(c["message"] for c in j["status"]["conditions"] if c["type"] == "Failed")
    assert message.startswith("Container main for pod default/work-")
    assert message.endswith("failed with exit code 42 matching FailJob rule at index 1")


async def test_ttl_deletes_finished_job(h: Harness) -> None:
    ctrl = await setup(h, ttlSecondsAfterFinished=30)
    ttl = TTLAfterFinishedController(clock=h.clock)
    h.bind(ttl)
    await h.sync(ctrl, "default/work")
    (pod,) = await live_pods(h)
    await finish(h, pod, "Succeeded")
    await h.sync(ctrl, "default/work")
    assert await h.sync(ttl, "default/work") == pytest.approx(30.0)
    h.clock.step(30)
    await h.sync(ttl, "default/work")
    assert await h.client.get_or_none("batch/v1", "Job", "work", "default") is None


async def test_pods_of_a_deleted_job_lose_the_finalizer(h: Harness) -> None:
    ctrl = await setup(h)
    await h.sync(ctrl, "default/work")
    (pod,) = await live_pods(h)
    await h.informers.relist(h.client)
    await h.client.delete("batch/v1", "Job", "work", "default", propagation_policy="Background")
    await h.informers.relist(h.client)  # the job's deletion queues its tracked pods
    while len(ctrl.queue):
        key = await ctrl.queue.get()
        await ctrl.reconcile(str(key))
        ctrl.queue.done(key)
    live = await h.get("Pod", pod["metadata"]["name"])
    assert TRACKING_FINALIZER not in (live["metadata"].get("finalizers") or [])


async def test_backoff_limit_per_index_fails_only_that_index(h: Harness) -> None:
    ctrl = await setup(
        h, completionMode="Indexed", completions=2, parallelism=2, backoffLimitPerIndex=1
    )
    await h.sync(ctrl, "default/work")

    def by_index(pods: list[Obj]) -> dict[str, Obj]:
        return {
            p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]: p for p in pods
        }

    first = by_index(await live_pods(h))
    assert (
        first["0"]["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] == "0"
    )
    await finish(h, first["0"], "Failed", exit_code=1)
    await finish(h, first["1"], "Succeeded")
    await h.sync(ctrl, "default/work")
    await h.sync(ctrl, "default/work")
    retry = [
        p for p in await h.list("Pod") if p["status"].get("phase") not in ("Failed", "Succeeded")
    ]
    assert [
        p["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] for p in retry
    ] == ["1"]
    assert (await job(h))["status"]["failedIndexes"] == ""
    await finish(h, retry[0], "Failed", exit_code=1)
    await h.sync(ctrl, "default/work")
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert (j["status"]["failedIndexes"], j["status"]["completedIndexes"]) == ("0", "1")
    assert conditions(j)["Failed"] == ("True", "FailedIndexes")
    assert await h.events("FailedIndexes") == ["Job has failed indexes"]


async def test_a_stale_job_cache_never_overwrites_newer_counters(h: Harness) -> None:
    ctrl = await setup(h, completions=2, parallelism=2)
    await h.sync(ctrl, "default/work")
    first, second = await live_pods(h)
    await finish(h, first, "Succeeded")
    await h.sync(ctrl, "default/work")  # succeeded: 1 in the API, not yet in the job cache
    await finish(h, second, "Succeeded")
    await ctrl.pod_informer.relist(h.client)
    with pytest.raises(errors.Conflict):
        await ctrl.reconcile("default/work")
    assert (await job(h))["status"]["succeeded"] == 1
    await h.sync(ctrl, "default/work")
    j = await job(h)
    assert j["status"]["succeeded"] == 2
    assert conditions(j)["Complete"] == ("True", "CompletionsReached")


async def test_a_job_managed_elsewhere_is_left_alone(h: Harness) -> None:
    ctrl = await setup(h, managedBy="example.com/batch")
    await h.sync(ctrl, "default/work")
    assert await live_pods(h) == []
    assert (await job(h))["status"] == {}


def test_an_exit_code_rule_looks_at_regular_containers_before_sidecars() -> None:
    """A sidecar stopped with 143 after the app failed must not be the one named."""
    from kubelite.controllers.job.pods import match_failure_policy

    job = {
        "spec": {
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0]}}
                ]
            }
        }
    }
    terminated = lambda name, code: {  # noqa: E731
        "name": name,
        "state": {"terminated": {"exitCode": code}},
    }
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": [terminated("proxy", 143)],
            "containerStatuses": [terminated("app", 3)],
        },
    }
    hit = match_failure_policy(job, pod)
    assert hit is not None
    assert hit.message.startswith("Container app for pod default/p failed with exit code 3")
