"""hostPath volumes (inline, or a PersistentVolume's): the `type` check.

As upstream's hostPath plugin checks a path at each set-up (its symlinks
followed): `DirectoryOrCreate` and `FileOrCreate` make a missing directory
(mode 0755, its parents too) or an empty file (mode 0644, its directory
not: it must exist), then check like `Directory` and `File`; `Socket`,
`CharDevice` and `BlockDevice` only check. A mismatch is
`hostPath type check failed: PATH is not a ...`; a path that cannot be made
is the system's error, as `open PATH: no such file or directory`. No type
(`""`) checks nothing; the runtime then makes a missing path a directory, as
containerd does for a bind mount's missing source.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

# type -> (what a path of it is called, its stat test)
_KINDS: dict[str, tuple[str, Callable[[int], bool]]] = {
    "Directory": ("directory", stat.S_ISDIR),
    "File": ("file", stat.S_ISREG),
    "Socket": ("socket file", stat.S_ISSOCK),
    "CharDevice": ("character device", stat.S_ISCHR),
    "BlockDevice": ("block device", stat.S_ISBLK),
}
_CREATE = {"DirectoryOrCreate": "Directory", "FileOrCreate": "File"}


class HostPathError(Exception):
    """The path does not pass its type check: the reason of a FailedMount."""


def check(path: str, kind: str) -> None:
    """Make (for the `...OrCreate` types) and check `path` as a hostPath of type `kind`."""
    if not kind:
        return
    checked = _CREATE.get(kind, kind)
    if checked not in _KINDS:
        raise HostPathError(f"{kind} is an invalid volume type")
    if kind != checked and not os.path.exists(path):
        op = "mkdir" if checked == "Directory" else "open"
        try:
            _make_dir(path) if op == "mkdir" else _make_file(path)
        except OSError as exc:
            raise HostPathError(_go_error(op, exc, path)) from None
    what, test = _KINDS[checked]
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0
    if not test(mode):
        raise HostPathError(f"hostPath type check failed: {path} is not a {what}")


def _make_dir(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _make_file(path: str) -> None:
    # O_CREAT alone: an existing entry of any kind (a race) is no error here
    os.close(os.open(path, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o644))


def _go_error(op: str, exc: OSError, path: str) -> str:
    """The error as upstream's Go reports it: `open PATH: no such file or directory`."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"{op} {exc.filename or path}: {text[:1].lower()}{text[1:]}"
