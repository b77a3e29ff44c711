"""The span store's SQLite schema: one row per span, indexed for the Zipkin queries.

A row holds the span's Zipkin JSON (served as-is by trace lookups) next to the
columns the queries filter on. Indexes: ``trace_id`` for lookups, ``(service, ts)``
for searches by service (the common case), ``ts`` for searches without one and for
dependency windows. Names for the ``services``/``spans``/``remoteServices`` and
autocomplete endpoints live in small side tables so those answers never scan
spans; each name remembers when it was last seen so retention can drop it too.
``received`` is the store clock at ingest and drives age-based retention; rows are
appended in ``received`` order, so the rowid doubles as an age index.
"""

from __future__ import annotations

from typing import Final

PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA busy_timeout=5000",
    "PRAGMA wal_autocheckpoint=10000",
)

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS spans (
        row INTEGER PRIMARY KEY,
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
    "CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id)",
    "CREATE INDEX IF NOT EXISTS spans_service_ts ON spans(service, ts)",
    "CREATE INDEX IF NOT EXISTS spans_ts ON spans(ts)",
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
    "INSERT INTO spans (trace_id, service, remote_service, name, kind, ts, duration,"
    " error, received, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_NAME: Final = (
    "INSERT INTO names (service, kind, value, last_received) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET last_received = excluded.last_received"
)
UPSERT_AUTOCOMPLETE: Final = (
    "INSERT INTO autocomplete (key, value, last_received) VALUES (?, ?, ?)"
    " ON CONFLICT DO UPDATE SET last_received = excluded.last_received"
)
