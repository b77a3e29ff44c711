"""Builders for spans and requests used across the tracing tests."""

from __future__ import annotations

from typing import Any

import anyio
import httpx

# 2024-01-01T00:00:00Z; spans in the tests are stamped around it.
NOW_S = 1_704_067_200.0
NOW_US = int(NOW_S * 1_000_000)
NOW_MS = int(NOW_S * 1000)


class FakeClock:
    """A settable clock in epoch seconds."""

    def __init__(self, now: float = NOW_S) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_span(
    *,
    trace: str = "a" * 16,
    id: str = "1" * 16,
    parent: str | None = None,
    kind: str | None = None,
    service: str | None = "frontend",
    remote: str | None = None,
    name: str | None = "get",
    ts: int | None = NOW_US,
    duration: int | None = 1000,
    tags: dict[str, str] | None = None,
    shared: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": trace, "id": id}
    if parent is not None:
        span["parentId"] = parent
    if kind is not None:
        span["kind"] = kind
    if name is not None:
        span["name"] = name
    if ts is not None:
        span["timestamp"] = ts
    if duration is not None:
        span["duration"] = duration
    if service is not None:
        span["localEndpoint"] = {"serviceName": service}
    if remote is not None:
        span["remoteEndpoint"] = {"serviceName": remote}
    if tags:
        span["tags"] = tags
    if shared:
        span["shared"] = True
    span.update(extra)
    return span


def request(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request against an ASGI app, without a server."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            return await client.request(method, url, **kwargs)

    return anyio.run(send)


# -- protobuf by hand ------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload
