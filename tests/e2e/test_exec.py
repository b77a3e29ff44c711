"""`kubectl exec` and the official client's `stream()` run commands inside a running container."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.test_node_agent import NODE, apply, pod, simple_pod, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> str:
    """A pod with a working dir, an env var and a ConfigMap volume, running."""
    ns = "exec"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "configmap", "conf", "-n", ns, "--from-literal=mode=fast")
    manifest = simple_pod(
        "box",
        ["sleep", "3600"],
        volumes=[{"name": "conf", "configMap": {"name": "conf"}}],
        container={
            "workingDir": "/etc/conf",
            "env": [{"name": "GREETING", "value": "hello"}],
            "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}],
        },
    )
    apply(cluster, ns, manifest)
    wait_for(
        lambda: pod(cluster, ns, "box").get("status", {}).get("phase") == "Running",
        what="box running",
    )
    return ns


def test_exec_runs_inside_the_container(cluster: Cluster, running: str) -> None:
    script = "echo $GREETING $(hostname) $(pwd) $(cat mode); echo oops >&2; exit 3"
    proc = cluster.kubectl("exec", "box", "-n", running, "--", "sh", "-c", script, check=False)
    assert proc.stdout == "hello box /etc/conf fast\n"
    assert "oops" in proc.stderr
    assert "command terminated with exit code 3" in proc.stderr
    assert proc.returncode == 3


def test_exec_passes_stdin(cluster: Cluster, running: str) -> None:
    proc = cluster.kubectl("exec", "-i", "box", "-n", running, "--", "wc", "-l", input="a\nb\nc\n")
    assert proc.stdout.strip() == "3"


def test_exec_joins_the_containers_cgroups(cluster: Cluster, running: str) -> None:
    node = cluster.kubectl_json("get", "node", NODE)
    if any(c["type"] == "CgroupsUnavailable" for c in node["status"]["conditions"]):
        pytest.skip("cgroups are not writable on this machine: no cgroup to join")
    uid = pod(cluster, running, "box")["metadata"]["uid"]
    out = cluster.kubectl("exec", "box", "-n", running, "--", "cat", "/proc/self/cgroup").stdout
    assert f"/pod{uid}/main" in out


def test_exec_errors_say_what_is_wrong(cluster: Cluster, running: str) -> None:
    missing = cluster.kubectl("exec", "box", "-n", running, "--", "no-such-tool", check=False)
    assert missing.returncode == 1
    assert 'exec: "no-such-tool": executable file not found in $PATH' in missing.stderr
    wrong = cluster.kubectl("exec", "box", "-n", running, "-c", "other", "--", "true", check=False)
    assert "container other is not valid for pod box" in wrong.stderr
    apply(cluster, running, simple_pod("waiting", ["true"], container={"image": "nothing:1"}))
    stuck = cluster.kubectl("exec", "waiting", "-n", running, "--", "true", check=False)
    assert 'container not found ("main")' in stuck.stderr


def test_exec_with_a_terminal(cluster: Cluster, running: str) -> None:
    script = shutil.which("script")
    if script is None:
        pytest.skip("`script` (util-linux) is not installed: no terminal to run kubectl -t in")
    command = (
        f"stty cols 91 rows 17; kubectl exec -it box -n {running} -- sh -c 'tty; stty size; exit 4'"
    )
    proc = subprocess.run(
        [script, "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cluster.env(),
        stdin=subprocess.DEVNULL,
    )
    assert "/dev/pts/" in proc.stdout
    assert "17 91" in proc.stdout  # the terminal's size reached the command
    assert proc.returncode == 4


def test_official_client_stream(cluster: Cluster, running: str) -> None:
    from kubernetes.stream import stream

    api, client = cluster.api_client()
    core: Any = client.CoreV1Api(api)
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        "box",
        running,
        command=["sh", "-c", "echo out; echo err >&2; exit 5"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=30)
    assert resp.read_stdout() == "out\n"
    assert resp.read_stderr() == "err\n"
    assert resp.returncode == 5


def test_kubectl_cp_both_ways(cluster: Cluster, running: str, tmp_path: Any) -> None:
    # kubectl cp is tar over exec, with the container's own tar (the host's, read-only).
    source = tmp_path / "in.txt"
    source.write_text("payload\n")
    cluster.kubectl("cp", str(source), f"{running}/box:/tmp/in.txt")
    assert (
        cluster.kubectl("exec", "box", "-n", running, "--", "cat", "/tmp/in.txt").stdout
        == "payload\n"
    )
    back = tmp_path / "back.txt"
    cluster.kubectl("cp", f"{running}/box:/tmp/in.txt", str(back))
    assert back.read_text() == "payload\n"
