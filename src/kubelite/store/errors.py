"""The store's exceptions: one base, one narrow class per outcome a caller handles.

The API server maps them at one boundary: `KeyExists` -> 409 AlreadyExists,
`KeyNotFound` -> 404, `Conflict` -> 409 Conflict, `Compacted` -> 410 Expired,
`WatchClosed` -> the end of a watch stream.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store error; also raised, chained, for SQLite failures."""


class KeyExists(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class KeyNotFound(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class Conflict(StoreError):
    """The key changed since the caller read it: `expected` is stale, `actual` is current."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"conflict on {key}: expected revision {expected}, current is {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StoreError):
    """History after `requested` is no longer complete: it lies below the compaction point."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(f"revision {requested} is compacted (compact revision {compact_revision})")
        self.requested = requested
        self.compact_revision = compact_revision


class WatchClosed(StoreError):
    """The store ended a watch: `reason` is "too slow" (queue overflow) or "store closed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"watch closed: {reason}")
        self.reason = reason
