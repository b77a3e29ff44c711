"""WebSockets through the ingress app: what the pod is sent, and the relay against a real pod.

The pure part (`upgrade_of`, `accept_message`) is checked as tables; the relay
runs `IngressApp` on a `websocket` scope, with the ASGI server's side played by
two queues and the pod by a `websockets` server on a loopback port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from tests.unit.proxy.test_ingress_forwarding import app_for
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from wsproto.events import AcceptConnection

from kubelite.proxy.ingress.forwarding import IngressApp
from kubelite.proxy.ingress.websocket import accept_message, upgrade_of

pytestmark = pytest.mark.anyio

HANG_GUARD_S = 10  # no test waits this long unless something hangs


def make_scope(
    *headers: tuple[bytes, bytes],
    host: bytes = b"foo.com",
    path: str = "/chat",
    query: bytes = b"",
    scheme: str = "ws",
    subprotocols: tuple[str, ...] = (),
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `websocket` scope as uvicorn's wsproto protocol makes it."""
    return {
        "type": "websocket",
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [
            (b"host", host),
            (b"upgrade", b"websocket"),
            (b"connection", b"keep-alive, Upgrade"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
            *headers,
        ],
        "client": ("127.0.0.5", 5555),
        "subprotocols": list(subprotocols),
        "extensions": {"websocket.http.response": {}} if extensions is None else extensions,
    }


# ---- what the pod is sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "scheme", "want"),
    [
        pytest.param(
            [],
            "ws",
            [
                (b"x-forwarded-for", b"127.0.0.5"),
                (b"x-forwarded-proto", b"http"),
                (b"x-forwarded-host", b"foo.com"),
                (b"x-real-ip", b"127.0.0.5"),
            ],
            id="the X-Forwarded set, and no handshake or hop-by-hop header",
        ),
        pytest.param(
            [],
            "wss",
            [
                (b"x-forwarded-for", b"127.0.0.5"),
                (b"x-forwarded-proto", b"https"),  # nginx's $scheme: https, not wss
                (b"x-forwarded-host", b"foo.com"),
                (b"x-real-ip", b"127.0.0.5"),
            ],
            id="wss is forwarded as https",
        ),
        pytest.param(
            [
                (b"origin", b"http://foo.com"),
                (b"cookie", b"session=1"),
                (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                (b"x-forwarded-for", b"10.0.0.1"),
            ],
            "ws",
            [
                (b"origin", b"http://foo.com"),
                (b"cookie", b"session=1"),
                (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                (b"x-forwarded-for", b"127.0.0.5"),  # the peer's, not the client's claim
                (b"x-forwarded-proto", b"http"),
                (b"x-forwarded-host", b"foo.com"),
                (b"x-real-ip", b"127.0.0.5"),
            ],
            id="end-to-end headers pass untouched",
        ),
        pytest.param(
            [
                (b"sec-websocket-extensions", b"permessage-deflate"),
                (b"keep-alive", b"timeout=5"),
                (b"x-drop-me", b"1"),
                (b"connection", b"x-drop-me"),
            ],
            "ws",
            [
                (b"x-forwarded-for", b"127.0.0.5"),
                (b"x-forwarded-proto", b"http"),
                (b"x-forwarded-host", b"foo.com"),
                (b"x-real-ip", b"127.0.0.5"),
            ],
            # extensions are each hop's own; Connection's tokens name hop-by-hop headers
            id="extensions and what Connection names stay on the client's hop",
        ),
    ],
)
def test_headers_forwarded_to_the_pod(
    extra: list[tuple[bytes, bytes]], scheme: str, want: list[tuple[bytes, bytes]]
) -> None:
    assert upgrade_of(make_scope(*extra, scheme=scheme)).headers == want


def test_target_host_and_subprotocols_are_the_clients() -> None:
    upgrade = upgrade_of(
        make_scope(host=b"Foo.com:8080", query=b"room=1", subprotocols=("chat.v2", "chat.v1"))
    )
    assert (upgrade.host, upgrade.target) == ("Foo.com:8080", "/chat?room=1")
    assert upgrade.subprotocols == ["chat.v2", "chat.v1"]  # in the client's order


def test_an_international_host_is_routed_and_sent_in_its_ascii_form() -> None:
    # uvicorn decodes the IDNA Host to Unicode; Ingress rules and the pod see the wire form
    upgrade = upgrade_of(make_scope(host="bücher.example".encode()))
    assert upgrade.host == "xn--bcher-kva.example"
    assert (b"x-forwarded-host", b"xn--bcher-kva.example") in upgrade.headers


@pytest.mark.parametrize(
    ("subprotocol", "headers", "want"),
    [
        pytest.param(None, [], {"type": "websocket.accept", "headers": []}, id="no subprotocol"),
        pytest.param(
            "chat.v2",
            [(b"set-cookie", b"seen=1"), (b"server", b"pod"), (b"date", b"today")],
            {
                "type": "websocket.accept",
                "headers": [(b"set-cookie", b"seen=1")],  # the listener sets Server and Date
                "subprotocol": "chat.v2",
            },
            id="the pod's choice and headers",
        ),
    ],
)
def test_the_pods_accept_is_handed_on(
    subprotocol: str | None, headers: list[tuple[bytes, bytes]], want: dict[str, Any]
) -> None:
    accepted = AcceptConnection(subprotocol=subprotocol, extra_headers=headers)
    assert accept_message(accepted) == want


# ---- the relay, against a pod -----------------------------------------------------


@dataclass
class Pod:
    """Echoes; `close CODE REASON` makes it close, `vanish` drop the connection;
    `/private` is refused with a body."""

    headers: list[dict[str, str]] = field(default_factory=list)
    closes: list[tuple[int | None, str | None]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers.append({k.lower(): v for k, v in ws.request.headers.raw_items()})
        try:
            async for message in ws:
                if message == "vanish":
                    ws.transport.abort()  # no close frame: the connection just ends
                    break
                if isinstance(message, str) and message.startswith("close "):
                    _, code, reason = message.split(" ", 2)
                    await ws.close(int(code), reason)
                    break
                await ws.send(message)
        except ConnectionClosed:
            pass
        self.closes.append((ws.close_code, ws.close_reason))
        self.closed.set()

    @staticmethod
    def select_subprotocol(ws: ServerConnection, offered: Sequence[str]) -> str | None:
        # the first of the client's that the pod speaks; none offered is fine too
        return next((s for s in offered if s in ("chat.v1", "chat.v2")), None)

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.path == "/private":
            return ws.respond(HTTPStatus.FORBIDDEN, "members only\n")
        return None


@pytest.fixture
async def pod() -> AsyncIterator[tuple[Pod, int]]:
    p = Pod()
    async with serve(
        p.handler,
        "127.0.0.1",
        0,
        select_subprotocol=p.select_subprotocol,  # type: ignore[arg-type]
        process_request=p.process_request,
        ping_interval=None,
    ) as server:
        yield p, server.sockets[0].getsockname()[1]


class Session:
    """The ASGI server's side of one `websocket` scope."""

    def __init__(self, app: IngressApp, scope: dict[str, Any]) -> None:
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.to_app.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.ensure_future(app(scope, self.to_app.get, self.from_app.put))

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), HANG_GUARD_S)

    async def client_says(self, **message: Any) -> dict[str, Any]:
        await self.to_app.put({"type": "websocket.receive", **message})
        return await self.next()

    async def ended(self) -> None:
        await asyncio.wait_for(self.task, HANG_GUARD_S)


async def test_echo_subprotocol_and_a_close_from_the_client(pod: tuple[Pod, int]) -> None:
    p, port = pod
    session = Session(app_for(port), make_scope(subprotocols=("chat.v9", "chat.v2")))
    accept = await session.next()
    assert accept["type"] == "websocket.accept" and accept["subprotocol"] == "chat.v2"
    assert await session.client_says(text="héllo") == {"type": "websocket.send", "text": "héllo"}
    big = bytes(range(256)) * 1024  # several frames' worth from the pod's side of the hop
    assert await session.client_says(bytes=big) == {"type": "websocket.send", "bytes": big}
    await session.to_app.put({"type": "websocket.disconnect", "code": 4000, "reason": "bye"})
    await session.ended()
    await asyncio.wait_for(p.closed.wait(), HANG_GUARD_S)
    assert p.closes == [(4000, "bye")]
    seen = p.headers[0]
    assert seen["host"] == "foo.com" and seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-for"] == "127.0.0.5" and seen["x-forwarded-host"] == "foo.com"
    assert seen["sec-websocket-protocol"] == "chat.v9, chat.v2"  # the client's offer, as made
    assert "sec-websocket-extensions" not in seen  # no compression on the loopback hop


async def test_a_close_from_the_pod_reaches_the_client(pod: tuple[Pod, int]) -> None:
    p, port = pod
    session = Session(app_for(port), make_scope())
    assert (await session.next())["type"] == "websocket.accept"
    closing = await session.client_says(text="close 4001 as asked")
    assert closing == {"type": "websocket.close", "code": 4001, "reason": "as asked"}
    await session.ended()
    assert p.closes == [(4001, "as asked")]


async def test_a_pod_that_vanishes_takes_the_client_connection_along(
    pod: tuple[Pod, int],
) -> None:
    _, port = pod
    session = Session(app_for(port), make_scope())
    assert (await session.next())["type"] == "websocket.accept"
    await session.to_app.put({"type": "websocket.receive", "text": "vanish"})
    await session.ended()  # with no close sent: the listener drops the connection (1006)
    assert session.from_app.empty()


async def test_a_refusal_is_the_pods_answer(pod: tuple[Pod, int]) -> None:
    _, port = pod
    session = Session(app_for(port), make_scope(path="/private"))
    start = await session.next()
    assert start["type"] == "websocket.http.response.start" and start["status"] == 403
    body = b""
    while True:
        message = await session.next()
        body += message["body"]
        if not message.get("more_body"):
            break
    assert body == b"members only\n"
    await session.ended()


@pytest.mark.parametrize(
    ("extensions", "want"),
    [
        pytest.param(None, {"type": "websocket.http.response.start", "status": 503}, id="503"),
        # a server without the extension can only refuse; uvicorn answers that with 403
        pytest.param({}, {"type": "websocket.close", "code": 1011}, id="no extension: a close"),
    ],
)
async def test_no_ready_endpoint(extensions: dict[str, Any] | None, want: dict[str, Any]) -> None:
    session = Session(app_for(None), make_scope(extensions=extensions))
    first = await session.next()
    assert {k: first[k] for k in want} == want
    await session.ended()


async def test_no_rule_is_404_and_an_unreachable_pod_502() -> None:
    session = Session(app_for(None), make_scope(host=b"bar.com"))
    assert (await session.next())["status"] == 404
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    session = Session(app_for(port), make_scope())
    assert (await session.next())["status"] == 502
    await session.ended()
