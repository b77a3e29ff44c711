"""The `kubelite up` component: its listener, readiness and public surface."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

import kubelite.dashboard as dashboard
from kubelite.apiserver.client import LocalClient
from kubelite.dashboard import DASHBOARD_PORT, Dashboard

pytestmark = pytest.mark.anyio


def test_public_surface() -> None:
    assert set(dashboard.__all__) == {
        "DASHBOARD_PORT", "Context", "Dashboard", "TracesUnavailable", "ZipkinClient", "create_app",
    }  # fmt: skip


async def test_listener_answers_once_running(client: LocalClient) -> None:
    comp = Dashboard(0, zipkin_url=lambda: None)
    [(name, app, port)] = comp.listeners()
    assert (comp.name, name, port, Dashboard().port) == (
        "dashboard",
        "dashboard",
        0,
        DASHBOARD_PORT,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/")).status_code == 503  # bound before the parts start
        ready = asyncio.Event()
        task = asyncio.create_task(comp.run(client, ready))
        try:
            await ready.wait()
            response = await http.get("/")
            assert response.status_code == 200 and "Overview" in response.text
            assert "the tracing collector is not running" in (await http.get("/traces")).text
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_uvicorn_serves_the_listener_as_asgi3() -> None:
    import uvicorn
    from uvicorn.middleware.asgi2 import ASGI2Middleware

    [(_, app, _)] = Dashboard(0).listeners()
    config = uvicorn.Config(app, lifespan="off", proxy_headers=False)
    config.load()
    assert not isinstance(config.loaded_app, ASGI2Middleware)
