"""Without the right to bind ports below 1024 (how most developers run kubelite),
pods still listen on port 80, and reach Services on their own ports and the
cluster DNS on port 53.

The cluster runs without CAP_NET_BIND_SERVICE (as root, dropped with
`setpriv`; as another user, as it is), so its Service frontends and DNS take
the ports' stand-ins and the node agent sends pods' connects there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster, _new_cluster

from kubelite.kubelet import podbind

pytestmark = pytest.mark.e2e

PY = "{}.{}".format(*sys.version_info[:2])
SETPRIV = shutil.which("setpriv")


class NoLowPortsCluster(Cluster):
    """`kubelite` run without CAP_NET_BIND_SERVICE, in userspace proxy mode (as a
    user without root; root keeps CAP_NET_ADMIN, which the kernel mode needs)."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "KUBELITE_PROXY_MODE": "userspace"}

    def kubelite(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "kubelite", *args, "--data-dir", str(self.data_dir)]
        if os.geteuid() == 0:
            assert SETPRIV is not None
            drop = "-net_bind_service"
            cmd = [SETPRIV, f"--bounding-set={drop}", f"--inh-caps={drop}", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env())
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubelite {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="module")
def low_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() == 0 and SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop CAP_NET_BIND_SERVICE")
    if not podbind.available():
        pytest.skip(
            "the kernel lacks seccomp user notification "
            "(/proc/sys/kernel/seccomp/actions_avail lists no user_notif)"
        )
    if os.geteuid() != 0 and not Path("/proc/self/ns/user").exists():
        pytest.skip("no user namespaces: containers get no resolv.conf of their own")
    c = NoLowPortsCluster(**vars(_new_cluster(tmp_path_factory.mktemp("lowports"))))
    c.start()
    try:
        yield c
    finally:
        c.stop()


CLIENT = """
import json, os, socket, ssl, urllib.request
out = {"resolv": open("/etc/resolv.conf").read()}
out["web"] = socket.gethostbyname("web")
out["status"] = urllib.request.urlopen("http://web/", timeout=10).status
out["pod"] = urllib.request.urlopen(f"http://{os.environ['WEB_POD']}/", timeout=10).status
plain = socket.create_connection(("web", 80))  # a blocking connect, no timeout
plain.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
out["plain"] = plain.recv(12).decode()
ctx = ssl._create_unverified_context()
out["api"] = urllib.request.urlopen(
    "https://kubernetes.default.svc/version", timeout=10, context=ctx
).status
print(json.dumps(out), flush=True)
"""


def test_pods_reach_services_and_dns_on_their_own_ports(low_cluster: Cluster) -> None:
    c = low_cluster
    assert c.status["proxyMode"] == "userspace"
    dns_ip, dns_port = c.status["dns"].rsplit(":", 1)
    assert dns_port == "64565"  # port 53's stand-in
    # The app listens on port 80 itself, probed there, as apps on a cluster do.
    web = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": f"python:{PY}",
                    "command": ["python3", "-m", "http.server", "80"],
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "readinessProbe": {
                        "httpGet": {"path": "/", "port": "http"},
                        "periodSeconds": 1,
                    },
                    "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
                }
            ]
        },
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(web))
    c.kubectl("expose", "pod", "web", "--port=80", "--target-port=http")
    c.kubectl("wait", "pod/web", "--for=condition=Ready", "--timeout=60s")
    svc_ip = c.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
    web_ip = c.kubectl("get", "pod", "web", "-o", "jsonpath={.status.podIP}").stdout
    # what kubelite itself dials on the pod: the API's proxy (as port-forward and probes)
    page = c.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/web:80/proxy/").stdout
    assert "Directory listing" in page
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", CLIENT],
                    "env": [{"name": "WEB_POD", "value": web_ip}],
                }
            ],
        },
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 90
    phase = ""
    while phase not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, f"the client pod never finished ({phase!r})"
        time.sleep(0.3)
        phase = c.kubectl_json("get", "pod", "client").get("status", {}).get("phase", "")
    logs = c.kubectl("logs", "client").stdout
    assert phase == "Succeeded", logs
    seen = json.loads(logs.strip().splitlines()[-1])
    assert f"nameserver {dns_ip}\n" in seen["resolv"]
    assert "options ndots:5 use-vc\n" in seen["resolv"]
    assert seen["web"] == svc_ip
    assert seen["status"] == seen["pod"] == 200
    assert seen["plain"] == "HTTP/1.0 200"
    assert seen["api"] == 200  # the `kubernetes` Service's 443, through its stand-in
    events = c.kubectl_json("get", "events", "--field-selector", "involvedObject.name=client")
    assert "MissingClusterDNS" not in {e["reason"] for e in events["items"]}
    status = c.kubectl_json("get", "pod", "web")["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0  # its liveness probe found port 80 all along
    # a command run with kubectl exec is the pod's as much as its main process is
    execd = c.kubectl("exec", "web", "--", "python3", "-c", EXECD).stdout.split()
    assert execd == [svc_ip, "200", web_ip]


EXECD = """
import socket, urllib.request
svc = "web.default.svc"  # in its own pod, "web" is the pod (/etc/hosts)
print(socket.gethostbyname(svc), urllib.request.urlopen(f"http://{svc}/", timeout=10).status)
print(socket.create_connection((svc, 80), timeout=10).getsockname()[0])
"""
