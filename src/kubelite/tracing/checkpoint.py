"""WAL checkpoints on a thread of their own, off the ingest path.

SQLite's automatic checkpoint runs inside whichever COMMIT crosses the threshold, so
every so often one group of reporters waits while tens of MB are copied from the
WAL into the database. Passive checkpoints here copy frames while the writer keeps
appending (SQLite does the copying without holding the GIL, so it overlaps with
decoding the next batches), and the automatic checkpoint then finds almost nothing
left to copy. It still has to run: only a checkpoint that catches up with the
writer lets the WAL start over instead of growing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

MIN_INTERVAL_S: Final = 0.25


class Checkpointer:
    """Run ``PRAGMA wal_checkpoint(PASSIVE)`` after writes, at most every ``interval_s``."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, interval_s: float = MIN_INTERVAL_S
    ) -> None:
        self._connect = connect
        self._interval_s = interval_s
        self._written = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def written(self) -> None:
        """Note that a transaction was committed; starts the thread on first use."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="span-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._written.set()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            self._written.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        connection = self._connect()
        try:
            while True:
                self._written.wait()
                if self._stop.is_set():
                    return
                self._written.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:  # best effort: the next write tries again
                    log.debug("wal checkpoint failed", exc_info=True)
                self._stop.wait(self._interval_s)
        finally:
            connection.close()
