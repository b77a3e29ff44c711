"""The dashboard as a part of `kubelite up`: one listener, nothing to run.

The pages read the cluster on each request through the in-process client the
cluster hands to `run`, so the app is built here but only answers once
`run` has that client; before then (the port is bound before the parts
start) it says the cluster is starting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from kubelite.dashboard.app import create_app
from kubelite.dashboard.context import Context
from kubelite.dashboard.zipkin import ZipkinClient

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient
    from kubelite.apiserver.subresources import LogSource

DASHBOARD_PORT = 9090


class Dashboard:
    """`Dashboard(port, zipkin_url=..., logs=...)`: both callables are read per request.

    `zipkin_url()` is the collector's base URL (known only after the cluster
    binds its ports) or None; `logs()` is the cluster's `pods/log` source or None.
    """

    name = "dashboard"

    def __init__(
        self,
        port: int = DASHBOARD_PORT,
        *,
        zipkin_url: Callable[[], str | None] = lambda: None,
        logs: Callable[[], LogSource | None] = lambda: None,
    ) -> None:
        self.port = port
        self._zipkin_url = zipkin_url
        self._logs = logs
        self._app = _LateApp()

    def listeners(self) -> list[tuple[str, Any, int]]:
        return [("dashboard", self._app, self.port)]

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        ctx = Context(client=client, traces=ZipkinClient(self._zipkin_url), logs=self._logs)
        self._app.app = create_app(ctx)
        ready.set()
        await asyncio.Event().wait()  # nothing to do in the background; runs until cancelled


class _LateApp:
    """An ASGI app whose real app arrives later; a class so servers see ASGI 3."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            if scope["type"] == "http":
                await PlainTextResponse("kubelite is starting", 503)(scope, receive, send)
            return
        await self.app(scope, receive, send)
