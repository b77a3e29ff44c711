"""Garbage-collector settings for the long-running `kubelite up` process.

Everything kubelite keeps (stored objects, caches, informers) lives long, and
a write burst allocates many small containers that survive: with CPython's
default thresholds (700, 10, 10) the cyclic collector then re-scans the
whole heap again and again, which measured about a tenth of the CPU of a
10,000-pod burst. Cycles are rare in this workload (reference counting frees
almost everything), so collections can be far less frequent, and the heap as
it stands after start-up (modules, classes, bootstrap objects) can be moved
out of the collector's sight once.
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["FREEZE_AFTER_S", "THRESHOLDS", "freeze_startup_heap", "tune_collector"]

THRESHOLDS = (20_000, 20, 20)
FREEZE_AFTER_S = 2.0  # after ready, so the full collection is not on the /readyz path


def tune_collector() -> None:
    """Collect young objects less often (see the module docstring)."""
    gc.set_threshold(*THRESHOLDS)


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


def freeze_startup_heap(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Soon after start-up: drop its garbage, then exempt what remains from collection."""
    (loop or asyncio.get_running_loop()).call_later(FREEZE_AFTER_S, _collect_and_freeze)
