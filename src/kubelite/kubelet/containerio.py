"""A container's standard streams as the shim holds them, and the attach sessions on them.

As containerd's ContainerIO: the shim keeps each container's stdin (the
write end of a pipe, or the terminal's master with `tty`) and, per output
stream, the clients attached to it. What the container writes goes to its
log (always, `process.Process`) and to every attached client; what a client
sends goes to the container's stdin. Nothing is replayed: a client sees the
output from the moment it attached (`kubectl logs` has the rest).

A session ends as containerd ends it: when the container's output ends
(it exited), when the client goes away, or when the client's stdin ends.
Then, with `stdinOnce` and no terminal, the container's stdin is closed
(it reads end of file) and the session stays until the output ends, so the
client sees what the container makes of its input; otherwise the client
is detached and the container reads on, waiting for the next one.

Wire, on an attach connection to the shim's socket after its request line:
frames of a channel byte, a 4-byte big-endian length and the payload, with
the API's channels: 0 stdin, 1 stdout, 2 stderr, 4 a resize
(`{"Width": w, "Height": h}`), 255 "the client's stdin ended".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import termios

import orjson

STDIN, STDOUT, STDERR, RESIZE, CLOSE = 0, 1, 2, 4, 255
CHANNELS = {"stdout": STDOUT, "stderr": STDERR}
MAX_BUFFERED = 4 * 1024 * 1024  # a client this far behind is dropped, not waited for
_HEADER = struct.Struct(">BI")
_EOF, _CLOSED = "eof", "closed"


def frame(channel: int, data: bytes) -> bytes:
    return _HEADER.pack(channel, len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next frame, or None once the connection has ended."""
    try:
        channel, size = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        return channel, await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def set_window_size(terminal: int, width: int, height: int) -> None:
    """Give a terminal (either side) its size, as a terminal emulator does on resize."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class Client:
    """One attached session's output side: frames to its connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.done = asyncio.Event()

    def send(self, channel: int, data: bytes) -> None:
        if self.done.is_set():
            return
        transport = self.writer.transport
        if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFERED:
            self.done.set()  # gone, or not reading: the container does not wait for it
            return
        self.writer.write(frame(channel, data))


class ContainerIO:
    """The streams of one container instance; `publish` is called with its output."""

    def __init__(
        self, stdin: int = -1, *, has_stdin: bool = False, tty: bool = False, once: bool = False
    ) -> None:
        self.stdin = stdin  # our end of the container's stdin; -1 once closed
        self.has_stdin = has_stdin  # the container asked for stdin (`stdin: true`)
        self.tty = tty
        self.once = once  # `stdinOnce`
        self.clients: dict[str, list[Client]] = {"stdout": [], "stderr": []}
        self.over = False

    def publish(self, stream: str, data: bytes) -> None:
        for client in self.clients[stream]:
            client.send(CHANNELS[stream], data)

    def subscribe(self, client: Client, *, stdout: bool, stderr: bool) -> None:
        if self.over:
            client.done.set()
            return
        if stdout:
            self.clients["stdout"].append(client)
        if stderr and not self.tty:  # a terminal's output is all stdout
            self.clients["stderr"].append(client)

    def unsubscribe(self, client: Client) -> None:
        for clients in self.clients.values():
            if client in clients:
                clients.remove(client)

    def ended(self) -> None:
        """The container's output is over (it exited): every session ends, stdin goes."""
        self.over = True
        for clients in self.clients.values():
            for client in clients:
                client.done.set()
            clients.clear()
        self.close_stdin()

    def close_stdin(self) -> None:
        fd, self.stdin = self.stdin, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def resize(self, width: int, height: int) -> None:
        if self.tty and self.stdin >= 0 and width > 0 and height > 0:
            set_window_size(self.stdin, width, height)

    async def write(self, data: bytes) -> None:
        """To the container's stdin, waiting while its pipe (or terminal) is full."""
        view = memoryview(data)
        while view and self.stdin >= 0:
            try:
                view = view[os.write(self.stdin, view) :]
            except BlockingIOError:
                await _writable(self.stdin)
            except OSError:
                return  # nobody reads it any more: the container is ending


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _wake, ready)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def serve(
    io: ContainerIO,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> None:
    """One attach session, from the client's request to its end (see the module's docstring)."""
    client = Client(writer)
    io.subscribe(client, stdout=stdout, stderr=stderr)
    feeding = stdin and io.has_stdin
    output_over = asyncio.ensure_future(client.done.wait())
    reading = asyncio.ensure_future(_input(io, reader, feeding))
    try:
        await asyncio.wait({output_over, reading}, return_when=asyncio.FIRST_COMPLETED)
        if reading.done() and feeding and io.once and not io.tty:
            io.close_stdin()
            if reading.result() == _CLOSED:  # still there: it sees what follows
                reading = asyncio.ensure_future(_input(io, reader, False))
                await asyncio.wait({output_over, reading}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (output_over, reading):
            task.cancel()
        io.unsubscribe(client)
        writer.close()


async def _input(io: ContainerIO, reader: asyncio.StreamReader, feeding: bool) -> str:
    """The client's frames until its stdin ends (`_CLOSED`) or it goes away (`_EOF`)."""
    while (item := await read_frame(reader)) is not None:
        channel, data = item
        if channel == STDIN and feeding:
            await io.write(data)
        elif channel == RESIZE:
            with contextlib.suppress(orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
                size = orjson.loads(data)
                io.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
        elif channel == CLOSE and feeding:
            return _CLOSED
    return _EOF
