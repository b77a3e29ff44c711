"""Termination messages and the private /dev they are bound into.

A container writes `/dev/termination-log` (or its own
`terminationMessagePath`) and the text shows up as
`state.terminated.message` (then `lastState`), and in `kubectl describe`;
with `FallbackToLogsOnError` a failed container without one gets its log's
tail. Each container's `/dev` is its own: the standard nodes, the host's
terminals (so `exec -t`, `run -it` and `debug -it` still name theirs), a
`/dev/shm` its pod's containers share, and volumes pods mount under `/dev`.
The host's `/dev` is never changed.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import KUBECTL, Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=60, interval=0.3)
DEADLINE_S = 60  # a guard against a hang, never an assertion on speed


def apply_pod(cluster: Cluster, ns: str, name: str, spec: dict[str, Any]) -> None:
    spec = {"terminationGracePeriodSeconds": 1, **spec}
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": f"python:{PY}", "command": ["sh", "-c", script], **extra}


def statuses(cluster: Cluster, ns: str, name: str) -> dict[str, dict[str, Any]]:
    pod = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}


def ended(cluster: Cluster, ns: str, name: str) -> dict[str, dict[str, Any]] | None:
    """Each container's terminated state, once every one has ended."""
    got = {
        n: (s.get("state") or {}).get("terminated") for n, s in statuses(cluster, ns, name).items()
    }
    return got if got and all(got.values()) else None  # type: ignore[return-value]


def logs(cluster: Cluster, ns: str, name: str, text: str, *args: str) -> str | None:
    out = cluster.kubectl("logs", name, "-n", ns, *args, check=False).stdout
    return out if text in out else None


def test_the_message_file_becomes_the_terminated_message(cluster: Cluster, namespace: str) -> None:
    apply_pod(
        cluster,
        namespace,
        "demo",
        {
            "restartPolicy": "Never",
            "containers": [
                container("main", "echo 'Sleep expired' > /dev/termination-log; exit 3"),
                container(
                    "custom",
                    "printf 'written elsewhere' > /tmp/why",
                    terminationMessagePath="/tmp/why",
                ),
                container("quiet", "exit 0"),
            ],
        },
    )
    got = wait_for(lambda: ended(cluster, namespace, "demo"), "every container ended")
    assert got["main"]["message"] == "Sleep expired\n"
    assert got["main"]["exitCode"] == 3 and got["main"]["reason"] == "Error"
    assert got["custom"]["message"] == "written elsewhere"
    assert "message" not in got["quiet"]  # nothing written: no message
    described = cluster.kubectl("describe", "pod", "demo", "-n", namespace).stdout
    shown = [
        line.split("Message:", 1)[1].strip()
        for line in described.splitlines()
        if "Message:" in line
    ]
    assert "Sleep expired" in shown and "written elsewhere" in shown


def test_a_restarted_container_keeps_its_last_message(cluster: Cluster, namespace: str) -> None:
    script = "echo run $(date +%s%N) > /dev/termination-log; exit 1"
    apply_pod(cluster, namespace, "again", {"containers": [container("main", script)]})

    def last_message() -> str | None:
        status = statuses(cluster, namespace, "again").get("main") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        return last.get("message") if status.get("restartCount", 0) >= 1 else None

    message = wait_for(last_message, "a restart with the last instance's message")
    assert message.startswith("run ") and message.endswith("\n")


def test_only_the_last_4_kib_of_the_file_count(cluster: Cluster, namespace: str) -> None:
    script = "python3 -c \"open('/dev/termination-log', 'w').write('x' * 5000 + 'END')\""
    apply_pod(
        cluster,
        namespace,
        "long",
        {"restartPolicy": "Never", "containers": [container("main", script)]},
    )
    got = wait_for(lambda: ended(cluster, namespace, "long"), "the container ended")
    message = got["main"]["message"]
    assert len(message) == 4096 and message.endswith("xEND")


def test_a_pod_keeps_12_kib_of_messages_shared_by_its_containers(
    cluster: Cluster, namespace: str
) -> None:
    script = "python3 -c \"open('/dev/termination-log', 'w').write('y' * 4096)\""
    names = ["a", "b", "c", "d"]
    apply_pod(
        cluster,
        namespace,
        "many",
        {"restartPolicy": "Never", "containers": [container(n, script) for n in names]},
    )
    got = wait_for(lambda: ended(cluster, namespace, "many"), "every container ended")
    # 12 KiB / 4 containers = 3072 bytes each
    assert [len(got[n]["message"]) for n in names] == [3072] * 4


def test_fallback_to_logs_on_error_uses_the_log_tail(cluster: Cluster, namespace: str) -> None:
    failing = "for i in $(seq 1 100); do echo line $i; done; echo oops >&2; exit 2"
    apply_pod(
        cluster,
        namespace,
        "fallback",
        {
            "restartPolicy": "Never",
            "containers": [
                container("failed", failing, terminationMessagePolicy="FallbackToLogsOnError"),
                container(
                    "succeeded",
                    "echo fine; exit 0",
                    terminationMessagePolicy="FallbackToLogsOnError",
                ),
                container(
                    "wrote",
                    "echo from-log; echo from-file > /dev/termination-log; exit 1",
                    terminationMessagePolicy="FallbackToLogsOnError",
                ),
                container("file-policy", "echo not-used; exit 1"),
            ],
        },
    )
    got = wait_for(lambda: ended(cluster, namespace, "fallback"), "every container ended")
    lines = got["failed"]["message"].splitlines()
    # the last 80 lines: 22..100 on stdout, then the one on stderr
    assert lines == [f"line {i}" for i in range(22, 101)] + ["oops"]
    assert "message" not in got["succeeded"]  # only a failure falls back to the log
    assert got["wrote"]["message"] == "from-file\n"  # a written message wins
    assert "message" not in got["file-policy"]  # policy File: the log is never used


def test_a_long_log_gives_its_last_2_kib(cluster: Cluster, namespace: str) -> None:
    script = "python3 -c \"print('z' * 3000 + 'TAIL')\"; exit 1"
    apply_pod(
        cluster,
        namespace,
        "longlog",
        {
            "restartPolicy": "Never",
            "containers": [
                container("main", script, terminationMessagePolicy="FallbackToLogsOnError")
            ],
        },
    )
    got = wait_for(lambda: ended(cluster, namespace, "longlog"), "the container ended")
    message = got["main"]["message"]
    assert len(message) == 2048 and message.endswith("zTAIL\n")


def test_each_container_has_a_private_dev(cluster: Cluster, namespace: str) -> None:
    show = (
        "ls -A /dev; echo ---; readlink /dev/fd /dev/stdin /dev/ptmx; "
        "echo written > /dev/null && head -c 4 /dev/zero | wc -c; "
        "echo shared > /dev/shm/from-a; echo done-a; sleep 3600"
    )
    peer = "while [ ! -e /dev/shm/from-a ]; do sleep 0.1; done; echo peer sees $(cat /dev/shm/from-a); sleep 3600"
    apply_pod(
        cluster,
        namespace,
        "devs",
        {"containers": [container("a", show), container("b", peer)]},
    )
    apply_pod(
        cluster,
        namespace,
        "other",
        {"containers": [container("c", "ls -A /dev/shm; echo listed; sleep 3600")]},
    )
    out = wait_for(lambda: logs(cluster, namespace, "devs", "done-a", "-c", "a"), "a's /dev")
    names = set(out.split("---")[0].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm"} <= names
    assert {"fd", "stdin", "stdout", "stderr", "termination-log"} <= names
    assert not names & {"kmsg", "mem", "vda", "sda", "nvme0n1", "console"}  # the host's own
    assert "/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n" in out
    assert "\n4\n" in out  # /dev/null took a write, /dev/zero gave bytes
    seen = wait_for(lambda: logs(cluster, namespace, "devs", "peer sees", "-c", "b"), "b's view")
    assert "peer sees shared" in seen  # one /dev/shm per pod
    other = wait_for(lambda: logs(cluster, namespace, "other", "listed"), "another pod's shm")
    assert "from-a" not in other  # and not another pod's
    assert not Path("/dev/termination-log").exists()  # nothing made on the host


def test_volumes_under_dev_are_still_mounted(cluster: Cluster, namespace: str) -> None:
    if not Path("/dev/fuse").exists():
        pytest.skip("this machine has no /dev/fuse to mount")
    script = "ls -l /dev/fuse; echo mem > /dev/shm/marker; echo done; sleep 3600"
    apply_pod(
        cluster,
        namespace,
        "devvols",
        {
            "volumes": [
                {"name": "fuse", "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}},
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
            ],
            "containers": [
                container(
                    "main",
                    script,
                    volumeMounts=[
                        {"name": "fuse", "mountPath": "/dev/fuse"},
                        {"name": "shm", "mountPath": "/dev/shm"},
                    ],
                )
            ],
        },
    )
    out = wait_for(lambda: logs(cluster, namespace, "devvols", "done"), "its output")
    assert out.startswith("c")  # a character device, the host's
    uid = cluster.kubectl_json("get", "pod", "devvols", "-n", namespace)["metadata"]["uid"]
    pod_dirs = list(cluster.data_dir.glob(f"nodes/*/pods/{namespace}_devvols_{uid}"))
    assert (pod_dirs[0] / "volumes" / "shm" / "marker").read_text() == "mem\n"


# ---- terminals still name themselves --------------------------------------------------


def read_until(fd: int, needle: bytes, seen: bytearray) -> bytes:
    deadline = time.monotonic() + DEADLINE_S
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        seen.extend(data)
    return bytes(seen)


def in_terminal(cluster: Cluster, args: list[str], steps: list[tuple[bytes, bytes]]) -> str:
    """Run kubectl in a terminal of its own; for each step, wait for the text, then type."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [KUBECTL, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=cluster.env(),
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        for wait, typed in steps:
            read_until(master, wait, seen)
            if typed:
                os.write(master, typed)
        proc.wait(DEADLINE_S)
    finally:
        proc.kill()
        os.close(master)
    return seen.decode(errors="replace")


# Output before a client attaches is not shown to it: the name comes after a keypress.
NAME_TTY = "import os; input(); print('name', os.ttyname(0), 'bye')"
PROMPT = b"If you don't see a command prompt"


def test_run_it_has_a_named_terminal(cluster: Cluster, namespace: str) -> None:
    text = in_terminal(
        cluster,
        ["run", "talk", "-n", namespace, "-it", "--rm", "--restart=Never"]
        + [f"--image=python:{PY}", "--", "python3", "-c", NAME_TTY],
        [(PROMPT, b"\r"), (b"deleted", b"")],
    )
    assert "name /dev/pts/" in text and "bye" in text


def test_attach_and_debug_it_have_named_terminals(cluster: Cluster, namespace: str) -> None:
    apply_pod(
        cluster,
        namespace,
        "shell",
        {"containers": [container("main", "exec sh", stdin=True, tty=True)]},
    )
    wait_for(
        lambda: (statuses(cluster, namespace, "shell").get("main") or {}).get("ready"), "ready"
    )
    attached = in_terminal(
        cluster,
        ["attach", "-it", "shell", "-n", namespace],
        [(PROMPT, b"echo attached $(tty)\r"), (b"attached /dev", b"exit\r")],
    )
    assert "attached /dev/pts/" in attached
    debugged = in_terminal(
        cluster,
        ["debug", "shell", "-n", namespace, "-it", f"--image=python:{PY}", "--profile=general"]
        + ["--", "python3", "-c", NAME_TTY],
        [(PROMPT, b"\r"), (b"bye", b"")],
    )
    assert "name /dev/pts/" in debugged
