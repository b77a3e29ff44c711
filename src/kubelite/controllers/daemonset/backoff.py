"""Backoff for deleting failed daemon pods, as client-go's `flowcontrol.Backoff`.

A node whose kubelet keeps rejecting a daemon pod would otherwise see it
deleted and recreated in a hot loop. Each (DaemonSet, generation, node) key
waits 1 s after the first deletion, doubling to 15 min; a key untouched for
twice the maximum starts over.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_S = 1.0
MAX_S = 15 * 60.0


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, *, initial: float = INITIAL_S, maximum: float = MAX_S) -> None:
        self.initial, self.maximum = initial, maximum
        self._entries: dict[str, _Entry] = {}

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.maximum

    def in_backoff_since_update(self, key: str, now: float) -> bool:
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            return False
        return now - entry.last_update < entry.delay

    def next(self, key: str, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.last_update = now

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return 0.0 if entry is None else entry.delay

    def gc(self, now: float) -> None:
        """Forget keys idle for twice the maximum."""
        for key in [k for k, e in self._entries.items() if self._expired(e, now)]:
            del self._entries[key]
