"""Builders and watch helpers shared by the store tests."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.store import Event, Watcher

PREFIX = "/registry/configmaps/"


def key(name: str, ns: str = "default") -> str:
    return f"{PREFIX}{ns}/{name}"


def make_cm(name: str, ns: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": dict(data),
    }


async def take(watcher: Watcher, n: int, timeout: float = 2.0) -> list[Event]:
    """The next `n` events of a watch; fails the test instead of hanging."""

    async def read() -> list[Event]:
        out: list[Event] = []
        while len(out) < n:
            out.append(await watcher.__anext__())
        return out

    return await asyncio.wait_for(read(), timeout)


async def idle(watcher: Watcher, wait: float = 0.05) -> bool:
    """True if the watch delivers nothing within `wait` seconds."""
    try:
        await asyncio.wait_for(watcher.__anext__(), wait)
    except TimeoutError:
        return True
    return False


def summary(events: list[Event]) -> list[tuple[str, str, int]]:
    """(type, name, revision) per event: compact to compare in assertions."""
    return [(e.type, e.kv.key.rsplit("/", 1)[-1], e.kv.revision) for e in events]
