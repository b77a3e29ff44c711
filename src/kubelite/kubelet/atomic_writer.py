"""Project a set of files into a directory atomically, as the kubelet's AtomicWriter does.

The payload goes into a fresh hidden directory `..<timestamp>`; a symlink
`..data` points at it and each visible name is a symlink `name ->
..data/name`. An update writes a new hidden directory and renames a new
`..data` link over the old one: a reader sees the old set or the new set,
never a mix. This is why a running app sees a ConfigMap change.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

DATA = "..data"


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


def current(target: Path) -> dict[str, FileProjection]:
    data = target / DATA
    if not data.is_symlink():
        return {}
    base = target / os.readlink(data)
    out = {}
    for path in base.rglob("*"):
        if path.is_file():
            out[path.relative_to(base).as_posix()] = FileProjection(
                path.read_bytes(), path.stat().st_mode & 0o7777
            )
    return out


def write(target: Path, payload: dict[str, FileProjection]) -> bool:
    """Project `payload`; return False when nothing changed."""
    for rel in payload:
        if rel.startswith("..") or rel.startswith("/") or "/../" in f"/{rel}/":
            raise ValueError(f"invalid path {rel!r}: must be relative and may not contain '..'")
    target.mkdir(parents=True, exist_ok=True)
    if current(target) == payload and (target / DATA).is_symlink():
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{time.time_ns() % 10**9:09d}"
    fresh = target / stamp
    fresh.mkdir(mode=0o755)
    for rel, item in payload.items():
        path = fresh / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
        os.chmod(path, item.mode)
    old = os.readlink(target / DATA) if (target / DATA).is_symlink() else None
    tmp_link = target / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    os.symlink(stamp, tmp_link)
    os.replace(tmp_link, target / DATA)
    _link_visible(target, payload)
    if old and old != stamp:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def _link_visible(target: Path, payload: dict[str, FileProjection]) -> None:
    tops = {rel.split("/", 1)[0] for rel in payload}
    for name in tops:
        link = target / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            os.symlink(f"{DATA}/{name}", link)
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in tops and entry.is_symlink():
            entry.unlink()
