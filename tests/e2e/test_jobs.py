"""Jobs end to end: the real kubectl, real pods run to completion by the node agent.

The module's cluster replaces failed pods after 0.2 s instead of 10 s
(KUBELITE_JOB_BACKOFF_BASE), so the backoff-limit test takes seconds.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def jobs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("jobs")
    (tmp / "cache").mkdir()
    c = Cluster(data_dir=tmp / "data", cache_dir=tmp / "cache")
    saved = dict(os.environ)
    os.environ["KUBELITE_JOB_BACKOFF_BASE"] = "0.2"
    try:
        c.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def ns(jobs_cluster: Cluster) -> str:
    name = "j-" + uuid.uuid4().hex[:8]
    jobs_cluster.kubectl("create", "namespace", name)
    return name


def job(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "python:3.11", "command": ["python3", "-c", code]}
                    ],
                }
            },
            **spec,
        },
    }


def apply(c: Cluster, ns: str, obj: dict[str, Any], *, check: bool = True) -> Any:
    return c.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj), check=check)


def wait(c: Cluster, ns: str, name: str, condition: str) -> None:
    c.kubectl("wait", "-n", ns, f"--for=condition={condition}", f"job/{name}", "--timeout=90s")


def finished_condition(c: Cluster, ns: str, name: str, kind: str) -> dict[str, Any]:
    obj = c.kubectl_json("get", "job", name, "-n", ns)
    return next(x for x in obj["status"]["conditions"] if x["type"] == kind)


def test_job_runs_to_completion(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    code = "import socket; print('hello from', socket.gethostname())"
    apply(c, ns, job("hello", code, completions=3, parallelism=2))
    wait(c, ns, "hello", "complete")
    row = c.kubectl("get", "jobs", "-n", ns, "--no-headers").stdout.split()
    assert row[:3] == ["hello", "Complete", "3/3"]
    header = c.kubectl("get", "jobs", "-n", ns, "-o", "wide").stdout.splitlines()[0].split()
    assert header[:5] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert "hello from" in c.kubectl("logs", "-n", ns, "job/hello").stdout
    pods = c.kubectl_json("get", "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=hello")
    assert [p["status"]["phase"] for p in pods["items"]] == ["Succeeded"] * 3
    assert all(not p["metadata"].get("finalizers") for p in pods["items"])
    obj = c.kubectl_json("get", "job", "hello", "-n", ns)
    assert obj["status"]["succeeded"] == 3
    assert obj["status"]["uncountedTerminatedPods"] == {}


def test_backoff_limit_fails_the_job(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    apply(c, ns, job("broken", "import sys; sys.exit(3)", backoffLimit=1))
    wait(c, ns, "broken", "failed")
    failed = finished_condition(c, ns, "broken", "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert c.kubectl_json("get", "job", "broken", "-n", ns)["status"]["failed"] == 2
    row = c.kubectl("get", "job", "broken", "-n", ns, "--no-headers").stdout.split()
    assert row[:3] == ["broken", "Failed", "0/1"]


def test_active_deadline_fails_the_job(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    apply(c, ns, job("slow", "import time; time.sleep(120)", activeDeadlineSeconds=2))
    wait(c, ns, "slow", "failed")
    failed = finished_condition(c, ns, "slow", "Failed")
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    events = c.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", "reason=DeadlineExceeded"
    )
    assert [e["involvedObject"]["name"] for e in events["items"]] == ["slow"]


def test_ttl_after_finished_deletes_job_and_pods(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    apply(c, ns, job("brief", "print('done')", ttlSecondsAfterFinished=1))

    def gone() -> bool:
        jobs = c.kubectl_json("get", "jobs", "-n", ns)["items"]
        pods = c.kubectl_json("get", "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=brief")
        return not jobs and not pods["items"]

    wait_for(gone, what="the finished job and its pods to be deleted", timeout=90)
    # Deleted because it had finished, not before: its completion was recorded.
    events = c.kubectl_json("get", "events", "-n", ns, "--field-selector", "reason=Completed")
    assert [e["involvedObject"]["name"] for e in events["items"]] == ["brief"]


def test_official_client_reads_jobs(jobs_cluster: Cluster, ns: str) -> None:
    api, client = jobs_cluster.api_client()
    batch = client.BatchV1Api(api)
    container = client.V1Container(
        name="main", image="python:3.11", command=["python3", "-c", "print(42)"]
    )
    spec = client.V1JobSpec(
        completions=2,
        template=client.V1PodTemplateSpec(
            spec=client.V1PodSpec(restart_policy="Never", containers=[container])
        ),
    )
    batch.create_namespaced_job(
        ns, client.V1Job(metadata=client.V1ObjectMeta(name="py"), spec=spec)
    )
    jobs_cluster.kubectl("wait", "-n", ns, "--for=condition=complete", "job/py", "--timeout=90s")
    got = batch.read_namespaced_job_status("py", ns)
    assert (got.status.succeeded, got.spec.parallelism, got.spec.backoff_limit) == (2, 1, 6)
    assert [c.type for c in got.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert got.status.completion_time >= got.status.start_time


def test_kubectl_create_job(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    c.kubectl(
        "create", "job", "made", "-n", ns, "--image=python:3.11", "--",
        "python3", "-c", "print('made by kubectl')",
    )  # fmt: skip
    wait(c, ns, "made", "complete")
    assert "made by kubectl" in c.kubectl("logs", "-n", ns, "job/made").stdout
    spec = c.kubectl_json("get", "job", "made", "-n", ns)["spec"]
    assert spec["backoffLimit"] == 6 and spec["completions"] == 1
    assert set(spec["selector"]["matchLabels"]) == {"batch.kubernetes.io/controller-uid"}


def test_invalid_jobs_are_refused(jobs_cluster: Cluster, ns: str, tmp_path: Path) -> None:
    c = jobs_cluster
    always = job("always", "print(1)")
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    proc = apply(c, ns, always, check=False)
    assert proc.returncode != 0
    assert (
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'
        in proc.stderr
    )
    mismatch = job(
        "mismatch", "print(1)", manualSelector=True, selector={"matchLabels": {"a": "b"}}
    )
    mismatch["spec"]["template"]["metadata"] = {"labels": {"a": "c"}}
    proc = apply(c, ns, mismatch, check=False)
    assert proc.returncode != 0
    assert "spec.template.metadata.labels: Invalid value" in proc.stderr
    assert "`selector` does not match template `labels`" in proc.stderr
    assert c.kubectl_json("get", "jobs", "-n", ns)["items"] == []
    assert c.kubectl_json("get", "pods", "-n", ns)["items"] == []


def test_indexed_job_pods_know_their_index_and_hostname(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    code = "import os, socket; print('index', os.environ['JOB_COMPLETION_INDEX'], socket.gethostname())"
    apply(c, ns, job("idx", code, completions=3, parallelism=3, completionMode="Indexed"))
    wait(c, ns, "idx", "complete")
    pods = c.kubectl_json("get", "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=idx")
    logs = sorted(
        c.kubectl("logs", "-n", ns, p["metadata"]["name"]).stdout.strip() for p in pods["items"]
    )
    assert logs == ["index 0 idx-0", "index 1 idx-1", "index 2 idx-2"]  # spec.hostname
    assert c.kubectl_json("get", "job", "idx", "-n", ns)["status"]["completedIndexes"] == "0-2"


def test_suspended_job_runs_once_resumed(jobs_cluster: Cluster, ns: str) -> None:
    c = jobs_cluster
    apply(c, ns, job("later", "print('resumed')", suspend=True))
    wait(c, ns, "later", "suspended")
    row = c.kubectl("get", "job", "later", "-n", ns, "--no-headers").stdout.split()
    assert row[:2] == ["later", "Suspended"]
    assert c.kubectl_json("get", "pods", "-n", ns)["items"] == []
    c.kubectl("patch", "job", "later", "-n", ns, "-p", '{"spec":{"suspend":false}}')
    wait(c, ns, "later", "complete")
    assert "resumed" in c.kubectl("logs", "-n", ns, "job/later").stdout
