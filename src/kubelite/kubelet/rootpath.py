"""Mount targets resolved inside the container's view, as runc resolves them.

A volume's `mountPath` may cross a symlink of the image or the host:
`/var/run` is a link to `/run` on most systems, and the service-account
volume goes to `/var/run/secrets/kubernetes.io/serviceaccount`. Followed on
the host, an absolute link would lead out of the container's root; followed
inside it (absolute links restart from the container's `/`), the mount lands
where the container's processes will look.
"""

from __future__ import annotations

import os
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
    path = PurePosixPath(target)
    if len(path.parts) < 3:
        return target
    parent = _resolve(str(path.parent), layers)
    return target if parent is None else str(PurePosixPath(parent) / path.name)


def _resolve(target: str, layers: Sequence[Path]) -> str | None:
    pending = list(PurePosixPath(target).parts[1:])
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
        link = _read_link(layers, "/".join([*resolved, part]))
        if link is None:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            return None
        link_path = PurePosixPath(link)
        if link_path.is_absolute():
            resolved = []
            pending = list(link_path.parts[1:]) + pending
        else:
            pending = list(link_path.parts) + pending
    return "/" + "/".join(resolved)


def _read_link(layers: Sequence[Path], relative: str) -> str | None:
    for layer in layers:
        path = layer / relative
        if path.is_symlink():
            return os.readlink(path)
        if path.exists():
            return None
    return None
