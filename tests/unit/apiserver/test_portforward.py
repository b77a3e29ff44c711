"""`pods/portforward`: SPDY/3.1 framing, and forwarding through the tunnel and the channels."""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from types import SimpleNamespace
from typing import Any

import orjson

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import portforward, spdy
from kubelite.apiserver.paths import ResourcePath

TARGET = ResourcePath(REGISTRY.by_kind("v1", "Pod"), "default", "web", "portforward")


class Client:
    """The client's side of SPDY: SYN_STREAMs, DATA, PING (what kubectl sends)."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(zdict=spdy.DICTIONARY)

    def syn_stream(self, stream: int, headers: dict[str, str], fin: bool = False) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            for text in (name.encode(), value.encode()):
                raw += struct.pack(">I", len(text)) + text
        block = self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        body = struct.pack(">IIBB", stream, 0, 0, 0) + block
        flags = spdy.FLAG_FIN if fin else 0
        return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, (flags << 24) | len(body)) + body


def test_dictionary_is_spdy3s() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_frames_read_in_pieces_and_headers_across_frames() -> None:
    client, reader = Client(), spdy.FrameReader()
    wire = client.syn_stream(1, {"streamtype": "error", "port": "80", "requestid": "0"})
    wire += client.syn_stream(3, {"streamtype": "data", "port": "80", "requestid": "0"})
    wire += spdy.FrameWriter().data(3, b"hello", fin=True)
    wire += spdy.FrameWriter().ping(7)
    frames = []
    for i in range(0, len(wire), 5):  # a WebSocket may split the stream anywhere
        frames += reader.feed(wire[i : i + 5])
    kinds = [(f.kind, f.stream) for f in frames]
    assert kinds == [(spdy.SYN_STREAM, 1), (spdy.SYN_STREAM, 3), (0, 3), (spdy.PING, 0)]
    assert frames[1].headers == {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]}
    assert frames[2].data == b"hello" and frames[2].fin
    assert frames[3].value == 7


def test_replies_decode_with_one_inflate_stream() -> None:
    writer, reader = spdy.FrameWriter(), spdy.FrameReader()
    frames = reader.feed(writer.syn_reply(1) + writer.syn_reply(3, {"a": "b"}))
    assert [(f.kind, f.stream, f.headers) for f in frames] == [
        (spdy.SYN_REPLY, 1, {}),
        (spdy.SYN_REPLY, 3, {"a": ["b"]}),
    ]


def test_a_frame_of_another_version_is_a_protocol_error() -> None:
    bad = struct.pack(">HHI", 0x8002, spdy.PING, 4) + struct.pack(">I", 1)
    try:
        spdy.FrameReader().feed(bad)
    except spdy.ProtocolError as exc:
        assert "version 2" in str(exc)
    else:
        raise AssertionError("accepted SPDY/2")


POD = {
    "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
    "spec": {"nodeName": "n1"},
    "status": {"phase": "Running", "podIP": "127.0.0.1"},
}


def _app() -> Any:
    storage = SimpleNamespace(get=lambda rt, ns, name: SimpleNamespace(obj=lambda: POD))
    return SimpleNamespace(storage=storage)


async def _echo_server(size: int = -1) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await (reader.readexactly(size) if size > 0 else reader.read())
        writer.write(b"echo:" + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _serve(
    query: str,
    protocols: list[str],
    incoming: list[bytes],
    until: Any,
    messages: list[dict[str, Any]] | None = None,
) -> list[Any]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    for data in incoming:
        inbox.put_nowait({"type": "websocket.receive", "bytes": data})
    for message in messages or []:  # as sent, e.g. text frames
        inbox.put_nowait(message)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if until(sent):
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    scope = {"query_string": query.encode(), "subprotocols": protocols}
    await asyncio.wait_for(portforward.serve(_app(), TARGET, scope, inbox.get, send), 5)
    return sent


def test_kubectl_tunnel_forwards_a_connection() -> None:
    async def run() -> list[spdy.Frame]:
        server, port = await _echo_server()
        client = Client()
        headers = {"port": str(port), "requestid": "0"}
        incoming = [
            client.syn_stream(1, {**headers, "streamtype": "error"}),
            spdy.FrameWriter().data(1, b"", fin=True),  # kubectl never writes to it
            client.syn_stream(3, {**headers, "streamtype": "data"}),
            spdy.FrameWriter().data(3, b"ping", fin=True),
        ]
        reader = spdy.FrameReader()
        frames: list[spdy.Frame] = []

        def until(sent: list[dict[str, Any]]) -> bool:
            if sent[-1]["type"] == "websocket.send":
                frames.extend(reader.feed(sent[-1]["bytes"]))
            return any(f.kind == 0 and f.stream == 1 and f.fin for f in frames)

        sent = await _serve("", ["SPDY/3.1+portforward.k8s.io"], incoming, until)
        server.close()
        assert sent[0] == {"type": "websocket.accept", "subprotocol": "SPDY/3.1+portforward.k8s.io"}
        return frames

    frames = asyncio.run(run())
    assert [(f.kind, f.stream) for f in frames[:2]] == [(spdy.SYN_REPLY, 1), (spdy.SYN_REPLY, 3)]
    data = b"".join(f.data for f in frames if f.kind == 0 and f.stream == 3)
    assert data == b"echo:ping"
    assert any(f.kind == 0 and f.stream == 3 and f.fin for f in frames)
    assert not [f for f in frames if f.kind == 0 and f.stream == 1 and f.data]  # no error


def test_kubectl_tunnel_reports_a_refused_port_on_the_error_stream() -> None:
    async def run() -> bytes:
        server, port = await _echo_server()
        server.close()
        await server.wait_closed()  # nothing listens there now
        client = Client()
        headers = {"port": str(port), "requestid": "5"}
        incoming = [
            client.syn_stream(1, {**headers, "streamtype": "error"}),
            client.syn_stream(3, {**headers, "streamtype": "data"}),
        ]
        reader = spdy.FrameReader()
        frames: list[spdy.Frame] = []

        def until(sent: list[dict[str, Any]]) -> bool:
            if sent[-1]["type"] == "websocket.send":
                frames.extend(reader.feed(sent[-1]["bytes"]))
            return any(f.kind == 0 and f.stream == 3 and f.fin for f in frames)

        await _serve("", ["SPDY/3.1+portforward.k8s.io"], incoming, until)
        return b"".join(f.data for f in frames if f.kind == 0 and f.stream == 1)

    error = asyncio.run(run()).decode()
    assert error.startswith("error forwarding port ")
    assert "to pod web, uid u1: dial tcp 127.0.0.1:" in error
    assert error.endswith("connect: connection refused")


def test_python_client_channels_forward_a_connection() -> None:
    async def run() -> tuple[list[dict[str, Any]], int]:
        server, port = await _echo_server(size=2)
        sent = await _serve(
            f"ports={port}",
            ["v4.channel.k8s.io"],
            [b"\x00hi"],
            lambda sent: sent[-1]["type"] == "websocket.close",
        )
        server.close()
        return sent, port

    sent, port = asyncio.run(run())
    assert sent[0] == {"type": "websocket.accept", "subprotocol": "v4.channel.k8s.io"}
    frames = [m["bytes"] for m in sent if m["type"] == "websocket.send"]
    prefix = struct.pack("<H", port)
    assert frames[:2] == [b"\x00" + prefix, b"\x01" + prefix]  # data, then error channel
    assert b"".join(f[1:] for f in frames[2:] if f[0] == 0) == b"echo:hi"
    assert sent[-1] == {"type": "websocket.close", "code": 1000}  # its one connection ended


def test_a_pod_that_does_not_run_is_refused_before_the_upgrade() -> None:
    pending = {**POD, "status": {"phase": "Pending"}}
    storage = SimpleNamespace(get=lambda rt, ns, name: SimpleNamespace(obj=lambda: pending))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"query_string": b"", "subprotocols": ["SPDY/3.1+portforward.k8s.io"]}
    asyncio.run(portforward.serve(SimpleNamespace(storage=storage), TARGET, scope, inbox.get, send))
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"])["message"] == "pod web is not running (phase Pending)"


def test_no_subprotocol_is_the_binary_channel_protocol() -> None:
    """kr8s offers none: the kubelet's "" protocol, channels as with v4.channel.k8s.io."""

    async def run() -> tuple[list[dict[str, Any]], int]:
        server, port = await _echo_server(size=2)
        sent = await _serve(
            f"ports={port}", [], [b"\x00hi"], lambda sent: sent[-1]["type"] == "websocket.close"
        )
        server.close()
        return sent, port

    sent, port = asyncio.run(run())
    assert sent[0] == {"type": "websocket.accept", "subprotocol": None}
    frames = [m["bytes"] for m in sent if m["type"] == "websocket.send"]
    prefix = struct.pack("<H", port)
    assert frames[:2] == [b"\x00" + prefix, b"\x01" + prefix]
    assert b"".join(f[1:] for f in frames[2:] if f[0] == 0) == b"echo:hi"


def test_base64_channels_forward_a_connection() -> None:
    async def run() -> tuple[list[dict[str, Any]], int]:
        server, port = await _echo_server(size=2)
        inbox = [{"type": "websocket.receive", "text": "0" + base64.b64encode(b"hi").decode()}]
        sent = await _serve(
            f"ports={port}",
            ["v4.base64.channel.k8s.io", "v4.channel.k8s.io"],  # the client's first choice
            [],
            lambda sent: sent[-1]["type"] == "websocket.close",
            messages=inbox,
        )
        server.close()
        return sent, port

    sent, port = asyncio.run(run())
    assert sent[0] == {"type": "websocket.accept", "subprotocol": "v4.base64.channel.k8s.io"}
    texts = [m["text"] for m in sent if m["type"] == "websocket.send"]
    prefix = base64.b64encode(struct.pack("<H", port)).decode()
    assert texts[:2] == ["0" + prefix, "1" + prefix]
    assert b"".join(base64.b64decode(t[1:]) for t in texts[2:] if t[0] == "0") == b"echo:hi"


def test_channels_need_a_port_and_an_offered_protocol_we_serve() -> None:
    async def refused(query: str, protocols: list[str]) -> tuple[int, str]:
        sent = await _serve(query, protocols, [], lambda sent: True)
        assert sent[0]["type"] == "websocket.http.response.start"
        return sent[0]["status"], orjson.loads(sent[1]["body"])["message"]

    assert asyncio.run(refused("", [])) == (400, 'query parameter "port" is required')
    status, message = asyncio.run(refused("ports=80", ["channel.k8s.io"]))
    assert status == 400 and message.startswith("none of the offered subprotocols")
