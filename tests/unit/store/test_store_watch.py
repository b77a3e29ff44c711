"""Watch: replay from a past revision then live, from now, prefixes, ordering, slow consumers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from store_builders import idle, key, make_cm, summary, take

from kubelite.store import Compacted, Store, WatchClosed

pytestmark = pytest.mark.anyio

NS = "/registry/configmaps/default/"


def history(store: Store) -> None:
    """Revisions 1..5: a created, b created, a modified, b deleted, c in another namespace."""
    store.create(key("a"), make_cm("a"))
    store.create(key("b"), make_cm("b"))
    store.update(key("a"), make_cm("a", x="1"))
    store.delete(key("b"))
    store.create(key("c", "other"), make_cm("c", "other"))


# Both ways a replay is served: the in-memory ring, and SQLite pages (event_buffer=0).
@pytest.fixture(params=[10_000, 0], ids=["ring", "sqlite"])
def wstore(request, db_path: Path):
    s = Store(db_path, event_buffer=request.param)
    yield s
    s.close()


async def test_replay_from_past_revision_then_live(wstore: Store):
    history(wstore)
    w = wstore.watch(NS, after_revision=1)
    got = await take(w, 3)
    assert summary(got) == [("ADDED", "b", 2), ("MODIFIED", "a", 3), ("DELETED", "b", 4)]
    assert await idle(w)
    wstore.update(key("a"), make_cm("a", x="2"))
    wstore.create(key("d", "other"), make_cm("d", "other"))  # not under the prefix
    wstore.create(key("e"), make_cm("e"))
    assert summary(await take(w, 2)) == [("MODIFIED", "a", 6), ("ADDED", "e", 8)]
    w.close()


async def test_replayed_events_carry_prev_and_tombstone(wstore: Store):
    history(wstore)
    modified, deleted = await take(wstore.watch(NS, after_revision=2), 2)
    assert modified.prev is not None and modified.prev.revision == 1
    assert modified.kv.obj()["data"] == {"x": "1"}
    assert modified.kv.create_revision == 1
    assert deleted.kv.obj()["metadata"]["resourceVersion"] == "4"  # the tombstone
    assert deleted.prev is not None and deleted.prev.revision == 2
    assert deleted.kv.create_revision == 2


async def test_live_events_carry_prev_and_tombstone(store: Store):
    w = store.watch(NS, after_revision=0)
    history(store)
    added, b_added, modified, deleted = await take(w, 4)
    assert (added.type, added.prev) == ("ADDED", None)
    assert modified.prev == added.kv
    assert deleted.kv.obj()["metadata"]["resourceVersion"] == "4"
    assert deleted.prev == b_added.kv


@pytest.mark.parametrize("after", ["zero", "current"])
async def test_watch_from_now_sees_only_new_events(store: Store, after):
    history(store)
    w = store.watch(NS, after_revision=0 if after == "zero" else store.revision)
    assert await idle(w)
    store.create(key("z"), make_cm("z"))
    assert summary(await take(w, 1)) == [("ADDED", "z", 6)]


async def test_watch_from_a_future_revision_skips_until_then(store: Store):
    w = store.watch(NS, after_revision=2)
    for name in "abc":
        store.create(key(name), make_cm(name))
    assert summary(await take(w, 1)) == [("ADDED", "c", 3)]


async def test_replay_after_reopen_reads_sqlite(db_path: Path):
    with Store(db_path) as s:
        history(s)
    with Store(db_path) as s:
        w = s.watch("", after_revision=0 + 3)
        assert summary(await take(w, 2)) == [("DELETED", "b", 4), ("ADDED", "c", 5)]


async def test_long_replay_from_sqlite_is_paged_in_order(db_path: Path):
    with Store(db_path, event_buffer=100) as s:
        for i in range(1_200):
            s.create(key(f"cm{i:04d}"), make_cm(f"cm{i:04d}"))
            s.create(key(f"cm{i:04d}", "other"), make_cm(f"cm{i:04d}", "other"))
        w = s.watch(NS, after_revision=1)
        s.create(key("live"), make_cm("live"))
        got = await take(w, 1_200)
        revs = [e.kv.revision for e in got]
        assert revs == list(range(3, 2_401, 2)) + [2_401]
        assert revs == sorted(revs)


async def test_watchers_on_one_prefix_see_the_same_order(store: Store):
    w1 = store.watch(NS, after_revision=0)
    w2 = store.watch(NS, after_revision=0)
    w_all = store.watch("", after_revision=0)

    async def writer() -> None:
        for i in range(50):
            store.create(key(f"k{i}"), make_cm(f"k{i}"))
            if i % 7 == 0:
                await asyncio.sleep(0)

    await writer()
    a, b, c = await take(w1, 50), await take(w2, 50), await take(w_all, 50)
    assert summary(a) == summary(b) == summary(c)
    assert [e.kv.revision for e in a] == list(range(1, 51))


async def test_events_since(wstore: Store):
    history(wstore)
    assert summary(wstore.events_since(NS, 0)) == [
        ("ADDED", "a", 1),
        ("ADDED", "b", 2),
        ("MODIFIED", "a", 3),
        ("DELETED", "b", 4),
    ]
    assert summary(wstore.events_since("/registry/configmaps/other/", 2)) == [("ADDED", "c", 5)]
    assert wstore.events_since("", 5) == []
    assert wstore.events_since("", 99) == []


async def test_close_ends_iteration(store: Store):
    w = store.watch(NS, after_revision=0)

    async def consume() -> list:
        return [e async for e in w]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    store.create(key("a"), make_cm("a"))
    await asyncio.sleep(0)
    w.close()
    got = await asyncio.wait_for(task, 1)
    assert summary(got) == [("ADDED", "a", 1)]
    store.create(key("b"), make_cm("b"))  # no longer delivered, no error
    with pytest.raises(StopAsyncIteration):
        await w.__anext__()


async def test_slow_watcher_is_closed_too_slow(store: Store):
    slow = store.watch(NS, after_revision=0, max_queue=5)
    fast = store.watch(NS, after_revision=0, max_queue=5)
    for i in range(5):
        store.create(key(f"k{i}"), make_cm(f"k{i}"))
    assert len(await take(fast, 5)) == 5
    store.create(key("k5"), make_cm("k5"))  # the sixth queued event overflows `slow`
    assert summary(await take(fast, 1)) == [("ADDED", "k5", 6)]
    with pytest.raises(WatchClosed) as info:
        await take(slow, 1)
    assert info.value.reason == "too slow"
    assert slow.closed
    store.create(key("k6"), make_cm("k6"))
    assert summary(await take(fast, 1)) == [("ADDED", "k6", 7)]


async def test_overflow_wakes_a_waiting_consumer(store: Store):
    w = store.watch(NS, after_revision=0, max_queue=1)
    task = asyncio.create_task(take(w, 3))
    await asyncio.sleep(0.01)  # the consumer is now waiting
    store.create(key("a"), make_cm("a"))
    store.create(key("b"), make_cm("b"))  # before it runs again: overflow
    with pytest.raises(WatchClosed):
        await task


async def test_closing_the_store_ends_watches(db_path: Path):
    s = Store(db_path)
    w = s.watch("", after_revision=0)
    task = asyncio.create_task(take(w, 1))
    await asyncio.sleep(0.01)
    s.close()
    with pytest.raises(WatchClosed) as info:
        await task
    assert info.value.reason == "store closed"


async def test_watch_below_compaction_raises_compacted(db_path: Path):
    with Store(db_path, keep_revisions=2) as s:
        history(s)
        assert s.compact() == 3
        with pytest.raises(Compacted) as info:
            s.watch(NS, after_revision=2)
        assert (info.value.requested, info.value.compact_revision) == (2, 3)
        with pytest.raises(Compacted):
            s.events_since(NS, 0)
        # From the compaction point itself the history is complete.
        assert summary(await take(s.watch("", after_revision=3), 2)) == [
            ("DELETED", "b", 4),
            ("ADDED", "c", 5),
        ]


async def test_compaction_during_a_paged_replay_ends_it_with_compacted(db_path: Path):
    with Store(db_path, event_buffer=0, keep_revisions=0) as s:
        for i in range(1_000):
            s.create(key(f"k{i:04d}"), make_cm(f"k{i:04d}"))
        w = s.watch(NS, after_revision=1)
        first = await take(w, 1)
        assert first[0].kv.revision == 2
        s.compact()
        with pytest.raises(Compacted):
            await take(w, 1_000)
        assert w.closed
