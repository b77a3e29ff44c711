"""`kubectl attach` and `kubectl run -i/-it [--rm]`: a client joined to a container's own process."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from typing import Any

import pytest
from tests.e2e.conftest import KUBECTL, Cluster
from tests.e2e.test_node_agent import PY, apply, container_status, pod, simple_pod, wait_for

pytestmark = pytest.mark.e2e
DEADLINE_S = 60  # a guard against a hang, never an assertion on speed

ECHO = "import sys\nfor line in sys.stdin: print('got', line.strip(), flush=True)\n"


def kubectl_cmd(*args: str) -> list[str]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
    return [KUBECTL, *args]


def read_until(fd: int, needle: bytes, seen: bytearray) -> bytes:
    """Read `fd` into `seen` until `needle` shows up (or the writer is gone)."""
    deadline = time.monotonic() + DEADLINE_S
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: a terminal whose other side closed
            break
        if not data:
            break
        seen += data
    return bytes(seen)


def start_pod(cluster: Cluster, ns: str, name: str, code: str, **spec: Any) -> None:
    """A Python pod (its container's fields under `container=`), once it is ready."""
    apply(cluster, ns, simple_pod(name, ["python3", "-u", "-c", code], **spec))
    wait_for(lambda: container_status(cluster, ns, name).get("ready") is True, what=f"{name} ready")


def test_run_i_rm_feeds_piped_stdin_and_removes_the_pod(cluster: Cluster, namespace: str) -> None:
    proc = cluster.kubectl(
        *("run", "cat", "-n", namespace, "-i", "--rm", "--restart=Never"),
        *(f"--image=python:{PY}", "--", "cat"),
        input="hi\n",
    )
    assert proc.stdout.splitlines()[0] == "hi"
    assert 'pod "cat" deleted' in proc.stdout
    gone = cluster.kubectl("get", "pod", "cat", "-n", namespace, check=False)
    assert "NotFound" in gone.stderr


def test_run_it_rm_talks_through_a_terminal(cluster: Cluster, namespace: str) -> None:
    code = (
        "import os, sys; name = input('name? '); "
        "print('hello', name, os.get_terminal_size()); sys.exit(3)"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 17, 91, 0, 0))
    command = kubectl_cmd(
        *("run", "talk", "-n", namespace, "-it", "--rm", "--restart=Never"),
        *(f"--image=python:{PY}", "--", "python3", "-c", code),
    )
    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=cluster.env(), start_new_session=True
    )
    os.close(slave)
    seen = bytearray()
    try:
        read_until(master, b"If you don't see a command prompt", seen)
        os.write(master, b"alice\r")  # typed at kubectl's terminal
        text = read_until(master, b"terminated", seen).decode(errors="replace")
        code_ = proc.wait(DEADLINE_S)
    finally:
        proc.kill()
        os.close(master)
    assert "hello alice os.terminal_size(columns=91, lines=17)" in text  # the size came along
    assert 'pod "talk" deleted' in text
    assert code_ == 3  # the container's exit code, from the pod's status
    assert "NotFound" in cluster.kubectl("get", "pod", "talk", "-n", namespace, check=False).stderr


def test_attach_writes_to_a_running_containers_stdin(cluster: Cluster, namespace: str) -> None:
    start_pod(cluster, namespace, "echo", ECHO, container={"stdin": True})
    proc = subprocess.Popen(
        kubectl_cmd("attach", "echo", "-i", "-q", "-n", namespace),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cluster.env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"one\n")
        proc.stdin.flush()
        out = read_until(proc.stdout.fileno(), b"got one\n", bytearray())
        proc.stdin.close()  # the session ends; without stdinOnce the container reads on
        assert proc.wait(DEADLINE_S) == 0
    finally:
        proc.kill()
    assert out == b"got one\n"
    cluster.kubectl("attach", "echo", "-i", "-q", "-n", namespace, input="two\n")
    wait_for(
        lambda: "got two" in cluster.kubectl("logs", "echo", "-n", namespace).stdout,
        what="the second session's line in the log",
    )
    status = container_status(cluster, namespace, "echo")
    assert "running" in status["state"] and status["restartCount"] == 0


def test_attach_without_stdin_streams_output_and_detaches(cluster: Cluster, namespace: str) -> None:
    code = "import itertools, time\nfor i in itertools.count(): print('tick', i); time.sleep(0.2)"
    start_pod(cluster, namespace, "ticker", code)
    proc = subprocess.Popen(
        kubectl_cmd("attach", "ticker", "-n", namespace),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=cluster.env(),
    )
    assert proc.stdout is not None
    try:
        out = read_until(proc.stdout.fileno(), b"\n", bytearray())
    finally:
        proc.terminate()
        proc.wait(DEADLINE_S)
    assert out.startswith(b"tick ")
    status = container_status(cluster, namespace, "ticker")
    assert "running" in status["state"] and status["restartCount"] == 0


def test_stdin_once_gives_the_container_end_of_input_after_the_first_session(
    cluster: Cluster, namespace: str
) -> None:
    code = "import sys; words = sys.stdin.read().split(); print('read', len(words), 'words')"
    container = {"stdin": True, "stdinOnce": True}
    start_pod(cluster, namespace, "once", code, container=container, restartPolicy="Never")
    proc = cluster.kubectl("attach", "once", "-i", "-q", "-n", namespace, input="a b c\n")
    assert proc.stdout == "read 3 words\n"  # the session lasted until the container answered
    wait_for(
        lambda: pod(cluster, namespace, "once")["status"].get("phase") == "Succeeded",
        what="once succeeded",
    )


def test_a_terminal_containers_output_is_in_its_log(cluster: Cluster, namespace: str) -> None:
    code = "import os, sys; print('tty', os.isatty(0)); sys.stdin.readline()"
    start_pod(cluster, namespace, "term", code, container={"stdin": True, "tty": True})
    wait_for(
        lambda: "tty True" in cluster.kubectl("logs", "term", "-n", namespace).stdout,
        what="the terminal's output in the log",
    )
    status = container_status(cluster, namespace, "term")
    assert status["ready"] is True and "running" in status["state"]


def test_attach_to_a_container_that_is_not_running_says_so(
    cluster: Cluster, namespace: str
) -> None:
    apply(cluster, namespace, simple_pod("waiting", ["true"], container={"image": "nothing:1"}))
    proc = cluster.kubectl("attach", "waiting", "-n", namespace, check=False)
    assert proc.returncode != 0
    assert f"container main not found in pod waiting_{namespace}" in proc.stderr


def test_official_client_attach(cluster: Cluster, namespace: str) -> None:
    from kubernetes.stream import stream

    start_pod(cluster, namespace, "echo", ECHO, container={"stdin": True})
    api, client = cluster.api_client()
    core: Any = client.CoreV1Api(api)
    resp = stream(
        core.connect_get_namespaced_pod_attach,
        "echo",
        namespace,
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    out = ""
    deadline = time.monotonic() + DEADLINE_S
    try:
        resp.write_stdin("from python\n")
        while "\n" not in out and resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
            out += resp.read_stdout() or ""
    finally:
        resp.close()
    assert out == "got from python\n"
