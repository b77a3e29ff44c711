"""Group commit (`Store.batch`), `kind_revision`, and the watcher's timed wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from store_builders import PREFIX, key, make_cm, take

from kubelite.store import KeyExists, Store

pytestmark = pytest.mark.anyio


async def test_batched_writes_reach_watchers_at_once_and_persist(db_path: Path) -> None:
    store = Store(db_path)
    w = store.watch(PREFIX, after_revision=store.revision)
    with store.batch():
        store.create(key("a"), make_cm("a"))
        store.update(key("a"), make_cm("a", x="1"))
        with store.batch():  # nested: joins the outer transaction
            store.create(key("b"), make_cm("b"))
        # visible in memory and to watchers before the commit
        assert [e.type for e in await take(w, 3)] == ["ADDED", "MODIFIED", "ADDED"]
    store.close()
    reopened = Store(db_path)
    items, rev, _ = reopened.list(PREFIX)
    assert [(kv.key, kv.revision) for kv in items] == [(key("a"), 2), (key("b"), 3)]
    assert rev == 3
    reopened.close()


def test_a_failed_write_inside_a_batch_leaves_the_others_committed(db_path: Path) -> None:
    store = Store(db_path)
    store.create(key("a"), make_cm("a"))
    with pytest.raises(KeyExists), store.batch():
        store.create(key("b"), make_cm("b"))
        store.create(key("a"), make_cm("a"))  # KeyExists: nothing written for it
    store.close()
    reopened = Store(db_path)
    assert [kv.key for kv in reopened.list(PREFIX)[0]] == [key("a"), key("b")]
    reopened.close()


def test_compaction_waits_while_a_batch_is_open(db_path: Path) -> None:
    store = Store(db_path, keep_revisions=1)
    for i in range(3):
        store.create(key(f"k{i}"), make_cm(f"k{i}"))
    with store.batch():
        assert store.compact() == 0  # not inside someone's transaction
    assert store.compact() == 2
    store.close()


def test_kind_revision_moves_only_with_writes_of_that_kind(store: Store) -> None:
    other = "/registry/secrets/default/s"
    before = store.kind_revision(PREFIX)
    store.create(other, make_cm("s"))
    assert store.kind_revision(PREFIX) == before
    kv = store.create(key("a"), make_cm("a"))
    assert store.kind_revision(PREFIX) == kv.revision != before
    store.create(key("b", "elsewhere"), make_cm("b", "elsewhere"))  # same kind, other ns
    assert store.kind_revision(PREFIX) == store.revision


async def test_watcher_wait_times_out_then_wakes_on_a_write(store: Store) -> None:
    w = store.watch(PREFIX, after_revision=store.revision)
    assert await w.wait(0.01) is False
    waiting = asyncio.ensure_future(w.wait(5.0))
    await asyncio.sleep(0)
    store.create(key("a"), make_cm("a"))
    assert await asyncio.wait_for(waiting, 2.0) is True
    assert w.next_nowait() is not None
    w.close()
    assert await w.wait(5.0) is True  # a closed watch never blocks
