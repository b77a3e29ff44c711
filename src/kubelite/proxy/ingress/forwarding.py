"""The reverse proxy: one ASGI app that forwards each request to a pod.

uvicorn (httptools) parses the client side; `upstream.UpstreamPool` keeps
keep-alive connections to the pods and parses their answers with httptools.
Bodies stream both ways, never held whole. The request keeps its Host header
and gains X-Forwarded-For/-Proto/-Host and X-Real-IP, made from the connection
alone: as ingress-nginx with its default `use-forwarded-headers: false`, the
client's own X-Forwarded-* and X-Real-IP are replaced, never trusted (nor does
the listener take the peer or scheme from them). Hop-by-hop headers (RFC 9110
7.6.1, and whatever `Connection` names) are dropped in both directions;
everything else, tracing headers included, passes untouched.

Routes are matched on the path as nginx matches locations (`routes.normalize_path`:
slashes merged, `.`/`..` resolved) and the host without port or trailing dot: that
of an absolute-form request target (`listener`), else the Host header.

Answers of its own: 400 for an HTTP/1.1 request without Host or a path climbing
above the root (as nginx), 404 when no rule and no default backend match, 503 when
the backend has no ready endpoint (or is a `resource` backend, which
kubelite does not serve), 502 when the pod cannot be reached, 504 when it
does not connect or answer in time.

A route whose Ingress carries ingress-nginx annotations has a `policy`;
`policy.serve` applies it (redirects, CORS, allowlists, rewrites, canaries,
limits) and forwards through `IngressApp.forward`. A route without one takes
the plain path below, which the annotations cost nothing.

WebSocket upgrades take the same routes and answers; `websocket` relays them
(imported with the first one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from kubelite.proxy.ingress.endpoints import Endpoints
from kubelite.proxy.ingress.listener import PROTOCOL, REQUEST_HOST
from kubelite.proxy.ingress.routes import Backend, RouteTable, normalize_path
from kubelite.proxy.ingress.upstream import (
    DEFAULT_TIMEOUTS,
    Timeouts,
    UpstreamError,
    UpstreamPool,
    UpstreamTimeout,
)
from kubelite.proxy.servicemap import Endpoint

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_OWN_HEADERS = frozenset({b"date", b"server"})
_FORWARDED = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-real-ip"}
)


def strip_hop_by_hop(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Drop hop-by-hop headers and those the Connection header lists."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def forwarded_headers(
    headers: list[tuple[bytes, bytes]], *, client_ip: str, scheme: str
) -> list[tuple[bytes, bytes]]:
    """The request's end-to-end headers plus the X-Forwarded-* set a proxy adds.

    The client's own X-Forwarded-* and X-Real-IP are dropped, not extended: as
    ingress-nginx by default (`use-forwarded-headers` and `compute-full-forwarded-for`
    false), X-Forwarded-For and X-Real-IP are the peer's address (`$remote_addr`),
    X-Forwarded-Proto the connection's scheme."""
    kept = strip_hop_by_hop(headers)
    host = next((v for n, v in kept if n.lower() == b"host"), b"")
    out = [(n, v) for n, v in kept if n.lower() not in _FORWARDED]
    if client_ip:
        out.append((b"x-forwarded-for", client_ip.encode()))
    out.append((b"x-forwarded-proto", scheme.encode()))
    if host:
        out.append((b"x-forwarded-host", host))
    if client_ip:
        out.append((b"x-real-ip", client_ip.encode()))
    return out


def response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The pod's response headers minus hop-by-hop ones and Date and Server, which the
    listener sets itself (as nginx hides an upstream's by default)."""
    return [(n, v) for n, v in strip_hop_by_hop(headers) if n.lower() not in _OWN_HEADERS]


async def plain(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """An answer of the ingress's own: a short text saying why."""
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


NOT_FOUND = "404 page not found\n"
BAD_REQUEST = "400 bad request\n"


def routing_request(scope: Scope, host: bytes | None) -> tuple[str, str] | None:
    """The host and path a request is routed by, None for one nginx answers 400:
    an HTTP/1.1 request without Host (RFC 9112 3.2), a path with `..` above the root."""
    if not host and scope.get("http_version", "1.1") == "1.1":
        return None
    path = normalize_path(scope.get("path") or "/")
    if path is None:
        return None
    return (host or b"").decode("latin-1"), path


def no_endpoints(backend: Backend) -> str:
    if backend.resource:
        return (
            f"503 {backend} is a resource backend, which kubelite's ingress does not serve; "
            "use a Service backend\n"
        )
    return f"503 no ready endpoints for {backend}\n"


class IngressApp:
    """ASGI app over a route table the controller swaps in (`table`, `endpoints`)."""

    def __init__(
        self,
        *,
        refresh: Callable[[], None] = lambda: None,
        tls_port: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.table = RouteTable()
        self.endpoints = Endpoints()
        self._refresh = refresh  # called per request: rebuilds only after a change
        self.tls_port = tls_port  # the HTTPS listener's, for `ssl-redirect`
        self.upstream = UpstreamPool()
        self._upstream_tls: UpstreamPool | None = None

    @property
    def upstream_tls(self) -> UpstreamPool:
        """HTTPS to the pods (`backend-protocol: HTTPS`), made with its first use."""
        if self._upstream_tls is None:
            self._upstream_tls = UpstreamPool(tls=True)
        return self._upstream_tls

    # Tells the cluster to serve WebSocket scopes on this app's listeners, not refuse them.
    serves_websockets = True
    # The parser its listeners use: uvicorn's, keeping an absolute-form target's host.
    http_protocol = PROTOCOL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            return
        self._refresh()
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        host = scope.get(REQUEST_HOST) or next((v for n, v in headers if n == b"host"), None)
        request = routing_request(scope, host)
        if request is None:
            await plain(send, 400, BAD_REQUEST)
            return
        # What follows (policy, rewrite) sees the normalised path, as nginx's `$uri`;
        # `raw_path`, forwarded to the pod, stays as the client sent it.
        scope = {**scope, "path": request[1]}
        route = self.table.lookup(*request)
        if route is None:
            await plain(send, 404, NOT_FOUND)
            return
        if route.policy is not None:
            from kubelite.proxy.ingress import policy

            await policy.serve(self, route, scope, receive, send, headers)
            return
        backend = route.backend
        endpoint = self.endpoints.pick(backend)
        if endpoint is None:
            await plain(send, 503, no_endpoints(backend))
            return
        await self.forward(scope, receive, send, backend, endpoint, headers)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The same routes and answers as HTTP; the relay once a pod is picked."""
        # Imported with the first WebSocket: an ingress that serves none does not load wsproto.
        from kubelite.proxy.ingress import websocket

        self._refresh()
        upgrade = websocket.upgrade_of(scope)
        request = routing_request(scope, upgrade.host.encode())
        if request is None:
            await websocket.refuse(scope, receive, send, 400, BAD_REQUEST)
            return
        scope = {**scope, "path": request[1]}
        route = self.table.lookup(upgrade.host, request[1])
        if route is None:
            await websocket.refuse(scope, receive, send, 404, NOT_FOUND)
            return
        backend = route.backend
        if route.policy is not None:
            from kubelite.proxy.ingress import policy

            headers = list(scope.get("headers") or [])
            answer = policy.own_answer(self, route.policy, scope, headers)
            if answer is not None:
                await websocket.refuse(scope, receive, send, *answer)
                return
            backend = policy.choose_backend(backend, route.policy, headers)
            upgrade = policy.websocket_upgrade(route, scope, upgrade)
        endpoint = self.endpoints.pick(backend)
        if endpoint is None:
            await websocket.refuse(scope, receive, send, 503, no_endpoints(backend))
            return
        await websocket.relay(
            scope, receive, send, upgrade=upgrade, backend=backend, endpoint=endpoint
        )

    async def aclose(self) -> None:
        self.upstream.close()
        if self._upstream_tls is not None:
            self._upstream_tls.close()

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        backend: Backend,
        endpoint: Endpoint,
        headers: list[tuple[bytes, bytes]],
        *,
        target: bytes | None = None,
        body: AsyncIterator[bytes] | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        pool: UpstreamPool | None = None,
        adjust: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]] | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Relay the request to `endpoint` and its answer back.

        The keywords are what an annotated route changes: the request target,
        a body already read (`body`), deadlines, the pool (HTTPS to the pod),
        the forwarded headers (`adjust`) and headers added to the answer (`extra`)."""
        client_ip = (scope.get("client") or ("", 0))[0]
        out = forwarded_headers(headers, client_ip=client_ip, scheme=scope.get("scheme", "http"))
        out = [(n, v) for n, v in out if n.lower() != b"expect"]  # the listener answered it
        chunked = any(n.lower() == b"transfer-encoding" for n, _ in headers)
        has_body = chunked or any(n.lower() == b"content-length" for n, _ in headers)
        if chunked:
            out = [(n, v) for n, v in out if n.lower() != b"content-length"]
            out.append((b"transfer-encoding", b"chunked"))
        if adjust is not None:
            out = adjust(out)
        if target is None:
            target = scope.get("raw_path") or scope.get("path", "/").encode()
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
        if body is None and has_body:
            body = _request_body(receive)
        try:
            response = await (pool or self.upstream).request(
                endpoint, scope["method"], target, out, body, chunked=chunked, timeouts=timeouts
            )
        except UpstreamTimeout as exc:
            log.info("ingress: %s via %s timed out: %s", backend, endpoint, exc)
            await plain(send, 504, f"504 gateway timeout: {backend} did not answer in time\n")
            return
        except UpstreamError as exc:
            log.info("ingress: %s via %s failed: %s", backend, endpoint, exc)
            await plain(send, 502, f"502 bad gateway: {backend} did not answer\n")
            return
        answer = response_headers(response.headers)
        if extra:
            names = {n for n, _ in extra}
            answer = [(n, v) for n, v in answer if n.lower() not in names] + extra
        await send({"type": "http.response.start", "status": response.status, "headers": answer})
        relay = _relay(response.body, send)
        bounded = any(n.lower() == b"content-length" for n, _ in response.headers)
        try:
            # A body of known length ends by itself; a stream (chunked, or until
            # close) may not, so it also ends when the client goes away.
            complete = await (relay if bounded else _unless_disconnected(relay, receive))
        except (OSError, TimeoutError, UpstreamError) as exc:
            log.info("ingress: %s via %s broke off: %s", backend, endpoint, exc)
            complete = False
        if complete:
            await send({"type": "http.response.body", "body": b""})
        # else: the response stays incomplete, and the server drops the
        # connection, so the client cannot take a cut body for a whole one.


async def _relay(body: AsyncIterator[bytes], send: Send) -> bool:
    async for chunk in body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    return True


async def _unless_disconnected(relay: Coroutine[Any, Any, bool], receive: Receive) -> bool:
    """Run `relay` until it ends (its result) or the client disconnects (False)."""
    relaying = asyncio.ensure_future(relay)
    watching = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relaying, watching):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return relaying.result() if not relaying.cancelled() else False


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


__all__ = [
    "HOP_BY_HOP",
    "IngressApp",
    "forwarded_headers",
    "plain",
    "response_headers",
    "strip_hop_by_hop",
]
