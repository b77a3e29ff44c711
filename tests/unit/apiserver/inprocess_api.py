"""The real API app over an empty store with the `default` namespace, called in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

TOKEN = "t0ken"


@contextmanager
def api_app(tmp_path: Path) -> Iterator[ApiApp]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    storage.create(
        storage.registry.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    try:
        yield ApiApp(storage, token=TOKEN)
    finally:
        store.close()


def call(app: ApiApp, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    """One request as a client sends it; `headers` by their names with `_` for `-`."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(
                method,
                path,
                content=None if body is None else orjson.dumps(body),
                headers={
                    "authorization": f"Bearer {TOKEN}",
                    **{k.replace("_", "-"): v for k, v in headers.items()},
                },
            )

    return asyncio.run(go())
