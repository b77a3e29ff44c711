"""The file-system steps of a sandbox plan that need no mount: directories and files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubelite.kubelet.sandbox import Op, _apply


def test_mkdir_makes_missing_parents_and_accepts_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    _apply(Op("mkdir", str(target)))
    _apply(Op("mkdir", str(target)))
    assert target.is_dir()


def test_mkdir_over_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError):
        _apply(Op("mkdir", str(tmp_path / "f")))


def test_touch_replaces_a_link_with_a_plain_file_and_keeps_a_file(tmp_path: Path) -> None:
    outside = tmp_path / "host-resolv.conf"
    outside.write_text("host")
    link = tmp_path / "root" / "etc" / "resolv.conf"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    _apply(Op("touch", str(link)))
    assert not link.is_symlink() and link.read_text() == "" and outside.read_text() == "host"

    kept = tmp_path / "root" / "etc" / "hosts"
    kept.write_text("127.0.0.1 localhost\n")
    _apply(Op("touch", str(kept)))
    assert kept.read_text() == "127.0.0.1 localhost\n"

    fresh = tmp_path / "root" / "new" / "file"
    _apply(Op("touch", str(fresh)))
    assert fresh.is_file() and oct(fresh.stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def test_touch_replaces_a_dangling_link(tmp_path: Path) -> None:
    link = tmp_path / "resolv.conf"
    link.symlink_to(tmp_path / "missing")
    _apply(Op("touch", str(link)))
    assert link.is_file() and not link.is_symlink()


def test_a_new_file_is_made_with_its_directory_and_writable_by_anyone(tmp_path: Path) -> None:
    path = tmp_path / "containers" / "app" / "01234567"
    _apply(Op("file", "/r/dev/termination-log", source=str(path)))
    assert path.read_text() == "" and stat.S_IMODE(path.stat().st_mode) == 0o666
    path.write_text("stale")
    _apply(Op("file", "/r/dev/termination-log", source=str(path)))
    assert path.read_text() == ""  # an instance starts from an empty file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
