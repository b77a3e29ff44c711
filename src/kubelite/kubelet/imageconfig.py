"""The OCI image config kubelite writes for each image, and its digest.

Fields follow the OCI image-config spec (`config.Entrypoint`, `Cmd`, `Env`,
`WorkingDir`, `ExposedPorts`, `Labels`) so tools that know images read ours.
The digest is the sha256 of the canonical config JSON, which itself names the
content of the files (`rootfs.diff_ids`): same inputs, same digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
from pathlib import Path
from typing import Any


def oci_config(
    *,
    env: list[str],
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    working_dir: str = "",
    exposed: list[str] | None = None,
    diff_id: str = "",
    created: str = "",
) -> dict[str, Any]:
    config: dict[str, Any] = {"Env": env}
    if entrypoint is not None:
        config["Entrypoint"] = entrypoint
    if cmd is not None:
        config["Cmd"] = cmd
    if working_dir:
        config["WorkingDir"] = working_dir
    if exposed:
        config["ExposedPorts"] = {p: {} for p in exposed}
    config["Labels"] = {}
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    doc: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id] if diff_id else []},
    }
    if created:
        doc["created"] = created
    return doc


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def content_digest(doc: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(doc)).hexdigest()


def tree_digest(root: Path) -> tuple[str, int]:
    """sha256 over every file's relative path, mode and bytes, in sorted order; and total size."""
    h = hashlib.sha256()
    size = 0
    if not root.exists():
        return "sha256:" + h.hexdigest(), 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            h.update(f"{rel}\0{st.st_mode:o}\0".encode())
            if path.is_symlink():
                h.update(os.readlink(path).encode())
                continue
            if not stat.S_ISREG(st.st_mode):  # a RUN line's whiteout (a 0/0 device), a fifo
                h.update(f"{st.st_rdev}".encode())
                continue
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
    return "sha256:" + h.hexdigest(), size
