"""SpanStore: the collector's SQLite span store (its own file, WAL, batched writes).

Writes go through one connection under a lock; concurrent :meth:`SpanStore.ingest`
calls share a transaction (group commit, see :mod:`kubelite.tracing.group_commit`),
yet each batch is stored whole or not at all and the call returns only once it is
committed (callers validate the whole batch before calling). Reads use one connection per thread, which WAL lets
run beside the writer. Methods are synchronous and short; the HTTP layer runs them
in worker threads. Retention is not a background task: the owner calls
:meth:`SpanStore.enforce_retention` on its own schedule, and time comes from the
injected ``clock`` so tests can age data deterministically.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubelite.tracing import schema
from kubelite.tracing.dependencies import DependencyLink, DependencyLinker
from kubelite.tracing.group_commit import GroupCommit
from kubelite.tracing.model import Span
from kubelite.tracing.query import QueryRequest
from kubelite.tracing.stats import SERVED_KINDS, ServiceStats, stats_from_samples

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 7 * 86400
DEFAULT_MAX_SPANS = 5_000_000
_CANDIDATE_PAGE = 64


class SpanStore:
    """Zipkin v2 spans in SQLite; see the module docstring for the design."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_spans: int = DEFAULT_MAX_SPANS,
        autocomplete_keys: Collection[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        self.max_age_s = max_age_s
        self.max_spans = max_spans
        self.autocomplete_keys = frozenset(autocomplete_keys)
        self.clock = clock
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        self._group: GroupCommit[_Batch] = GroupCommit(self._commit, lock=self._write_lock)
        with self._writer:
            for statement in schema.SCHEMA:
                self._writer.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        for pragma in schema.PRAGMAS:
            connection.execute(pragma)
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only=ON")
            self._local.connection = connection
            self._readers.append(connection)
        return connection

    def close(self) -> None:
        for connection in self._readers:
            connection.close()
        self._writer.close()

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    # -- writes ---------------------------------------------------------------

    def ingest(self, spans: Sequence[Span]) -> int:
        """Store a validated batch whole; returns once it is committed.

        Concurrent calls share transactions (see :mod:`kubelite.tracing.group_commit`),
        but each batch is still stored entirely or not at all.
        """
        if not spans:
            return 0
        received = self.now_us()
        batch = _Batch(
            rows=[_row(span, received) for span in spans],
            names=_names(spans, received),
            tags=self._autocomplete_rows(spans, received),
        )
        self._group.submit(batch)
        log.debug("ingest spans=%d", len(batch.rows))
        return len(batch.rows)

    def _commit(self, batches: Sequence[_Batch]) -> None:
        """One transaction for ``batches``; the caller holds the write lock."""
        names: dict[tuple[Any, ...], int] = {}
        tags: dict[tuple[Any, ...], int] = {}
        for batch in batches:
            _merge_latest(names, batch.names)
            _merge_latest(tags, batch.tags)
        self._writer.execute("BEGIN")
        try:
            for batch in batches:
                self._writer.executemany(schema.INSERT_SPAN, batch.rows)
            self._writer.executemany(schema.UPSERT_NAME, _upsert_rows(names))
            if tags:
                self._writer.executemany(schema.UPSERT_AUTOCOMPLETE, _upsert_rows(tags))
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    def _autocomplete_rows(
        self, spans: Sequence[Span], received: int
    ) -> dict[tuple[Any, ...], int]:
        if not self.autocomplete_keys:
            return {}
        return {
            (key, value): received
            for span in spans
            for key, value in span.get("tags", {}).items()
            if key in self.autocomplete_keys
        }

    def enforce_retention(self) -> int:
        """Drop spans older than ``max_age_s`` and the oldest beyond ``max_spans``."""
        cutoff = self.now_us() - int(self.max_age_s * 1_000_000)
        with self._write_lock:
            self._writer.execute("BEGIN")
            try:
                deleted = self._delete_older_than(cutoff) + self._delete_over_count()
                self._prune_names(cutoff)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")
        log.info("retention deleted spans=%d", deleted)
        return deleted

    def _delete_older_than(self, cutoff: int) -> int:
        first_kept = self._writer.execute(
            "SELECT row FROM spans WHERE received >= ? ORDER BY row LIMIT 1", (cutoff,)
        ).fetchone()
        if first_kept is None:
            return self._writer.execute("DELETE FROM spans").rowcount
        return self._writer.execute("DELETE FROM spans WHERE row < ?", first_kept).rowcount

    def _delete_over_count(self) -> int:
        (count,) = self._writer.execute("SELECT count(*) FROM spans").fetchone()
        excess = count - self.max_spans
        if excess <= 0:
            return 0
        return self._writer.execute(
            "DELETE FROM spans WHERE row IN (SELECT row FROM spans ORDER BY row LIMIT ?)",
            (excess,),
        ).rowcount

    def _prune_names(self, cutoff: int) -> None:
        oldest = self._writer.execute("SELECT min(received) FROM spans").fetchone()[0]
        keep_from = max(cutoff, oldest) if oldest is not None else None
        for table in ("names", "autocomplete"):
            if keep_from is None:
                self._writer.execute(f"DELETE FROM {table}")
            else:
                self._writer.execute(f"DELETE FROM {table} WHERE last_received < ?", (keep_from,))

    # -- reads ----------------------------------------------------------------

    def count(self) -> int:
        return self._reader().execute("SELECT count(*) FROM spans").fetchone()[0]

    def trace_json(self, trace_id: str) -> bytes | None:
        """The trace as a JSON array (bytes), or None when no span has this id."""
        blobs = (
            self._reader()
            .execute("SELECT json FROM spans WHERE trace_id = ?", (trace_id,))
            .fetchall()
        )
        if not blobs:
            return None
        return b"[" + b",".join(blob for (blob,) in blobs) + b"]"

    def get_trace(self, trace_id: str) -> list[Span]:
        blobs = self._reader().execute("SELECT json FROM spans WHERE trace_id = ?", (trace_id,))
        return [orjson.loads(blob) for (blob,) in blobs]

    def traces_json(self, trace_ids: Iterable[str]) -> bytes:
        parts = [self.trace_json(trace_id) for trace_id in trace_ids]
        return b"[" + b",".join(part for part in parts if part is not None) + b"]"

    def service_names(self) -> list[str]:
        rows = self._reader().execute("SELECT DISTINCT service FROM names ORDER BY service")
        return [service for (service,) in rows]

    def span_names(self, service: str) -> list[str]:
        return self._names(service, "n")

    def remote_service_names(self, service: str) -> list[str]:
        return self._names(service, "r")

    def _names(self, service: str, kind: str) -> list[str]:
        if not service:
            return []
        rows = self._reader().execute(
            "SELECT value FROM names WHERE service = ? AND kind = ? ORDER BY value",
            (service.lower(), kind),
        )
        return [value for (value,) in rows]

    def autocomplete_values(self, key: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT value FROM autocomplete WHERE key = ? ORDER BY value", (key,)
        )
        return [value for (value,) in rows]

    def find_traces(self, request: QueryRequest) -> list[list[Span]]:
        """Traces matching ``request``, newest first, at most ``request.limit``."""
        result: list[list[Span]] = []
        page: list[str] = []
        for trace_id in self._candidate_trace_ids(request):
            page.append(trace_id)
            if len(page) >= max(_CANDIDATE_PAGE, request.limit):
                if self._collect(request, page, result):
                    return result
                page = []
        self._collect(request, page, result)
        return result

    def _collect(self, request: QueryRequest, page: list[str], result: list[list[Span]]) -> bool:
        traces = self._load_traces(page)
        for trace_id in page:
            trace = traces.get(trace_id)
            if trace and request.test(trace):
                result.append(trace)
                if len(result) >= request.limit:
                    return True
        return False

    def _candidate_trace_ids(self, request: QueryRequest) -> Iterator[str]:
        begin, end = request.begin_ts * 1000, request.end_ts * 1000
        if request.service_name is not None:
            sql = (
                "SELECT trace_id FROM spans WHERE service = ? AND ts BETWEEN ? AND ?"
                " ORDER BY ts DESC"
            )
            rows = self._reader().execute(sql, (request.service_name, begin, end))
        else:
            sql = "SELECT trace_id FROM spans WHERE ts BETWEEN ? AND ? ORDER BY ts DESC"
            rows = self._reader().execute(sql, (begin, end))
        seen: set[str] = set()
        for (trace_id,) in rows:
            if trace_id not in seen:
                seen.add(trace_id)
                yield trace_id

    def _load_traces(self, trace_ids: Sequence[str]) -> dict[str, list[Span]]:
        traces: dict[str, list[Span]] = {}
        if not trace_ids:
            return traces
        marks = ",".join("?" * len(trace_ids))
        rows = self._reader().execute(
            f"SELECT trace_id, json FROM spans WHERE trace_id IN ({marks})", tuple(trace_ids)
        )
        for trace_id, blob in rows:
            traces.setdefault(trace_id, []).append(orjson.loads(blob))
        return traces

    def dependencies(self, end_ts_ms: int, lookback_ms: int) -> list[DependencyLink]:
        """Links over traces with a span timestamp in ``[endTs - lookback, endTs]``."""
        begin, end = (end_ts_ms - lookback_ms) * 1000, end_ts_ms * 1000
        rows = self._reader().execute(
            "SELECT trace_id, json FROM spans WHERE trace_id IN"
            " (SELECT DISTINCT trace_id FROM spans WHERE ts BETWEEN ? AND ?)"
            " ORDER BY trace_id",
            (begin, end),
        )
        linker = DependencyLinker()
        current: str | None = None
        trace: list[Span] = []
        for trace_id, blob in rows:
            if trace_id != current and trace:
                linker.put_trace(trace)
                trace = []
            current = trace_id
            trace.append(orjson.loads(blob))
        linker.put_trace(trace)
        return linker.links()

    def service_stats(self, service: str, *, end_ts_ms: int, lookback_ms: int) -> ServiceStats:
        """Request rate, error rate and latency percentiles of ``service`` in a window."""
        service = service.lower()
        rows = self._reader().execute(
            "SELECT duration, error FROM spans WHERE service = ? AND ts BETWEEN ? AND ?"
            f" AND kind IN ({','.join('?' * len(SERVED_KINDS))})",
            (service, (end_ts_ms - lookback_ms) * 1000, end_ts_ms * 1000, *SERVED_KINDS),
        )
        return stats_from_samples(
            service, ((d, bool(e)) for d, e in rows), window_s=lookback_ms / 1000
        )


def _row(span: Span, received: int) -> tuple[Any, ...]:
    local = span.get("localEndpoint")
    remote = span.get("remoteEndpoint")
    tags = span.get("tags")
    return (
        span["traceId"],
        local.get("serviceName") if local else None,
        remote.get("serviceName") if remote else None,
        span.get("name"),
        span.get("kind"),
        span.get("timestamp"),
        span.get("duration"),
        1 if tags and "error" in tags else 0,
        received,
        orjson.dumps(span),
    )


@dataclass(frozen=True)
class _Batch:
    """One ingest call's rows, and its name/autocomplete keys with their ``received``."""

    rows: list[tuple[Any, ...]]
    names: dict[tuple[Any, ...], int]
    tags: dict[tuple[Any, ...], int]


def _merge_latest(into: dict[tuple[Any, ...], int], keys: dict[tuple[Any, ...], int]) -> None:
    for key, received in keys.items():
        if into.get(key, -1) < received:
            into[key] = received


def _upsert_rows(keys: dict[tuple[Any, ...], int]) -> list[tuple[Any, ...]]:
    """Sorted, so every transaction touches the side tables' pages in the same order."""
    return [(*key, received) for key, received in sorted(keys.items())]


def _names(spans: Sequence[Span], received: int) -> dict[tuple[Any, ...], int]:
    found: set[tuple[str, str, str]] = set()
    for span in spans:
        local = span.get("localEndpoint")
        service = local.get("serviceName") if local else None
        if service is None:
            continue
        found.add((service, "s", ""))
        name = span.get("name")
        if name is not None:
            found.add((service, "n", name))
        remote = span.get("remoteEndpoint")
        remote_name = remote.get("serviceName") if remote else None
        if remote_name is not None:
            found.add((service, "r", remote_name))
    return dict.fromkeys(found, received)
