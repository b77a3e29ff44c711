"""Termination messages: what a container leaves behind for `kubectl describe` when it ends.

As the kubelet does, each container instance gets a file of its own under
the pod's directory (`containers/<name>/<8 hex of its id>`), bound at its
`terminationMessagePath` (`/dev/termination-log` unless set; none when set
to ""). When the instance ends, the last 4 KiB of that file become
`state.terminated.message`. With `terminationMessagePolicy:
FallbackToLogsOnError`, a failed instance (non-zero exit) whose file is
empty or missing gets the tail of its log instead: its last 80 lines, cut
to their last 2 KiB. The pod's status then keeps at most 12 KiB of such
messages, shared evenly by its containers (upstream's status manager cuts
each message to `12 KiB / containers`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from kubelite.kubelet import criolog

Obj = dict[str, Any]
DEFAULT_PATH = "/dev/termination-log"
FALLBACK_TO_LOGS = "FallbackToLogsOnError"
MAX_CONTAINER_BYTES = 4 * 1024  # read from the end of the file
MAX_POD_BYTES = 12 * 1024  # every message in one pod's status
MAX_LOG_BYTES = 2 * 1024  # a message taken from the log
MAX_LOG_LINES = 80


def message_path(container: Obj) -> str:
    """Where the container writes its message; "" for none."""
    path = container.get("terminationMessagePath")
    return DEFAULT_PATH if path is None else str(path)


def host_file(pod_dir: Path, name: str, container_id: str) -> Path:
    """The instance's file: its container id names it, so a restarted kubelite finds it."""
    return pod_dir / "containers" / name / container_id.rsplit("/", 1)[-1][:8]


def prune(pod_dir: Path, name: str) -> None:
    """Remove earlier instances' files (their messages are in the status already).

    Each instance's file is made by its container's process before it execs
    (`sandbox`), mode 0666 as the kubelet makes it, so any user may write it.
    """
    with contextlib.suppress(FileNotFoundError), os.scandir(pod_dir / "containers" / name) as it:
        for entry in it:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def read_message(file: Path | None, log: Path, *, fallback: bool) -> str:
    """An ended instance's message: its file's last 4 KiB, else (with `fallback`,
    for a failed instance) its log's tail; "" for none.

    `file` is None when nothing was bound for it (no path, or no private /dev).
    """
    check_logs = fallback
    text = ""
    if file is not None:
        try:
            data = _read_tail(file, MAX_CONTAINER_BYTES)
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            return f"Error on reading termination log {file}: {exc.strerror or exc}"
        text = data.decode(errors="replace")
        check_logs = fallback and not data
    if check_logs:
        try:
            tail = criolog.last_output(log, lines=MAX_LOG_LINES, limit=MAX_LOG_BYTES)
        except OSError as exc:
            return f"Error on reading termination message from logs: {exc.strerror or exc}"
        text = tail.decode(errors="replace")
    return text


def _read_tail(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - limit))
        return f.read(limit)


def per_status_budget(pod: Obj) -> int:
    """Bytes each terminated message may keep in the pod's status."""
    spec = pod.get("spec") or {}
    count = sum(
        len(spec.get(kind) or [])
        for kind in ("containers", "initContainers", "ephemeralContainers")
    )
    return MAX_POD_BYTES // count if count else MAX_POD_BYTES


def truncate(text: str, limit: int) -> str:
    """The first `limit` bytes of `text` (a character cut in two is dropped)."""
    if len(text) * 4 <= limit:  # short enough whatever its characters
        return text
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")
