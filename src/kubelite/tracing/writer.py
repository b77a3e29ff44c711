"""Writing a group of span batches to SQLite in as few statement steps as possible.

SQLite runs each statement step without the GIL, but the writer thread has to take
the GIL back when the step ends, and while the event loop's thread is busy decoding
the next batches that wait is long (an ``executemany`` of 5,000 rows, one step per
row, took 4 s beside a thread running Python instead of 18 ms). So a group goes in
as few steps as possible:

- spans go in multi-row ``INSERT``\\ s: one statement sized exactly for the group
  when that size was seen lately (its prepared statement is then cached), else a
  few statements sized in powers of two (always cached);
- name and autocomplete rows are written only when new or not refreshed for
  :data:`NAME_REFRESH_US` (their ``last_received`` only drives retention, which
  allows for that lag), so most groups write spans alone;
- a group that is one statement runs without ``BEGIN``/``COMMIT``: SQLite commits
  it atomically in the same step. Otherwise one explicit transaction holds all.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubelite.tracing import schema
from kubelite.tracing.rows import ROW_WIDTH

NAME_REFRESH_US: Final = 1_000_000
# Exact-size statements: for groups up to this many rows, and sizes among the last
# few groups; a prepared statement holds about 1.3 kB per row.
EXACT_MAX_ROWS: Final = 1024
RECENT_SIZES: Final = 16
CACHED_STATEMENTS: Final = 48
_MAX_REMEMBERED_NAMES: Final = 100_000

Keys = dict[tuple[Any, ...], int]


@dataclass(frozen=True)
class Batch:
    """One ingest call's rows (flat, see :mod:`kubelite.tracing.rows`), and its
    name/autocomplete keys with their ``received``."""

    values: list[Any]
    names: Keys
    tags: Keys


class SpanWriter:
    """Commits groups of :class:`Batch` through ``connection`` (the caller serializes)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._max_variables = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._written: dict[str, Keys] = {"names": {}, "tags": {}}
        self._recent_sizes: collections.deque[int] = collections.deque(maxlen=RECENT_SIZES)

    def write(self, batches: Sequence[Batch]) -> int:
        """Store ``batches`` in one transaction (all or none); returns the span count."""
        values: list[Any] = []
        names: Keys = {}
        tags: Keys = {}
        for batch in batches:
            values += batch.values
            _merge_latest(names, batch.names)
            _merge_latest(tags, batch.tags)
        names = self._stale("names", names)
        tags = self._stale("tags", tags)
        rows = len(values) // ROW_WIDTH
        exact = self._exact_size(rows)
        if exact and not names and not tags:
            self._db.execute(schema.many_rows(schema.INSERT_SPAN, rows), values)
        else:
            self._db.execute("BEGIN")
            try:
                if exact:
                    self._db.execute(schema.many_rows(schema.INSERT_SPAN, rows), values)
                else:
                    self._insert(schema.INSERT_SPAN, values, ROW_WIDTH)
                if names:
                    self._insert(schema.UPSERT_NAME, _upsert_values(names), 4)
                if tags:
                    self._insert(schema.UPSERT_AUTOCOMPLETE, _upsert_values(tags), 3)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self._remember("names", names)
        self._remember("tags", tags)
        return rows

    def forget_names(self) -> None:
        """Retention pruned the side tables: write every name again when next seen."""
        for written in self._written.values():
            written.clear()

    def _exact_size(self, rows: int) -> bool:
        """Whether ``rows`` gets a statement of its own (one step, prepared once)."""
        if rows > EXACT_MAX_ROWS or rows * ROW_WIDTH > self._max_variables:
            return False
        seen = rows in self._recent_sizes
        self._recent_sizes.append(rows)
        return seen

    def _insert(self, statement: str, values: list[Any], width: int) -> None:
        """Run ``statement`` over flat ``values`` (``width`` per row) in power-of-two chunks."""
        largest = min(schema.MAX_ROWS_PER_STATEMENT, self._max_variables // width)
        largest = 1 << (largest.bit_length() - 1)
        start = 0
        for rows in schema.chunk_sizes(len(values) // width, largest):
            end = start + rows * width
            chunk = values if start == 0 and end == len(values) else values[start:end]
            self._db.execute(schema.many_rows(statement, rows), chunk)
            start = end

    def _stale(self, table: str, keys: Keys) -> Keys:
        """The keys not written within :data:`NAME_REFRESH_US` of their ``received``."""
        written = self._written[table]
        return {
            key: received
            for key, received in keys.items()
            if received - written.get(key, -NAME_REFRESH_US) >= NAME_REFRESH_US
        }

    def _remember(self, table: str, keys: Keys) -> None:
        written = self._written[table]
        if len(written) + len(keys) > _MAX_REMEMBERED_NAMES:
            written.clear()
        written.update(keys)


def _merge_latest(into: Keys, keys: Keys) -> None:
    for key, received in keys.items():
        if into.get(key, -1) < received:
            into[key] = received


def _upsert_values(keys: Keys) -> list[Any]:
    """Flat upsert rows, sorted so every transaction touches the side tables' pages in
    the same order."""
    values: list[Any] = []
    for key, received in sorted(keys.items()):
        values += key
        values.append(received)
    return values
