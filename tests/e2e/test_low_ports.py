"""Without the right to bind ports below 1024 (how most developers run kubelite),
pods still listen on port 80, and reach Services on their own ports and the
cluster DNS on port 53.

Two clusters: one without CAP_NET_BIND_SERVICE (as root, dropped with
`setpriv`), and, when the tests run as root, one run by an unprivileged user
(`nobody`) as a developer runs it: containers in user namespaces, the
userspace proxy, the stand-ins. A suite run without root is the second kind
throughout, so the second cluster is then not started again.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster, _new_cluster

import kubelite
from kubelite.kubelet import podbind

pytestmark = pytest.mark.e2e

PY = "{}.{}".format(*sys.version_info[:2])
SETPRIV = shutil.which("setpriv")
SOURCES = str(Path(kubelite.__file__).resolve().parents[1])  # the checkout's src/
SITE = sysconfig.get_paths()["purelib"]


class LaunchedCluster(Cluster):
    """A cluster whose `kubelite` commands run as `command()` says, in `launch_env()`."""

    def command(self) -> list[str]:
        return [sys.executable]

    def launch_env(self) -> dict[str, str]:
        return self.env()

    def kubelite(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.command(), "-m", "kubelite", *args, "--data-dir", str(self.data_dir)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=self.launch_env()
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubelite {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


class NoLowPortsCluster(LaunchedCluster):
    """`kubelite` run without CAP_NET_BIND_SERVICE, in userspace proxy mode (as a
    user without root; root keeps CAP_NET_ADMIN, which the kernel mode needs)."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "KUBELITE_PROXY_MODE": "userspace"}

    def command(self) -> list[str]:
        if os.geteuid() != 0:
            return [sys.executable]
        assert SETPRIV is not None
        drop = "-net_bind_service"
        return [SETPRIV, f"--bounding-set={drop}", f"--inh-caps={drop}", sys.executable]


class RootlessCluster(LaunchedCluster):
    """`kubelite` run by `nobody`, with an interpreter of this Python's version that
    user may run and this checkout's sources and packages on its path."""

    python: str = ""

    def command(self) -> list[str]:
        return [*_as_nobody(), self.python]

    def launch_env(self) -> dict[str, str]:
        return _nobody_env(self.data_dir.parent)


def _as_nobody() -> list[str]:
    assert SETPRIV is not None
    return [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _nobody_env(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": f"{SOURCES}:{SITE}",
        "PYTHONPYCACHEPREFIX": str(home / "pycache"),  # the checkout is not theirs to write
    }


# The interpreter runs again from within (`up --detach`, the container shim): so
# must its own path, and the checkout's modules must import.
PROBE = (
    "import subprocess, sys; sys.exit(subprocess.run("
    "[sys.executable, '-c', 'import kubelite.cli.main, uvicorn']).returncode)"
)


def _python_for_nobody(home: Path) -> str | None:
    """An interpreter of this version `nobody` can run kubelite with, if any."""
    candidates = [
        os.path.realpath(sys.executable),
        f"/usr/bin/python{PY}",
        f"/usr/local/bin/python{PY}",
    ]
    for python in dict.fromkeys(candidates):
        probe = subprocess.run(
            [*_as_nobody(), python, "-c", PROBE],
            capture_output=True,
            env=_nobody_env(home),
        )
        if probe.returncode == 0:
            return python
    return None


def _need_filter() -> None:
    if not podbind.available():
        pytest.skip(
            "the kernel lacks seccomp user notification "
            "(/proc/sys/kernel/seccomp/actions_avail lists no user_notif)"
        )
    if os.geteuid() != 0 and not Path("/proc/self/ns/user").exists():
        pytest.skip("no user namespaces: containers get no resolv.conf of their own")


@pytest.fixture(scope="module", params=["no-bind-capability", "rootless"])
def low_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    _need_filter()
    if os.geteuid() == 0 and SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop root's rights")
    if request.param == "no-bind-capability":
        c: Cluster = NoLowPortsCluster(**vars(_new_cluster(tmp_path_factory.mktemp("lowports"))))
        c.start()
        try:
            yield c
        finally:
            c.stop()
        return
    if os.geteuid() != 0:
        pytest.skip("the suite runs without root: the other cluster is already rootless")
    with rootless_cluster("kubelite-rootless-") as c:
        yield c


@contextlib.contextmanager
def rootless_cluster(prefix: str) -> Iterator[RootlessCluster]:
    """A cluster run by `nobody` (the suite runs as root), under /tmp, not pytest's
    directory (root's alone): `nobody` owns its data dir. Skips when no
    interpreter `nobody` may run kubelite with is found."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        nobody = pwd.getpwnam("nobody")
        home.chmod(0o755)
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        python = _python_for_nobody(home)
        if python is None:
            pytest.skip(
                f"no Python {PY} interpreter that the user nobody may run with this checkout "
                f"({SOURCES}) and its packages ({SITE}) readable: tried {sys.executable}, "
                f"/usr/bin/python{PY}, /usr/local/bin/python{PY}"
            )
        cache = home / "kubectl-cache"
        cache.mkdir()
        c = RootlessCluster(data_dir=home / "data", cache_dir=cache)
        c.python = python
        c.start()
        try:
            yield c
        finally:
            c.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)


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
    if isinstance(c, RootlessCluster):  # root in the container, nobody on the host
        inside, outside, _ = c.kubectl(
            "exec", "web", "--", "cat", "/proc/self/uid_map"
        ).stdout.split()
        assert (inside, outside) == ("0", str(pwd.getpwnam("nobody").pw_uid))


EXECD = """
import socket, urllib.request
svc = "web.default.svc"  # in its own pod, "web" is the pod (/etc/hosts)
print(socket.gethostbyname(svc), urllib.request.urlopen(f"http://{svc}/", timeout=10).status)
print(socket.create_connection((svc, 80), timeout=10).getsockname()[0])
"""


FETCH = """
import sys, urllib.request
for url in sys.argv[1:]:
    print(url, urllib.request.urlopen(url, timeout=10).status, flush=True)
"""


def test_a_pod_reaches_its_own_port_80_on_localhost(low_cluster: Cluster) -> None:
    c = low_cluster
    # bound on 127.0.0.1 as asked: it takes the pod IP, at port 80's stand-in
    app = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "self"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": ["python3", "-m", "http.server", "80", "--bind", "127.0.0.1"],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
                }
            ],
        },
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(app))
    c.kubectl("wait", "pod/self", "--for=condition=Ready", "--timeout=60s")
    urls = ["http://localhost/", "http://127.0.0.1:80/"]
    out = c.kubectl("exec", "self", "--", "python3", "-c", FETCH, *urls).stdout
    assert out.splitlines() == [f"{url} 200" for url in urls]
