"""Inside a pod, `localhost` is the pod, as on a cluster where its containers share a
network namespace.

Pods here share this machine's network and listen on their pod IP; the node
agent takes a pod's connects to 127.0.0.1 or ::1 on a port the pod serves to
its pod IP (`kubelite.kubelet.podbind`), so a sidecar, `kubectl exec` and
`kubectl debug --target` reach the app on localhost, and replicas binding
127.0.0.1 each get their own pod IP instead of colliding.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

from kubelite.kubelet import podbind

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not podbind.available() or os.geteuid() != 0,
        reason="needs root and a kernel with seccomp user notification "
        "(/proc/sys/kernel/seccomp/actions_avail lists user_notif)",
    ),
]
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=90, interval=0.3)

FETCH = """
import sys, urllib.request
for url in sys.argv[1:]:
    print(url, urllib.request.urlopen(url, timeout=5).status, flush=True)
"""
# A sidecar that reaches its app on localhost, then says so on its own port.
SIDECAR = """
import http.server, time, urllib.request
while True:
    try:
        urllib.request.urlopen("http://localhost:8080/", timeout=2)
        break
    except OSError:
        time.sleep(0.2)
http.server.test(http.server.SimpleHTTPRequestHandler, port=8081, bind="0.0.0.0")
"""


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _ready(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    pod: dict[str, Any] = cluster.kubectl_json("get", "pod", name, "-n", ns)
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return pod if ready else None


def _app(readiness: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "app",
        "image": f"python:{PY}",
        "command": ["python3", "-m", "http.server", "8080"],  # all addresses, dual-stack
        "readinessProbe": {**readiness, "periodSeconds": 1},
    }


def _pod(name: str, *containers: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": list(containers)},
        }
    )


def test_a_sidecar_and_kubectl_exec_reach_the_app_on_localhost(
    cluster: Cluster, namespace: str
) -> None:
    sidecar = {
        "name": "sidecar",
        "image": f"python:{PY}",
        "command": ["python3", "-c", SIDECAR],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8081}, "periodSeconds": 1},
    }
    app = _app({"httpGet": {"path": "/", "port": 8080}})
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("web", app, sidecar))
    pod = wait_for(lambda: _ready(cluster, namespace, "web"), "the pod Ready")
    assert all(s["restartCount"] == 0 for s in pod["status"]["containerStatuses"])

    urls = ["http://localhost:8080/", "http://127.0.0.1:8080/"]
    if _has_ipv6_loopback():
        urls.append("http://[::1]:8080/")
    for container in ("app", "sidecar"):
        out = cluster.kubectl(
            "exec", "web", "-n", namespace, "-c", container, "--",
            "python3", "-c", FETCH, *urls,
        ).stdout  # fmt: skip
        assert out.splitlines() == [f"{url} 200" for url in urls], container

    # an ephemeral container targeting the app shares its localhost too
    cluster.kubectl(
        "debug", "web", "-n", namespace, f"--image=python:{PY}", "-c", "dbg", "--target=app",
        "--", "python3", "-c", FETCH, "http://localhost:8080/",
    )  # fmt: skip
    wait_for(
        lambda: (
            "http://localhost:8080/ 200"
            in cluster.kubectl("logs", "web", "-n", namespace, "-c", "dbg", check=False).stdout
        ),
        "the debug container's fetch",
    )


def test_an_exec_probe_reaches_the_app_on_localhost(cluster: Cluster, namespace: str) -> None:
    probe = {"exec": {"command": ["python3", "-c", FETCH, "http://localhost:8080/"]}}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("probed", _app(probe)))
    _wait_for(lambda: _ready(cluster, namespace, "probed"), "the pod Ready", timeout=30)


LOOPBACK_APP = ["python3", "-m", "http.server", "9090", "--bind", "127.0.0.1"]


def test_replicas_binding_localhost_both_run_each_on_its_pod_ip(
    cluster: Cluster, namespace: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "local"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "local"}},
            "template": {
                "metadata": {"labels": {"app": "local"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"python:{PY}",
                            "command": LOOPBACK_APP,
                            "readinessProbe": {
                                # on its pod IP, where its bind of 127.0.0.1 went
                                "tcpSocket": {"port": 9090},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment))

    def both_ready() -> list[dict[str, Any]] | None:
        items = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=local")["items"]
        ready = [p for p in items if _ready(cluster, namespace, p["metadata"]["name"])]
        return ready if len(ready) == 2 else None

    for pod in wait_for(both_ready, "both replicas Ready"):
        name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0  # no EADDRINUSE
        out = cluster.kubectl(
            "exec", name, "-n", namespace, "--", "python3", "-c", FETCH, "http://localhost:9090/"
        ).stdout
        assert out.strip() == "http://localhost:9090/ 200"
        log = cluster.kubectl("logs", name, "-n", namespace).stdout
        assert f"{ip} - - " in log  # its own exec, from its own pod IP


def test_kubectl_exec_with_a_terminal_sets_term(cluster: Cluster, namespace: str) -> None:
    from kubernetes.stream import stream

    sleeper = {"name": "main", "image": f"python:{PY}", "command": ["sleep", "3600"]}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("term", sleeper))
    wait_for(lambda: _ready(cluster, namespace, "term"), "the pod Ready")
    api, client = cluster.api_client()
    core: Any = client.CoreV1Api(api)

    def term_seen(tty: bool) -> str:
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            "term",
            namespace,
            command=["sh", "-c", 'echo "TERM=$TERM"'],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=tty,
            _preload_content=False,
        )
        resp.run_forever(timeout=30)
        return str(resp.read_stdout()).strip()

    assert term_seen(tty=True) == "TERM=xterm"  # as containerd sets it
    assert term_seen(tty=False) == "TERM="
