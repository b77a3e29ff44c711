"""Sorted key index for prefix lists, with O(1) bookkeeping on the write path.

A store write must stay in the tens of microseconds, so it may not `insort`
into a list of 100k keys (an O(n) memmove each time). Instead a write only
records the change in a set: new keys wait in `_added`, deleted keys stay in
the sorted list, marked in `_stale`. The first list after some writes merges
the (sorted) new keys in one `list.sort()` — Timsort sees two sorted runs and
merges them in linear time — and drops stale keys once they are a noticeable
share of the list. Readers look live values up in the current-object dict, so
a stale entry they meet is simply skipped.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

_MAX_CODE_POINT = 0x10FFFF
_PURGE_MIN = 64  # stale slots tolerated before rebuilding, beside 1/8 of the list


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix`.

    None when there is no such bound (empty prefix, or only max code points).
    """
    p = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not p:
        return None
    return p[:-1] + chr(ord(p[-1]) + 1)


class KeyIndex:
    """The set of live keys, iterable in sorted order by prefix. Not thread-safe."""

    __slots__ = ("_keys", "_added", "_stale")

    def __init__(self, keys: list[str] | None = None) -> None:
        self._keys: list[str] = sorted(keys or ())
        self._added: set[str] = set()
        self._stale: set[str] = set()

    def add(self, key: str) -> None:
        """Record a new live key (it must not be live already)."""
        if key in self._stale:
            self._stale.discard(key)  # its slot in the sorted list is still there
        else:
            self._added.add(key)

    def remove(self, key: str) -> None:
        """Record that a live key was deleted."""
        if key in self._added:
            self._added.discard(key)
        else:
            self._stale.add(key)

    def __len__(self) -> int:
        return len(self._keys) + len(self._added) - len(self._stale)

    def select(
        self, prefix: str, *, start_after: str | None = None, limit: int = 0
    ) -> tuple[list[str], bool]:
        """Live keys starting with `prefix`, greater than `start_after`, in order.

        At most `limit` of them (0 = all); the flag says whether more remain.
        """
        keys = self._settled()
        lo, hi = self._bounds(keys, prefix)
        if start_after is not None:
            lo = max(lo, bisect_right(keys, start_after, lo, hi))
        stale = self._stale
        if not stale:
            if limit <= 0 or hi - lo <= limit:
                return keys[lo:hi], False
            return keys[lo : lo + limit], True
        out: list[str] = []
        for i in range(lo, hi):
            key = keys[i]
            if key in stale:
                continue
            if limit > 0 and len(out) == limit:
                return out, True
            out.append(key)
        return out, False

    def count(self, prefix: str, *, start_after: str | None = None) -> int:
        """How many live keys start with `prefix` (and are greater than `start_after`)."""
        keys = self._settled()
        lo, hi = self._bounds(keys, prefix)
        if start_after is not None:
            lo = max(lo, bisect_right(keys, start_after, lo, hi))
        if not self._stale:
            return hi - lo
        return sum(1 for key in keys[lo:hi] if key not in self._stale)

    @staticmethod
    def _bounds(keys: list[str], prefix: str) -> tuple[int, int]:
        lo = bisect_left(keys, prefix)
        end = prefix_end(prefix)
        hi = len(keys) if end is None else bisect_left(keys, end, lo)
        return lo, hi

    def _settled(self) -> list[str]:
        keys = self._keys
        if self._added:
            keys.extend(sorted(self._added))
            keys.sort()  # two sorted runs: a linear merge
            self._added.clear()
        if len(self._stale) > max(_PURGE_MIN, len(keys) // 8):
            stale = self._stale
            keys = self._keys = [k for k in keys if k not in stale]
            stale.clear()
        return keys
