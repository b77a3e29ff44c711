"""Create, get, update, delete: revisions, resourceVersion inside the value, errors."""

from __future__ import annotations

import orjson
import pytest
from store_builders import key, make_cm

import kubelite.store as store_pkg
from kubelite.store import KV, Conflict, KeyExists, KeyNotFound, Store, StoreError


def test_public_surface():
    for name in (
        "Store",
        "KV",
        "Event",
        "Watcher",
        "StoreError",
        "KeyExists",
        "KeyNotFound",
        "Conflict",
        "Compacted",
        "WatchClosed",
    ):
        assert name in store_pkg.__all__, name
    for name in ("KeyExists", "KeyNotFound", "Conflict", "Compacted", "WatchClosed"):
        assert issubclass(getattr(store_pkg, name), StoreError)


def test_empty_store(store: Store):
    assert store.revision == 0
    assert store.compact_revision == 0
    assert store.get(key("a")) is None
    assert store.list("/") == ([], 0, False)
    assert store.count("/") == 0


def test_create_sets_resource_version_and_revisions(store: Store):
    obj = make_cm("a", x="1")
    kv = store.create(key("a"), obj)
    assert kv == KV(key("a"), 1, 1, kv.value)
    assert kv.obj()["metadata"]["resourceVersion"] == "1"
    assert kv.obj()["data"] == {"x": "1"}
    assert obj["metadata"]["resourceVersion"] == "1"  # set on the caller's object too
    assert store.get(key("a")) == kv
    assert store.revision == 1


def test_create_without_metadata_gets_one(store: Store):
    kv = store.create("/k", {"spec": 1})
    assert orjson.loads(kv.value) == {"spec": 1, "metadata": {"resourceVersion": "1"}}


def test_revisions_are_global(store: Store):
    revs = [store.create(key(n), make_cm(n)).revision for n in ("a", "b", "c")]
    assert revs == [1, 2, 3]


def test_update_keeps_create_revision(store: Store):
    store.create(key("a"), make_cm("a", x="1"))
    store.create(key("b"), make_cm("b"))
    kv = store.update(key("a"), make_cm("a", x="2"))
    assert (kv.revision, kv.create_revision) == (3, 1)
    assert kv.obj()["metadata"]["resourceVersion"] == "3"
    assert store.get(key("a")).obj()["data"] == {"x": "2"}


def test_update_with_current_expected_revision(store: Store):
    kv = store.create(key("a"), make_cm("a"))
    assert store.update(key("a"), make_cm("a", x="1"), expected_revision=kv.revision).revision == 2


def test_delete_returns_tombstone_with_delete_revision(store: Store):
    store.create(key("a"), make_cm("a", x="1"))
    tomb = store.delete(key("a"))
    assert (tomb.revision, tomb.create_revision) == (2, 1)
    assert tomb.obj()["metadata"]["resourceVersion"] == "2"
    assert tomb.obj()["data"] == {"x": "1"}  # the last object
    assert store.get(key("a")) is None
    assert store.revision == 2


def test_recreate_after_delete_starts_a_new_life(store: Store):
    store.create(key("a"), make_cm("a"))
    store.delete(key("a"))
    kv = store.create(key("a"), make_cm("a", x="again"))
    assert (kv.revision, kv.create_revision) == (3, 3)
    store.delete(key("a"))
    assert store.create(key("a"), make_cm("a")).revision == 5


def test_create_existing_key_raises_key_exists(store: Store):
    store.create(key("a"), make_cm("a"))
    with pytest.raises(KeyExists) as info:
        store.create(key("a"), make_cm("a"))
    assert info.value.key == key("a")
    assert store.revision == 1


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda s: s.update(key("nope"), make_cm("nope")), id="update"),
        pytest.param(lambda s: s.delete(key("nope")), id="delete"),
        pytest.param(lambda s: s.delete(key("nope"), expected_revision=1), id="delete-expected"),
    ],
)
def test_missing_key_raises_key_not_found(store: Store, write):
    with pytest.raises(KeyNotFound) as info:
        write(store)
    assert info.value.key == key("nope")
    assert store.revision == 0


def test_delete_twice_raises_key_not_found(store: Store):
    store.create(key("a"), make_cm("a"))
    store.delete(key("a"))
    with pytest.raises(KeyNotFound):
        store.delete(key("a"))


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda s, rev: s.update(key("a"), make_cm("a"), expected_revision=rev), id="update"
        ),
        pytest.param(lambda s, rev: s.delete(key("a"), expected_revision=rev), id="delete"),
    ],
)
def test_stale_expected_revision_raises_conflict(store: Store, write):
    first = store.create(key("a"), make_cm("a"))
    store.update(key("a"), make_cm("a", x="1"))  # revision 2: `first` is now stale
    with pytest.raises(Conflict) as info:
        write(store, first.revision)
    assert (info.value.key, info.value.expected, info.value.actual) == (key("a"), 1, 2)
    assert store.revision == 2
    assert store.get(key("a")).revision == 2


def test_obj_returns_a_fresh_dict_each_time(store: Store):
    kv = store.create(key("a"), make_cm("a", x="1"))
    mine = kv.obj()
    mine["data"]["x"] = "changed"
    assert kv.obj()["data"] == {"x": "1"}
    assert store.get(key("a")).obj()["data"] == {"x": "1"}


def test_caller_mutating_its_object_after_write_changes_nothing(store: Store):
    obj = make_cm("a", x="1")
    store.create(key("a"), obj)
    obj["data"]["x"] = "later"
    assert store.get(key("a")).obj()["data"] == {"x": "1"}


def test_unencodable_object_writes_nothing(store: Store):
    with pytest.raises(TypeError):
        store.create(key("a"), {"metadata": {}, "bad": {1, 2}})
    assert store.revision == 0
    assert store.get(key("a")) is None
    assert store.create(key("a"), make_cm("a")).revision == 1


def test_writes_after_close_raise_store_error(db_path):
    s = Store(db_path)
    s.create(key("a"), make_cm("a"))
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError):
        s.create(key("b"), make_cm("b"))
    with pytest.raises(StoreError):
        s.update(key("a"), make_cm("a"))
    assert s.revision == 1


def test_context_manager_closes(db_path):
    with Store(db_path) as s:
        s.create(key("a"), make_cm("a"))
    with Store(db_path) as s:
        assert s.get(key("a")).revision == 1
