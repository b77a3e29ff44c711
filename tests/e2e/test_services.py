"""Services end to end: allocation errors, endpoints, ClusterIP/NodePort/LoadBalancer traffic, DNS.

Backends are small servers this test starts on pod addresses (127.244.0.x);
pods get their status patched by hand, as a node agent would report it.
Skipped until the cluster runs the service proxy (`proxyMode` != none).
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.e2e

POD_IPS = ["127.244.99.2", "127.244.99.3", "127.244.99.4"]


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, int]]:
    servers = {}
    for ip in POD_IPS:

        class Handler(BaseHTTPRequestHandler):
            me = ip

            def do_GET(self) -> None:
                body = self.me.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        srv = ThreadingHTTPServer((ip, 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers[ip] = srv
    yield {ip: s.server_address[1] for ip, s in servers.items()}
    for s in servers.values():
        s.shutdown()


def _need_proxy(cluster) -> None:  # type: ignore[no-untyped-def]
    if cluster.status.get("proxyMode") in (None, "none"):
        pytest.skip("the service proxy is not wired into this build")


def _pods(cluster, ports: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    for i, ip in enumerate(POD_IPS):
        name = f"go-app-{i}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "go-app"}},
            "spec": {
                "nodeName": "node-1",
                "containers": [
                    {
                        "name": "app",
                        "image": "app",
                        "ports": [{"name": "http", "containerPort": ports[ip]}],
                    }
                ],
            },
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
        status = {
            "status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        }
        cluster.kubectl(
            "patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
        )


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def _wait_endpoints(cluster, name: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """Each pod serves on its own port, so each address lands in its own subset."""
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ep = cluster.kubectl_json("get", "endpoints", name)
        if sum(len(s.get("addresses") or []) for s in ep.get("subsets") or []) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"endpoints/{name} never had {n} ready addresses")


def test_duplicate_cluster_ip_and_node_port_refused(cluster) -> None:  # type: ignore[no-untyped-def]
    _need_proxy(cluster)
    cluster.kubectl("create", "service", "nodeport", "dup-a", "--tcp=80", "--node-port=31555")
    ip = cluster.kubectl("get", "svc", "dup-a", "-o", "jsonpath={.spec.clusterIP}").stdout
    proc = cluster.kubectl(
        "create", "service", "clusterip", "dup-b", "--tcp=80", f"--clusterip={ip}", check=False
    )
    assert (
        "spec.clusterIPs: Invalid value" in proc.stderr
        and "provided IP is already allocated" in proc.stderr
    )
    proc = cluster.kubectl(
        "create", "service", "nodeport", "dup-c", "--tcp=80", "--node-port=31555", check=False
    )
    assert (
        "spec.ports[0].nodePort: Invalid value: 31555: provided port is already allocated"
        in proc.stderr
    )


def test_cluster_ip_spreads_nodeport_lb_and_dns(cluster, backends) -> None:  # type: ignore[no-untyped-def]
    _need_proxy(cluster)
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "go-app"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "go-app"},
            "ports": [{"port": 18080, "targetPort": "http"}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(svc))
    _pods(cluster, backends)
    _wait_endpoints(cluster, "go-app", 3)
    got = cluster.kubectl_json("get", "svc", "go-app")
    ip, node_port = got["spec"]["clusterIP"], got["spec"]["ports"][0]["nodePort"]
    seen: Counter[str] = Counter()
    for _ in range(300):
        try:
            seen[_get(f"http://{ip}:18080/")] += 1
        except OSError:
            seen["error"] += 1  # endpoints may still be reaching the proxy
    assert set(seen) - {"error"} == set(POD_IPS)
    assert all(80 <= seen[p] <= 120 for p in POD_IPS) or cluster.status["proxyMode"] == "kernel"
    assert _get(f"http://127.0.0.1:{node_port}/") in POD_IPS
    cluster.kubectl(
        "wait",
        "svc/go-app",
        "--for=jsonpath={.status.loadBalancer.ingress[0].ip}=127.0.0.1",
        "--timeout=20s",
    )
    assert _get("http://127.0.0.1:18080/") in POD_IPS
    host, port = cluster.status["dns"].rsplit(":", 1)
    import dns.message

    q = dns.message.make_query("go-app.default.svc.cluster.local", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q.to_wire(), (host, int(port)))
        reply = dns.message.from_wire(s.recv(4096))
    assert [r.to_text() for rr in reply.answer for r in rr] == [ip]


def test_selector_matching_nothing_refuses(cluster) -> None:  # type: ignore[no-untyped-def]
    _need_proxy(cluster)
    cluster.kubectl("create", "service", "clusterip", "empty", "--tcp=18081")
    ip = cluster.kubectl("get", "svc", "empty", "-o", "jsonpath={.spec.clusterIP}").stdout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, 18081), timeout=5)
