"""HTTP/1.1 to the pods: pooled keep-alive connections, responses parsed by httptools.

A general-purpose client (httpx) spent more time in its pool than the pod
spent answering once a few requests ran at once, so the hop to the pod is
this small client instead: asyncio streams, one idle pool per endpoint, and
httptools (the C parser uvicorn already loaded) for the response. Bodies
stream in both directions: a chunk is read from the pod only after the
previous one was handed on, so a slow client slows the pod's sending rather
than filling memory.

A reused connection the pod closed while idle (nothing at all came back) is
retried once on a fresh one when the request has no body, as proxies do.

A pod that does not connect or answer in time is an `UpstreamTimeout` (the
ingress answers 504, as nginx does); the deadlines are nginx's defaults
unless an Ingress's `proxy-*-timeout` annotations give others (`Timeouts`).
A pool made with `tls=True` speaks HTTPS to the pods without verifying their
certificates, as ingress-nginx does for `backend-protocol: HTTPS`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools

from kubelite.api import lowports
from kubelite.proxy.servicemap import Endpoint

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
MAX_IDLE_PER_ENDPOINT = 64
_READ_SIZE = 65536


class UpstreamError(Exception):
    """The pod could not be reached, or broke off before answering."""


class UpstreamTimeout(UpstreamError):
    """The pod did not connect, take the request or answer in time."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; `send` None: no deadline on handing the request body over."""

    connect: float = CONNECT_TIMEOUT_S
    read: float = READ_TIMEOUT_S
    send: float | None = None


DEFAULT_TIMEOUTS = Timeouts()


def _insecure_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class _Parsed:
    """httptools callbacks: the head once complete, then body chunks as they come."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        self.keep_alive = False
        self.on_message_begin()

    def on_message_begin(self) -> None:
        # A 1xx head is a message of its own: the final one starts afresh.
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.done = False
        self.chunks: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True
        # Asked now: once the parser moved past the message it answers False.
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: AsyncIterator[bytes] = field(repr=False)


class UpstreamPool:
    """`request(endpoint, method, target, headers, body)` -> a streaming `Response`."""

    def __init__(self, *, tls: bool = False) -> None:
        self._idle: dict[Endpoint, list[_Conn]] = {}
        self._ssl = _insecure_context() if tls else None

    async def _connect(self, endpoint: Endpoint, timeout: float = CONNECT_TIMEOUT_S) -> _Conn:
        idle = self._idle.get(endpoint) or []
        while idle:
            conn = idle.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    endpoint.ip,
                    lowports.pod_port(endpoint.ip, endpoint.port),
                    limit=_READ_SIZE,
                    ssl=self._ssl,
                    server_hostname="" if self._ssl is not None else None,
                ),
                timeout,
            )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"connect to {endpoint}: timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError(f"connect to {endpoint}: {exc}") from exc
        return _Conn(reader, writer)

    def _release(self, endpoint: Endpoint, conn: _Conn) -> None:
        idle = self._idle.setdefault(endpoint, [])
        if len(idle) < MAX_IDLE_PER_ENDPOINT and conn.usable():
            idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    async def request(
        self,
        endpoint: Endpoint,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None,
        *,
        chunked: bool = False,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> Response:
        """Send the request; return once the response head arrived.

        `chunked` re-frames a body whose length is unknown (the client sent it
        chunked; the ASGI server undid that framing)."""
        head = _request_head(method, target, headers)
        for attempt in (0, 1):
            conn = await self._connect(endpoint, timeouts.connect)
            try:
                await _send(conn, head, body, chunked=chunked, timeout=timeouts.send)
                parsed, parser = await _read_head(conn, method, timeouts.read)
            except _ClosedBeforeAnswer:
                conn.close()
                if conn.reused and body is None and attempt == 0:
                    continue  # the pod dropped an idle connection: try a fresh one
                raise UpstreamError(f"{endpoint} closed the connection before answering") from None
            except TimeoutError as exc:
                conn.close()
                raise UpstreamTimeout(f"{endpoint}: timed out") from exc
            except (OSError, httptools.HttpParserError) as exc:
                conn.close()
                raise UpstreamError(f"{endpoint}: {exc}") from exc
            status = parser.get_status_code()
            body_iter = self._body(endpoint, conn, parsed, parser, timeouts.read)
            return Response(status, parsed.headers, body_iter)
        raise AssertionError("unreachable")

    async def _body(
        self,
        endpoint: Endpoint,
        conn: _Conn,
        parsed: _Parsed,
        parser: httptools.HttpResponseParser,
        timeout: float,
    ) -> AsyncIterator[bytes]:
        complete = False
        try:
            while True:
                chunks, parsed.chunks = parsed.chunks, []
                for chunk in chunks:
                    yield chunk
                if parsed.done:
                    complete = True
                    return
                data = await _read(conn, timeout)
                if not data:
                    return  # a body delimited by the connection's end
                parser.feed_data(data)
        finally:
            if complete and parsed.keep_alive:
                self._release(endpoint, conn)
            else:
                conn.close()


class _ClosedBeforeAnswer(Exception):
    pass


async def _read(conn: _Conn, timeout: float = READ_TIMEOUT_S) -> bytes:
    # asyncio.timeout, not wait_for: no task per read on the hot path.
    async with asyncio.timeout(timeout):
        return await conn.reader.read(_READ_SIZE)


def _request_head(method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _send(
    conn: _Conn,
    head: bytes,
    body: AsyncIterator[bytes] | None,
    *,
    chunked: bool,
    timeout: float | None = None,
) -> None:
    conn.writer.write(head)
    if body is not None:
        async for chunk in body:
            conn.writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            await (conn.writer.drain() if timeout is None else _drain(conn, timeout))
        if chunked:
            conn.writer.write(b"0\r\n\r\n")
    await (conn.writer.drain() if timeout is None else _drain(conn, timeout))


async def _drain(conn: _Conn, timeout: float) -> None:
    """nginx's proxy_send_timeout: the pod must take each write within `timeout`."""
    async with asyncio.timeout(timeout):
        await conn.writer.drain()


async def _read_head(
    conn: _Conn, method: str, timeout: float = READ_TIMEOUT_S
) -> tuple[_Parsed, httptools.HttpResponseParser]:
    parsed = _Parsed()
    parser = parsed.parser = httptools.HttpResponseParser(parsed)
    received = False
    while not parsed.head_done or parser.get_status_code() < 200:  # 1xx heads are skipped
        data = await _read(conn, timeout)
        if not data:
            if received:
                raise UpstreamError("the pod broke off its answer")
            raise _ClosedBeforeAnswer
        received = True
        parser.feed_data(data)
    if method == "HEAD":
        # A HEAD answer's Content-Length announces no body; the parser would wait for one.
        parsed.done, parsed.keep_alive = True, parser.should_keep_alive()
    return parsed, parser


__all__ = [
    "DEFAULT_TIMEOUTS",
    "Response",
    "Timeouts",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamTimeout",
]
