"""A volumeMount's `subPath`, opened safely inside its volume.

A container may plant symlinks in its own volume (an emptyDir, a claim): a
later mount of `subPath: link` must not follow `link` to the host's `/`.
As upstream's kubelet does since CVE-2017-1002101:

- `subPathExpr` is expanded from the container's environment (`$(VAR)`; a
  variable that is unset or empty is an error), and the result, like a
  `subPath`, may be neither absolute nor contain `..`;
- a missing subPath is made as directories (with the volume root's mode),
  each one created and entered with `O_NOFOLLOW` below the volume's root;
- the subPath's symlinks are resolved, the result must stay inside the
  volume, and it is then opened one component at a time with `O_NOFOLLOW`
  from the volume's root, so a symlink swapped in meanwhile is refused;
- the opened file is bound (`/proc/self/fd/N`) onto the pod's
  `volume-subpaths/<volume>/<container>/<index>`, and the container gets
  that mount point: what it sees is the inode checked, whatever the volume
  holds by the time it starts. Without root nothing can be mounted on the
  host: the container then gets the path the check resolved (the race
  between the check and the container's mount stays open there, as the
  container is confined to kubelite's own user).

The messages the user sees are upstream's: they name the volumeMount and
the container and say nothing of the host's filesystem (the detail goes to
the log).
"""

from __future__ import annotations

import ctypes
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

from kubelite.kubelet.command import expand

log = logging.getLogger(__name__)

_MS_BIND, _MS_REC = 4096, 16384
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


class SubPathError(Exception):
    """The subPath cannot be given to the container: CreateContainerConfigError."""


class _Missing(Mapping[str, str]):
    """The environment as `$(VAR)` expansion reads it, noting what is unset or empty."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.missing: set[str] = set()

    def __contains__(self, key: object) -> bool:
        return True  # every reference is replaced: by its value, or by nothing

    def __getitem__(self, key: str) -> str:
        value = self.env.get(key, "")
        if not value:
            self.missing.add(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def expand_expr(expr: str, env: Mapping[str, str]) -> str:
    """A `subPathExpr` with the container's variables in it (upstream's
    ExpandContainerVolumeMounts)."""
    seen = _Missing(env)
    out = expand(expr, seen)
    if seen.missing:
        raise SubPathError(f"missing value for {', '.join(sorted(seen.missing))}")
    return out


def check_relative(sub: str) -> None:
    """An absolute subPath, or one with a `..` component, is refused."""
    if sub.startswith("/"):
        raise SubPathError(f"error SubPath `{sub}` must not be an absolute path")
    if ".." in PurePosixPath(sub).parts:
        raise SubPathError(f"unable to provision SubPath `{sub}`: must not contain '..'")


def wanted(vm: Mapping[str, object], env: Mapping[str, str]) -> str:
    """The volumeMount's subPath ("" for the volume's root), expanded and checked."""
    sub = str(vm.get("subPath") or "")
    if not sub and vm.get("subPathExpr"):
        sub = expand_expr(str(vm["subPathExpr"]), env)
    if sub:
        check_relative(sub)
    return sub


def prepare(volume: str, sub: str, *, bind_at: Path, mount: str, container: str) -> str:
    """The host path the container binds for `sub` of the volume at `volume`:
    made if missing, checked, and (as root) pinned by a bind mount at `bind_at`."""
    root = os.path.realpath(volume)
    if not os.path.exists(os.path.join(root, sub)):
        try:
            make_dirs(root, sub)
        except OSError as exc:
            log.warning("subPath %r of volume %s (container %s): %s", sub, mount, container, exc)
            raise SubPathError(
                f'failed to create subPath directory for volumeMount "{mount}" '
                f'of container "{container}"'
            ) from None
    try:
        fd = open_within(root, sub)
    except OSError as exc:
        log.warning("subPath %r of volume %s (container %s): %s", sub, mount, container, exc)
        raise SubPathError(
            f'failed to prepare subPath for volumeMount "{mount}" of container "{container}"'
        ) from None
    try:
        if os.geteuid() != 0:
            return os.readlink(f"/proc/self/fd/{fd}")
        try:
            _bind(fd, bind_at)
        except OSError as exc:
            log.warning("subPath %r of volume %s: bind failed: %s", sub, mount, exc)
            raise SubPathError(
                f'failed to prepare subPath for volumeMount "{mount}" of container "{container}"'
            ) from None
        return str(bind_at)
    finally:
        os.close(fd)


def _inside(root: str, sub: str) -> list[str]:
    """The components of `sub` below `root` once its symlinks are resolved (as far
    as it exists); an error when that leads out of `root`."""
    real = os.path.realpath(os.path.join(root, sub))
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        raise OSError(f"path {real} is outside of the volume {root}")
    return [p for p in os.path.relpath(real, root).split("/") if p not in ("", ".")]


def make_dirs(root: str, sub: str) -> None:
    """Upstream's SafeMakeDir: the missing directories of `sub` made below `root`,
    each entered without following a symlink; they get the root's mode."""
    mode = stat.S_IMODE(os.stat(root).st_mode)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in _inside(root, sub):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, mode, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.fchmod(child, mode)  # past the umask
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_within(root: str, sub: str) -> int:
    """An O_PATH descriptor of `sub` below `root`, opened one component at a time
    with O_NOFOLLOW: a symlink met on the way (one swapped in since `sub` was
    resolved) is refused."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in _inside(root, sub):
            child = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(f"symlink {part} is not allowed")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _bind(fd: int, target: Path) -> None:
    """Bind the file behind `fd` at `target` (made as a directory or a file to
    match), over nothing an earlier start bound there; then check that the
    mount shows the same inode."""
    st = os.fstat(fd)
    release(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    is_dir = stat.S_ISDIR(st.st_mode)
    if target.is_symlink() or (target.exists() and target.is_dir() != is_dir):
        if target.is_dir() and not target.is_symlink():
            target.rmdir()
        else:
            target.unlink()
    if is_dir:
        target.mkdir(exist_ok=True)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    source = f"/proc/self/fd/{fd}".encode()
    if _libc.mount(source, str(target).encode(), None, _MS_BIND | _MS_REC, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bind {target}: {os.strerror(err)}")
    bound = os.stat(target)
    if (bound.st_dev, bound.st_ino) != (st.st_dev, st.st_ino):
        release(target)
        raise OSError(f"{target} does not show the subPath opened")


def release(target: Path) -> None:
    """Unmount what is bound at `target`, every layer of it (a bind of the same
    file system is no mount point to `os.path.ismount`: unmount until refused)."""
    for _ in range(16):
        if _libc.umount2(str(target).encode(), _MNT_DETACH) != 0:
            return


def bind_path(pod_dir: Path, volume: str, container: str, index: int) -> Path:
    """Where a container's subPath mount is pinned: upstream's layout."""
    return pod_dir / "volume-subpaths" / volume / container / str(index)
