"""A deleted pod's status tells the truth until the pod is gone.

The node agent stops a deleted pod's containers (SIGTERM, the grace period),
still probing readiness — a change written at once, so an app that stops
serving on SIGTERM shows not ready, and its endpoint serving=false while
terminating — then writes the pod's final status — each container terminated with the
exit code its app exited with, not ready, the Ready conditions False, a
terminal phase — and only then removes the object, as upstream's kubelet
does. A watcher (`kubectl get -w`) sees that status before the DELETED event.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
EVENT_WAIT_S = 60.0  # a deadline for a stuck cluster, not a measurement

# Takes a moment to exit on SIGTERM, with an exit code of its own.
APP = """\
import signal, sys, time
def stop(*_):
    print("stopping", flush=True)
    time.sleep(1)
    sys.exit(int(sys.argv[1]))
signal.signal(signal.SIGTERM, stop)
print("up", flush=True)
while True:
    time.sleep(3600)
"""


class PodWatch:
    """`kubectl get pod NAME -w -o json --output-watch-events`, event by event
    (`what` picks other objects: `["endpointslices", "-l", SELECTOR]`)."""

    def __init__(self, cluster: Cluster, ns: str, name: str, what: list[str] | None = None) -> None:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.proc = subprocess.Popen(
            [kubectl, "get", *(what or ["pod", name]), "-n", ns]
            + ["-w", "-o", "json", "--output-watch-events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=cluster.env(),
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder, buf = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buf = (buf + line).lstrip()
            while buf:
                try:
                    event, end = decoder.raw_decode(buf)
                except ValueError:
                    break
                self.events.put(event)
                buf = buf[end:].lstrip()

    def next(self) -> dict[str, Any]:
        try:
            return self.events.get(timeout=EVENT_WAIT_S)
        except queue.Empty:
            raise AssertionError("no watch event came") from None

    def until_deleted(self) -> list[dict[str, Any]]:
        """Every event up to and including DELETED."""
        seen = [self.next()]
        while seen[-1]["type"] != "DELETED":
            seen.append(self.next())
        return seen

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return statuses[0]


def condition(pod: dict[str, Any], type_: str) -> dict[str, Any]:
    conds = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == type_), {})


def run_ready_pod(cluster: Cluster, ns: str, name: str, exit_code: int) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", APP, str(exit_code)],
                }
            ],
        },
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=60s", timeout=90
    )
    # its SIGTERM handler is in place once it says so
    wait_for(
        lambda: "up" in cluster.kubectl("logs", name, "-n", ns, check=False).stdout.split(),
        what=f"{name} to handle SIGTERM",
    )


@pytest.mark.parametrize(
    ("exit_code", "phase", "reason"),
    [
        pytest.param(3, "Failed", "Error", id="exit-3"),
        pytest.param(0, "Succeeded", "Completed", id="exit-0"),
    ],
)
def test_a_deleted_pod_shows_its_stopped_containers_before_it_is_gone(
    cluster: Cluster, namespace: str, exit_code: int, phase: str, reason: str
) -> None:
    name = f"stopping-{exit_code}"
    run_ready_pod(cluster, namespace, name, exit_code)
    watch = PodWatch(cluster, namespace, name)
    try:
        first = watch.next()  # the watch's initial state: the pod, running and ready
        assert first["type"] == "ADDED"
        assert container_status(first["object"])["ready"] is True
        cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=false")
        events = watch.until_deleted()
    finally:
        watch.stop()

    # the first event showing the container stopped: a MODIFIED one, before DELETED
    at = next(
        (
            i
            for i, e in enumerate(events)
            if "terminated" in container_status(e["object"]).get("state", {})
        ),
        None,
    )
    assert at is not None, [e["type"] for e in events]
    assert events[at]["type"] == "MODIFIED"
    assert at < len(events) - 1
    final = events[at]["object"]
    assert final["metadata"].get("deletionTimestamp")
    status = container_status(final)
    terminated = status["state"]["terminated"]
    assert terminated["exitCode"] == exit_code  # as the app exited, not a kill's code
    assert terminated["reason"] == reason
    assert terminated.get("startedAt") and terminated.get("finishedAt")
    assert status["ready"] is False
    assert condition(final, "Ready")["status"] == "False"
    assert condition(final, "ContainersReady")["status"] == "False"
    # upstream's kubelet ends every deleted pod in a terminal phase, restartPolicy
    # Always included, and deletes only a pod whose status shows it
    assert final["status"]["phase"] == phase
    assert final["status"].get("podIP")

    deleted = events[-1]["object"]
    assert container_status(deleted)["state"]["terminated"]["exitCode"] == exit_code
    gone = cluster.kubectl("get", "pod", name, "-n", namespace, check=False)
    assert gone.returncode != 0


def test_kubectl_get_shows_the_pod_not_ready_once_its_containers_stopped(
    cluster: Cluster, namespace: str
) -> None:
    run_ready_pod(cluster, namespace, "table", 3)
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    watch = subprocess.Popen(
        [kubectl, "get", "pod", "table", "-n", namespace, "-w", "--no-headers"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=cluster.env(),
    )
    rows: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            rows.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first = rows.get(timeout=EVENT_WAIT_S).split()
        assert first[1:3] == ["1/1", "Running"]
        cluster.kubectl("delete", "pod", "table", "-n", namespace, "--wait=true", timeout=90)
        seen: list[list[str]] = []
        # the table rows up to the pod's last state (the DELETED event prints it once more)
        while not seen or seen[-1][1] != "0/1":
            seen.append(rows.get(timeout=EVENT_WAIT_S).split())
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        reader.join(timeout=10)
    assert ["1/1", "Terminating"] in [row[1:3] for row in seen]
    # a pod that ended is shown by how it ended, as kubectl shows a terminal pod
    assert seen[-1][1:3] == ["0/1", "Error"]


# Serves on 8080 until SIGTERM; then stops listening (its readiness probe fails)
# and drains a few seconds before it exits, as a graceful shutdown does.
DRAINING_APP = """\
import signal, socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("", 8080))
srv.listen()
def stop(*_):
    srv.close()
    print("draining", flush=True)
    time.sleep(8)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("up", flush=True)
while True:
    conn, _ = srv.accept()
    conn.close()
"""


def endpoint_conditions(event: dict[str, Any], ip: str) -> dict[str, Any] | None:
    """The conditions of `ip`'s endpoint in a watched EndpointSlice, if it has one."""
    for ep in event["object"].get("endpoints") or []:
        if ip in ep.get("addresses", []):
            return dict(ep.get("conditions") or {})
    return None


def test_a_terminating_pod_that_stops_serving_is_not_ready_before_it_ends(
    cluster: Cluster, namespace: str
) -> None:
    name = "draining"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", DRAINING_APP],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {
                        "tcpSocket": {"port": 8080},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                }
            ],
        },
    }
    for obj in (service, pod):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace, "--timeout=60s", timeout=90
    )
    wait_for(
        lambda: "up" in cluster.kubectl("logs", name, "-n", namespace, check=False).stdout.split(),
        what=f"{name} to handle SIGTERM",
    )
    ip = cluster.kubectl_json("get", "pod", name, "-n", namespace)["status"]["podIP"]
    selector = f"kubernetes.io/service-name={name}"
    slices = PodWatch(cluster, namespace, name, ["endpointslices", "-l", selector])
    watch = PodWatch(cluster, namespace, name)
    try:
        first = watch.next()
        assert container_status(first["object"])["ready"] is True
        # the slice shows the pod serving before the deletion
        while (endpoint_conditions(slices.next(), ip) or {}).get("ready") is not True:
            pass
        cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=false")
        events = watch.until_deleted()
        # the endpoint stays, not serving, while the pod terminates
        seen = []
        while not seen or seen[-1] != {"ready": False, "serving": False, "terminating": True}:
            conds = endpoint_conditions(slices.next(), ip)
            assert conds is not None, f"the endpoint went away first: {seen}"
            seen.append(conds)
    finally:
        watch.stop()
        slices.stop()

    ended = next(
        i for i, e in enumerate(events) if "terminated" in container_status(e["object"])["state"]
    )
    # before the container stopped: deleting, still running, and no longer ready
    draining = next(
        (
            e
            for e in events[:ended]
            if e["object"]["metadata"].get("deletionTimestamp")
            and container_status(e["object"])["ready"] is False
        ),
        None,
    )
    assert draining is not None, [e["type"] for e in events]
    assert draining["type"] == "MODIFIED"
    assert "running" in container_status(draining["object"])["state"]
    assert condition(draining["object"], "Ready")["status"] == "False"
    assert condition(draining["object"], "Ready")["reason"] == "ContainersNotReady"
    assert draining["object"]["status"]["phase"] == "Running"
    # then the app exited as it meant to, after its drain
    final = events[ended]["object"]
    assert container_status(final)["state"]["terminated"]["exitCode"] == 0
    assert final["status"]["phase"] == "Succeeded"
