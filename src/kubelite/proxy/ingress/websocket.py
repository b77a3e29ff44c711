"""WebSockets through the ingress: routed as HTTP is, then relayed message by message.

ingress-nginx proxies WebSockets with no annotation, and so does this. A
request that asks to upgrade to `websocket` reaches `IngressApp` as an ASGI
`websocket` scope (uvicorn speaks to the client with wsproto), is routed by
the same host and path rules, and is offered to the pod by a wsproto client
over an asyncio stream: the client's end-to-end headers, the X-Forwarded-*
set the HTTP path adds, and the client's subprotocols. The pod's choice of
subprotocol and its other response headers go back with the accept; a pod
that refuses the upgrade has its answer (status, headers, body) passed on
through ASGI's `websocket.http.response` extension. Then whole messages flow
both ways, each side read only once its last message was handed on, until a
close, whose code and reason pass through; a pod that vanishes without one
makes the client see the connection drop (1006), as a tunnel would.

Messages, not frames, are relayed, so an extension (permessage-deflate) is a
property of each hop: the listener negotiates its own with the client, and
the pod is offered none, since compressing over loopback only costs CPU.

wsproto, not the websockets library, on the pod side: it is the parser the
listener already uses, takes any subprotocol name the client offers, and
keeps no timers. An open WebSocket waits on its two sockets and nothing else
(uvicorn's keepalive ping to the client is the listener's own); the only
deadlines, for the pod's answer to the upgrade and to a close, exist while
those answers are awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from kubelite.api import lowports
from kubelite.proxy.ingress.forwarding import (
    Receive,
    Scope,
    Send,
    forwarded_headers,
    response_headers,
)
from kubelite.proxy.ingress.routes import Backend
from kubelite.proxy.ingress.upstream import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, UpstreamError
from kubelite.proxy.servicemap import Endpoint

log = logging.getLogger(__name__)

HTTP_RESPONSE = "websocket.http.response"  # the ASGI extension for refusing with an answer
CLOSE_TIMEOUT_S = 10.0  # the pod's answer to a close, as long as uvicorn waits for the client's
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # uvicorn's limit on the client's messages, both ways
ABNORMAL = 1006  # a connection that ended without a close frame; never sent on the wire
_READ_SIZE = 65536
# Each hop's own handshake: wsproto writes these for the pod, uvicorn for the client.
_HANDSHAKE = frozenset(
    {
        b"host",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)


@dataclass(frozen=True)
class Upgrade:
    """The upgrade request as the pod gets it; `headers` lack what wsproto writes itself."""

    host: str  # as the client sent it, in its ASCII (IDNA) form
    target: str
    headers: list[tuple[bytes, bytes]]
    subprotocols: list[str]


def wire_host(value: bytes) -> str:
    """The Host header in its ASCII form: uvicorn hands over an IDNA host decoded to
    Unicode, while Ingress rules name hosts as they appear on the wire."""
    text = value.decode("utf-8", "replace")
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def upgrade_of(scope: Scope) -> Upgrade:
    """The client's upgrade as forwarded: hop-by-hop headers out, X-Forwarded-* in."""
    raw = list(scope.get("headers") or [])
    host = wire_host(next((v for n, v in raw if n == b"host"), b""))
    headers = [(n, host.encode() if n == b"host" else v) for n, v in raw]
    client_ip = (scope.get("client") or ("", 0))[0]
    scheme = "https" if scope.get("scheme") == "wss" else "http"  # as nginx's $scheme
    out = forwarded_headers(headers, client_ip=client_ip, scheme=scheme)
    target = (scope.get("raw_path") or scope.get("path", "/").encode()).decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return Upgrade(
        host=host,
        target=target,
        headers=[(n, v) for n, v in out if n.lower() not in _HANDSHAKE],
        subprotocols=list(scope.get("subprotocols") or []),
    )


def accept_message(accepted: AcceptConnection) -> dict[str, Any]:
    """The ASGI accept that hands the pod's 101 on: its subprotocol and end-to-end headers."""
    headers = [
        (n, v)
        for n, v in response_headers(list(accepted.extra_headers))
        if n.lower() not in _HANDSHAKE
    ]
    message: dict[str, Any] = {"type": "websocket.accept", "headers": headers}
    if accepted.subprotocol is not None:
        message["subprotocol"] = accepted.subprotocol
    return message


class PodSocket:
    """One WebSocket to a pod: wsproto in the client role over an asyncio stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._events: deque[Event] = deque()
        self._eof = False

    @classmethod
    async def connect(cls, endpoint: Endpoint) -> PodSocket:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(
                    endpoint.ip, lowports.pod_port(endpoint.ip, endpoint.port), limit=_READ_SIZE
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(f"connect to {endpoint}: {exc or 'timed out'}") from exc
        return cls(reader, writer)

    @property
    def state(self) -> ConnectionState:
        return self._ws.state

    async def upgrade(self, upgrade: Upgrade) -> AcceptConnection | RejectConnection:
        """Offer the upgrade; the pod's answer (a refusal's body follows as `RejectData`)."""
        request = Request(
            host=upgrade.host,
            target=upgrade.target,
            extra_headers=upgrade.headers,
            subprotocols=upgrade.subprotocols,
        )
        try:
            await self.send(request)
            async with asyncio.timeout(READ_TIMEOUT_S):
                answer = await self.next_event()
        except (OSError, TimeoutError, RemoteProtocolError, UnicodeError) as exc:
            raise UpstreamError(f"upgrade: {exc or 'timed out'}") from exc
        if not isinstance(answer, AcceptConnection | RejectConnection):
            raise UpstreamError(f"upgrade answered with {answer!r}")
        return answer

    async def next_event(self) -> Event:
        """The pod's next event; a lost connection is a CloseConnection(1006) once open."""
        while not self._events:
            if self._eof:
                raise UpstreamError("the pod closed the connection")
            try:
                data = await self._reader.read(_READ_SIZE)
            except OSError:
                data = b""
            self._eof = not data
            self._ws.receive_data(data or None)
            self._events.extend(self._ws.events())
        return self._events.popleft()

    async def send(self, event: Event) -> None:
        self._writer.write(self._ws.send(event))
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()


async def relay(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    upgrade: Upgrade,
    backend: Backend,
    endpoint: Endpoint,
) -> None:
    """Serve one `websocket` scope by `endpoint`, a ready endpoint of `backend`."""
    if (await receive())["type"] != "websocket.connect":
        return
    try:
        pod, answer = await _open(endpoint, upgrade)
    except UpstreamError as exc:
        log.info("ingress: WebSocket to %s via %s failed: %s", backend, endpoint, exc)
        await _answer(scope, send, 502, f"502 bad gateway: {backend} did not answer\n")
        return
    try:
        if isinstance(answer, RejectConnection):
            await _refusal(scope, send, pod, answer)
            return
        await send(accept_message(answer))
        await _Session(pod, receive, send).run()
    finally:
        pod.close()


async def _open(
    endpoint: Endpoint, upgrade: Upgrade
) -> tuple[PodSocket, AcceptConnection | RejectConnection]:
    pod = await PodSocket.connect(endpoint)
    try:
        return pod, await pod.upgrade(upgrade)
    except BaseException:
        pod.close()
        raise


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    text: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer the upgrade with an HTTP answer of the ingress's own (404, 503, a redirect)."""
    if (await receive())["type"] == "websocket.connect":
        await _answer(scope, send, status, text, extra)


async def _answer(
    scope: Scope,
    send: Send,
    status: int,
    text: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        *(extra or ()),
    ]
    if not await _respond(scope, send, status, headers):
        return
    await send({"type": "websocket.http.response.body", "body": body})


async def _respond(
    scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]]
) -> bool:
    """Start an HTTP answer to the upgrade; without the extension, close (uvicorn answers
    403, the nearest it has) and say there is no body to send."""
    if HTTP_RESPONSE not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1011})
        return False
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    return True


async def _refusal(scope: Scope, send: Send, pod: PodSocket, answer: RejectConnection) -> None:
    """Pass the pod's refusal on, its body streamed as it comes."""
    if not await _respond(scope, send, answer.status_code, response_headers(list(answer.headers))):
        return
    finished = not answer.has_body
    while not finished:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                event = await pod.next_event()
        except (TimeoutError, UpstreamError, RemoteProtocolError) as exc:
            log.info("ingress: a refused WebSocket's answer broke off: %s", exc)
            return  # the answer stays incomplete: the listener drops the connection
        if isinstance(event, RejectData):
            finished = event.body_finished
            await send(
                {
                    "type": "websocket.http.response.body",
                    "body": event.data,
                    "more_body": not finished,
                }
            )
    if not answer.has_body:
        await send({"type": "websocket.http.response.body", "body": b""})


class _Session:
    """An accepted WebSocket: messages both ways, then the close handshake on each hop."""

    def __init__(self, pod: PodSocket, receive: Receive, send: Send) -> None:
        self._pod = pod
        self._receive = receive
        self._send = send
        self._client_gone = False
        self._deadline: asyncio.Timeout | None = None

    async def run(self) -> None:
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline
                async with asyncio.TaskGroup() as tasks:
                    to_pod = tasks.create_task(self._to_pod())
                    to_client = tasks.create_task(self._to_client())
                    # The pod's side ended: nothing more can be relayed from the client.
                    to_client.add_done_callback(lambda _: to_pod.cancel())
        except TimeoutError:
            log.info("ingress: a pod did not answer a WebSocket close; dropped")

    async def _to_pod(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self._client_gone = True
                await self._client_closed(message.get("code", 1005), message.get("reason") or "")
                return
            if (
                message["type"] != "websocket.receive"
                or self._pod.state is not ConnectionState.OPEN
            ):
                continue  # the pod is closing: what the client still sends has nowhere to go
            text = message.get("text")
            event = (
                TextMessage(data=text)
                if text is not None
                else BytesMessage(data=message.get("bytes") or b"")
            )
            try:
                await self._pod.send(event)
            except OSError:
                self._pod.close()  # its reader sees the end, and the other task ends
                return

    async def _client_closed(self, code: int, reason: str) -> None:
        if code == ABNORMAL or self._pod.state is not ConnectionState.OPEN:
            self._pod.close()
            return
        try:
            await self._pod.send(CloseConnection(code=code, reason=reason or None))
        except OSError:
            self._pod.close()
            return
        if self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + CLOSE_TIMEOUT_S)

    async def _to_client(self) -> None:
        parts: list[Any] = []  # the frames of the message in progress
        size = 0
        while True:
            event = await self._pod.next_event()
            if isinstance(event, Message):
                parts.append(event.data)
                size += len(event.data)
                if size > MAX_MESSAGE_BYTES:
                    await self._pod_closed(CloseConnection(1009, "message too big"))
                    return
                if event.message_finished:
                    text = isinstance(event, TextMessage)
                    data = "".join(parts) if text else b"".join(parts)
                    parts, size = [], 0
                    await self._to_client_send(
                        {"type": "websocket.send", ("text" if text else "bytes"): data}
                    )
            elif isinstance(event, Ping):
                with contextlib.suppress(OSError, LocalProtocolError):
                    await self._pod.send(event.response())
            elif isinstance(event, CloseConnection):
                await self._pod_closed(event)
                return

    async def _pod_closed(self, event: CloseConnection) -> None:
        if self._pod.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            with contextlib.suppress(OSError, LocalProtocolError):
                await self._pod.send(event.response())  # complete the pod's close handshake
        self._pod.close()
        if event.code == ABNORMAL:
            return  # the listener drops the client's connection as the pod's dropped
        await self._to_client_send(
            {"type": "websocket.close", "code": event.code, "reason": event.reason or ""}
        )

    async def _to_client_send(self, message: dict[str, Any]) -> None:
        if self._client_gone:
            return  # the client closed first: the pod's last words have no reader
        try:
            await self._send(message)
        except OSError:  # uvicorn's ClientDisconnected
            self._client_gone = True


__all__ = [
    "PodSocket",
    "Upgrade",
    "accept_message",
    "refuse",
    "relay",
    "upgrade_of",
    "wire_host",
]
