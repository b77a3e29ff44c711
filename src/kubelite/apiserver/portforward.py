"""`pods/portforward`: TCP to a pod's port through the API, as `kubectl port-forward` does it.

kubectl tunnels SPDY through a WebSocket (`SPDY/3.1+portforward.k8s.io`).
For every local connection it opens two streams with the same `requestID`
and the pod's `port`: `error` (it only reads; a failure to reach the port is
written there) and `data` (the bytes both ways). The official Python client
speaks the WebSocket channel protocol instead (`v4.channel.k8s.io`, ports in
the query): channel 2i carries port i's bytes and 2i+1 its errors, and the
first message on each starts with the port as two little-endian bytes. As
the kubelet, the same channels are served with no subprotocol at all (kr8s)
and base64-framed (`v4.base64.channel.k8s.io`).

Pods listen on their pod IP (every pod's is a loopback address of this
machine), so the API server connects there itself, as it would proxy to a
pod; where upstream's kubelet dials the pod's localhost, an app here must
listen on its pod IP or on all addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from kubelite.api import lowports
from kubelite.apiserver import errors, spdy
from kubelite.apiserver.exec_stream import V4, V4_BASE64, ChannelProtocol

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Receive, Send
    from kubelite.apiserver.paths import ResourcePath

log = logging.getLogger(__name__)

SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
# What the kubelet's port-forward WebSocket accepts (`portforward/websocket.go`); the
# SPDY tunnel, when offered, the API server serves itself (its stream translator).
CHANNEL_PROTOCOLS: dict[str, ChannelProtocol] = {
    p.name: p
    for p in (ChannelProtocol(""), ChannelProtocol(V4), ChannelProtocol(V4_BASE64, binary=False))
}
_READ = 32768


def _pod_of(app: ApiApp, target: ResourcePath) -> dict[str, Any]:
    if target.resource.kind != "Pod" or not target.name:
        raise errors.NotFound("the server could not find the requested resource")
    pod = app.storage.get(target.resource, target.namespace, target.name).obj()
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.BadRequest(f"pod {target.name} does not have a host assigned")
    if (pod.get("status") or {}).get("phase") != "Running" or not pod["status"].get("podIP"):
        phase = (pod.get("status") or {}).get("phase", "Pending")
        raise errors.BadRequest(f"pod {target.name} is not running (phase {phase})")
    return pod


def _ports(query_string: bytes) -> list[int]:
    ports = []
    for key, value in parse_qsl(query_string.decode("latin-1")):
        if key == "ports":
            for part in value.split(","):
                ports.append(_port(part))
    return ports


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise errors.BadRequest(f"invalid port {text!r}") from None
    if not 0 < port < 65536:
        raise errors.BadRequest(f"port {port} must be between 1 and 65535")
    return port


def check(app: ApiApp, target: ResourcePath, query_string: bytes) -> None:
    """What a plain (non-upgrade) request gets checked against before its refusal."""
    _pod_of(app, target)
    _ports(query_string)


async def serve(
    app: ApiApp, target: ResourcePath, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    from kubelite.apiserver.exec_stream import deny, negotiate

    if (await receive())["type"] != "websocket.connect":
        return
    try:
        pod = _pod_of(app, target)
        ports = _ports(scope.get("query_string", b""))
        protocol = negotiate(scope, (SPDY_TUNNEL,), CHANNEL_PROTOCOLS)
        if protocol != SPDY_TUNNEL and not ports:
            raise errors.BadRequest('query parameter "port" is required')
    except errors.ApiError as err:
        await deny(send, err)
        return
    await send({"type": "websocket.accept", "subprotocol": protocol or None})
    name = f"{pod['metadata']['name']}, uid {pod['metadata'].get('uid', '')}"
    session: _Tunnel | _Channels
    if protocol == SPDY_TUNNEL:
        session = _Tunnel(pod["status"]["podIP"], name, send)
    else:
        receive, send = CHANNEL_PROTOCOLS[protocol].wrap(receive, send)
        session = _Channels(pod["status"]["podIP"], name, send, ports)
    try:
        await session.run(receive)
    finally:
        await session.close()


async def _dial(ip: str, port: int, pod: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_connection(ip, lowports.pod_port(ip, port)), 10)
    except (OSError, TimeoutError) as exc:
        if isinstance(exc, OSError) and exc.errno:
            reason = os.strerror(exc.errno)
        else:
            reason = str(exc) or "i/o timeout"
        raise ConnectionError(
            f"error forwarding port {port} to pod {pod}: dial tcp {ip}:{port}: connect: {reason.lower()}"
        ) from None


# ---- SPDY tunnelled through the WebSocket (kubectl) -----------------------------------


@dataclass
class _Pair:
    request: str
    port: int
    error: int = 0  # stream ids
    data: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: list[bytes] = field(default_factory=list)
    client_done: bool = False


class _Tunnel:
    def __init__(self, ip: str, pod: str, send: Send) -> None:
        self.ip, self.pod, self._send = ip, pod, send
        self.reader = spdy.FrameReader()
        self.writer = spdy.FrameWriter()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self.lock = asyncio.Lock()
        self.closed = False
        self.last_stream = 0

    async def write(self, frame: bytes) -> None:
        async with self.lock:
            if not self.closed:
                await self._send({"type": "websocket.send", "bytes": frame})

    async def run(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return
            try:
                frames = self.reader.feed(message.get("bytes") or b"")
            except spdy.ProtocolError as exc:
                log.debug("port-forward: %s", exc)
                await self.write(self.writer.goaway(self.last_stream, 1))
                return
            for frame in frames:
                if frame.kind == spdy.GOAWAY:
                    return
                try:
                    await self._frame(frame)
                except (
                    ConnectionError,
                    OSError,
                ) as exc:  # one connection's trouble, not the tunnel's
                    log.debug("port-forward stream %d: %s", frame.stream, exc)

    async def _frame(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.PING:
            await self.write(self.writer.ping(frame.value))
        elif frame.kind == spdy.SYN_STREAM:
            await self._stream(frame)
        elif frame.kind == 0:
            pair = self.by_stream.get(frame.stream)
            if pair is None or frame.stream != pair.data:
                return  # the error stream carries nothing from the client
            try:
                if frame.data:
                    if pair.writer is None:
                        pair.pending.append(frame.data)
                    else:
                        pair.writer.write(frame.data)
                        await pair.writer.drain()
                if frame.fin:
                    pair.client_done = True
                    if pair.writer is not None and pair.writer.can_write_eof():
                        pair.writer.write_eof()
            except (ConnectionError, OSError):
                pass  # the pod's side has closed: this connection ends, not the tunnel
        elif frame.kind == spdy.RST_STREAM:
            pair = self.by_stream.get(frame.stream)
            if pair is not None and pair.task is not None:
                pair.task.cancel()

    async def _stream(self, frame: spdy.Frame) -> None:
        def one(name: str) -> str:
            return (frame.headers.get(name) or [""])[0]

        self.last_stream = max(self.last_stream, frame.stream)
        kind, request = one("streamtype"), one("requestid")
        try:
            port = _port(one("port"))
        except errors.ApiError:
            await self.write(self.writer.rst_stream(frame.stream, spdy.RST_PROTOCOL_ERROR))
            return
        await self.write(self.writer.syn_reply(frame.stream))
        pair = self.pairs.setdefault(request, _Pair(request, port))
        self.by_stream[frame.stream] = pair
        if kind == "error":
            pair.error = frame.stream
        elif kind == "data":
            pair.data = frame.stream
        if pair.error and pair.data and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair))

    async def _forward(self, pair: _Pair) -> None:
        try:
            reader, writer = await _dial(self.ip, pair.port, self.pod)
        except ConnectionError as exc:
            await self.write(self.writer.data(pair.error, str(exc).encode()))
            await self.write(self.writer.data(pair.error, b"", fin=True))
            await self.write(self.writer.data(pair.data, b"", fin=True))
            self._drop(pair)
            return
        pair.writer = writer
        try:
            for chunk in pair.pending:
                writer.write(chunk)
            pair.pending.clear()
            if pair.client_done and writer.can_write_eof():
                writer.write_eof()
            await writer.drain()
            while data := await reader.read(_READ):
                await self.write(self.writer.data(pair.data, data))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await self.write(self.writer.data(pair.data, b"", fin=True))
                await self.write(self.writer.data(pair.error, b"", fin=True))
            self._drop(pair)

    def _drop(self, pair: _Pair) -> None:
        """A connection that ended: its streams are forgotten (a later frame is ignored)."""
        self.pairs.pop(pair.request, None)
        self.by_stream.pop(pair.data, None)
        self.by_stream.pop(pair.error, None)

    async def close(self) -> None:
        for pair in self.pairs.values():
            if pair.task is not None:
                pair.task.cancel()
        with contextlib.suppress(Exception):
            await self.write(self.writer.goaway(self.last_stream))
            await self.write_close()

    async def write_close(self) -> None:
        async with self.lock:
            if not self.closed:
                self.closed = True
                await self._send({"type": "websocket.close", "code": 1000})


# ---- the WebSocket channel protocol (the official Python client) ----------------------


class _Channels:
    def __init__(self, ip: str, pod: str, send: Send, ports: list[int]) -> None:
        self.ip, self.pod, self._send, self.ports = ip, pod, send, ports
        self.lock = asyncio.Lock()
        self.closed = False
        self.writers: dict[int, asyncio.StreamWriter] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.backlog: dict[int, list[bytes]] = {}
        self.ended = 0

    async def write(self, channel: int, data: bytes) -> None:
        async with self.lock:
            if not self.closed:
                await self._send({"type": "websocket.send", "bytes": bytes([channel]) + data})

    async def run(self, receive: Receive) -> None:
        for i, port in enumerate(self.ports):
            prefix = struct.pack("<H", port)
            await self.write(2 * i, prefix)
            await self.write(2 * i + 1, prefix)
            self.tasks.append(asyncio.create_task(self._forward(i, port)))
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return
            data = message.get("bytes") or b""
            if len(data) < 1 or data[0] % 2:
                continue
            index = data[0] // 2
            writer = self.writers.get(index)
            if writer is None:  # still connecting: sent once it is
                self.backlog.setdefault(index, []).append(data[1:])
                continue
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(data[1:])
                await writer.drain()

    async def _forward(self, index: int, port: int) -> None:
        try:
            reader, writer = await _dial(self.ip, port, self.pod)
        except ConnectionError as exc:
            await self.write(2 * index + 1, str(exc).encode())
            await self._ended()
            return
        self.writers[index] = writer
        try:
            for chunk in self.backlog.pop(index, []):
                writer.write(chunk)
            await writer.drain()
            while data := await reader.read(_READ):
                await self.write(2 * index, data)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            await self._ended()

    async def _ended(self) -> None:
        """One connection per port: once every port's has ended, so has the WebSocket."""
        self.ended += 1
        if self.ended == len(self.ports):
            await self.close()

    async def close(self) -> None:
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        async with self.lock:
            if not self.closed:
                self.closed = True
                await self._send({"type": "websocket.close", "code": 1000})
