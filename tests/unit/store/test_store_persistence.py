"""Durability: restart, SIGKILL, file mode, one store per file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from store_builders import key, make_cm

from kubelite.store import Store, StoreError

SRC = Path(__file__).resolve().parents[3] / "src"


def test_restart_keeps_objects_and_revisions(db_path: Path):
    with Store(db_path) as s:
        s.create(key("a"), make_cm("a", x="1"))
        s.create(key("b"), make_cm("b"))
        s.update(key("a"), make_cm("a", x="2"))
        s.delete(key("b"))
        s.create(key("c", "other"), make_cm("c", "other"))
        before = s.list("/")[0]
    with Store(db_path) as s:
        assert s.revision == 5
        assert s.list("/")[0] == before
        a = s.get(key("a"))
        assert (a.revision, a.create_revision) == (3, 1)
        assert a.obj()["metadata"]["resourceVersion"] == "3"
        assert s.get(key("b")) is None
        assert s.create(key("b"), make_cm("b")).revision == 6  # continues above
        assert s.update(key("a"), make_cm("a"), expected_revision=3).revision == 7


def test_file_is_private(db_path: Path):
    with Store(db_path) as s:
        s.create(key("a"), make_cm("a"))
        wal = Path(f"{db_path}-wal")
        assert db_path.stat().st_mode & 0o777 == 0o600
        assert wal.stat().st_mode & 0o777 == 0o600


def test_existing_file_is_made_private(db_path: Path):
    Store(db_path).close()
    db_path.chmod(0o644)
    Store(db_path).close()
    assert db_path.stat().st_mode & 0o777 == 0o600


def test_a_second_store_on_the_same_file_is_refused(db_path: Path):
    with Store(db_path) as s:
        s.create(key("a"), make_cm("a"))
        with pytest.raises(StoreError, match="in use"):
            Store(db_path)
        assert s.create(key("b"), make_cm("b")).revision == 2  # the first is unharmed
    Store(db_path).close()  # free again once closed


_WRITER = textwrap.dedent(
    """
    import sys
    from kubelite.store import Store

    store = Store(sys.argv[1])
    i = 0
    while True:
        name = f"/registry/configmaps/default/cm{i % 300:04d}"
        obj = {"metadata": {"name": name}, "data": {"i": str(i)}}
        if store.get(name) is None:
            kv = store.create(name, obj)
        elif i % 5 == 0:
            kv = store.delete(name)
        else:
            kv = store.update(name, obj)
        print(name, kv.revision, "deleted" if i % 5 == 0 and kv.revision else "", flush=True)
        i += 1
    """
)


def test_acknowledged_writes_survive_sigkill(db_path: Path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: dict[str, tuple[int, bool]] = {}  # key -> (revision, deleted) of its last ack
    assert child.stdout is not None
    try:
        for _ in range(2_000):
            line = child.stdout.readline()
            assert line, "the writer died"
            name, rev, *deleted = line.split()
            acked[name] = (int(rev), bool(deleted))
    finally:
        child.send_signal(signal.SIGKILL)  # mid-write: it never stops writing
        child.wait(10)
    last = max(rev for rev, _ in acked.values())
    with Store(db_path) as s:
        assert s.revision >= last
        for name, (rev, deleted) in acked.items():
            kv = s.get(name)
            if s.revision == last:  # nothing after the last ack was committed
                assert (kv is None) if deleted else (kv is not None and kv.revision == rev)
            # Writes committed after the last ack we read may have replaced it.
            events = s.events_since(name, rev - 1)
            assert events and events[0].kv.revision == rev, name
            assert events[0].type == ("DELETED" if deleted else events[0].type)
