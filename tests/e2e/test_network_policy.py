"""NetworkPolicies are enforced in kernel (nftables) proxy mode.

A server Deployment and two caller pods (one labelled `app=caller`, one
`app=other`) that dial the server's pod IP in a loop, printing `ok` or
`fail ...` per attempt; each check waits for a caller's latest line. Host
traffic (the kubelet's readiness probe, this test process) stays allowed.
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
        reason="needs root and a kernel with seccomp user notification (pods dial from their IP)",
    ),
]
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=60, interval=0.3)

SERVER = (
    "import http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', '2')\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b'ok')\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    "http.server.ThreadingHTTPServer(('', 8083), H).serve_forever()\n"
)
CALLER = (
    "import sys, time, urllib.request\n"
    "n = 0\n"
    "while True:\n"
    "    n += 1\n"
    "    try:\n"
    "        urllib.request.urlopen(sys.argv[1], timeout=2).read()\n"
    "        print(n, 'ok', flush=True)\n"
    "    except Exception as e:\n"
    "        print(n, 'fail', type(e).__name__, e, flush=True)\n"
    "    time.sleep(0.3)\n"
)


def server_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "server"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "server"}},
            "template": {
                "metadata": {"labels": {"app": "server"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"python:{PY}",
                            "command": ["python3", "-c", SERVER],
                            "ports": [{"name": "http", "containerPort": 8083}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": 8083},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def caller_pod(name: str, app: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "app", "image": f"python:{PY}", "command": ["python3", "-c", CALLER, url]}
            ],
        },
    }


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def ready_server(cluster: Cluster, ns: str) -> dict[str, Any] | None:
    items = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "app=server")["items"]
    for p in items:
        conds = (p.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
            return dict(p)
    return None


def latest(cluster: Cluster, ns: str, name: str) -> str:
    lines = cluster.kubectl("logs", "-n", ns, name).stdout.splitlines()
    return lines[-1] if lines else ""


def reaches(cluster: Cluster, ns: str, name: str) -> bool:
    return latest(cluster, ns, name).split()[1:2] == ["ok"]


def refused(cluster: Cluster, ns: str, name: str) -> bool:
    line = latest(cluster, ns, name)
    return line.split()[1:2] == ["fail"] and "refused" in line.lower()


def after_next(cluster: Cluster, ns: str, name: str, check: Any, what: str) -> None:
    """Wait for an attempt the caller started after this call, satisfying `check`."""
    start = latest(cluster, ns, name).split()[:1]
    first = int(start[0]) if start and start[0].isdigit() else 0

    def fresh() -> bool:
        line = latest(cluster, ns, name).split()
        return bool(line) and line[0].isdigit() and int(line[0]) > first + 1 and check()

    wait_for(fresh, what)


def apply(cluster: Cluster, ns: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def test_network_policies_filter_pod_traffic(cluster: Cluster, namespace: str) -> None:
    if cluster.status.get("proxyMode") not in ("kernel", "nftables"):
        pytest.skip(
            "NetworkPolicies are enforced in nftables (kernel) proxy mode only; "
            f"this cluster's proxy mode is {cluster.status.get('proxyMode')!r}"
        )
    ns = namespace
    apply(cluster, ns, server_deployment())
    server = wait_for(lambda: ready_server(cluster, ns), "a ready server")
    url = f"http://{server['status']['podIP']}:8083/"
    apply(cluster, ns, caller_pod("caller", "caller", url))
    apply(cluster, ns, caller_pod("other", "other", url))

    # No policy: everyone gets in.
    for name in ("caller", "other"):
        wait_for(partial(reaches, cluster, ns, name), f"{name} reaching the server")

    # Default-deny ingress on the server: pods are refused; the host (probes) is not.
    apply(
        cluster,
        ns,
        policy("deny-server", {"podSelector": {"matchLabels": {"app": "server"}}}),
    )
    for name in ("caller", "other"):
        after_next(cluster, ns, name, partial(refused, cluster, ns, name), f"{name} refused")
    with urllib.request.urlopen(url, timeout=5) as answer:  # from the host
        assert answer.status == 200
    # several probe periods later the server is still Ready
    after_next(cluster, ns, "other", partial(refused, cluster, ns, "other"), "other refused")
    after_next(cluster, ns, "other", partial(refused, cluster, ns, "other"), "other refused")
    assert ready_server(cluster, ns) is not None

    # Allow app=caller to the named port: the union lets the caller in, not the other.
    apply(
        cluster,
        ns,
        policy(
            "allow-caller",
            {
                "podSelector": {"matchLabels": {"app": "server"}},
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "caller"}}}],
                        "ports": [{"port": "http"}],
                    }
                ],
            },
        ),
    )
    after_next(cluster, ns, "caller", partial(reaches, cluster, ns, "caller"), "caller let in")
    after_next(cluster, ns, "other", partial(refused, cluster, ns, "other"), "other still refused")

    # Egress default-deny on the caller: its own connects are refused now.
    apply(
        cluster,
        ns,
        policy(
            "caller-no-egress",
            {"podSelector": {"matchLabels": {"app": "caller"}}, "policyTypes": ["Egress"]},
        ),
    )
    after_next(cluster, ns, "caller", partial(refused, cluster, ns, "caller"), "caller blocked")

    # Without policies everything is open again.
    cluster.kubectl("delete", "networkpolicy", "--all", "-n", ns)
    for name in ("caller", "other"):
        after_next(cluster, ns, name, partial(reaches, cluster, ns, name), f"{name} back in")


RESOLVER = (
    "import socket, time\n"
    "n = 0\n"
    "while True:\n"
    "    n += 1\n"
    "    try:\n"
    "        socket.getaddrinfo('kubernetes.default.svc.cluster.local', 443)\n"
    "        print(n, 'ok', flush=True)\n"
    "    except OSError as e:\n"
    "        print(n, 'fail', type(e).__name__, e, flush=True)\n"
    "    time.sleep(0.3)\n"
)


def test_the_usual_allow_dns_policy_lets_pods_resolve(cluster: Cluster, namespace: str) -> None:
    """Default-deny egress plus the rule charts carry for CoreDNS (kube-system,
    `k8s-app: kube-dns`, port 53) lets pods resolve names, and nothing else."""
    if cluster.status.get("proxyMode") not in ("kernel", "nftables"):
        pytest.skip(
            "NetworkPolicies are enforced in nftables (kernel) proxy mode only; "
            f"this cluster's proxy mode is {cluster.status.get('proxyMode')!r}"
        )
    ns = namespace
    pod = caller_pod("resolver", "resolver", "")
    pod["spec"]["containers"][0]["command"] = ["python3", "-c", RESOLVER]
    apply(cluster, ns, pod)
    resolves = partial(reaches, cluster, ns, "resolver")
    wait_for(resolves, "the pod resolving a Service name")

    deny = {"podSelector": {}, "policyTypes": ["Egress"]}
    apply(cluster, ns, policy("default-deny-egress", deny))
    after_next(
        cluster, ns, "resolver", lambda: not resolves(), "resolution failing under default-deny"
    )

    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    allow_dns = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [dns_peer],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            }
        ],
    }
    apply(cluster, ns, policy("allow-dns", allow_dns))
    after_next(cluster, ns, "resolver", resolves, "resolution allowed again")
    # the rule reaches the DNS only: a connect to the API server's Service is still refused
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('kubernetes.default.svc.cluster.local', 443), 3)\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    out = cluster.kubectl("exec", "-n", ns, "resolver", "--", "python3", "-c", code).stdout
    assert out.strip() == "ConnectionRefusedError"
