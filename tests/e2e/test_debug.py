"""`kubectl debug`: an ephemeral container joins a running pod, and runs once.

The container starts in the pod (its IP, its node), its output is in
`kubectl logs -c`, `-i` attaches to it, and when it ends it stays ended:
ephemeral containers are never restarted, and the pod's own containers
carry on untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import KUBECTL, Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=60, interval=0.3)


def running_pod(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "app", "image": f"python:{PY}", "command": ["sleep", "3600"]}],
        },
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    return wait_for(
        lambda: _if_running(cluster.kubectl_json("get", "pod", name, "-n", ns)), "pod running"
    )


def _if_running(pod: dict[str, Any]) -> dict[str, Any] | None:
    return pod if (pod.get("status") or {}).get("phase") == "Running" else None


def ephemeral_status(cluster: Cluster, ns: str, pod: str, name: str) -> dict[str, Any]:
    got = cluster.kubectl_json("get", "pod", pod, "-n", ns)
    for status in (got.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if status["name"] == name:
            return dict(status)
    return {}


def terminated(cluster: Cluster, ns: str, pod: str, name: str) -> dict[str, Any] | None:
    state = ephemeral_status(cluster, ns, pod, name).get("state") or {}
    return state.get("terminated")


def test_an_ephemeral_container_runs_once_in_the_pod(cluster: Cluster, namespace: str) -> None:
    pod = running_pod(cluster, namespace, "target")
    script = "echo ip=$POD_IP host=$(hostname); exit 3"
    cluster.kubectl(
        "debug", "target", "-n", namespace, f"--image=python:{PY}", "-c", "dbg",
        "--", "sh", "-c", script,
    )  # fmt: skip
    ended = wait_for(lambda: terminated(cluster, namespace, "target", "dbg"), "dbg ended")
    assert ended["exitCode"] == 3
    assert ended["reason"] == "Error"
    log = cluster.kubectl("logs", "target", "-n", namespace, "-c", "dbg").stdout
    assert f"ip={pod['status']['podIP']} host=target" in log  # the pod's network and name

    status = ephemeral_status(cluster, namespace, "target", "dbg")
    assert status["restartCount"] == 0 and status["ready"] is False
    after = cluster.kubectl_json("get", "pod", "target", "-n", namespace)
    assert after["status"]["phase"] == "Running"
    app = after["status"]["containerStatuses"][0]
    assert app["restartCount"] == 0 and "running" in app["state"]
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=target"
    ).stdout
    assert (
        "spec.ephemeralContainers{dbg}"
        in cluster.kubectl(
            "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].involvedObject.fieldPath}"
        ).stdout
    )
    assert "Started container dbg" in events


def test_kubectl_debug_i_attaches_to_the_ephemeral_container(
    cluster: Cluster, namespace: str
) -> None:
    running_pod(cluster, namespace, "shell")
    # An interactive session: the client's stdin stays open (a client whose stdin
    # ends is detached, as containerd detaches it, unless the container has stdinOnce).
    argv = [
        "debug", "shell", "-n", namespace, "-i", f"--image=python:{PY}", "-c", "sh1",
        "--", "sh", "-c", "read line; echo got-$line",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [str(KUBECTL), *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=cluster.env(),
    )
    guard = threading.Timer(90, proc.kill)  # a hang guard, not a timing
    guard.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("ping\n")
        proc.stdin.flush()
        out = proc.stdout.read()  # until the container ends and kubectl with it
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
    assert "got-ping" in out
    wait_for(lambda: terminated(cluster, namespace, "shell", "sh1"), "sh1 ended")
