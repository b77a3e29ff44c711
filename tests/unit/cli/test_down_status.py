"""`status`, `down` and `kubeconfig` find a kubelite by its lock when the state file
is gone, and `down` says when pod processes outlive the kubelite it stopped."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubelite.cli import leftovers, main
from kubelite.cli.cluster import AlreadyRunning, Cluster, UpOptions
from kubelite.cli.datadir import DataDir

runner = CliRunner()

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the data dir's lock as `kubelite up` does, with no state file."""
    data = tmp_path / "data"
    data.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(data / "kubelite.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    yield proc
    proc.kill()
    proc.wait()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(main.app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def test_status_names_a_kubelite_that_lost_its_state_file(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    code, text = _run("status", "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert f"kubelite runs in {tmp_path / 'data'} (pid {holder.pid}) but has no state file" in text
    assert "`kubelite down` stops it" in text
    code, text = _run("status", "-o", "json", "--data-dir", str(tmp_path / "data"))
    assert code == 1 and json.loads(text)["pid"] == holder.pid


def test_kubeconfig_says_the_file_is_missing_when_kubelite_runs(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    code, text = _run("kubeconfig", "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert "kubeconfig is missing though kubelite runs there" in text


def test_down_stops_a_kubelite_that_lost_its_state_file(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    code, text = _run("down", "--data-dir", str(tmp_path / "data"))
    assert code == 0 and text == f"kubelite stopped (pid {holder.pid})"
    assert holder.wait() == -15  # SIGTERM, as `down` stops a cluster


def test_a_free_lock_with_a_stale_pid_is_not_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "kubelite.lock").write_text(f"{os.getpid()}\n")  # alive, but holds no lock
    assert main.lock_holder(DataDir.at(data)) is None
    code, text = _run("down", "--data-dir", str(data))
    assert code == 0 and text == f"kubelite is not running in {data}"


def test_up_writes_its_pid_into_the_lock_and_a_second_up_names_it(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "data")
    first = Cluster(UpOptions(data_dir=data))
    first.acquire()
    try:
        assert data.lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(AlreadyRunning, match=rf"running in {data.root} \(pid {os.getpid()}\)"):
            Cluster(UpOptions(data_dir=data)).acquire()
    finally:
        first.close()


class FakeShim:
    """A node's shim as `leftovers` sees it: `hello` and `list` on its socket."""

    def __init__(self, path: Path, containers: dict[str, object]) -> None:
        path.parent.mkdir(parents=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.containers = containers
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.server:
            conn, _ = self.server.accept()
            with conn, conn.makefile("rwb") as stream:
                for line in stream:
                    request = json.loads(line)
                    reply: dict[str, object] = {"seq": request["seq"]}
                    if request["op"] == "hello":
                        reply["pid"] = 4242
                    else:
                        reply["containers"] = self.containers
                    stream.write(json.dumps({"ev": "exit", "id": "x"}).encode() + b"\n")
                    stream.write(json.dumps(reply).encode() + b"\n")
                    stream.flush()


def test_down_with_no_kubelite_but_pods_under_its_shim_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shim = FakeShim(
        data / "nodes" / "vm" / "shim.sock",
        {
            "a": {"pid": 10, "exit": None},
            "b": {"pid": 11, "exit": None},
            "c": {"pid": 12, "exit": {"code": 0, "signal": None}},
        },
    )
    code, text = _run("down", "--data-dir", str(data))
    shim.thread.join()
    assert code == 1
    assert text == (
        f"error: kubelite is not running in {data}, but 2 pod processes still run under "
        "its container shim (pid 4242): `kubelite up` adopts them again, and "
        "`kubelite down` then stops them"
    )


def test_a_shim_that_holds_only_exited_containers_is_no_leftover(tmp_path: Path) -> None:
    FakeShim(tmp_path / "nodes" / "vm" / "shim.sock", {"c": {"pid": 1, "exit": {"code": 0}}})
    assert leftovers.find(tmp_path) == []
    (tmp_path / "nodes" / "vm2").mkdir()
    (tmp_path / "nodes" / "vm2" / "shim.sock").write_text("")  # a stale path: no shim
    assert leftovers.find(tmp_path) == []


def test_down_that_must_kill_kubelite_fails_and_names_the_pods_left(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + HOLD_LOCK,
            str(data / "kubelite.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "locked\n"
        FakeShim(data / "nodes" / "vm" / "shim.sock", {"a": {"pid": 10, "exit": None}})
        code, text = _run("down", "--timeout", "0", "--data-dir", str(data))
        assert code == 1
        assert text == (
            f"error: kubelite (pid {stubborn.pid}) did not stop within 0 s and was killed; "
            "1 pod process still runs under its container shim (pid 4242): `kubelite up` "
            "adopts them again, and `kubelite down` then stops them"
        )
        assert stubborn.wait() == -9
    finally:
        stubborn.kill()
        stubborn.wait()
