"""Compaction: bounded history, current values kept, kine's row rules, persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_builders import key, make_cm, summary

from kubelite.store import Compacted, Store


def rows(db_path: Path) -> list[tuple[int, str, int]]:
    """(revision, name, deleted) of every row left on disk; the store must be closed."""
    db = sqlite3.connect(db_path)
    try:
        return db.execute("SELECT id, name, deleted FROM kv ORDER BY id").fetchall()
    finally:
        db.close()


def churn(s: Store) -> None:
    """Revisions: a=1, b=2, a=3, a=4, b deleted=5, c=6, a=7, c deleted=8, d=9."""
    s.create(key("a"), make_cm("a"))
    s.create(key("b"), make_cm("b"))
    s.update(key("a"), make_cm("a", v="3"))
    s.update(key("a"), make_cm("a", v="4"))
    s.delete(key("b"))
    s.create(key("c"), make_cm("c"))
    s.update(key("a"), make_cm("a", v="7"))
    s.delete(key("c"))
    s.create(key("d"), make_cm("d"))


def test_nothing_to_compact_is_a_no_op(db_path: Path):
    with Store(db_path, keep_revisions=100) as s:
        churn(s)
        assert s.compact() == 0
        assert s.compact_revision == 0
        assert s.events_since("", 0)[0].kv.revision == 1


@pytest.mark.parametrize(
    ("keep", "compact_to", "left"),
    [
        # a@3 replaced by a@4 (<= 6): gone; b@2 and its tombstone b@5: gone;
        # a@4 stays because the row replacing it (a@7) is above the point.
        (3, 6, [(4, "a", 0), (6, "c", 0), (7, "a", 0), (8, "c", 1), (9, "d", 0)]),
        # Everything superseded is gone; the live values and nothing else remain.
        (0, 9, [(7, "a", 0), (9, "d", 0)]),
    ],
    ids=["keep-3", "keep-0"],
)
def test_compaction_removes_superseded_rows_and_tombstones(db_path, keep, compact_to, left):
    with Store(db_path, keep_revisions=keep) as s:
        churn(s)
        assert s.compact() == compact_to
        assert s.compact() == compact_to  # again: nothing to do
    assert [(rev, name.rsplit("/", 1)[-1], d) for rev, name, d in rows(db_path)] == left


def test_compaction_keeps_current_values(db_path: Path):
    with Store(db_path, keep_revisions=0) as s:
        churn(s)
        before = s.list("/")[0]
        s.compact()
        assert s.list("/")[0] == before
        assert s.get(key("a")).obj()["data"] == {"v": "7"}
        assert s.get(key("b")) is None
    with Store(db_path) as s:
        assert s.list("/")[0] == before
        assert s.revision == 9


def test_events_after_the_point_keep_their_prev(db_path: Path):
    with Store(db_path, keep_revisions=3, event_buffer=0) as s:
        churn(s)
        s.compact()
        events = s.events_since("", 6)
        assert summary(events) == [("MODIFIED", "a", 7), ("DELETED", "c", 8), ("ADDED", "d", 9)]
        assert [e.prev.revision if e.prev else None for e in events] == [4, 6, None]


def test_watch_and_events_below_the_point_are_compacted(db_path: Path):
    with Store(db_path, keep_revisions=3) as s:
        churn(s)
        s.compact()
        for after in (0, 1, 5):
            with pytest.raises(Compacted):
                s.events_since("", after)
        for after in (1, 5):
            with pytest.raises(Compacted):
                s.watch("", after_revision=after)
        s.watch("", after_revision=0).close()  # "from now" is never compacted


def test_compact_revision_and_revision_survive_restart(db_path: Path):
    with Store(db_path, keep_revisions=0) as s:
        churn(s)
        s.delete(key("d"))  # revision 10, the newest row, is a tombstone...
        assert s.compact() == 10  # ...and compaction removes it
    assert max(rev for rev, _, _ in rows(db_path)) == 7
    with Store(db_path) as s:
        assert (s.revision, s.compact_revision) == (10, 10)
        with pytest.raises(Compacted):
            s.watch("", after_revision=9)
        assert s.create(key("d"), make_cm("d")).revision == 11  # never reused


def test_recreate_after_compacted_tombstone(db_path: Path):
    with Store(db_path, keep_revisions=0) as s:
        s.create(key("a"), make_cm("a"))
        s.delete(key("a"))
        s.compact()
        assert s.create(key("a"), make_cm("a")).revision == 3
        s.delete(key("a"))
        assert s.create(key("a"), make_cm("a")).revision == 5
    with Store(db_path) as s:
        assert s.get(key("a")).revision == 5


def test_compaction_is_bounded_by_keep_revisions(db_path: Path):
    with Store(db_path, keep_revisions=10) as s:
        s.create(key("hot"), make_cm("hot"))
        for i in range(200):
            s.update(key("hot"), make_cm("hot", i=str(i)))
        assert s.compact() == 191
        assert len(s.events_since("", 191)) == 10
    assert len(rows(db_path)) == 11  # the newest row below the point, plus ten after it
