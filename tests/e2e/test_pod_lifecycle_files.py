"""What a container finds as on a cluster: its hosts file, and its postStart hook.

`/etc/hosts` names the pod at its IP (so `gethostbyname(gethostname())`
works) and carries `hostAliases`; a postStart hook runs before the
container counts as Running, and one that fails gets the container killed
and restarted, with upstream's events.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=60, interval=0.3)


def apply_pod(cluster: Cluster, ns: str, name: str, spec: dict[str, Any]) -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def pod(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return got


def running(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    got = pod(cluster, ns, name)
    statuses = (got.get("status") or {}).get("containerStatuses") or [{}]
    return got if "running" in (statuses[0].get("state") or {}) else None


def logs(cluster: Cluster, ns: str, name: str, text: str) -> str | None:
    out = cluster.kubectl("logs", name, "-n", ns, check=False).stdout
    return out if text in out else None


def test_the_hosts_file_names_the_pod_at_its_ip(cluster: Cluster, namespace: str) -> None:
    script = (
        "import socket; print(open('/etc/hosts').read()); "
        "print('resolved', socket.gethostbyname(socket.gethostname()), flush=True)\n"
        "import time; time.sleep(3600)"
    )
    apply_pod(
        cluster,
        namespace,
        "named",
        {
            "subdomain": "grp",
            "hostAliases": [{"ip": "10.9.8.7", "hostnames": ["db.local", "cache.local"]}],
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "app", "image": f"python:{PY}", "command": ["python3", "-c", script]}
            ],
        },
    )
    got = wait_for(lambda: running(cluster, namespace, "named"), "running")
    ip = got["status"]["podIP"]
    out = wait_for(lambda: logs(cluster, namespace, "named", "resolved"), "its output")
    assert "# Kubernetes-managed hosts file." in out
    assert f"{ip}\tnamed.grp.{namespace}.svc.cluster.local\tnamed" in out
    assert "# Entries added by HostAliases.\n10.9.8.7\tdb.local\tcache.local" in out
    assert f"resolved {ip}" in out


def test_a_post_start_hook_runs_before_the_container_counts_as_running(
    cluster: Cluster, namespace: str
) -> None:
    apply_pod(
        cluster,
        namespace,
        "hooked",
        {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": [
                        "sh",
                        "-c",
                        "while [ ! -f /tmp/hooked ]; do sleep 0.1; done; cat /tmp/hooked; "
                        "sleep 3600",
                    ],
                    "lifecycle": {
                        "postStart": {
                            "exec": {"command": ["sh", "-c", "echo hook-ran > /tmp/hooked"]}
                        }
                    },
                }
            ],
        },
    )
    wait_for(lambda: running(cluster, namespace, "hooked"), "running")
    wait_for(lambda: logs(cluster, namespace, "hooked", "hook-ran"), "the hook's file read")
    status = pod(cluster, namespace, "hooked")["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0


def test_a_failing_post_start_hook_kills_the_container(cluster: Cluster, namespace: str) -> None:
    apply_pod(
        cluster,
        namespace,
        "badhook",
        {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": ["sleep", "3600"],
                    "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 3"]}}},
                }
            ],
        },
    )

    def events() -> str | None:
        out = cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=badhook"
        ).stdout
        return out if "FailedPostStartHook" in out and "Killing" in out else None

    out = wait_for(events, "FailedPostStartHook and Killing events")
    assert "PostStartHook failed" in out
    restarted = wait_for(
        lambda: (
            pod(cluster, namespace, "badhook")["status"]["containerStatuses"][0]
            .get("lastState", {})
            .get("terminated")
        ),
        "the killed instance in lastState",
    )
    assert restarted["exitCode"] != 0
    assert running(cluster, namespace, "badhook") is None  # never counted as Running
