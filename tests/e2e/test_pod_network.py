"""Apps that listen on all addresses, as on a cluster: each replica ends up on its pod IP.

Pods share this machine's network, so `python -m http.server 8080` (which
binds all addresses) in two replicas would collide; the node agent puts each
wildcard bind on the pod's own IP, and the Service balances over both.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
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
wait_for = partial(_wait_for, timeout=60, interval=0.3)


def deployment(name: str, command: list[str], replicas: int, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"python:{PY}",
                            "command": command,
                            "ports": [{"containerPort": port}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": port},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def pods(cluster: Cluster, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.kubectl_json("get", "pods", "-n", ns, "-l", f"app={app}")[
        "items"
    ]
    return items


def all_ready(cluster: Cluster, ns: str, app: str, count: int) -> list[dict[str, Any]] | None:
    items = pods(cluster, ns, app)
    ready = [
        p
        for p in items
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    ]
    return ready if len(ready) == count else None


def logged(cluster: Cluster, ns: str, name: str, text: str) -> bool:
    return text in cluster.kubectl("logs", "-n", ns, name).stdout


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return int(answer.status)


def answers(url: str) -> bool:
    """True once `url` answers 200 (refused while the Service's endpoints fill in)."""
    try:
        return get(url) == 200
    except OSError:
        return False


def test_replicas_listening_on_all_addresses_each_serve_on_their_pod_ip(
    cluster: Cluster, namespace: str
) -> None:
    manifest = deployment("files", ["python3", "-u", "-m", "http.server", "8080"], 3, 8080)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    ready = wait_for(lambda: all_ready(cluster, namespace, "files", 3), "three ready replicas")
    ips = {p["status"]["podIP"] for p in ready}
    assert len(ips) == 3
    for ip in ips:
        assert get(f"http://{ip}:8080/") == 200
    for p in ready:
        status = p["status"]["containerStatuses"][0]
        assert status["restartCount"] == 0  # nobody lost the port to a sibling
        # the app asked for all addresses and prints where its socket stands
        wanted = f"Serving HTTP on {p['status']['podIP']} port 8080"
        name = p["metadata"]["name"]
        wait_for(partial(logged, cluster, namespace, name, wanted), wanted)

    cluster.kubectl(
        "expose", "deployment", "files", "-n", namespace, "--port", "80", "--target-port", "8080"
    )
    svc = cluster.kubectl_json("get", "service", "files", "-n", namespace)
    cluster_ip = svc["spec"]["clusterIP"]
    wait_for(partial(answers, f"http://{cluster_ip}:80/"), "the Service answering")


def test_a_dual_stack_listener_on_all_addresses_lands_on_the_pod_ip(
    cluster: Cluster, namespace: str
) -> None:
    app = (
        "import http.server, socket\n"
        "class S(http.server.ThreadingHTTPServer):\n"
        "    address_family = socket.AF_INET6\n"
        "    def server_bind(self):\n"
        "        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
        "        super().server_bind()\n"
        "        print('bound', self.socket.getsockname()[0], flush=True)\n"
        "S(('::', 8081), http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    manifest = deployment("dual", ["python3", "-c", app], 2, 8081)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    ready = wait_for(lambda: all_ready(cluster, namespace, "dual", 2), "two ready replicas")
    for p in ready:
        ip = p["status"]["podIP"]
        assert get(f"http://{ip}:8081/") == 200
        name = p["metadata"]["name"]
        wanted = f"bound ::ffff:{ip}"
        wait_for(partial(logged, cluster, namespace, name, wanted), wanted)


WHOAMI = (
    "import http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = self.client_address[0].encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "http.server.ThreadingHTTPServer(('', 8082), H).serve_forever()\n"
)
CALLER = (
    "import os, sys, time, urllib.request\n"
    "for url in sys.argv[1:]:\n"
    "    for _ in range(100):\n"
    "        try:\n"
    "            seen = urllib.request.urlopen(url, timeout=5).read().decode()\n"
    "            break\n"
    "        except OSError:\n"
    "            time.sleep(0.2)\n"
    "    print('me', os.environ['POD_IP'], 'seen', seen, flush=True)\n"
)


def test_a_pod_connects_from_its_pod_ip(cluster: Cluster, namespace: str) -> None:
    manifest = deployment("whoami", ["python3", "-c", WHOAMI], 1, 8082)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    (server,) = wait_for(lambda: all_ready(cluster, namespace, "whoami", 1), "a ready server")
    cluster.kubectl(
        "expose", "deployment", "whoami", "-n", namespace, "--port", "80", "--target-port", "8082"
    )
    urls = [f"http://{server['status']['podIP']}:8082/"]
    if cluster.status.get("proxyMode") == "kernel":  # a userspace proxy dials anew
        svc = cluster.kubectl_json("get", "service", "whoami", "-n", namespace)
        urls.append(f"http://{svc['spec']['clusterIP']}/")
    caller = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "caller"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", CALLER, *urls],
                }
            ],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(caller))

    def finished() -> dict[str, Any] | None:
        pod = cluster.kubectl_json("get", "pod", "caller", "-n", namespace)
        return pod if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") else None

    pod = wait_for(finished, "the caller to finish")
    assert pod["status"]["phase"] == "Succeeded"
    ip = pod["status"]["podIP"]
    lines = cluster.kubectl("logs", "-n", namespace, "caller").stdout.splitlines()
    # the server saw the caller's pod IP, directly and through the Service
    assert lines == [f"me {ip} seen {ip}"] * len(urls)
