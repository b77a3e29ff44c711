"""`kubectl attach`: the agent's side of a session on a running container's streams.

The container's stdin and output are held by the node's shim, which
parents it (`containerio`); a session is a connection of its own to the
shim's socket, so it needs nothing from the agent's connection and works
the same for a container a restarted kubelite re-adopted. `AttachSession`
speaks the shim's frames and offers what the API server's relay expects of
a session (`kubelite.apiserver.exec_stream.ExecSession`): detaching ends
the session, never the container.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from kubelite.kubelet.containerio import CLOSE, RESIZE, STDIN, frame, read_frame


class NotRunning(Exception):
    """The container has no streams to attach to any more (it ended)."""


class AttachSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(channel, bytes) until the session ends (the container exited, or it was detached)."""
        while (item := await read_frame(self.reader)) is not None:
            yield item

    async def write(self, data: bytes) -> None:
        if self._send(STDIN, data):
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()  # the container's stdin paces the client

    def close_stdin(self) -> None:
        self._send(CLOSE, bytes([STDIN]))

    def resize(self, width: int, height: int) -> None:
        self._send(RESIZE, orjson.dumps({"Width": width, "Height": height}))

    async def wait(self) -> int:
        return 0  # a session that ended without an error is a success, whatever the container did

    def kill(self) -> None:
        """Detach: the container runs on."""
        self.writer.close()

    def _send(self, channel: int, data: bytes) -> bool:
        if self.writer.is_closing():
            return False
        self.writer.write(frame(channel, data))
        return True


async def open_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]
) -> AttachSession:
    """Ask the shim (or an in-process server) for a session; NotRunning if it refuses."""
    try:
        writer.write(orjson.dumps(request) + b"\n")
        reply = orjson.loads(await reader.readline() or b'{"error": "container is not running"}')
    except (OSError, orjson.JSONDecodeError) as exc:
        writer.close()
        raise NotRunning(str(exc)) from None
    if reply.get("error"):
        writer.close()
        raise NotRunning(str(reply["error"]))
    return AttachSession(reader, writer)
