"""The values the store hands out: `KV` (one stored revision of a key) and `Event`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class KV:
    """One revision of one key.

    `value` is the orjson encoding of the object with `metadata.resourceVersion`
    already set to `str(revision)`, so the API server can send it as is.
    """

    key: str
    revision: int  # the mod revision, = metadata.resourceVersion
    create_revision: int
    value: bytes

    def obj(self) -> dict[str, Any]:
        """A freshly parsed object on every call: the caller owns it and may mutate it.

        Not cached on purpose: API code reads an object, changes it and writes it
        back; a shared cached dict would let such a change leak into the stored
        revision and into every other reader.
        """
        parsed: dict[str, Any] = orjson.loads(self.value)
        return parsed


@dataclass(frozen=True, slots=True)
class Event:
    """A change, as a watcher sees it.

    For DELETED, `kv` is the tombstone: the last object with its resourceVersion
    set to the delete revision (what kube-apiserver sends), and `prev` the last
    live revision. For ADDED, `prev` is None. `prev` may also be None for events
    read back from SQLite whose previous row fell below the compaction point.
    """

    type: str  # ADDED | MODIFIED | DELETED
    kv: KV
    prev: KV | None
