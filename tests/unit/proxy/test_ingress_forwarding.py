"""The ingress reverse proxy as an ASGI app, against a small in-process HTTP/1.1 pod."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.proxy.ingress.endpoints import Endpoints
from kubelite.proxy.ingress.forwarding import IngressApp
from kubelite.proxy.ingress.listener import REQUEST_HOST, absolute_form_host
from kubelite.proxy.ingress.routes import RouteTable
from kubelite.proxy.servicemap import Endpoint, ServicePort

pytestmark = pytest.mark.anyio


class Pod:
    """Answers each request with what it saw; keep-alive unless told to close."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0
        self.close_after_each = False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                body = b""
                if b"transfer-encoding: chunked" in lower:
                    while (size := int((await reader.readline()).strip(), 16)) > 0:
                        body += await reader.readexactly(size)
                        await reader.readline()
                    await reader.readline()
                elif b"content-length:" in lower:
                    length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(length)
                self.requests.append((head, body))
                reply = b"seen %d bytes" % len(body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nServer: pod\r\nX-Pod: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"%x\r\n%s\r\n0\r\n\r\n" % (len(reply), reply)
                )
                await writer.drain()
                if self.close_after_each:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def pod() -> AsyncIterator[tuple[Pod, int]]:
    p = Pod()
    server = await asyncio.start_server(p.serve, "127.0.0.1", 0)
    yield p, server.sockets[0].getsockname()[1]
    server.close()


def app_for(port: int | None, *, admin: bool = False) -> IngressApp:
    """foo.com/ -> web:80 (the pod at `port`); with `admin`, also foo.com/admin -> admin:80,
    which has no endpoints (so its 503 names the route taken)."""
    ingress: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "rules": [
                {
                    "host": "foo.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    if admin:
        paths = ingress["spec"]["rules"][0]["http"]["paths"]
        paths.append(
            {
                "path": "/admin",
                "pathType": "Prefix",
                "backend": {"service": {"name": "admin", "port": {"number": 80}}},
            }
        )
    app = IngressApp()
    app.table = RouteTable([ingress])
    endpoints = (Endpoint("127.0.0.1", port),) if port else ()
    app.endpoints = Endpoints()
    app.endpoints.update(
        app.table.backends(),
        [ServicePort("default", "web", "", "TCP", "127.96.0.9", 80, endpoints=endpoints)],
    )
    return app


async def call(
    app: IngressApp,
    path: str,
    *,
    host: bytes | None = b"foo.com",
    body: list[bytes] | None = None,
    **extra: Any,
) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [*([(b"host", host)] if host is not None else []), *extra.get("headers", [])]
    if body is not None:
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "method": "POST" if body is not None else "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": extra.get("query", b""),
        "headers": headers,
        "client": ("127.0.0.5", 5555),
        "scheme": "http",
        "http_version": extra.get("http_version", "1.1"),
        **({REQUEST_HOST: extra["request_host"]} if "request_host" in extra else {}),
    }
    parts = [*(body or [])]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]

    gone = extra.get("gone") or asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await gone.wait()  # as uvicorn: the next message is the client leaving
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return (
        start["status"],
        {k.lower(): v for k, v in start["headers"]},
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


async def test_streams_a_chunked_body_and_reuses_the_connection(pod: tuple[Pod, int]) -> None:
    p, port = pod
    app = app_for(port)
    status, headers, body = await call(app, "/up", body=[b"abc", b"defg"], query=b"x=1")
    assert (status, body) == (200, b"seen 7 bytes")
    assert headers[b"x-pod"] == b"1" and b"server" not in headers
    head, sent = p.requests[0]
    assert head.startswith(b"POST /up?x=1 HTTP/1.1\r\nhost: foo.com\r\n")
    assert b"x-forwarded-for: 127.0.0.5\r\n" in head and sent == b"abcdefg"
    await call(app, "/again")
    assert p.connections == 1  # keep-alive: the second request used the same connection
    app.upstream.close()


async def test_a_connection_the_pod_closed_is_replaced(pod: tuple[Pod, int]) -> None:
    p, port = pod
    p.close_after_each = True
    app = app_for(port)
    for _ in range(3):
        assert (await call(app, "/"))[0] == 200
    assert p.connections == 3
    app.upstream.close()


async def test_no_rule_no_endpoint_and_unreachable_pod() -> None:
    assert (await call(app_for(None), "/", host=b"bar.com"))[:1] == (404,)
    status, _, body = await call(app_for(None), "/")
    assert status == 503 and b"no ready endpoints for default/web:80" in body
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    assert (await call(app_for(port), "/"))[0] == 502


@pytest.mark.parametrize(
    "path",
    ["/pub/../admin/secret", "//admin/secret", "/./admin/secret", "/pub/.././/admin"],
)
async def test_paths_are_matched_normalised_as_nginx_does(pod: tuple[Pod, int], path: str) -> None:
    # nginx matches locations on the URI with slashes merged and dot segments resolved:
    # a rule for /admin (and whatever guards it) cannot be walked around.
    p, port = pod
    status, _, body = await call(app_for(port, admin=True), path)
    assert status == 503 and b"default/admin:80" in body
    assert p.requests == []


async def test_the_pod_gets_the_target_as_sent(pod: tuple[Pod, int]) -> None:
    # ingress-nginx's proxy_pass without a URI forwards the client's request target.
    p, port = pod
    app = app_for(port, admin=True)
    assert (await call(app, "/pub/./x/../y", query=b"a=1"))[0] == 200
    assert p.requests[0][0].startswith(b"GET /pub/./x/../y?a=1 HTTP/1.1\r\n")
    app.upstream.close()


async def test_a_path_above_the_root_is_a_bad_request(pod: tuple[Pod, int]) -> None:
    p, port = pod
    assert (await call(app_for(port), "/a/../../etc/passwd"))[0] == 400
    assert p.requests == []


async def test_host_rules_as_nginx(pod: tuple[Pod, int]) -> None:
    p, port = pod
    app = app_for(port)
    # the trailing dot of a fully qualified name is dropped before matching
    assert (await call(app, "/", host=b"FOO.com.:80"))[0] == 200
    # HTTP/1.1 without Host: 400 (RFC 9112 3.2); HTTP/1.0 may omit it (no rule: 404)
    assert (await call(app, "/", host=None))[0] == 400
    assert (await call(app, "/", host=b""))[0] == 400
    assert (await call(app, "/", host=None, http_version="1.0"))[0] == 404
    assert len(p.requests) == 1
    app.upstream.close()


async def test_an_absolute_form_target_routes_by_its_host(pod: tuple[Pod, int]) -> None:
    # RFC 9112 3.2.2: the request line's host wins over the Host header; the pod still
    # gets the Host header the client sent.
    p, port = pod
    app = app_for(port)
    assert (await call(app, "/x", host=b"other.com", request_host=b"foo.com:80"))[0] == 200
    assert b"\r\nhost: other.com\r\n" in p.requests[0][0]
    assert (await call(app, "/x", host=b"foo.com", request_host=b"other.com"))[0] == 404
    app.upstream.close()


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (b"/foo", None),
        (b"/http://foo.com/", None),
        (b"http://foo.com/foo", b"foo.com"),
        (b"http://Foo.com:8080/foo?x=1", b"Foo.com:8080"),
        (b"*", None),
    ],
)
def test_absolute_form_host(url: bytes, host: bytes | None) -> None:
    assert absolute_form_host(url) == host


async def test_an_endless_stream_ends_when_the_client_leaves() -> None:
    closed = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"5\r\ntick\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            closed.set()

    server = await asyncio.start_server(endless, "127.0.0.1", 0)
    app = app_for(server.sockets[0].getsockname()[1])
    gone = asyncio.Event()
    call_task = asyncio.ensure_future(call(app, "/events", gone=gone))
    await asyncio.sleep(0.1)
    gone.set()
    status, _, body = await asyncio.wait_for(call_task, 5)
    assert status == 200 and body.startswith(b"tick\n")
    await asyncio.wait_for(closed.wait(), 5)  # the proxy hung up on the pod too
    server.close()
