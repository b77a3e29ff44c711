"""Native sidecars (init containers with `restartPolicy: Always`), through kubectl.

A sidecar starts before the app (once its startupProbe passes), runs beside
it, counts in READY, is restarted when it exits, stops after the app when a
Job's pod is done, and after the regular containers when a pod is deleted —
each observed from inside the pod where order matters. Also: a completed
init container reports ready, and deleting a pod leaves no FailedMount event.
"""

from __future__ import annotations

import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
IMAGE = f"python:{PY}"
wait_for = partial(_wait_for, timeout=90, interval=0.3)

# A log shipper: says it is up, then marks itself ready for its startupProbe.
SHIPPER = """\
import os, time
with open('/data/log', 'a') as f:
    f.write(f'{time.time():.6f} shipper up\\n')
time.sleep(0.5)
open('/data/ready', 'w').close()
while True:
    time.sleep(1)
"""

# The app: was the shipper there before it?
APP = """\
import os, time
first = os.path.exists('/data/ready')
with open('/data/log', 'a') as f:
    f.write(f'{time.time():.6f} app up\\n')
print('shipper was up first:', first, flush=True)
while True:
    time.sleep(1)
"""

# Writes a timestamped line to /out/order when it gets SIGTERM (and when it exits).
ON_SIGTERM = """\
import signal, sys, time
name, linger = sys.argv[1], float(sys.argv[2])
def note(what):
    with open('/out/order', 'a') as f:
        f.write(f'{time.time():.6f} {name} {what}\\n')
def stop(*_):
    note('TERM')
    time.sleep(linger)
    note('exit')
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print('up', flush=True)
while True:
    time.sleep(1)
"""

SLEEP = "import time\nwhile True: time.sleep(1)"


def py(script: str, *args: str) -> list[str]:
    return ["python3", "-c", script, *args]


def apply(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def pod_manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def get_pod(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return got


def statuses(pod: dict[str, Any], key: str = "initContainerStatuses") -> dict[str, Any]:
    return {s["name"]: s for s in (pod.get("status") or {}).get(key) or []}


def app_running(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    pod = get_pod(cluster, ns, name)
    app = statuses(pod, "containerStatuses").get("app") or {}
    return pod if "running" in (app.get("state") or {}) else None


def restarted(cluster: Cluster, ns: str, name: str, init: str, times: int) -> dict[str, Any] | None:
    pod = get_pod(cluster, ns, name)
    count = (statuses(pod).get(init) or {}).get("restartCount", 0)
    return pod if count >= times else None


def table_row(cluster: Cluster, ns: str, *selector: str) -> list[str]:
    """The first row of `kubectl get pods` (NAME READY STATUS RESTARTS AGE)."""
    out = cluster.kubectl("get", "pods", "-n", ns, "--no-headers", *selector).stdout
    lines = out.strip().splitlines()
    return lines[0].split() if lines else []


def test_a_deployment_with_a_log_shipper_sidecar_becomes_ready(
    cluster: Cluster, namespace: str
) -> None:
    data = {"name": "data", "mountPath": "/data"}
    started = {
        "exec": {"command": py("import os,sys; sys.exit(not os.path.exists('/data/ready'))")},
        "periodSeconds": 1,
        "failureThreshold": 60,
    }
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "initContainers": [
                {"name": "setup", "image": IMAGE, "command": py("print('set up')")},
                {
                    "name": "shipper",
                    "image": IMAGE,
                    "restartPolicy": "Always",
                    "command": py(SHIPPER),
                    "startupProbe": started,
                    "volumeMounts": [data],
                },
            ],
            "containers": [
                {"name": "app", "image": IMAGE, "command": py(APP), "volumeMounts": [data]}
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template,
            },
        },
    )
    cluster.kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=90s")

    def ready_row() -> list[str] | None:
        row = table_row(cluster, namespace, "-l", "app=web")
        return row if row[1:3] == ["2/2", "Running"] else None

    name = wait_for(ready_row, "READY 2/2 and Running in kubectl get pods")[0]
    out = wait_for(
        lambda: cluster.kubectl("logs", name, "-n", namespace, "-c", "app", check=False).stdout,
        "the app's output",
    )
    assert "shipper was up first: True" in out
    pod = get_pod(cluster, namespace, name)
    inits = statuses(pod)
    # a completed init container is ready, as upstream reports it; the sidecar runs
    assert inits["setup"]["ready"] is True
    assert inits["setup"]["state"]["terminated"]["exitCode"] == 0
    assert (inits["shipper"]["started"], inits["shipper"]["ready"]) == (True, True)
    assert "running" in inits["shipper"]["state"]
    conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conds["Ready"] == conds["ContainersReady"] == conds["Initialized"] == "True"
    deploy = cluster.kubectl_json("get", "deploy", "web", "-n", namespace)
    assert deploy["status"].get("readyReplicas") == 1


def test_a_sidecar_that_exits_is_restarted_while_the_app_keeps_running(
    cluster: Cluster, namespace: str
) -> None:
    flaky = "import time; time.sleep(1); raise SystemExit(3)"
    apply(
        cluster,
        namespace,
        pod_manifest(
            "flaky",
            {
                "restartPolicy": "Never",  # a sidecar restarts all the same
                "terminationGracePeriodSeconds": 1,
                "initContainers": [
                    {
                        "name": "shipper",
                        "image": IMAGE,
                        "restartPolicy": "Always",
                        "command": py(flaky),
                    }
                ],
                "containers": [{"name": "app", "image": IMAGE, "command": py(SLEEP)}],
            },
        ),
    )
    first = wait_for(lambda: app_running(cluster, namespace, "flaky"), "the app running")
    app_id = statuses(first, "containerStatuses")["app"]["containerID"]
    pod = wait_for(
        lambda: restarted(cluster, namespace, "flaky", "shipper", 2),
        "the sidecar restarted twice (the second after a back-off)",
    )
    shipper = statuses(pod)["shipper"]
    assert shipper["lastState"]["terminated"]["exitCode"] == 3
    app = statuses(pod, "containerStatuses")["app"]
    assert (app["restartCount"], app["containerID"]) == (0, app_id)
    assert "running" in app["state"]
    assert pod["status"]["phase"] == "Running"
    restarts = table_row(cluster, namespace, "flaky")[3]
    assert int(restarts) >= 2


def test_a_job_whose_pod_has_a_sidecar_completes(cluster: Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "work"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "terminationGracePeriodSeconds": 5,
                        "initContainers": [
                            {
                                "name": "shipper",
                                "image": IMAGE,
                                "restartPolicy": "Always",
                                "command": py(SLEEP),  # never ends by itself
                            }
                        ],
                        "containers": [
                            {
                                "name": "work",
                                "image": IMAGE,
                                "command": py("import time; time.sleep(1); print('done')"),
                            }
                        ],
                    }
                },
            },
        },
    )
    cluster.kubectl(
        "wait", "--for=condition=Complete", "job/work", "-n", namespace, "--timeout=90s"
    )
    job = cluster.kubectl_json("get", "job", "work", "-n", namespace)
    assert job["status"].get("succeeded") == 1
    [pod] = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "job-name=work")["items"]
    assert pod["status"]["phase"] == "Succeeded"
    assert statuses(pod, "containerStatuses")["work"]["state"]["terminated"]["exitCode"] == 0
    assert "terminated" in statuses(pod)["shipper"]["state"]  # stopped, not restarted
    assert statuses(pod)["shipper"]["restartCount"] == 0
    row = table_row(cluster, namespace, "-l", "job-name=work")
    assert row[1:3] == ["0/2", "Completed"]


def test_deletion_stops_the_regular_containers_before_the_sidecars(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    mount = {"name": "out", "mountPath": "/out"}

    def noting(name: str, linger: str, **extra: Any) -> dict[str, Any]:
        command = py(ON_SIGTERM, name, linger)
        return {"name": name, "image": IMAGE, "command": command, "volumeMounts": [mount], **extra}

    apply(
        cluster,
        namespace,
        pod_manifest(
            "ordered",
            {
                "terminationGracePeriodSeconds": 30,
                "initContainers": [
                    noting("logs", "0", restartPolicy="Always"),
                    noting("proxy", "0", restartPolicy="Always"),
                ],
                # the app takes a second to shut down: the sidecars wait for it
                "containers": [noting("app", "1")],
                "volumes": [
                    {"name": "out", "hostPath": {"path": str(out), "type": "DirectoryOrCreate"}}
                ],
            },
        ),
    )
    cluster.kubectl(
        "wait", "--for=condition=Ready", "pod/ordered", "-n", namespace, "--timeout=90s"
    )
    cluster.kubectl("delete", "pod", "ordered", "-n", namespace, "--timeout=60s")
    lines = [line.split() for line in (out / "order").read_text().splitlines()]
    events = [f"{name} {what}" for _, name, what in lines]
    assert events == [
        "app TERM",
        "app exit",
        "proxy TERM",  # the last declared sidecar first
        "proxy exit",
        "logs TERM",
        "logs exit",
    ]
    when = {f"{name} {what}": float(t) for t, name, what in lines}
    assert when["proxy TERM"] >= when["app exit"]


def test_deleting_a_pod_leaves_no_failed_mount_event(cluster: Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        pod_manifest(
            "short",
            {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": IMAGE, "command": py(SLEEP)}],
            },
        ),
    )
    cluster.kubectl("wait", "--for=condition=Ready", "pod/short", "-n", namespace, "--timeout=90s")
    cluster.kubectl("delete", "pod", "short", "-n", namespace, "--timeout=60s")

    def reasons() -> list[str]:
        items = cluster.kubectl_json(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=short"
        )["items"]
        return [e.get("reason", "") for e in items]

    wait_for(lambda: "Killing" in reasons(), "the Killing event")
    time.sleep(3)  # what a late refresh or a second runner would have written by now
    assert "FailedMount" not in reasons()
