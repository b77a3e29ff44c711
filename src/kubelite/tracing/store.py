"""SpanStore: the collector's SQLite span store (its own file, WAL, batched writes).

Writes go through one connection, owned by a writer thread; concurrent
:meth:`SpanStore.ingest` / :meth:`SpanStore.ingest_async` calls share a transaction
(group commit, see :mod:`kubelite.tracing.group_commit`; how a group is written is
:mod:`kubelite.tracing.writer`), yet each batch is stored whole or not at all and
the call returns only once it is committed (callers validate the whole batch before
calling). Rows are built on the caller's thread (:mod:`kubelite.tracing.rows`), so
the writer thread spends its time in SQLite. Reads use one connection per thread,
which WAL lets run beside the writer; the HTTP layer runs them in worker threads.
WAL checkpoints run mostly on a thread of their own (see
:mod:`kubelite.tracing.checkpoint` and :data:`schema.WRITER_AUTOCHECKPOINT`). Retention is not a hidden task: the owner
calls :meth:`SpanStore.enforce_retention` on its own schedule, from a thread, and
time comes from the injected ``clock`` so tests can age data deterministically.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from kubelite.tracing import schema
from kubelite.tracing.checkpoint import Checkpointer
from kubelite.tracing.dependencies import DependencyLink, DependencyLinker
from kubelite.tracing.group_commit import GroupCommit
from kubelite.tracing.model import Span
from kubelite.tracing.query import QueryRequest, micros
from kubelite.tracing.rows import rows_from_spans, rows_from_wire
from kubelite.tracing.stats import SERVED_KINDS, ServiceStats, stats_from_samples
from kubelite.tracing.writer import CACHED_STATEMENTS, NAME_REFRESH_US, Batch, SpanWriter
from kubelite.tracing.zipkin_json_fast import WireSpan

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 7 * 86400
DEFAULT_MAX_SPANS = 5_000_000
PRUNE_CHUNK = 2_000
SIZE_HEADROOM = 0.9
_CANDIDATE_PAGE = 64
_KEYS_PER_QUERY = 500


class SpanStore:
    """Zipkin v2 spans in SQLite; see the module docstring for the design."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_spans: int = DEFAULT_MAX_SPANS,
        max_bytes: int | None = None,
        autocomplete_keys: Collection[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        self.max_age_s = max_age_s
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.autocomplete_keys = frozenset(autocomplete_keys)
        self.clock = clock
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect(cached_statements=CACHED_STATEMENTS)
        self._writer.execute(schema.WRITER_AUTOCHECKPOINT)
        self._span_writer = SpanWriter(self._writer)
        self._group: GroupCommit[Batch] = GroupCommit(self._commit, lock=self._write_lock)
        self._checkpointer = Checkpointer(self._connect)
        self._create_schema()

    def _create_schema(self) -> None:
        (version,) = self._writer.execute("PRAGMA user_version").fetchone()
        with self._writer:
            if version != schema.VERSION:
                for table in schema.TABLES:  # an older layout: start afresh
                    self._writer.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in schema.SCHEMA:
                self._writer.execute(statement)
            self._writer.execute(f"PRAGMA user_version={schema.VERSION}")

    def _connect(self, *, cached_statements: int = 128) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            cached_statements=cached_statements,
        )
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
        self._group.close()
        self._checkpointer.close()
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
        self._group.submit(self._batch(spans))
        return len(spans)

    async def ingest_async(self, spans: Sequence[Span]) -> int:
        """:meth:`ingest` for an event loop: awaits the commit without a worker thread."""
        if not spans:
            return 0
        await self._group.submit_async(self._batch(spans))
        return len(spans)

    async def ingest_wire_async(self, spans: Sequence[WireSpan]) -> int:
        """:meth:`ingest_async` for canonical spans from the JSON fast path."""
        if not spans:
            return 0
        received = self.now_us()
        values, names = rows_from_wire(spans, received)
        tags = self._autocomplete_rows((span.tags for span in spans), received)
        await self._group.submit_async(Batch(values, names, tags))
        return len(spans)

    def _batch(self, spans: Sequence[Span]) -> Batch:
        received = self.now_us()
        values, names = rows_from_spans(spans, received)
        tags = self._autocomplete_rows((span.get("tags") for span in spans), received)
        return Batch(values, names, tags)

    def _commit(self, batches: Sequence[Batch]) -> None:
        """One transaction for ``batches``; the caller holds the write lock."""
        spans = self._span_writer.write(batches)
        self._checkpointer.written()
        log.debug("committed spans=%d batches=%d", spans, len(batches))

    def _autocomplete_rows(
        self, tag_maps: Iterable[dict[str, str] | None], received: int
    ) -> dict[tuple[Any, ...], int]:
        if not self.autocomplete_keys:
            return {}
        return {
            (key, value): received
            for tags in tag_maps
            if tags
            for key, value in tags.items()
            if key in self.autocomplete_keys
        }

    # -- retention ------------------------------------------------------------

    def enforce_retention(self) -> int:
        """Drop spans older than ``max_age_s``, then the oldest traces beyond the size bounds.

        The size bounds (``max_spans``, ``max_bytes``) drop whole traces, oldest
        first (by when their first span arrived), so no trace is left half-pruned.
        Work goes in short transactions of at most :data:`PRUNE_CHUNK` traces, so
        intake waits at most one chunk; call it from a background thread.
        """
        cutoff = self.now_us() - int(self.max_age_s * 1_000_000)
        deleted = 0
        first_kept = self._first_row_since(cutoff)
        while True:
            with self._write_lock:
                dropped = self._delete_rows_before(first_kept)
            deleted += dropped
            if dropped < PRUNE_CHUNK:
                break
        excess = self._excess_spans()
        while excess > 0:
            with self._write_lock:
                dropped = self._delete_oldest_traces(excess)
            if not dropped:
                break
            deleted += dropped
            excess -= dropped
        with self._write_lock:
            self._in_transaction(lambda: self._prune_names(cutoff))
            self._span_writer.forget_names()
        if deleted:
            log.info("retention deleted spans=%d", deleted)
        return deleted

    def _in_transaction(self, work: Callable[[], int | None]) -> int:
        self._writer.execute("BEGIN")
        try:
            result = work() or 0
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")
        return result

    def _first_row_since(self, cutoff: int) -> int:
        """The first row received at or after ``cutoff`` (rows are in arrival order).

        The scan starts at the oldest row, so it is short unless much has expired.
        """
        reader = self._reader()
        found = reader.execute(
            "SELECT row FROM spans WHERE received >= ? ORDER BY row LIMIT 1", (cutoff,)
        ).fetchone()
        if found is not None:
            return int(found[0])
        (last,) = reader.execute("SELECT max(row) FROM spans").fetchone()
        return (last or 0) + 1  # everything expired, or nothing is stored

    def _delete_rows_before(self, row: int) -> int:
        """One chunk of the rows before ``row``."""
        sql = (
            "DELETE FROM spans WHERE row IN"
            " (SELECT row FROM spans WHERE row < ? ORDER BY row LIMIT ?)"
        )
        return self._in_transaction(lambda: self._writer.execute(sql, (row, PRUNE_CHUNK)).rowcount)

    def _excess_spans(self) -> int:
        """How many spans to drop to meet ``max_spans`` and ``max_bytes``."""
        (count,) = self._reader().execute("SELECT count(*) FROM spans").fetchone()
        excess = count - self.max_spans
        if self.max_bytes is not None and count:
            used = self.size_bytes()
            if used > self.max_bytes:
                # Aim below the bound so the next round does not prune again at once.
                keep = int(count * self.max_bytes * SIZE_HEADROOM / used)
                excess = max(excess, count - keep)
        return excess

    def size_bytes(self) -> int:
        """Bytes of the span file in use (free pages, reused by new spans, not counted)."""
        cursor = self._reader()
        (pages,) = cursor.execute("PRAGMA page_count").fetchone()
        (free,) = cursor.execute("PRAGMA freelist_count").fetchone()
        (page_size,) = cursor.execute("PRAGMA page_size").fetchone()
        return int((pages - free) * page_size)

    def _delete_oldest_traces(self, excess: int) -> int:
        """One chunk: the traces owning the oldest ``excess`` spans, whole."""
        keys = [
            key
            for (key,) in self._writer.execute(
                "SELECT trace_key FROM spans ORDER BY row LIMIT ?", (min(excess, PRUNE_CHUNK),)
            )
        ]
        unique = list(dict.fromkeys(keys))
        marks = ",".join("?" * len(unique))
        return self._in_transaction(
            lambda: (
                self._writer.execute(
                    f"DELETE FROM spans WHERE trace_key IN ({marks})", unique
                ).rowcount
            )
        )

    def _prune_names(self, cutoff: int) -> None:
        """Drop names no stored span mentions any more.

        Intake refreshes a name's ``last_received`` at most every
        :data:`NAME_REFRESH_US` (see :mod:`kubelite.tracing.writer`), so a name may
        read up to that much older than its newest span: it is kept that much longer.
        """
        oldest = self._writer.execute("SELECT received FROM spans ORDER BY row LIMIT 1").fetchone()
        keep_from = max(cutoff, oldest[0]) - NAME_REFRESH_US if oldest is not None else None
        for table in ("names", "autocomplete"):
            if keep_from is None:
                self._writer.execute(f"DELETE FROM {table}")
            else:
                self._writer.execute(f"DELETE FROM {table} WHERE last_received < ?", (keep_from,))
        # Names last seen after the oldest span may still belong to a service whose
        # traces were all pruned by size; the (service, ts) index answers this cheaply.
        self._writer.execute(
            "DELETE FROM names WHERE NOT EXISTS"
            " (SELECT 1 FROM spans WHERE spans.service = names.service)"
        )

    # -- reads ----------------------------------------------------------------

    def count(self) -> int:
        return self._reader().execute("SELECT count(*) FROM spans").fetchone()[0]

    def _trace_blobs(self, trace_id: str) -> list[bytes]:
        """The trace's spans, each distinct span once.

        A reporter that retries a batch the collector had stored sends its spans
        twice; Zipkin's default store keeps equal spans once, and so do answers
        here. Stored JSON is canonical, so equal spans are equal bytes.
        """
        rows = self._reader().execute(
            "SELECT json FROM spans WHERE trace_key = ? AND trace_id = ?",
            (schema.trace_key(trace_id), trace_id),
        )
        return list(dict.fromkeys(blob for (blob,) in rows))

    def trace_json(self, trace_id: str) -> bytes | None:
        """The trace as a JSON array (bytes), or None when no span has this id."""
        blobs = self._trace_blobs(trace_id)
        if not blobs:
            return None
        return b"[" + b",".join(blobs) + b"]"

    def get_trace(self, trace_id: str) -> list[Span]:
        return [orjson.loads(blob) for blob in self._trace_blobs(trace_id)]

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
        # Pages never outgrow one IN (...) list, however large the limit asked for.
        page_size = min(max(_CANDIDATE_PAGE, request.limit), _KEYS_PER_QUERY)
        for trace_id in self._candidate_trace_ids(request):
            page.append(trace_id)
            if len(page) >= page_size:
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
        begin, end = micros(request.begin_ts), micros(request.end_ts)
        seen: set[str] = set()
        newest_first = self._newest_first(begin, end, request.service_name)
        for _, trace_id in _zipkin_order(newest_first):
            if trace_id not in seen:
                seen.add(trace_id)
                yield trace_id

    def _newest_first(
        self, begin: int, end: int, service: str | None = None
    ) -> Iterator[tuple[int, str]]:
        """``(ts, trace_id)`` of spans in ``[begin, end]``, newest first.

        There is no index on ``ts`` alone (every index costs ingest); without a
        service, the per-service streams of the ``(service, ts)`` index are merged,
        plus the spans that name no service.
        """
        reader = self._reader()
        select = "SELECT ts, trace_id FROM spans WHERE service {} AND ts BETWEEN ? AND ?"
        order = " ORDER BY ts DESC"
        if service is not None:
            yield from reader.execute(select.format("= ?") + order, (service, begin, end))
            return
        services = [name for (name,) in reader.execute("SELECT DISTINCT service FROM names")]
        streams = [
            reader.execute(select.format("= ?") + order, (name, begin, end)) for name in services
        ]
        streams.append(reader.execute(select.format("IS NULL") + order, (begin, end)))
        yield from heapq.merge(*streams, key=_first, reverse=True)

    def _load_traces(self, trace_ids: Sequence[str]) -> dict[str, list[Span]]:
        if not trace_ids:
            return {}
        wanted = set(trace_ids)
        keys = {schema.trace_key(trace_id) for trace_id in wanted}
        marks = ",".join("?" * len(keys))
        rows = self._reader().execute(
            f"SELECT trace_id, json FROM spans WHERE trace_key IN ({marks})", tuple(keys)
        )
        blobs: dict[str, dict[bytes, None]] = {}
        for trace_id, blob in rows:
            if trace_id in wanted:
                blobs.setdefault(trace_id, {})[blob] = None  # equal spans once, as above
        return {
            trace_id: [orjson.loads(blob) for blob in distinct]
            for trace_id, distinct in blobs.items()
        }

    def dependencies(self, end_ts_ms: int, lookback_ms: int) -> list[DependencyLink]:
        """Links over traces with a span timestamp in ``[endTs - lookback, endTs]``.

        A trace here is every span sharing the low 64 bits of the trace id, as in
        Zipkin: a caller that sends 128-bit ids and a callee that keeps 64 bits still
        form one trace, whose shared span links them once, not two halves.
        """
        begin, end = micros(end_ts_ms - lookback_ms), micros(end_ts_ms)
        keys = sorted(
            {schema.trace_key(trace_id) for _, trace_id in self._newest_first(begin, end)}
        )
        linker = DependencyLinker()
        current: int | None = None
        trace: list[Span] = []
        for key, blob in self._spans_of_keys(keys):
            if key != current and trace:
                linker.put_trace(trace)
                trace = []
            current = key
            trace.append(orjson.loads(blob))
        linker.put_trace(trace)
        return linker.links()

    def _spans_of_keys(self, keys: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """``(trace_key, json)`` of every span of ``keys``, grouped by key."""
        reader = self._reader()
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            yield from reader.execute(
                f"SELECT trace_key, json FROM spans WHERE trace_key IN ({','.join('?' * len(chunk))})"
                " ORDER BY trace_key",
                chunk,
            )

    def service_stats(self, service: str, *, end_ts_ms: int, lookback_ms: int) -> ServiceStats:
        """Request rate, error rate and latency percentiles of ``service`` in a window."""
        service = service.lower()
        rows = self._reader().execute(
            "SELECT duration, error FROM spans WHERE service = ? AND ts BETWEEN ? AND ?"
            f" AND kind IN ({','.join('?' * len(SERVED_KINDS))})",
            (service, micros(end_ts_ms - lookback_ms), micros(end_ts_ms), *SERVED_KINDS),
        )
        return stats_from_samples(
            service, ((d, bool(e)) for d, e in rows), window_s=lookback_ms / 1000
        )


def _first(row: tuple[int, str]) -> int:
    return row[0]


def _zipkin_order(rows: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """``rows`` (newest first) in the order Zipkin searches traces.

    Zipkin keys spans by millisecond and low 64 bits of the trace id, newest
    millisecond first and, within one, the greater low id (as hex text) first. Rows
    arrive sorted by microsecond, so each millisecond is one run to reorder.
    """
    run: list[tuple[int, str]] = []
    for row in rows:
        if run and row[0] // 1000 != run[0][0] // 1000:
            yield from sorted(run, key=_low_id_first, reverse=True)
            run = []
        run.append(row)
    yield from sorted(run, key=_low_id_first, reverse=True)


def _low_id_first(row: tuple[int, str]) -> tuple[str, str]:
    return row[1][-16:], row[1]
