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
    while True:  # creates, updates and deletes over 300 keys, until killed
        name = f"/registry/configmaps/default/cm{i % 300:04d}"
        obj = {"metadata": {"name": name}, "data": {"i": str(i)}}
        if store.get(name) is None:
            kv, kind = store.create(name, obj), "ADDED"
        elif i % 7 == 0:
            kv, kind = store.delete(name), "DELETED"
        else:
            kv, kind = store.update(name, obj), "MODIFIED"
        print(kv.revision, name, kind, flush=True)  # the acknowledgement
        i += 1
    """
)


def test_acknowledged_writes_survive_sigkill(db_path: Path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    acked: list[tuple[int, str, str]] = []
    assert child.stdout is not None
    try:
        while len(acked) < 3_000:
            line = child.stdout.readline()
            assert line, "the writer died"
            rev, name, kind = line.split()
            acked.append((int(rev), name, kind))
    finally:
        child.send_signal(signal.SIGKILL)  # it never stops writing: the kill lands mid-stream
        child.wait(10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with Store(db_path) as s:
        assert s.revision >= acked[-1][0]
        # No compaction ran, so the whole history is there: every ack in it, as acked.
        on_disk = {e.kv.revision: (e.kv.key, e.type) for e in s.events_since("", 0)}
        for rev, name, kind in acked:
            assert on_disk.get(rev) == (name, kind), rev
        # And the current state is at or after each key's last acknowledged write.
        last = {name: (rev, kind) for rev, name, kind in acked}
        for name, (rev, kind) in last.items():
            kv = s.get(name)
            if kv is None:
                assert (
                    kind == "DELETED" or max(r for r, (k, t) in on_disk.items() if k == name) > rev
                )
            else:
                assert kv.revision >= rev
        # New writes continue above everything the killed process wrote.
        before = s.revision
        assert s.create("/after/kill", {"metadata": {}}).revision == before + 1
