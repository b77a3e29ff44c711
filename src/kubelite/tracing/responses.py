"""Response helpers shared by the collector's ASGI apps (Zipkin's status codes and bodies)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

ACCEPTED = 202


def json_response(payload: Any, *, headers: dict[str, str] | None = None) -> Response:
    return json_bytes(orjson.dumps(payload), headers=headers)


def json_bytes(body: bytes, *, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/json", headers=headers)


def text(status: int, message: str) -> Response:
    return Response(message, status_code=status, media_type="text/plain; charset=utf-8")


_ACCEPTED_RESPONSE = Response(status_code=ACCEPTED)


def accepted() -> Response:
    """The intake's answer; one shared instance (a Response is not changed by sending it),
    since every accepted batch needs exactly this one."""
    return _ACCEPTED_RESPONSE


def too_large() -> Response:
    return text(413, "Request Entity Too Large")
