"""The span store's SQLite schema: one row per span, indexed for the Zipkin queries.

A row holds the span's Zipkin JSON (served as-is by trace lookups) next to the
columns the queries filter on. Indexes: ``trace_key`` for lookups, ``(service, ts)``
for searches by service and, one stream per service merged, for searches without
one and for dependency windows. There is deliberately no index on ``ts`` alone:
spans arrive out of ``ts`` order, so every index dirties a random page per span,
and those pages are what each commit writes. Names for the ``services``/``spans``/
``remoteServices`` and autocomplete endpoints live in small side tables so those
answers never scan spans; each name remembers when it was last seen so retention
can drop it too.

``trace_key`` is the low 64 bits of the trace id as a signed integer: an integer
index is smaller and cheaper to insert into than one over 32-character text, which
is what ingest pays for on every span. Lookups match ``trace_key`` through the
index and then the full ``trace_id`` (a 128-bit id's high half) in the row.
:data:`VERSION` is kept in ``PRAGMA user_version``; a span file written under
another layout is emptied at open (spans are telemetry, not records).
``received`` is the store clock at ingest and drives age-based retention; rows are
appended in ``received`` order, so the rowid doubles as an age index.
"""

from __future__ import annotations

import functools
from typing import Final

VERSION: Final = 2

PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA busy_timeout=5000",
    # A background thread checkpoints (see kubelite.tracing.checkpoint); the inline
    # one is the backstop that lets the WAL restart. The span writer raises it, see
    # WRITER_AUTOCHECKPOINT below.
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA journal_size_limit=67108864",
)

# The span writer's own automatic checkpoint threshold (the PRAGMAS above say 10000
# for every other connection). Checkpoints are mostly the background thread's job:
# one run inline in a commit stalls intake for its fsyncs, tens of milliseconds. The
# writer's is a backstop that lets the WAL start over; by the time it runs, the
# background thread has copied nearly everything, so it is short.
WRITER_AUTOCHECKPOINT: Final = "PRAGMA wal_autocheckpoint=40000"

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS spans (
        row INTEGER PRIMARY KEY,
        trace_key INTEGER NOT NULL,
        trace_id TEXT NOT NULL,
        service TEXT,
        remote_service TEXT,
        name TEXT,
        kind TEXT,
        ts INTEGER,
        duration INTEGER,
        error INTEGER NOT NULL,
        received INTEGER NOT NULL,
        json BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_key)",
    "CREATE INDEX IF NOT EXISTS spans_service_ts ON spans(service, ts)",
    # kind: 's' service marker (value ''), 'n' span name, 'r' remote service name.
    """CREATE TABLE IF NOT EXISTS names (
        service TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        last_received INTEGER NOT NULL,
        PRIMARY KEY (service, kind, value)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS autocomplete (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        last_received INTEGER NOT NULL,
        PRIMARY KEY (key, value)
    ) WITHOUT ROWID""",
)

INSERT_SPAN: Final = (
    "INSERT INTO spans (trace_key, trace_id, service, remote_service, name, kind, ts,"
    " duration, error, received, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_NAME: Final = (
    "INSERT INTO names (service, kind, value, last_received) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET last_received = excluded.last_received"
)
UPSERT_AUTOCOMPLETE: Final = (
    "INSERT INTO autocomplete (key, value, last_received) VALUES (?, ?, ?)"
    " ON CONFLICT DO UPDATE SET last_received = excluded.last_received"
)

# Rows per multi-row statement, at most: 2048 spans are 22,528 parameters, under
# SQLite's default limit of 32,766 (a build with a lower limit gets smaller chunks).
MAX_ROWS_PER_STATEMENT: Final = 2048


@functools.cache
def many_rows(statement: str, rows: int) -> str:
    """``statement`` (one ``VALUES (...)`` row) with ``rows`` value rows.

    The writer inserts a whole group in a few such statements instead of one step
    per row: SQLite runs a step without the GIL, and a thread that has to take the
    GIL back after every row waits on the event loop's thread each time.
    """
    head, values = statement.split(" VALUES ", 1)
    tuple_end = values.index(")") + 1
    row, tail = values[:tuple_end], values[tuple_end:]
    return f"{head} VALUES {','.join([row] * rows)}{tail}"


def chunk_sizes(rows: int, largest: int = MAX_ROWS_PER_STATEMENT) -> list[int]:
    """Split ``rows`` into powers of two (at most ``largest``), so few statement
    texts exist and each is prepared once and then served from the statement cache."""
    sizes = []
    while rows:
        size = min(largest, 1 << (rows.bit_length() - 1))
        sizes.append(size)
        rows -= size
    return sizes


TABLES: Final = ("spans", "names", "autocomplete")
_HIGH_BIT: Final = 1 << 63


def trace_key(trace_id: str) -> int:
    """The low 64 bits of a (normalized, lower-hex) trace id, as SQLite's signed integer."""
    value = int(trace_id[-16:], 16)
    return value - (_HIGH_BIT << 1) if value >= _HIGH_BIT else value
