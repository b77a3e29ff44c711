"""CORS on the Zipkin port, as zipkin-server answers it with its default policy.

zipkin-server allows any origin (``zipkin.query.allowed-origins=*``) for GET and
POST with a ``Content-Type`` header, on every route: a Zipkin UI or a Grafana
data source in browser mode on another origin reads the query API, and tracers
running in a browser (zipkin-js) post spans, whose JSON content type makes the
browser ask first with a preflight ``OPTIONS``. Without these headers the browser
drops the answer, so kubelite sends the same ones. Requests without an
``Origin`` header (every server-side client) pass through untouched.
"""

from __future__ import annotations

from typing import Final

from starlette.types import Message, Scope, Send

ALLOW_ORIGIN: Final = b"*"
ALLOW_METHODS: Final = b"GET,POST"
ALLOW_HEADERS: Final = b"content-type"
_ORIGIN: Final = b"origin"
_REQUEST_METHOD: Final = b"access-control-request-method"
_CORS_HEADERS: Final = [
    (b"access-control-allow-origin", ALLOW_ORIGIN),
    (b"access-control-allow-headers", ALLOW_HEADERS),
]
_PREFLIGHT_HEADERS: Final = [
    *_CORS_HEADERS,
    (b"access-control-allow-methods", ALLOW_METHODS),
    (b"content-length", b"0"),
]


def cross_origin(scope: Scope) -> tuple[bool, bool]:
    """``(has an Origin header, is a preflight)`` of an HTTP request."""
    origin = preflight = False
    for name, _ in scope["headers"]:
        if name == _ORIGIN:
            origin = True
        elif name == _REQUEST_METHOD:
            preflight = True
    return origin, origin and preflight and scope["method"] == "OPTIONS"


async def send_preflight(send: Send) -> None:
    """The answer to a preflight: 200, the policy's headers, no body."""
    await send({"type": "http.response.start", "status": 200, "headers": _PREFLIGHT_HEADERS})
    await send({"type": "http.response.body", "body": b""})


def with_cors_headers(send: Send) -> Send:
    """``send``, adding the policy's headers to the response it starts."""

    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (name, value)
                for name, value in message.get("headers", ())
                if not name.lower().startswith(b"access-control-")
            ]
            message = {**message, "headers": headers + _CORS_HEADERS}
        await send(message)

    return send_with_cors
