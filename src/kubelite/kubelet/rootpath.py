"""Mount targets resolved inside the container's view, as runc resolves them.

A volume's `mountPath` may cross a symlink of the image or the host:
`/var/run` is a link to `/run` on most systems, and the service-account
volume goes to `/var/run/secrets/kubernetes.io/serviceaccount`. Followed on
the host, an absolute link would lead out of the container's root; followed
inside it (absolute links restart from the container's `/`), the mount lands
where the container's processes will look.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


def resolve_in_root(target: str, layers: Sequence[Path]) -> str:
    """`target` with the symlinks on its way resolved within the view `layers` make up.

    `layers` are topmost first: a name is looked up in each in turn and the
    first that has it decides, as in an overlay. The last name is kept as
    it is (a link there is replaced by the mount, as for `/etc/resolv.conf`).
    Too many links leave `target` as it was.
    """
    parts = path_parts(target)
    if len(parts) < 3:
        return target
    prefixes = [s if s.endswith("/") else s + "/" for s in map(str, layers)]
    parent = _resolve(parts[1:-1], prefixes)
    if parent is None:
        return target
    return ("" if parent == "/" else parent) + "/" + parts[-1]


@functools.lru_cache(maxsize=1024)
def path_parts(path: str) -> tuple[str, ...]:
    """`PurePosixPath(path).parts`, kept: mount targets and links recur with every container."""
    return PurePosixPath(path).parts


def _resolve(names: Sequence[str], prefixes: Sequence[str]) -> str | None:
    pending = list(names)
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        link = _read_link(prefixes, "/".join([*resolved, part]))
        if link is None:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            return None
        link_parts = path_parts(link)
        if link.startswith("/"):  # absolute: from the container's root
            resolved = []
            pending = list(link_parts[1:]) + pending
        else:
            pending = list(link_parts) + pending
    return "/" + "/".join(resolved)


# What makes a name absent from a layer rather than an error (as pathlib treats them).
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def _read_link(prefixes: Sequence[str], relative: str) -> str | None:
    """The link at `relative` in the first layer that has the name, or None.

    One lstat per layer: a mount's target is resolved on every container start.
    """
    for prefix in prefixes:
        path = prefix + relative
        try:
            mode = os.lstat(path).st_mode
        except OSError as exc:
            if exc.errno in _ABSENT:
                continue
            raise
        except ValueError:  # a NUL in the name: no such file
            continue
        return os.readlink(path) if stat.S_ISLNK(mode) else None
    return None
