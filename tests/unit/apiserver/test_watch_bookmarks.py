"""Bookmarks: every interval and two seconds before a timed watch ends, never as it ends."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import watching
from kubelite.apiserver.rest import Selectors


class EarlyTimerWatcher:
    """A watcher whose every timed wait ends at once, as an event loop's timer
    that fires a little early does near the watch's deadline."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def next_nowait(self) -> Any:
        return None

    async def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        await asyncio.sleep(0.001)
        return False


def _request(bookmarks: bool) -> watching.WatchRequest:
    rt = REGISTRY.by_kind("v1", "ConfigMap")
    assert rt is not None
    return watching.WatchRequest(rt, "default", Selectors(), None, bookmarks=bookmarks)


async def _follow(deadline: float, interval: float) -> tuple[list[str], EarlyTimerWatcher]:
    storage: Any = SimpleNamespace(store=SimpleNamespace(revision=7))
    watcher = EarlyTimerWatcher()
    types = []
    old = watching.BOOKMARK_INTERVAL_S
    watching.BOOKMARK_INTERVAL_S = interval
    try:
        async for batch in watching._follow(storage, watcher, _request(True), deadline):
            types += [e.type for e in batch]
            if len(types) > 50:
                break
    finally:
        watching.BOOKMARK_INTERVAL_S = old
    return types, watcher


def test_a_wait_cut_short_by_the_timeout_sends_no_bookmark() -> None:
    types, watcher = asyncio.run(_follow(time.monotonic() + 1.0, interval=30.0))
    assert watcher.waits  # it waited, was woken with nothing, until the deadline
    assert types == []


def test_a_whole_quiet_interval_sends_one() -> None:
    types, _ = asyncio.run(_follow(time.monotonic() + 30, interval=0.01))
    assert types and set(types) == {"BOOKMARK"}


class QuietWatcher(EarlyTimerWatcher):
    """No events: every timed wait runs its whole time."""

    async def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        await asyncio.sleep(timeout)
        return False


def test_one_bookmark_comes_two_seconds_before_the_timeout() -> None:
    """As upstream's cache watcher: so a client restarts from a fresh resourceVersion."""

    async def follow() -> list[str]:
        storage: Any = SimpleNamespace(store=SimpleNamespace(revision=7))
        deadline = time.monotonic() + 2.2
        gen = watching._follow(storage, QuietWatcher(), _request(True), deadline)
        return [e.type async for batch in gen for e in batch]

    assert asyncio.run(follow()) == ["BOOKMARK"]
