"""Commands run beside a container's process: their environment (TERM with a terminal),
and `run`'s exit code and output, with the pod's binds and connects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from subprocess import PIPE
from types import SimpleNamespace
from typing import Any

import pytest
from tests.unit.kubelet.test_podbind import POD_IP, needs_filter

from kubelite.kubelet import exec as kexec


@contextlib.contextmanager
def running(env: dict[str, str]) -> Iterator[Any]:
    """A running "container" process with the environment `env` (once it has exec'd:
    until then /proc shows another's)."""
    script = "import time; print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        yield SimpleNamespace(pid=proc.pid)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def container() -> Iterator[Any]:
    """A running "container" process whose environment names no TERM."""
    with running({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GREETING": "hello"}) as c:
        yield c


AGENT: Any = SimpleNamespace(isolate=False)  # no filesystem view: the command runs here


@pytest.mark.parametrize(
    "tty, own, expected",
    [(True, None, "xterm"), (True, "screen", "screen"), (False, None, None)],
    ids=["terminal", "terminal-with-its-own-TERM", "no-terminal"],
)
def test_a_terminal_gets_term_xterm_unless_the_container_names_one(
    tty: bool, own: str | None, expected: str | None
) -> None:
    env = {"PATH": "/usr/bin:/bin", **({"TERM": own} if own else {})}
    with running(env) as proc:
        seen = kexec.command_env(proc.pid, tty=tty)
    assert seen.get("TERM") == expected
    assert seen["PATH"] == "/usr/bin:/bin"


def test_exec_with_a_terminal_sees_term(container: Any) -> None:
    async def main() -> bytes:
        session = await kexec.Session.start(
            AGENT, container, "", "/", ["sh", "-c", 'echo "$TERM $GREETING"'], stdin=False, tty=True
        )
        out = b"".join([data async for _, data in session.output()])
        assert await session.wait() == 0
        return out

    assert asyncio.run(main()).strip() == b"xterm hello"


def test_run_gives_the_code_and_stdout_then_stderr(container: Any) -> None:
    script = "echo err >&2; echo out; exit 3"
    result = asyncio.run(kexec.run(AGENT, container, ("", "/"), ["sh", "-c", script], timeout=10))
    assert result == (3, b"out\nerr\n")


def test_run_kills_a_command_past_its_timeout(container: Any) -> None:
    result = asyncio.run(kexec.run(AGENT, container, ("", "/"), ["sleep", "30"], timeout=0.2))
    assert result == (None, b"")


def test_run_of_a_missing_command_says_so(container: Any) -> None:
    code, out = asyncio.run(kexec.run(AGENT, container, ("", "/"), ["no-such-tool"], timeout=5))
    assert code == 126
    assert b'exec: "no-such-tool": executable file not found in $PATH' in out


FETCH = """
import sys, urllib.request
print(urllib.request.urlopen(f"http://localhost:{sys.argv[1]}/", timeout=5).read().decode())
"""


@needs_filter
def test_an_exec_reaches_the_pods_server_on_localhost(container: Any) -> None:
    """An exec probe's `curl localhost:8080`: the pod's app listens on its pod IP."""
    app = socket.socket()
    app.bind((POD_IP, 0))
    app.listen(8)
    app.setblocking(False)
    port = app.getsockname()[1]

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(app)
            await loop.sock_recv(conn, 4096)
            await loop.sock_sendall(conn, b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\napp")
            conn.close()

    async def main() -> tuple[int | None, bytes]:
        server = asyncio.create_task(serve())
        try:
            command = [sys.executable, "-c", FETCH, str(port)]
            where = ("", "/")
            return await kexec.run(AGENT, container, where, command, timeout=10, pod_ip=POD_IP)
        finally:
            server.cancel()

    try:
        assert asyncio.run(main()) == (0, b"app\n")
    finally:
        app.close()
