"""The atomic writer: first projection into a new directory, updates, and odd leftovers."""

from __future__ import annotations

import os
from pathlib import Path

from kubelite.kubelet import atomic_writer
from kubelite.kubelet.atomic_writer import DATA, FileProjection


def layout(target: Path) -> dict[str, object]:
    """Every entry under `target`, with the data directory's name replaced by `<data>`."""
    stamp = os.readlink(target / DATA)
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(target):
        for name in dirs + files:
            path = Path(dirpath) / name
            key = str(path.relative_to(target)).replace(stamp, "<data>")
            if path.is_symlink():
                out[key] = ("link", os.readlink(path).replace(stamp, "<data>"))
            elif path.is_dir():
                out[key] = "dir"
            else:
                out[key] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return out


API_ACCESS = {
    "token": FileProjection(b"eyJ.x.y", 0o644),
    "ca.crt": FileProjection(b"-----BEGIN CERTIFICATE-----\n", 0o644),
    "namespace": FileProjection(b"shop", 0o644),
}


def test_first_write_creates_the_directory_and_its_links(tmp_path: Path) -> None:
    target = tmp_path / "pod" / "volumes" / "kube-api-access-abcde"
    assert atomic_writer.write(target, API_ACCESS)
    assert layout(target) == {
        "..data": ("link", "<data>"),
        "<data>": "dir",
        "<data>/token": (b"eyJ.x.y", 0o644),
        "<data>/ca.crt": (b"-----BEGIN CERTIFICATE-----\n", 0o644),
        "<data>/namespace": (b"shop", 0o644),
        "token": ("link", "..data/token"),
        "ca.crt": ("link", "..data/ca.crt"),
        "namespace": ("link", "..data/namespace"),
    }
    assert atomic_writer.current(target) == API_ACCESS
    assert not atomic_writer.write(target, API_ACCESS)


def test_first_write_matches_a_write_into_an_existing_directory(tmp_path: Path) -> None:
    payload = {
        "conf/app.yaml": FileProjection(b"a: 1\n", 0o600),
        "conf/deep/x": FileProjection(b"", 0o755),
        "top": FileProjection(b"t" * 100_000, 0o400),
    }
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    assert atomic_writer.write(fresh, payload)
    assert atomic_writer.write(existing, payload)
    assert layout(fresh) == layout(existing)
    assert layout(fresh)["conf"] == ("link", "..data/conf")
    assert atomic_writer.current(fresh) == payload


def test_update_after_first_write_swaps_and_removes_the_old_set(tmp_path: Path) -> None:
    assert atomic_writer.write(tmp_path / "v", API_ACCESS)
    first = os.readlink(tmp_path / "v" / DATA)
    new = {**API_ACCESS, "token": FileProjection(b"eyJ.x.z", 0o644)}
    del new["namespace"]
    assert atomic_writer.write(tmp_path / "v", new)
    assert os.readlink(tmp_path / "v" / DATA) != first
    assert not (tmp_path / "v" / first).exists()
    assert not os.path.lexists(tmp_path / "v" / "namespace")
    assert (tmp_path / "v" / "token").read_bytes() == b"eyJ.x.z"
    assert atomic_writer.current(tmp_path / "v") == new


def test_existing_directory_without_data_link_is_cleaned_up(tmp_path: Path) -> None:
    target = tmp_path / "v"
    target.mkdir()
    os.symlink("..data/gone", target / "gone")
    (target / "token").write_bytes(b"stray")
    assert atomic_writer.write(target, API_ACCESS)
    assert not os.path.lexists(target / "gone")
    assert os.readlink(target / "token") == "..data/token"
    assert (target / "token").read_bytes() == b"eyJ.x.y"


def test_dangling_data_link_holds_nothing(tmp_path: Path) -> None:
    tmp_path.joinpath(DATA).symlink_to("..2020_01_01_00_00_00.000000000")
    assert atomic_writer.current(tmp_path) == {}
    assert atomic_writer.write(tmp_path, API_ACCESS)
    assert atomic_writer.current(tmp_path) == API_ACCESS


def test_empty_payload_still_gets_a_data_link(tmp_path: Path) -> None:
    assert atomic_writer.write(tmp_path / "v", {})
    assert os.path.isdir(tmp_path / "v" / DATA)
    assert not atomic_writer.write(tmp_path / "v", {})
