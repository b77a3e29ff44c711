"""kubelite's object store: etcd semantics on SQLite, log-structured like kine.

See `sqlite_store` for the design. The public surface is what this module exports.
"""

from kubelite.store.errors import (
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    StoreError,
    WatchClosed,
)
from kubelite.store.model import ADDED, DELETED, KV, MODIFIED, Event
from kubelite.store.sqlite_store import Store
from kubelite.store.watch import Watcher

__all__ = [
    "ADDED",
    "DELETED",
    "KV",
    "MODIFIED",
    "Compacted",
    "Conflict",
    "Event",
    "KeyExists",
    "KeyNotFound",
    "Store",
    "StoreError",
    "WatchClosed",
    "Watcher",
]
