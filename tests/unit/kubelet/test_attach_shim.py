"""Containers with stdin or a terminal, started and attached to through a real shim."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kubelite.kubelet import criolog, forkexec
from kubelite.kubelet.attach import AttachSession, NotRunning
from kubelite.kubelet.process import Spec, spec_from_wire, spec_to_wire
from kubelite.kubelet.runtime import ContainerProcess, LocalRuntime, Runtime, ShimRuntime

ENV = {"PATH": os.environ["PATH"]}


def spec(tmp_path: Path, argv: list[str], name: str = "c", **io: bool) -> Spec:
    return Spec(argv, ENV, str(tmp_path), tmp_path / "logs" / name / "0.log", **io)


async def collect(session: AttachSession) -> bytes:
    return b"".join([data async for _, data in session.output()])


def with_runtime(
    tmp_path: Path, scenario: Callable[[Runtime], Awaitable[None]], *, shim: bool = True
) -> None:
    async def main() -> None:
        runtime: Runtime = ShimRuntime(tmp_path / "node") if shim else LocalRuntime()
        if isinstance(runtime, ShimRuntime):
            await runtime.connect()
        pump = asyncio.create_task(runtime.run())
        try:
            await asyncio.wait_for(scenario(runtime), 20)
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    asyncio.run(main())


def test_only_containers_with_stdin_or_a_terminal_carry_it_on_the_wire() -> None:
    plain = spec(Path("/t"), ["true"])
    assert "io" not in spec_to_wire(plain)  # the common start request is unchanged
    interactive = spec(Path("/t"), ["sh"], stdin=True, stdin_once=True, tty=True)
    assert spec_from_wire(spec_to_wire(interactive)) == interactive


@pytest.mark.parametrize("shim", [True, False], ids=["shim", "in-process"])
def test_stdin_once_feeds_the_container_then_ends_its_input(tmp_path: Path, shim: bool) -> None:
    async def scenario(runtime: Runtime) -> None:
        script = "read line; echo got $line; cat >/dev/null; echo eof"
        proc = await runtime.start(
            "c1", spec(tmp_path, ["sh", "-c", script], stdin=True, stdin_once=True)
        )
        session = await proc.open_streams(stdin=True, stdout=True, stderr=True)
        await session.write(b"one\n")
        session.close_stdin()
        assert await collect(session) == b"got one\neof\n"
        assert (await proc.wait()).code == 0
        logged = criolog.read_entries(tmp_path / "logs" / "c" / "0.log", criolog.ReadOptions())
        assert [e.content for e in logged] == [b"got one", b"eof"]

    with_runtime(tmp_path, scenario, shim=shim)


def test_a_terminal_is_the_containers_controlling_terminal_and_logs_as_stdout(
    tmp_path: Path,
) -> None:
    async def scenario(runtime: Runtime) -> None:
        script = "tty >/dev/null && echo is-a-tty; read line; echo got $line >&2"
        proc = await runtime.start("c1", spec(tmp_path, ["sh", "-c", script], stdin=True, tty=True))
        session = await proc.open_streams(stdin=True, stdout=True, stderr=True)
        await session.write(b"hi\n")
        output = await collect(session)
        assert b"got hi" in output
        await proc.wait()
        logged = criolog.read_entries(tmp_path / "logs" / "c" / "0.log", criolog.ReadOptions())
        assert {e.stream for e in logged} == {"stdout"}
        assert any(e.content.startswith(b"is-a-tty") for e in logged)
        assert any(e.content.startswith(b"got hi") for e in logged)  # stderr too, as stdout

    with_runtime(tmp_path, scenario)


def test_output_only_attach_to_a_plain_container_detaches_without_stopping_it(
    tmp_path: Path,
) -> None:
    async def scenario(runtime: Runtime) -> None:
        script = "while :; do echo tick; sleep 0.05; done"
        proc = await runtime.start("c1", spec(tmp_path, ["sh", "-c", script]))
        session = await proc.open_streams(stdin=False, stdout=True, stderr=True)
        async for channel, data in session.output():
            assert (channel, data[:4]) == (1, b"tick")
            break
        session.kill()
        assert not proc.exited
        proc.signal_group(9)
        await proc.wait()
        with pytest.raises(NotRunning):
            await proc.open_streams(stdin=False, stdout=True, stderr=True)

    with_runtime(tmp_path, scenario)


def test_a_new_agent_attaches_to_a_container_the_shim_kept(tmp_path: Path) -> None:
    """As after a kubelite crash: the session goes to the shim, which kept the container."""

    async def first() -> int:
        runtime = ShimRuntime(tmp_path / "node")
        await runtime.connect()
        pump = asyncio.create_task(runtime.run())
        script = "read l; echo got $l"
        proc = await runtime.start("c1", spec(tmp_path, ["sh", "-c", script], stdin=True))

        async def crash() -> None:  # no goodbye: the connection just drops
            assert runtime._writer is not None
            runtime._writer.transport.abort()

        runtime._goodbye = crash  # type: ignore[method-assign]
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        return proc.pid

    async def second() -> None:
        runtime = ShimRuntime(tmp_path / "node")
        held = await runtime.connect()
        pump = asyncio.create_task(runtime.run())
        proc: ContainerProcess = runtime.attach("c1", held["c1"])
        session = await proc.open_streams(stdin=True, stdout=True, stderr=False)
        await session.write(b"again\n")
        assert await collect(session) == b"got again\n"
        assert (await proc.wait()).code == 0
        proc.release()
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    pid = asyncio.run(first())
    try:
        asyncio.run(asyncio.wait_for(second(), 20))
    finally:  # a failure must not leave the container (and so its shim) behind
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def test_the_shim_refuses_a_container_it_does_not_run(tmp_path: Path) -> None:
    async def scenario(runtime: Runtime) -> None:
        assert isinstance(runtime, ShimRuntime)
        with pytest.raises(NotRunning, match="container is not running"):
            await runtime.open_streams("nope", stdin=True, stdout=True, stderr=True)

    with_runtime(tmp_path, scenario)


def test_fork_with_a_terminal_gives_the_child_a_session_and_a_controlling_terminal() -> None:
    async def main() -> None:
        script = "cut -d' ' -f6,7 /proc/$$/stat; test -t 0 && test -t 2 && echo ok"
        child = await forkexec.spawn(["sh", "-c", script], ENV, stdin=forkexec.STDIN_TTY)
        assert child.stderr == -1 and child.stdin >= 0 and child.stdin != child.stdout
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, os.waitpid, child.pid, 0)
        out = b""
        while True:
            try:
                data = os.read(child.stdout, 1024)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except OSError:  # EIO: the terminal's last user is gone
                break
            if not data:
                break
            out += data
        for fd in child.fds():
            os.close(fd)
        sid, tty_nr = out.split(b"\r\n")[0].split()
        assert int(sid) == child.pid and int(tty_nr) != 0
        assert out.endswith(b"ok\r\n")

    asyncio.run(asyncio.wait_for(main(), 20))
