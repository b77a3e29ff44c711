"""list and count: prefix, order, limit, start_after, has_more; KeyIndex and prefix_end."""

from __future__ import annotations

import pytest
from store_builders import key, make_cm

from kubelite.store import Compacted, Store
from kubelite.store.keyindex import KeyIndex, prefix_end


@pytest.fixture
def filled(store: Store) -> Store:
    # Created out of order, in two namespaces, with a prefix-sharing namespace "default2".
    for ns, name in [
        ("default", "c"),
        ("kube-system", "x"),
        ("default", "a"),
        ("default2", "z"),
        ("default", "b"),
        ("default", "d"),
    ]:
        store.create(key(name, ns), make_cm(name, ns))
    return store


def names(items) -> list[str]:
    return [kv.key.removeprefix("/registry/configmaps/") for kv in items]


@pytest.mark.parametrize(
    ("prefix", "limit", "start_after", "want", "more"),
    [
        (
            "/registry/configmaps/default/",
            0,
            None,
            ["default/a", "default/b", "default/c", "default/d"],
            False,
        ),
        (
            "/registry/configmaps/",
            0,
            None,
            ["default/a", "default/b", "default/c", "default/d", "default2/z", "kube-system/x"],
            False,
        ),
        ("/registry/configmaps/default/", 2, None, ["default/a", "default/b"], True),
        (
            "/registry/configmaps/default/",
            4,
            None,
            ["default/a", "default/b", "default/c", "default/d"],
            False,
        ),
        (
            "/registry/configmaps/default/",
            2,
            "/registry/configmaps/default/b",
            ["default/c", "default/d"],
            False,
        ),
        ("/registry/configmaps/default/", 1, "/registry/configmaps/default/b", ["default/c"], True),
        (
            "/registry/configmaps/default/",
            0,
            "/registry/configmaps/default/bb",
            ["default/c", "default/d"],
            False,
        ),
        ("/registry/configmaps/default/", 0, "/registry/configmaps/default/d", [], False),
        (
            "/registry/configmaps/default/",
            0,
            "/registry/configmaps/a",
            ["default/a", "default/b", "default/c", "default/d"],
            False,
        ),
        ("/registry/configmaps/nope/", 0, None, [], False),
        ("/registry/secrets/", 0, None, [], False),
    ],
    ids=[
        "namespace",
        "all-namespaces-sorted",
        "limit-has-more",
        "limit-exact-no-more",
        "start-after",
        "start-after-limit",
        "start-after-absent-key",
        "start-after-last",
        "start-after-before-prefix",
        "empty-namespace",
        "other-resource",
    ],
)
def test_list_table(filled: Store, prefix, limit, start_after, want, more):
    items, rev, has_more = filled.list(prefix, limit=limit, start_after=start_after)
    assert names(items) == want
    assert (rev, has_more) == (6, more)


def test_paging_with_limit_visits_every_key_once(store: Store):
    for i in range(57):
        store.create(key(f"cm{i:03d}"), make_cm(f"cm{i:03d}"))
    seen, after = [], None
    while True:
        items, _, more = store.list("/registry/configmaps/default/", limit=10, start_after=after)
        seen += [kv.key for kv in items]
        if not more:
            break
        after = items[-1].key
    assert seen == sorted(key(f"cm{i:03d}") for i in range(57))


def test_list_sees_writes_deletes_and_recreates(filled: Store):
    filled.delete(key("b"))
    filled.update(key("c"), make_cm("c", x="1"))
    filled.create(key("aa"), make_cm("aa"))
    items, rev, _ = filled.list("/registry/configmaps/default/")
    assert names(items) == ["default/a", "default/aa", "default/c", "default/d"]
    assert items[2].obj()["data"] == {"x": "1"}
    assert rev == 9
    filled.create(key("b"), make_cm("b"))
    filled.delete(key("aa"))
    assert names(filled.list("/registry/configmaps/default/")[0]) == [
        "default/a",
        "default/b",
        "default/c",
        "default/d",
    ]
    assert filled.count("/registry/configmaps/default/") == 4


def test_limit_skips_deleted_keys(filled: Store):
    filled.list("/")  # settle the index, so the deletes below leave stale slots
    filled.delete(key("a"))
    filled.delete(key("b"))
    items, _, more = filled.list("/registry/configmaps/default/", limit=1)
    assert (names(items), more) == (["default/c"], True)
    items, _, more = filled.list("/registry/configmaps/default/", limit=2)
    assert (names(items), more) == (["default/c", "default/d"], False)


@pytest.mark.parametrize(
    ("prefix", "want"),
    [("/registry/configmaps/default/", 4), ("/registry/configmaps/", 6), ("", 6), ("/nope", 0)],
)
def test_count(filled: Store, prefix, want):
    assert filled.count(prefix) == want


def test_list_many_keys(store: Store):
    for i in range(10_000):
        store.create(key(f"cm{i:05d}"), make_cm(f"cm{i:05d}"))
    items, rev, more = store.list("/registry/configmaps/default/")
    assert (len(items), rev, more) == (10_000, 10_000, False)
    assert [kv.key for kv in items] == sorted(kv.key for kv in items)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/a/", "/a0"),  # "0" follows "/"
        ("a", "b"),
        ("", None),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
    ],
)
def test_prefix_end(prefix, end):
    assert prefix_end(prefix) == end


def test_key_index_churn_matches_a_set():
    index, live = KeyIndex(["k03", "k01"]), {"k01", "k03"}
    script = [
        ("add", "k02"),
        ("remove", "k01"),  # a stale slot in the sorted list
        ("remove", "k02"),  # never merged: just forgotten
        ("add", "k01"),  # reuses its stale slot
        ("add", "k04"),
        ("remove", "k04"),
        ("add", "k02"),
        ("remove", "k03"),
    ]
    for op, k in script:
        if op == "add":
            index.add(k)
            live.add(k)
        else:
            index.remove(k)
            live.discard(k)
        assert index.select("k")[0] == sorted(live), (op, k)
        assert index.count("k") == len(index) == len(live)


def test_key_index_purges_many_stale_slots():
    index = KeyIndex([f"k{i:04d}" for i in range(1000)])
    for i in range(0, 1000, 2):
        index.remove(f"k{i:04d}")
    keys, more = index.select("k", limit=3)
    assert (keys, more) == (["k0001", "k0003", "k0005"], True)
    assert index.select("k")[0] == [f"k{i:04d}" for i in range(1, 1000, 2)]
    assert len(index) == index.count("") == 500


# ---- reads at a past revision (etcd's WithRev) -----------------------------------------


def snapshot(store: Store, revision: int, **kw) -> list[tuple[str, dict]]:
    items, rev, _ = store.list("/registry/configmaps/default/", revision=revision, **kw)
    assert rev == revision
    return [(kv.key.rsplit("/", 1)[1], kv.obj()["data"]) for kv in items]


def test_list_at_a_revision_undoes_later_writes(filled: Store):
    # filled: a=3, b=5, c=1, d=6 in default (revisions 1..6)
    filled.update(key("b"), make_cm("b", x="new"))  # 7
    filled.delete(key("c"))  # 8
    filled.create(key("bb"), make_cm("bb"))  # 9
    filled.delete(key("a"))  # 10
    filled.create(key("a"), make_cm("a", again="1"))  # 11
    assert snapshot(filled, 6) == [("a", {}), ("b", {}), ("c", {}), ("d", {})]
    assert snapshot(filled, 8) == [("a", {}), ("b", {"x": "new"}), ("d", {})]
    assert snapshot(filled, 10) == [("b", {"x": "new"}), ("bb", {}), ("d", {})]
    assert snapshot(filled, 3) == [("a", {}), ("c", {})]
    assert filled.count("/registry/configmaps/default/", revision=6) == 4
    assert filled.count("/registry/configmaps/default/", revision=10) == 3
    assert filled.count("/registry/configmaps/default/", revision=6, start_after=key("b")) == 2
    assert filled.get_at(key("c"), 6).obj()["metadata"]["resourceVersion"] == "1"
    assert filled.get_at(key("c"), 9) is None
    assert filled.get_at(key("a"), 11).obj()["data"] == {"again": "1"}


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_pages_at_a_revision_cover_the_snapshot_exactly(filled: Store, limit: int):
    filled.delete(key("a"))  # 7
    filled.create(key("ab"), make_cm("ab"))  # 8
    filled.update(key("d"), make_cm("d", x="1"))  # 9
    filled.delete(key("b"))  # 10
    # The snapshot at 6 against the current keys ab, c, d: two of its four keys are gone.
    seen, after, pages = [], None, 0
    while True:
        items, rev, more = filled.list(
            "/registry/configmaps/default/", limit=limit, start_after=after, revision=6
        )
        pages += 1
        assert rev == 6 and len(items) <= limit
        seen += [(kv.key.rsplit("/", 1)[1], kv.obj()["data"]) for kv in items]
        if not more:
            break
        after = items[-1].key
    assert seen == [("a", {}), ("b", {}), ("c", {}), ("d", {})]
    assert pages == -(-4 // limit)  # ceil: no empty last page


def test_list_at_an_old_revision_reads_history_from_sqlite(db_path):
    with Store(db_path, event_buffer=2) as s:
        for i in range(5):
            s.create(key(f"k{i}"), make_cm(f"k{i}"))
        for i in range(5):
            s.update(key(f"k{i}"), make_cm(f"k{i}", v="2"))
        assert [d for _, d in snapshot(s, 5)] == [{}] * 5  # the ring holds the last 2 only
        assert [d for _, d in snapshot(s, 7)] == [{"v": "2"}] * 2 + [{}] * 3


def test_list_below_the_compaction_point_is_compacted(db_path):
    with Store(db_path, keep_revisions=2) as s:
        for i in range(4):
            s.create(key(f"k{i}"), make_cm(f"k{i}"))
        s.compact()  # to 2
        assert len(snapshot(s, 2)) == 2
        with pytest.raises(Compacted):
            s.list("/registry/configmaps/default/", revision=1)
        with pytest.raises(Compacted):
            s.count("/registry/configmaps/default/", revision=1)
