"""Project a set of files into a directory atomically, as the kubelet's AtomicWriter does.

The payload goes into a fresh hidden directory `..<timestamp>`; a symlink
`..data` points at it and each visible name is a symlink `name ->
..data/name`. An update writes a new hidden directory and renames a new
`..data` link over the old one: a reader sees the old set or the new set,
never a mix. This is why a running app sees a ConfigMap change.

Every pod projects at least its API-access volume when it starts, so the
first write into a directory this call created takes a short path: nothing
to compare, swap or clean up. Plain `os` calls, not pathlib, keep each write cheap.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

DATA = "..data"
DATA_TMP = "..data_tmp"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644
    uid: int | None = None  # the owner the kubelet gives a token file (FsUser); None: ours


def current(target: Path) -> dict[str, FileProjection]:
    """What `..data` holds now; empty when there is no `..data` link."""
    try:
        link = os.readlink(os.path.join(target, DATA))
    except OSError:  # missing, or not a symlink
        return {}
    out: dict[str, FileProjection] = {}
    try:
        _read_tree(os.path.join(target, link), "", out)
    except (FileNotFoundError, NotADirectoryError):  # a dangling link holds nothing
        return {}
    return out


def _read_tree(base: str, prefix: str, out: dict[str, FileProjection]) -> None:
    with os.scandir(base) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _read_tree(entry.path, f"{prefix}{entry.name}/", out)
            elif entry.is_file():
                out[prefix + entry.name] = FileProjection(
                    _read(entry.path), entry.stat().st_mode & 0o7777
                )


def write(target: Path, payload: dict[str, FileProjection]) -> bool:
    """Project `payload`; return False when nothing changed."""
    for rel in payload:
        if rel.startswith("..") or rel.startswith("/") or "/../" in f"/{rel}/":
            raise ValueError(f"invalid path {rel!r}: must be relative and may not contain '..'")
    base = os.fspath(target)
    if _make_dir(base):
        _write_fresh(base, payload)
        return True
    try:
        old: str | None = os.readlink(os.path.join(base, DATA))
    except OSError:  # missing, or not a symlink
        old = None
    if old is not None and current(target) == payload:
        return False
    stamp = _write_payload(base, payload)
    tmp_link = os.path.join(base, DATA_TMP)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_link)
    os.symlink(stamp, tmp_link)
    os.replace(tmp_link, os.path.join(base, DATA))
    _link_visible(base, payload)
    if old and old != stamp:
        shutil.rmtree(os.path.join(base, old), ignore_errors=True)
    return True


def _make_dir(path: str) -> bool:
    """Create `path` (and its parents); True when this call created it, so it is empty."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.mkdir(path)
        except FileExistsError:
            return False
    return True


def _write_fresh(base: str, payload: dict[str, FileProjection]) -> None:
    """The first projection into an empty directory: no old set a reader could see."""
    stamp = _write_payload(base, payload)
    os.symlink(stamp, os.path.join(base, DATA))
    for name in {rel.split("/", 1)[0] for rel in payload}:
        os.symlink(f"{DATA}/{name}", os.path.join(base, name))


def _write_payload(base: str, payload: dict[str, FileProjection]) -> str:
    """Write `payload` into a new hidden directory of `base`; return its name."""
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{time.time_ns() % 10**9:09d}"
    fresh = os.path.join(base, stamp)
    os.mkdir(fresh, 0o755)
    for rel, item in payload.items():
        if "/" in rel:
            rel = os.path.normpath(rel)  # "a//b", "a/./b", "a/" as pathlib reads them
            os.makedirs(os.path.dirname(os.path.join(fresh, rel)), exist_ok=True)
        write_file(os.path.join(fresh, rel), item.data, 0o600, chmod=item.mode, uid=item.uid)
    return stamp


def write_file(
    path: str, data: bytes, mode: int = 0o666, *, chmod: int | None = None, uid: int | None = None
) -> None:
    """Create or truncate `path` and write all of `data`; `chmod` sets the exact
    mode, whatever the umask; `uid` the owner, where kubelite may give files away
    (run by root: rootless, its own uid is the pod's user inside the pod)."""
    fd = os.open(path, _CREATE, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if chmod is not None:
            os.fchmod(fd, chmod)
        if uid is not None and os.geteuid() == 0:
            os.fchown(fd, uid, -1)
    finally:
        os.close(fd)


def replace_file(directory: str | Path, name: str, data: bytes, tmp: str) -> None:
    """Write `directory/tmp` and rename it over `directory/name`, so neither a
    reader nor a crash ever sees half the file; `directory` is made if need be."""
    tmp_path = os.path.join(directory, tmp)
    try:
        write_file(tmp_path, data)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        write_file(tmp_path, data)
    os.replace(tmp_path, os.path.join(directory, name))


def _read(path: str) -> bytes:
    with open(path, "rb", buffering=0) as f:
        return f.read()


def _link_visible(base: str, payload: dict[str, FileProjection]) -> None:
    tops = {rel.split("/", 1)[0] for rel in payload}
    for name in tops:
        link = os.path.join(base, name)
        if not os.path.islink(link):
            if os.path.isdir(link):
                shutil.rmtree(link)
            elif os.path.lexists(link):
                os.unlink(link)
            os.symlink(f"{DATA}/{name}", link)
    with os.scandir(base) as entries:
        stale = [
            e.path
            for e in entries
            if not e.name.startswith("..") and e.name not in tops and e.is_symlink()
        ]
    for path in stale:
        os.unlink(path)
