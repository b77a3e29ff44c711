"""Attach sessions on a container's streams, as the shim runs them: no processes, a pipe or a
terminal stands for the container's stdin and a socket pair for each client's connection."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import struct
import termios
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest

from kubelite.kubelet import containerio
from kubelite.kubelet.attach import AttachSession
from kubelite.kubelet.containerio import CLOSE, RESIZE, STDIN, ContainerIO, frame, read_frame

Scenario = Callable[[], Awaitable[None]]


def run(scenario: Scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


class Attached:
    """One client's session: the shim's side served, the client's side in hand."""

    def __init__(self, task: asyncio.Task[None], session: AttachSession) -> None:
        self.task = task
        self.session = session

    async def frames(self) -> list[tuple[int, bytes]]:
        """Everything the client receives until the shim ends the session."""
        out = [item async for item in self.session.output()]
        await self.task
        return out


async def attach(
    io: ContainerIO, *, stdin: bool, stdout: bool = True, stderr: bool = True
) -> Attached:
    shim_side, client_side = socket.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=shim_side)
    task = asyncio.create_task(
        containerio.serve(io, reader, writer, stdin=stdin, stdout=stdout, stderr=stderr)
    )
    await asyncio.sleep(0)  # subscribed
    return Attached(task, AttachSession(*await asyncio.open_unix_connection(sock=client_side)))


async def read_pipe(fd: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.run_in_executor(None, os.read, fd, 1024)
        if not data:
            return
        yield data


def pipe_io(**kwargs: bool) -> tuple[ContainerIO, int]:
    """A container's stdin pipe: the io holds the write end, the test reads the other."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    return ContainerIO(write_end, has_stdin=True, **kwargs), read_end


def test_output_goes_to_every_client_on_its_channel() -> None:
    async def scenario() -> None:
        io = ContainerIO()
        both = await attach(io, stdin=False)
        out_only = await attach(io, stdin=False, stderr=False)
        io.publish("stdout", b"hello\n")
        io.publish("stderr", b"oops\n")
        io.ended()
        assert await both.frames() == [(1, b"hello\n"), (2, b"oops\n")]
        assert await out_only.frames() == [(1, b"hello\n")]
        assert io.clients == {"stdout": [], "stderr": []}

    run(scenario)


def test_stdin_reaches_the_container_and_a_plain_session_only_detaches() -> None:
    """Without stdinOnce the container keeps reading: the next client may write more."""

    async def scenario() -> None:
        io, container_stdin = pipe_io()
        first = await attach(io, stdin=True)
        await first.session.write(b"one\n")
        first.session.close_stdin()
        assert await first.frames() == []  # detached: the session ended, the container did not
        second = await attach(io, stdin=True)
        await second.session.write(b"two\n")
        second.session.kill()  # a client that goes away detaches too
        await second.frames()
        assert io.stdin >= 0
        io.ended()
        assert b"".join([d async for d in read_pipe(container_stdin)]) == b"one\ntwo\n"

    run(scenario)


def test_stdin_once_closes_stdin_and_the_session_sees_the_rest_of_the_output() -> None:
    async def scenario() -> None:
        io, container_stdin = pipe_io(once=True)
        client = await attach(io, stdin=True)
        await client.session.write(b"data")
        client.session.close_stdin()
        # the container reads to the end of its input, then answers and exits
        assert b"".join([d async for d in read_pipe(container_stdin)]) == b"data"
        assert io.stdin == -1
        io.publish("stdout", b"read 4 bytes\n")
        io.ended()
        assert await client.frames() == [(1, b"read 4 bytes\n")]

    run(scenario)


def test_stdin_once_closes_stdin_when_the_client_goes_away() -> None:
    async def scenario() -> None:
        io, container_stdin = pipe_io(once=True)
        client = await attach(io, stdin=True)
        client.session.kill()
        await client.frames()
        assert [d async for d in read_pipe(container_stdin)] == []  # end of file
        io.ended()

    run(scenario)


def test_a_session_without_stdin_leaves_stdin_once_alone() -> None:
    """Only a session that writes stdin counts as the one stdinOnce waits for."""

    async def scenario() -> None:
        io, _ = pipe_io(once=True)
        watcher = await attach(io, stdin=False)
        watcher.session.close_stdin()
        watcher.session.kill()
        await watcher.frames()
        assert io.stdin >= 0
        io.ended()

    run(scenario)


def test_a_container_without_stdin_ignores_the_clients_and_the_session_lasts() -> None:
    async def scenario() -> None:
        io = ContainerIO()  # no stdin: output only
        client = await attach(io, stdin=True)
        await client.session.write(b"ignored")
        client.session.close_stdin()  # containerd keeps such a session until the output ends
        await asyncio.sleep(0.05)
        assert not client.task.done()
        io.publish("stdout", b"still here\n")
        io.ended()
        assert await client.frames() == [(1, b"still here\n")]

    run(scenario)


def test_a_terminal_has_one_stream_takes_resizes_and_is_never_closed_by_stdin_once() -> None:
    async def scenario() -> None:
        master, slave = os.openpty()
        os.set_blocking(master, False)
        io = ContainerIO(master, has_stdin=True, tty=True, once=True)
        client = await attach(io, stdin=True, stderr=True)
        assert io.clients["stderr"] == []
        client.session.resize(91, 17)
        await client.session.write(b"hi\n")
        client.session.close_stdin()
        assert await client.frames() == []
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, bytes(8)))[:2]
        assert (cols, rows) == (91, 17)
        assert os.read(slave, 100) == b"hi\n"
        assert io.stdin == master  # detached, not closed
        io.ended()
        os.close(slave)

    run(scenario)


def test_attaching_once_the_output_is_over_ends_at_once() -> None:
    async def scenario() -> None:
        io = ContainerIO()
        io.ended()
        client = await attach(io, stdin=False)
        assert await client.frames() == []

    run(scenario)


def test_a_client_that_does_not_read_is_dropped_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(containerio, "MAX_BUFFERED", 0)

    async def scenario() -> None:
        io = ContainerIO()
        client = await attach(io, stdin=False)
        io.publish("stdout", b"x" * 4_000_000)  # more than the socket takes at once
        io.publish("stdout", b"more")
        await asyncio.wait_for(client.task, 5)
        io.ended()

    run(scenario)


@pytest.mark.parametrize(
    ("channel", "payload"),
    [
        (STDIN, b"abc"),
        (RESIZE, orjson.dumps({"Width": 1, "Height": 2})),
        (CLOSE, b"\x00"),
        (1, b""),
    ],
    ids=["stdin", "resize", "close", "empty"],
)
def test_frames_survive_the_wire(channel: int, payload: bytes) -> None:
    async def scenario() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(frame(channel, payload))
        reader.feed_eof()
        assert await read_frame(reader) == (channel, payload)
        assert await read_frame(reader) is None

    run(scenario)
