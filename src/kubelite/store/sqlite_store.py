"""Store: etcd semantics on one append-only SQLite table, after kine.

The design
----------
Every write, a delete included, inserts one row into `kv`; the row id is the
global revision and becomes the object's `metadata.resourceVersion`. The newest
row of a key is its current value, and a key whose newest row is a tombstone
(`deleted = 1`) does not exist. A unique index on `(name, prev_revision)` makes
two writers racing from the same revision of a key a clean conflict rather than
a lost update. Watching is "rows after revision R"; compaction deletes the
history below a revision and a watch from below it is `Compacted` (410 Expired).

Durability: WAL mode with `synchronous=NORMAL`, and every write is its own
autocommitted statement, committed before the call returns. A committed write
survives a SIGKILL of the process (it is in the WAL, in the OS page cache); only
a power loss may take the last few commits. The file is created mode 0600.

Speed: `get`, `list` and `count` of the current objects never touch SQLite.
The current objects live in a dict (`key -> KV`) loaded at open, beside a
sorted key index for prefix lists; a write goes to SQLite first and then to
memory, so memory never holds what the disk does not. The last `event_buffer`
events are kept in a ring, so a watch from a recent revision starts without
SQL; older retained history is paged in from SQLite as the watcher reads it.

Reads at a past revision (`list`/`count` with `revision=`, `get_at`), which
every page after the first of a chunked list is, take the current objects and
undo the events since that revision: each changed key's first later event
carries its value then. From the ring that is memory only; below the
compaction point it is `Compacted`, as etcd answers a read there.

Single writer, single thread
----------------------------
The store belongs to one process and one thread: the asyncio event-loop thread.
It is NOT thread-safe. Because only it writes, it knows the next revision before
inserting and can put it inside the object it serializes. The database is opened
with SQLite's exclusive locking mode, so a second store (in this process or
another) fails at open instead of silently writing behind the first one's
in-memory index; the file cannot be read by other tools while the store is open.
Writes notify watchers synchronously, so every watcher sees events in revision
order, and all watchers see the same order.

Compaction
----------
`compact()` moves the compaction point to `revision - keep_revisions` and, as
kine does, deletes the rows superseded by a row at or below that point, plus
the tombstones at or below it. Rows above the point, and the rows they directly
replace, stay: a watch from the compaction point gets every event with its
`prev`. The compaction point is kept in the `meta` table and survives restarts;
the revision counter survives too (`sqlite_sequence`), so revisions never repeat
even when the newest rows were compacted away.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import sqlite3
from bisect import bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import orjson

from kubelite.store.errors import (
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    StoreError,
    WatchClosed,
)
from kubelite.store.keyindex import KeyIndex, prefix_end
from kubelite.store.model import ADDED, DELETED, KV, MODIFIED, Event
from kubelite.store.watch import Watcher

log = logging.getLogger(__name__)

# `list` is also a Store method: annotations inside the class use this alias.
_Events: TypeAlias = list[Event]
_KVs: TypeAlias = list[KV]

SCHEMA_VERSION = 1
_EVENTS_PAGE = 1000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kv (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL,
        value BLOB NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev_revision ON kv (name, prev_revision)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
)

_INSERT = (
    "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)

# The newest row of every key: the (name, prev_revision) index carries the rowid,
# so the inner query never reads a value.
_LOAD = (
    "SELECT id, name, deleted, create_revision, value FROM kv"
    " WHERE id IN (SELECT MAX(id) FROM kv GROUP BY name)"
)

# History rows with their previous row. `+r.name` keeps SQLite on the rowid range
# (cheap to resume page after page) instead of the name index.
_HISTORY_COLUMNS = (
    "SELECT r.id, r.name, r.created, r.deleted, r.create_revision, r.value,"
    " p.id, p.create_revision, p.value"
    " FROM kv AS r LEFT JOIN kv AS p ON p.id = r.prev_revision"
    " WHERE r.id > ? AND r.id <= ? AND +r.name >= ?"
)
_HISTORY_OPEN = _HISTORY_COLUMNS + " ORDER BY r.id LIMIT ?"
_HISTORY_BOUNDED = _HISTORY_COLUMNS + " AND +r.name < ? ORDER BY r.id LIMIT ?"

# Rows replaced by a row in (old, new], and tombstones in (old, new].
_COMPACT = (
    "DELETE FROM kv WHERE id IN ("
    " SELECT prev_revision FROM kv WHERE id > ? AND id <= ? AND prev_revision != 0"
    " UNION ALL"
    " SELECT id FROM kv WHERE id > ? AND id <= ? AND deleted != 0)"
)

_SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class Store:
    """The object store; see the module docstring. Not thread-safe."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        keep_revisions: int = 100_000,
        event_buffer: int = 10_000,
    ) -> None:
        if keep_revisions < 0 or event_buffer < 0:
            raise ValueError("keep_revisions and event_buffer must be >= 0")
        self.path = Path(path)
        self.keep_revisions = keep_revisions
        self._event_buffer = event_buffer
        self._db: sqlite3.Connection | None = _open(self.path)
        self._execute = self._db.execute
        self._current: dict[str, KV] = {}
        self._tombstones: dict[str, int] = {}  # deleted key -> its tombstone's revision
        self._keys = KeyIndex()
        self._rev = 0
        self._compact_rev = 0
        self._ring: list[Event] = []
        self._watchers: dict[str, list[Watcher]] = {}
        self._watch_targets: tuple[tuple[str, tuple[Watcher, ...]], ...] = ()
        self._written: dict[str, int] = {}  # "/group/plural/" -> revision of its last write
        self._opened_rev = 0
        # (prefix, revision, store revision, changes): the last `_changed_since` answer.
        self._snapshot_cache: tuple[str, int, int, dict[str, KV | None]] | None = None
        try:
            self._load()
        except BaseException:
            self._db.close()
            raise

    def _load(self) -> None:
        db = self._db
        assert db is not None
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.setdefault("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
                raise StoreError(f"{self.path}: unknown schema version {meta['schema']}")
            db.execute(_SET_META, ("schema", SCHEMA_VERSION))
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kv'").fetchone()
            rows = db.execute(_LOAD).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        for rev, key, deleted, create_rev, value in rows:
            if deleted:
                self._tombstones[key] = rev
            else:
                self._current[key] = KV(key, rev, create_rev, value)
        self._keys = KeyIndex(list(self._current))
        self._compact_rev = int(meta.get("compact_revision", 0))
        self._rev = max(seq[0] if seq else 0, self._compact_rev)
        self._opened_rev = self._rev
        log.info(
            "store opened path=%s revision=%d compact_revision=%d keys=%d",
            self.path,
            self._rev,
            self._compact_rev,
            len(self._current),
        )

    # ---- lifecycle -------------------------------------------------------------

    def end_watches(self, reason: str = "store closed") -> None:
        """End every open watch with WatchClosed(reason); the store stays usable."""
        for _, watchers in list(self._watch_targets):
            for watcher in list(watchers):
                watcher.fail(WatchClosed(reason))

    def close(self) -> None:
        """End every watch with WatchClosed("store closed") and close the database."""
        if self._db is None:
            return
        self.end_watches()
        db, self._db = self._db, None
        self._execute = _closed_execute
        db.close()
        log.info("store closed path=%s revision=%d", self.path, self._rev)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once `close()` ran: what the API's etcd health check reports."""
        return self._db is None

    @property
    def revision(self) -> int:
        """The current global revision: that of the newest write (0 when empty)."""
        return self._rev

    @property
    def compact_revision(self) -> int:
        return self._compact_rev

    # ---- reads (memory only) ---------------------------------------------------

    def get(self, key: str) -> KV | None:
        return self._current.get(key)

    def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int | None = None,
    ) -> tuple[list[KV], int, bool]:
        """Objects under `prefix`, sorted by key, after `start_after`, at most `limit`
        (0 = all). Returns (items, the revision read at, whether more remain).

        With `revision` below the current one, the objects as they were at that
        revision (etcd's read `WithRev`); see `_changed_since`.
        """
        if revision is not None and revision < self._rev:
            return self._list_at(prefix, revision, limit=limit, start_after=start_after)
        keys, more = self._keys.select(prefix, start_after=start_after, limit=limit)
        current = self._current
        return [current[k] for k in keys], self._rev, more

    def count(
        self, prefix: str, *, start_after: str | None = None, revision: int | None = None
    ) -> int:
        """How many objects are under `prefix` (after `start_after`, if given), now or
        at `revision`."""
        now = self._keys.count(prefix, start_after=start_after)
        if revision is None or revision >= self._rev:
            return now
        changed = self._changed_since(prefix, revision)
        for key, then in changed.items():
            if start_after is not None and key <= start_after:
                continue
            now += (then is not None) - (key in self._current)
        return now

    def get_at(self, key: str, revision: int | None) -> KV | None:
        """`key` as it was at `revision` (None: now); Compacted below compact_revision."""
        if revision is None or revision >= self._rev:
            return self._current.get(key)
        changed = self._changed_since(key, revision)
        return changed[key] if key in changed else self._current.get(key)

    # ---- reads at a past revision ------------------------------------------------
    # Every row above the compaction point is kept, and so is the row each of them
    # replaced: the first event after revision R for a key carries the key's value
    # at R (its `prev`), or says the key did not exist then (ADDED). Undoing those
    # events over the current objects gives the snapshot at R, with memory for the
    # unchanged objects and the event ring (or SQLite) for the changed ones.

    def _changed_since(self, prefix: str, revision: int) -> dict[str, KV | None]:
        """Keys under `prefix` written after `revision` -> their value then (None: absent).

        Raises Compacted below compact_revision. Cached for the current revision, so
        the pages of one chunked list, and the count beside each, share the work.
        """
        if revision < self._compact_rev:
            raise Compacted(revision, self._compact_rev)
        cached = self._snapshot_cache
        if cached is not None and cached[:3] == (prefix, revision, self._rev):
            return cached[3]
        changed: dict[str, KV | None] = {}
        for event in self.events_since(prefix, revision):
            key = event.kv.key
            if key in changed:
                continue
            if event.type != ADDED and event.prev is None:
                # The row it replaced is gone: only compaction removes such rows.
                raise Compacted(revision, self._compact_rev)
            changed[key] = event.prev
        self._snapshot_cache = (prefix, revision, self._rev, changed)
        return changed

    def _list_at(
        self, prefix: str, revision: int, *, limit: int, start_after: str | None
    ) -> tuple[_KVs, int, bool]:
        changed = self._changed_since(prefix, revision)
        # Of the first `limit + len(changed)` current keys at most len(changed) are
        # changed, so the rest hold at least `limit` keys of the snapshot, and its
        # first `limit` keys all sort at or before the last of them.
        keys, more_now = self._keys.select(
            prefix, start_after=start_after, limit=limit + len(changed) if limit else 0
        )
        then = sorted(
            k
            for k, kv in changed.items()
            if kv is not None and (start_after is None or k > start_after)
        )
        if more_now and keys:
            then = then[: bisect_right(then, keys[-1])]
        current = self._current
        unchanged = (k for k in keys if k not in changed)
        items: _KVs = []
        for key in heapq.merge(unchanged, then):
            if limit and len(items) == limit:
                break
            kv = changed.get(key) or current[key]
            items.append(kv)
        more = bool(limit and items) and (
            self.count(prefix, start_after=items[-1].key, revision=revision) > 0
        )
        return items, revision, more

    def kind_revision(self, prefix: str) -> int:
        """A revision that changes whenever a key under `prefix` (one kind's
        `/group/plural/`) is written: for caches of what a list would return."""
        return self._written.get(prefix, self._opened_rev)

    # ---- writes ----------------------------------------------------------------
    # Each write: check against memory, encode, insert (committed), then update
    # memory and notify watchers. A failed insert leaves memory untouched. The
    # caller's `obj` gets metadata.resourceVersion set to the new revision.

    def create(self, key: str, obj: dict[str, Any]) -> KV:
        if key in self._current:
            raise KeyExists(key)
        rev = self._rev + 1
        value = _encode(obj, rev)
        prev_rev = self._tombstones.get(key, 0)
        self._insert(key, rev, 1, 0, rev, prev_rev, value)
        kv = KV(key, rev, rev, value)
        self._current[key] = kv
        if prev_rev:
            del self._tombstones[key]
        self._keys.add(key)
        self._emit(Event(ADDED, kv, None))
        log.debug("create key=%s revision=%d", key, rev)
        return kv

    def update(self, key: str, obj: dict[str, Any], *, expected_revision: int | None = None) -> KV:
        """Write a new revision of an existing key; Conflict if `expected_revision`
        is given and is not the key's current revision."""
        cur = self._current_for_write(key, expected_revision)
        rev = self._rev + 1
        value = _encode(obj, rev)
        self._insert(key, rev, 0, 0, cur.create_revision, cur.revision, value)
        kv = KV(key, rev, cur.create_revision, value)
        self._current[key] = kv
        self._emit(Event(MODIFIED, kv, cur))
        log.debug("update key=%s revision=%d prev=%d", key, rev, cur.revision)
        return kv

    def delete(self, key: str, *, expected_revision: int | None = None) -> KV:
        """Delete a key by writing a tombstone: the last object, its resourceVersion
        set to the delete revision. Returns the tombstone."""
        cur = self._current_for_write(key, expected_revision)
        rev = self._rev + 1
        value = _encode(orjson.loads(cur.value), rev)
        self._insert(key, rev, 0, 1, cur.create_revision, cur.revision, value)
        tomb = KV(key, rev, cur.create_revision, value)
        del self._current[key]
        self._tombstones[key] = rev
        self._keys.remove(key)
        self._emit(Event(DELETED, tomb, cur))
        log.debug("delete key=%s revision=%d prev=%d", key, rev, cur.revision)
        return tomb

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Commit the writes made inside as one SQLite transaction (group commit).

        Each write is still checked, applied to memory and sent to watchers at
        once; only the commit is shared, which makes a burst of small writes
        (events, bindings) about three times cheaper. Nested batches join the
        outer one. Meant for synchronous runs of writes: an `await` inside lets
        other writers join the transaction until it ends.
        """
        if self._db is None or self._db.in_transaction:
            yield
            return
        try:
            self._execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot begin a batch: {exc}") from exc
        try:
            yield
        finally:
            try:
                self._execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"batch commit failed: {exc}") from exc

    def _current_for_write(self, key: str, expected_revision: int | None) -> KV:
        cur = self._current.get(key)
        if cur is None:
            raise KeyNotFound(key)
        if expected_revision is not None and expected_revision != cur.revision:
            raise Conflict(key, expected_revision, cur.revision)
        return cur

    def _insert(
        self,
        key: str,
        rev: int,
        created: int,
        deleted: int,
        create_rev: int,
        prev_rev: int,
        value: bytes,
    ) -> None:
        try:
            self._execute(_INSERT, (rev, key, created, deleted, create_rev, prev_rev, value))
        except sqlite3.IntegrityError as exc:
            # Only another writer on the same file can get here (exclusive locking
            # rules that out): the row we build on is no longer the newest.
            log.error("write race key=%s revision=%d: %s", key, rev, exc)
            if created:
                raise KeyExists(key) from exc
            raise Conflict(key, prev_rev, self._newest_on_disk(key)) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"write of {key} failed: {exc}") from exc
        self._rev = rev

    def _newest_on_disk(self, key: str) -> int:
        row = self._execute("SELECT MAX(id) FROM kv WHERE name = ?", (key,)).fetchone()
        return int(row[0] or 0)

    def _emit(self, event: Event) -> None:
        key = event.kv.key
        self._written[key[: key.find("/", key.find("/", 1) + 1) + 1]] = event.kv.revision
        if self._event_buffer:
            ring = self._ring
            ring.append(event)
            if len(ring) > 2 * self._event_buffer:  # trim in batches: amortized O(1)
                del ring[: len(ring) - self._event_buffer]
        for prefix, watchers in self._watch_targets:
            if key.startswith(prefix):
                for watcher in watchers:
                    watcher.push(event)

    # ---- watch -----------------------------------------------------------------

    def watch(self, prefix: str, *, after_revision: int, max_queue: int = 10_000) -> Watcher:
        """Events with revision > `after_revision` for keys under `prefix`, in revision
        order: first the retained history, then live events.

        `after_revision=0` means "from now", like etcd's watch from revision 0: only
        events after the current revision (so does `after_revision=store.revision`).
        Raises Compacted if 0 < after_revision < compact_revision. The history is
        fixed at this call, so nothing can fall between history and live events.
        """
        if self._db is None:
            raise StoreError("store is closed")
        if after_revision < 0 or max_queue < 1:
            raise ValueError("after_revision must be >= 0 and max_queue >= 1")
        now = self._rev
        after = after_revision or now
        backlog: list[Event] = []
        pager = None
        if after < now:
            if after < self._compact_rev:
                raise Compacted(after, self._compact_rev)
            recent = self._recent_since(prefix, after)
            if recent is None:
                pager = self._history_page
            else:
                backlog = recent
        watcher = Watcher(
            prefix,
            backlog=backlog,
            pager=pager,
            after_revision=after,
            until=now,
            max_queue=max_queue,
            on_close=self._unregister,
        )
        self._watchers.setdefault(prefix, []).append(watcher)
        self._refresh_watch_targets()
        log.debug("watch prefix=%s after=%d history=%s", prefix, after, pager is None)
        return watcher

    def _unregister(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.prefix)
        if watchers is None or watcher not in watchers:
            return
        watchers.remove(watcher)
        if not watchers:
            del self._watchers[watcher.prefix]
        self._refresh_watch_targets()

    def _refresh_watch_targets(self) -> None:
        # An immutable snapshot: a watcher closing while an event is being
        # delivered cannot disturb the loop in _emit.
        self._watch_targets = tuple((p, tuple(ws)) for p, ws in self._watchers.items())

    def events_since(self, prefix: str, after_revision: int) -> _Events:
        """Every retained event after `after_revision` for keys under `prefix`.

        Taken literally: 0 means from the beginning, so it raises Compacted unless
        nothing was compacted yet. Raises Compacted below compact_revision.
        """
        if after_revision < self._compact_rev:
            raise Compacted(after_revision, self._compact_rev)
        if after_revision >= self._rev:
            return []
        recent = self._recent_since(prefix, after_revision)
        if recent is not None:
            return recent
        events: list[Event] = []
        cursor = after_revision
        while True:
            page = self._history_page(prefix, cursor, self._rev, _EVENTS_PAGE)
            events.extend(page)
            if len(page) < _EVENTS_PAGE:
                return events
            cursor = page[-1].kv.revision

    def _recent_since(self, prefix: str, after: int) -> _Events | None:
        """Events after `after` from the ring, or None if it does not reach back."""
        ring = self._ring
        if not ring or ring[0].kv.revision > after + 1:
            return None
        tail = ring[bisect_right(ring, after, key=_revision_of) :]
        if not prefix:
            return tail
        return [e for e in tail if e.kv.key.startswith(prefix)]

    def _history_page(self, prefix: str, after: int, until: int, limit: int) -> _Events:
        """Up to `limit` events with after < revision <= until, read from SQLite."""
        if after < self._compact_rev:
            raise Compacted(after, self._compact_rev)
        end = prefix_end(prefix)
        try:
            if end is None:
                rows = self._execute(_HISTORY_OPEN, (after, until, prefix, limit)).fetchall()
            else:
                rows = self._execute(
                    _HISTORY_BOUNDED, (after, until, prefix, end, limit)
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read history after {after}: {exc}") from exc
        return [_event_from_row(row) for row in rows if row[1].startswith(prefix)]

    # ---- compaction ------------------------------------------------------------

    def compact(self) -> int:
        """Compact to `revision - keep_revisions`; returns the compact revision.

        Cheap when there is nothing to do. Watches already reading history below
        the new point end with Compacted on their next page.
        """
        target = self._rev - self.keep_revisions
        old = self._compact_rev
        if target <= old:
            return old
        if self._db is None:
            raise StoreError("store is closed")
        execute = self._execute
        if self._db.in_transaction:  # inside a batch: compact another time
            return old
        try:
            execute("BEGIN IMMEDIATE")
            try:
                removed = execute(_COMPACT, (old, target, old, target)).rowcount
                execute(_SET_META, ("compact_revision", target))
                execute("COMMIT")
            except BaseException:
                execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"compaction to {target} failed: {exc}") from exc
        self._compact_rev = target
        self._tombstones = {k: r for k, r in self._tombstones.items() if r > target}
        log.info("compact revision=%d removed_rows=%d", target, removed)
        return target

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, revision={self._rev}, keys={len(self._current)})"


def _open(path: Path) -> sqlite3.Connection:
    _create_private(path)
    try:
        # timeout: a store that just died (SIGKILL) has released its lock already;
        # a live one never will, so do not wait long.
        db = sqlite3.connect(path, isolation_level=None, timeout=1.0, cached_statements=64)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        # Exclusive locking before WAL: the WAL index lives in process memory
        # (no -shm file) and the lock keeps out a second writer.
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA temp_store = MEMORY")
        for statement in _SCHEMA:
            db.execute(statement)
    except sqlite3.DatabaseError as exc:  # locked, or not a database at all
        db.close()
        if "locked" in str(exc):
            raise StoreError(f"{path} is in use by another store") from exc
        raise StoreError(f"cannot open {path}: {exc}") from exc
    return db


def _create_private(path: Path) -> None:
    """Create the file 0600 if missing; tighten an existing one.

    An existing file is never opened here: closing any descriptor of a file
    drops every POSIX lock this process holds on it, including SQLite's.
    """
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _encode(obj: dict[str, Any], rev: int) -> bytes:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    meta["resourceVersion"] = str(rev)
    return orjson.dumps(obj)


def _event_from_row(row: tuple[Any, ...]) -> Event:
    rev, key, created, deleted, create_rev, value, prev_rev, prev_create, prev_value = row
    kv = KV(key, rev, create_rev, value)
    if created:
        return Event(ADDED, kv, None)
    prev = KV(key, prev_rev, prev_create, prev_value) if prev_rev is not None else None
    return Event(DELETED if deleted else MODIFIED, kv, prev)


def _revision_of(event: Event) -> int:
    return event.kv.revision


def _closed_execute(*_: object) -> sqlite3.Cursor:
    raise StoreError("store is closed")
