"""The proxy parts' reconcile loop: sync on every change, back off on failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

MIN_RETRY_S = 0.05
MAX_RETRY_S = 5.0


async def sync_forever(
    changed: asyncio.Event,
    sync: Callable[[], Awaitable[None]],
    what: str,
    *,
    debounce_s: float = 0.0,
) -> None:
    """Run `sync` each time `changed` is set (it clears it), `debounce_s` after the
    change; a failed sync is retried, waiting twice as long each time up to 5 s."""
    delay = 0.0
    while True:
        await changed.wait()
        wait = delay or debounce_s
        if wait:
            await asyncio.sleep(wait)
        try:
            await sync()
            delay = 0.0
        except Exception:
            log.exception("%s sync failed; will retry", what)
            delay = min(max(delay * 2, MIN_RETRY_S), MAX_RETRY_S)
            changed.set()
