"""What an annotated route does to a request, in ingress-nginx's order.

`serve` runs only for routes whose Ingress carries annotations (`Policy`,
resolved when the routing table was built); everything it needs was parsed
then. The order is nginx's phases as ingress-nginx writes its locations:
`app-root` (the server's own rule for `/`), the CORS preflight, the
configured redirect, the HTTPS redirect, the source allowlist, then the
proxying itself, with the canary's choice of backend, the body limit, the
rewrite, the upstream Host, the deadlines and the backend protocol.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import random
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from kubelite.proxy.ingress.annotations import UNSUPPORTED_PROTOCOLS, Canary, Policy
from kubelite.proxy.ingress.forwarding import (
    IngressApp,
    Receive,
    Scope,
    Send,
    no_endpoints,
    plain,
)
from kubelite.proxy.ingress.routes import Backend, RegexRoute, Route
from kubelite.proxy.ingress.upstream import DEFAULT_TIMEOUTS

if TYPE_CHECKING:  # the module loads wsproto, which only WebSockets need
    from kubelite.proxy.ingress.websocket import Upgrade

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
_CAPTURE = re.compile(r"\$(\d)")
_URI_SAFE = "/!$&'()*+,;=:@-._~"


def header(headers: Headers, name: bytes) -> bytes | None:
    return next((v for n, v in headers if n == name), None)


async def serve(
    app: IngressApp, route: Route, scope: Scope, receive: Receive, send: Send, headers: Headers
) -> None:
    policy = route.policy
    assert policy is not None
    if await _answered(app, policy, scope, send, headers):
        return
    backend = choose_backend(route.backend, policy, headers)
    endpoint = app.endpoints.pick(backend)
    if endpoint is None:
        await plain(send, 503, no_endpoints(backend))
        return
    body = None
    if policy.body_limit is not None:
        body, too_big = await _limited(scope, receive, headers, policy.body_limit)
        if too_big:
            await plain(
                send, 413, "413 request entity too large: the body exceeds proxy-body-size\n"
            )
            return
    target = rewritten(route, scope)
    secure = policy.protocol == "HTTPS" or (
        policy.protocol == "AUTO_HTTP" and scope.get("scheme") == "https"
    )
    extra = cors_headers(policy, headers) if policy.cors is not None else None
    await app.forward(
        scope,
        receive,
        send,
        backend,
        endpoint,
        headers,
        target=target,
        body=body,
        timeouts=policy.timeouts or DEFAULT_TIMEOUTS,
        pool=app.upstream_tls if secure else None,
        adjust=_adjuster(policy, rewriting=target is not None),
        extra=extra,
    )


async def _answered(
    app: IngressApp, policy: Policy, scope: Scope, send: Send, headers: Headers
) -> bool:
    """Answer what the ingress answers itself (redirects, preflights, refusals); True if so."""
    if policy.cors is not None and scope["method"] == "OPTIONS":
        allowed = policy.cors.allowed(header(headers, b"origin"))
        if allowed is not None and not (policy.app_root and scope.get("path") == "/"):
            await _preflight(send, policy, allowed)
            return True
    answer = own_answer(app, policy, scope, headers)
    if answer is None:
        return False
    await plain(send, *answer)
    return True


Answer = tuple[int, str, Headers]  # status, text, extra headers


def own_answer(app: IngressApp, policy: Policy, scope: Scope, headers: Headers) -> Answer | None:
    """The redirect or refusal the ingress answers itself, for HTTP and WebSocket alike;
    None when the request goes on to the pod. (A CORS preflight comes before the redirects
    but after `app-root`, which nginx runs at the server level.)"""
    host = (header(headers, b"host") or b"").decode("latin-1")
    if policy.app_root and (scope.get("path") or "/") == "/":
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        return _redirect(302, f"{scheme}://{host}{policy.app_root}")
    if policy.redirect_url:
        return _redirect(policy.redirect_code, policy.redirect_url)
    if policy.https_redirect and scope.get("scheme") in ("http", "ws"):
        secure = https_location(scope, host, app.tls_port())
        if secure is not None:
            return _redirect(308, secure)
    if policy.denied:
        return 503, f"503 access denied: {policy.denied}\n", []
    if policy.allow is not None and not allowed_source(policy, scope):
        return 403, "403 forbidden: the client address is not in the allowlist\n", []
    if policy.protocol in UNSUPPORTED_PROTOCOLS:
        return (
            502,
            f"502 backend-protocol {policy.protocol} is not supported by kubelite's ingress "
            "(HTTP/1.1 or HTTPS to pods only)\n",
            [],
        )
    return None


def allowed_source(policy: Policy, scope: Scope) -> bool:
    client = (scope.get("client") or ("", 0))[0]
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in policy.allow or ())


def https_location(scope: Scope, host: str, tls_port: int | None) -> str | None:
    """ingress-nginx's redirect: the host without its port, the request URI without a
    trailing `/`; kubelite's HTTPS port is added when it is not 443."""
    if not tls_port:
        return None
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    uri = (scope.get("raw_path") or (scope.get("path") or "/").encode()).decode("latin-1")
    if scope.get("query_string"):
        uri += "?" + scope["query_string"].decode("latin-1")
    if uri.endswith("/"):
        uri = uri[:-1]
    port = "" if tls_port == 443 else f":{tls_port}"
    return f"https://{name}{port}{uri}"


def _redirect(status: int, location: str) -> Answer:
    return status, f"{status} redirect to {location}\n", [(b"location", location.encode())]


async def _preflight(send: Send, policy: Policy, allowed: bytes) -> None:
    assert policy.cors is not None
    answer = [
        (b"access-control-allow-origin", allowed),
        *policy.cors.headers,
        (b"content-type", b"text/plain charset=UTF-8"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": answer})
    await send({"type": "http.response.body", "body": b""})


def cors_headers(policy: Policy, headers: Headers) -> Headers | None:
    """The CORS headers added to a proxied answer, when the request's Origin is allowed."""
    assert policy.cors is not None
    allowed = policy.cors.allowed(header(headers, b"origin"))
    if allowed is None:
        return None
    return [(b"access-control-allow-origin", allowed), *policy.cors.headers]


def choose_backend(primary: Backend, policy: Policy, headers: Headers) -> Backend:
    for backend, canary in policy.alternatives:
        if wants_canary(canary, headers):
            return backend
    return primary


def wants_canary(canary: Canary, headers: Headers) -> bool:
    """ingress-nginx's order: the header, then the cookie, then the weight."""
    if canary.header:
        raw = header(headers, canary.header)
        if raw is not None:
            value = raw.decode("latin-1")
            if canary.header_value:
                if value == canary.header_value:
                    return True
            elif canary.header_pattern is not None:
                if canary.header_pattern.search(value):
                    return True
            elif value == "always":
                return True
            elif value == "never":
                return False
    if canary.cookie:
        cookie = _cookie(headers, canary.cookie)
        if cookie == "always":
            return True
        if cookie == "never":
            return False
    return canary.weight > 0 and random.randint(1, canary.total) <= canary.weight


def _cookie(headers: Headers, name: str) -> str | None:
    for n, v in headers:
        if n != b"cookie":
            continue
        for part in v.decode("latin-1").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
    return None


def rewritten(route: Route, scope: Scope) -> bytes | None:
    """The request target after `rewrite-target`, None when there is no rewrite.

    As nginx's `rewrite "(?i)PATH" TARGET break;`: the path regex is searched in
    the decoded path, and a match replaces the whole path with the target, `$N`
    standing for the Nth group; the query string is kept."""
    policy = route.policy
    if policy is None or not policy.rewrite_target or policy.rewrite_target == route.path:
        return None
    # A rewrite turns the host's paths into regular expressions, compiled with the table.
    pattern = route.pattern if isinstance(route, RegexRoute) else None
    if pattern is None:
        pattern = re.compile(re.escape(route.path), re.IGNORECASE)
    found = pattern.search(scope.get("path") or "/")
    if found is None:
        return None
    groups = found.groups()

    def group(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n == 0:
            return found.group(0)
        return (groups[n - 1] or "") if n <= len(groups) else ""

    new = _CAPTURE.sub(group, policy.rewrite_target)
    target = urllib.parse.quote(new, safe=_URI_SAFE).encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return target


def websocket_upgrade(route: Route, scope: Scope, upgrade: Upgrade) -> Upgrade:
    """The upgrade as the pod gets it: rewritten target, upstream Host, X-Forwarded-Prefix.
    (The pod side of a WebSocket is plain HTTP/1.1: `backend-protocol: HTTPS` is not
    applied to upgrades.)"""
    policy = route.policy
    assert policy is not None
    target = rewritten(route, scope)
    adjust = _adjuster(policy, rewriting=target is not None)
    return dataclasses.replace(
        upgrade,
        target=target.decode("latin-1") if target is not None else upgrade.target,
        host=policy.vhost or upgrade.host,
        headers=adjust(upgrade.headers) if adjust is not None else upgrade.headers,
    )


def _adjuster(policy: Policy, *, rewriting: bool) -> Callable[[Headers], Headers] | None:
    """The change to the forwarded headers: the upstream Host, X-Forwarded-Prefix."""
    vhost = policy.vhost.encode() if policy.vhost else None
    prefix = policy.forwarded_prefix.encode() if policy.forwarded_prefix and rewriting else None
    if vhost is None and prefix is None:
        return None

    def adjust(out: Headers) -> Headers:
        if vhost is not None:
            out = [(b"host", vhost) if n.lower() == b"host" else (n, v) for n, v in out]
        if prefix is not None:
            out = [(n, v) for n, v in out if n.lower() != b"x-forwarded-prefix"]
            out.append((b"x-forwarded-prefix", prefix))
        return out

    return adjust


async def _limited(
    scope: Scope, receive: Receive, headers: Headers, limit: int
) -> tuple[AsyncIterator[bytes] | None, bool]:
    """nginx's client_max_body_size: a declared length over `limit` is refused at once;
    a chunked body is read up to the limit first, as nginx buffers it. (body, too big)."""
    length = header(headers, b"content-length")
    if length is not None:
        try:
            return None, int(length) > limit
        except ValueError:
            return None, False
    if header(headers, b"transfer-encoding") is None:
        return None, False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, True
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return _replay(chunks), False


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


__all__ = [
    "Answer",
    "allowed_source",
    "choose_backend",
    "cors_headers",
    "https_location",
    "own_answer",
    "rewritten",
    "serve",
    "wants_canary",
    "websocket_upgrade",
]
