"""Services end to end: allocation errors, endpoints, ClusterIP/NodePort/LoadBalancer traffic, DNS.

Traffic tests use small servers this test starts on pod addresses
(127.244.9x.x) behind pods bound to a node no agent runs, whose status is
patched by hand as a node agent would report it; they run in both proxy
modes (the default, kernel when root, and userspace forced through
KUBELITE_PROXY_MODE). What a pod sees (resolv.conf, name resolution, Service
variables) is read from real pods run by the node agent, which print it.
Skipped until the cluster runs the service proxy (`proxyMode` != none).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from tests.e2e.conftest import Cluster, _new_cluster

pytestmark = pytest.mark.e2e

POD_IPS = ["127.244.99.2", "127.244.99.3", "127.244.99.4"]


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, int]]:
    servers = _start_backends(POD_IPS)
    yield {ip: s.server_address[1] for ip, s in servers.items()}
    for s in servers.values():
        s.shutdown()


def _need_proxy(cluster) -> None:  # type: ignore[no-untyped-def]
    if cluster.status.get("proxyMode") in (None, "none"):
        pytest.skip("the service proxy is not wired into this build")


def _pods(cluster, ports: dict[str, int], *, ips: list[str] = POD_IPS, app: str = "go-app") -> None:  # type: ignore[no-untyped-def]
    for i, ip in enumerate(ips):
        name = f"{app}-{i}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app}},
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


def test_a_second_cluster_on_the_machine_takes_none_of_the_first_ones_addresses(
    cluster, fresh_cluster
) -> None:  # type: ignore[no-untyped-def]
    """Both clusters' Services answer on this machine's loopback addresses and ports."""
    cluster.kubectl("create", "service", "nodeport", "held", "--tcp=80", "--node-port=31777")
    ip = cluster.kubectl("get", "svc", "held", "-o", "jsonpath={.spec.clusterIP}").stdout
    proc = fresh_cluster.kubectl(
        "create", "service", "clusterip", "same-ip", "--tcp=80", f"--clusterip={ip}", check=False
    )
    assert f"failed to allocate IP {ip}: provided IP is already allocated" in proc.stderr
    proc = fresh_cluster.kubectl(
        "create", "service", "nodeport", "same-port", "--tcp=80", "--node-port=31777", check=False
    )
    assert "nodePort: Invalid value: 31777: provided port is already allocated" in proc.stderr
    cluster.kubectl("delete", "service", "held")
    deadline = time.monotonic() + 30
    while True:  # the first cluster's list of what it holds follows its Services
        proc = fresh_cluster.kubectl(
            "create", "service", "nodeport", "same-port", "--tcp=80", "--node-port=31777",
            check=False,
        )  # fmt: skip
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module", params=["default", "userspace"])
def proxy_cluster(request, cluster, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The module's cluster (kernel mode when root), then one forced into userspace mode."""
    if request.param == "default":
        yield cluster
        return
    c = UserspaceCluster(**vars(_new_cluster(tmp_path_factory.mktemp("userspace"))))
    c.start()
    try:
        assert c.status["proxyMode"] == "userspace"
        yield c
    finally:
        c.stop()


class UserspaceCluster(Cluster):
    def env(self) -> dict[str, str]:
        return {**super().env(), "KUBELITE_PROXY_MODE": "userspace"}


def _port_for(cluster, base: int) -> int:  # type: ignore[no-untyped-def]
    """Distinct Service ports per mode: a kernel cluster's load-balancer rules for
    127.0.0.1:PORT would otherwise catch the other cluster's traffic."""
    return base + (10 if cluster.status.get("proxyMode") == "userspace" else 0)


def _spread_requests(cluster) -> int:  # type: ignore[no-untyped-def]
    """Round-robin spreads 300 requests evenly. Kernel mode picks at random per
    connection, like kube-proxy: 300 draws land within 20 % of even only ~95 % of
    the time, so it gets 3000, where a 20 % miss is a 7-sigma event."""
    return 3000 if cluster.status.get("proxyMode") == "kernel" else 300


def test_cluster_ip_spreads_nodeport_lb_and_dns(proxy_cluster, backends) -> None:  # type: ignore[no-untyped-def]
    cluster = proxy_cluster
    _need_proxy(cluster)
    port = _port_for(cluster, 18080)
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "go-app"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "go-app"},
            "ports": [{"port": port, "targetPort": "http"}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(svc))
    _pods(cluster, backends)
    _wait_endpoints(cluster, "go-app", 3)
    got = cluster.kubectl_json("get", "svc", "go-app")
    ip, node_port = got["spec"]["clusterIP"], got["spec"]["ports"][0]["nodePort"]
    _wait_reachable(f"http://{ip}:{port}/")
    total = _spread_requests(cluster)
    seen: Counter[str] = Counter(_get(f"http://{ip}:{port}/") for _ in range(total))
    assert set(seen) == set(POD_IPS)
    even = total / len(POD_IPS)
    assert all(0.8 * even <= seen[p] <= 1.2 * even for p in POD_IPS), seen
    assert _get(f"http://127.0.0.1:{node_port}/") in POD_IPS
    cluster.kubectl(
        "wait",
        "svc/go-app",
        "--for=jsonpath={.status.loadBalancer.ingress[0].ip}=127.0.0.1",
        "--timeout=20s",
    )
    _wait_reachable(f"http://127.0.0.1:{port}/")
    assert _get(f"http://127.0.0.1:{port}/") in POD_IPS
    host, dns_port = cluster.status["dns"].rsplit(":", 1)
    reply = _dns_query(
        host,
        int(dns_port),
        dns.message.make_query("go-app.default.svc.cluster.local", "A").to_wire(),
    )
    assert [r.to_text() for rr in reply.answer for r in rr] == [ip]


def _wait_reachable(url: str) -> None:
    """The proxy follows the API asynchronously: wait for its first answer."""
    deadline = time.monotonic() + 20
    while True:
        try:
            _get(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _dns_query(host: str, port: int, wire: bytes) -> dns.message.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(wire, (host, port))
        return dns.message.from_wire(s.recv(4096))


ROLLOUT_IPS = ["127.244.98.2", "127.244.98.3", "127.244.98.4"]


def test_replica_deleted_during_traffic_loses_no_request(proxy_cluster) -> None:  # type: ignore[no-untyped-def]
    """Delete a replica mid-traffic; once the proxy stops choosing it, kill its
    server (the container exiting): no request fails, before or after."""
    cluster = proxy_cluster
    _need_proxy(cluster)
    servers = _start_backends(ROLLOUT_IPS)
    traffic = _Traffic()
    try:
        port = _port_for(cluster, 18082)
        ports = {ip: srv.server_address[1] for ip, srv in servers.items()}
        cluster.kubectl("create", "service", "clusterip", "rollout", f"--tcp={port}:http")
        _pods(cluster, ports, ips=ROLLOUT_IPS, app="rollout")
        _wait_endpoints(cluster, "rollout", 3)
        ip = cluster.kubectl("get", "svc", "rollout", "-o", "jsonpath={.spec.clusterIP}").stdout
        _wait_reachable(f"http://{ip}:{port}/")
        traffic.start(f"http://{ip}:{port}/")
        traffic.wait_for(lambda r: set(ROLLOUT_IPS) <= {who for _, who in r}, "all replicas hit")
        gone = ROLLOUT_IPS[2]
        cluster.kubectl("delete", "pod", "rollout-2", "--wait=false")
        # Removed from the proxy once 30 requests in a row went elsewhere
        # (round-robin: certain; random over 2 of 3: (2/3)^30 ~ 5e-6 by chance).
        traffic.wait_for(lambda r: _misses_since_last(r, gone) >= 30, "the replica to be left out")
        servers.pop(gone).shutdown()  # stop serving: new connections to it would fail
        killed_at = len(traffic.results)
        traffic.wait_for(lambda r: len(r) >= killed_at + 200, "traffic after the kill")
    finally:
        traffic.stop()
        for srv in servers.values():
            srv.shutdown()
        cluster.kubectl("delete", "pod", "rollout-2", "--force", "--grace-period=0", check=False)
    errors = [who for _, who in traffic.results if who.startswith("error")]
    assert errors == []
    assert gone not in {who for _, who in traffic.results[killed_at:]}


def _misses_since_last(results: list[tuple[float, str]], ip: str) -> int:
    whos = [who for _, who in results]
    last = max((i for i, who in enumerate(whos) if who == ip), default=-1)
    return len(whos) - 1 - last


class _Traffic:
    """One client thread sending requests back to back, recording who answered."""

    def __init__(self) -> None:
        self.results: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, url: str) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    who = _get(url)
                except OSError as exc:
                    who = f"error: {exc}"
                self.results.append((started, who))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def wait_for(self, check, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 30
        while not check(list(self.results)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last: {self.results[-5:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _start_backends(ips: list[str]) -> dict[str, ThreadingHTTPServer]:
    servers: dict[str, ThreadingHTTPServer] = {}
    for ip in ips:

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

        srv = _ClosingServer((ip, 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers[ip] = srv
    return servers


class _ClosingServer(ThreadingHTTPServer):
    """`shutdown` also closes the listening socket, so new connections are refused."""

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def test_malformed_dns_query_gets_formerr_and_server_stays_up(cluster) -> None:  # type: ignore[no-untyped-def]
    host, port = cluster.status["dns"].rsplit(":", 1)
    garbage = b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff\xff"
    reply = _dns_query(host, int(port), garbage)
    assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR
    ok = _dns_query(
        host,
        int(port),
        dns.message.make_query("kubernetes.default.svc.cluster.local", "A").to_wire(),
    )
    assert ok.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for rr in ok.answer for r in rr] == [
        cluster.kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout
    ]


def test_selector_matching_nothing_refuses(cluster) -> None:  # type: ignore[no-untyped-def]
    _need_proxy(cluster)
    cluster.kubectl("create", "service", "clusterip", "empty", "--tcp=18081")
    ip = cluster.kubectl("get", "svc", "empty", "-o", "jsonpath={.spec.clusterIP}").stdout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, 18081), timeout=5)


# ---- what a pod sees: resolv.conf, names, Service variables ----------------------------

PY = "{}.{}".format(*sys.version_info[:2])
PROBE = r"""
import json, os, socket
def addrs(name):
    try:
        return sorted({a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)})
    except OSError as exc:
        return "error: %s" % exc
names = json.loads(os.environ["NAMES"])
print(json.dumps({
    "resolv": open("/etc/resolv.conf").read(),
    "addrs": {n: addrs(n) for n in names},
    "env": {k: v for k, v in os.environ.items() if "_SERVICE_" in k or "_PORT" in k},
}))
"""


def _need_sandbox(cluster) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() != 0 and not Path("/proc/self/ns/user").exists():
        pytest.skip("containers get no mount namespace here: nothing to bind resolv.conf into")


def _probe(cluster, ns: str, name: str, names: list[str], **spec) -> dict:  # type: ignore[no-untyped-def]
    """Run PROBE in a pod of `ns`; return what it printed."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": f"python:{PY}",
                    "command": ["python", "-c", PROBE],
                    "env": [{"name": "NAMES", "value": json.dumps(names)}],
                }
            ],
            **spec,
        },
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 90
    phase = ""
    while phase not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, f"pod {name} never finished (phase {phase!r})"
        time.sleep(0.3)
        phase = cluster.kubectl_json("get", "pod", name, "-n", ns).get("status", {}).get("phase")
    logs = cluster.kubectl("logs", name, "-n", ns).stdout
    assert phase == "Succeeded", logs
    return json.loads(logs.strip().splitlines()[-1])


def _host_searches() -> list[str]:
    searches: list[str] = []
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
    return searches


def _web_statefulset(ns: str) -> list[dict]:
    sleeper = ["python", "-c", "import time; time.sleep(3600)"]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "nginx"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "serviceName": "nginx",
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {"name": "web", "image": f"python:{PY}", "command": sleeper}
                        ],
                    },
                },
            },
        },
    ]


def test_pod_resolves_service_names_and_sees_service_env(cluster, namespace) -> None:  # type: ignore[no-untyped-def]
    _need_sandbox(cluster)
    ns = namespace
    cluster.kubectl("create", "service", "clusterip", "go-app", "--tcp=8080", "-n", ns)
    for obj in _web_statefulset(ns):
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
    cluster.kubectl("wait", "-n", ns, "pod/web-0", "--for=condition=Ready", "--timeout=60s")
    web_ip = cluster.kubectl(
        "get", "pod", "web-0", "-n", ns, "-o", "jsonpath={.status.podIP}"
    ).stdout
    svc_ip = cluster.kubectl(
        "get", "svc", "go-app", "-n", ns, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    _wait_dns(cluster, f"web-0.nginx.{ns}.svc.cluster.local", web_ip)
    fqdn = f"go-app.{ns}.svc.cluster.local"
    names = ["go-app", fqdn, "web-0.nginx", f"web-0.nginx.{ns}.svc.cluster.local"]
    seen = _probe(cluster, ns, "probe", names)

    host, port = cluster.status["dns"].rsplit(":", 1)
    if port not in ("53", "64565"):  # no cluster DNS for pods: the host's file and a warning
        assert seen["resolv"] == Path("/etc/resolv.conf").read_text()
        reasons = [e["reason"] for e in _events(cluster, ns, "probe")]
        assert "MissingClusterDNS" in reasons
    else:
        search = " ".join(
            [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local", *_host_searches()]
        )
        options = "ndots:5" if port == "53" else "ndots:5 use-vc"  # 64565: port 53's stand-in
        assert seen["resolv"] == f"search {search}\nnameserver {host}\noptions {options}\n"
        assert seen["addrs"] == {
            "go-app": [svc_ip],
            fqdn: [svc_ip],
            "web-0.nginx": [web_ip],
            f"web-0.nginx.{ns}.svc.cluster.local": [web_ip],
        }
    env = seen["env"]
    assert env["GO_APP_SERVICE_HOST"] == svc_ip
    assert env["GO_APP_SERVICE_PORT"] == "8080"
    assert env["GO_APP_PORT"] == env["GO_APP_PORT_8080_TCP"] == f"tcp://{svc_ip}:8080"
    assert env["GO_APP_PORT_8080_TCP_ADDR"] == svc_ip
    assert "NGINX_SERVICE_HOST" not in env  # headless: no cluster IP, no variables
    assert env["KUBERNETES_SERVICE_PORT"] == "443"


def test_service_links_off_and_dns_policy_default(cluster, namespace) -> None:  # type: ignore[no-untyped-def]
    _need_sandbox(cluster)
    ns = namespace
    cluster.kubectl("create", "service", "clusterip", "go-app", "--tcp=8080", "-n", ns)
    seen = _probe(cluster, ns, "nolinks", ["go-app"], enableServiceLinks=False, dnsPolicy="Default")
    assert not [k for k in seen["env"] if k.startswith("GO_APP_")]
    assert "KUBERNETES_SERVICE_HOST" in seen["env"]  # the master Service, always
    assert seen["resolv"] == _render_host()


def _render_host() -> str:
    """The host's resolv.conf as the node agent writes it for dnsPolicy Default."""
    servers, searches, options = [], _host_searches(), []
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and fields[0] == "nameserver":
            servers.append(fields[1])
        elif fields and fields[0] == "options":
            options += fields[1:]
    lines = [f"search {' '.join(searches)}"] if searches else []
    lines += [f"nameserver {s}" for s in servers]
    lines += [f"options {' '.join(options)}"] if options else []
    return "".join(line + "\n" for line in lines)


def _wait_dns(cluster, name: str, ip: str) -> None:  # type: ignore[no-untyped-def]
    host, port = cluster.status["dns"].rsplit(":", 1)
    deadline = time.monotonic() + 30
    answer: list[str] = []
    while answer != [ip]:
        assert time.monotonic() < deadline, f"{name} never resolved to {ip}: {answer}"
        reply = _dns_query(host, int(port), dns.message.make_query(name, "A").to_wire())
        answer = [r.to_text() for rr in reply.answer for r in rr]
        time.sleep(0.1)


def _events(cluster, ns: str, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}"
    )["items"]
