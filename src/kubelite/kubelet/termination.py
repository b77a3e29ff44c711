"""Termination: the messages containers leave behind, and the order sidecars stop in.

Messages are what a container leaves behind for `kubectl describe` when it ends.

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

`TerminationOrder` is upstream's terminationOrdering for pods with sidecars
(init containers with `restartPolicy: Always`): every container's preStop
hook runs at once, then a regular container gets SIGTERM at once, while a
sidecar waits, within the grace period, until every regular container has
exited and so has every sidecar declared after it — sidecars stop last, in
the reverse of their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
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


MIN_SHUTDOWN_S = 2.0  # upstream's minimumGracePeriodInSeconds: a sidecar's turn at least


def is_sidecar(container: Obj) -> bool:
    """An init container with `restartPolicy: Always` (upstream's restartable init container)."""
    return container.get("restartPolicy") == "Always"


class TerminationOrder:
    """Who waits for whom before SIGTERM, for the containers running when the pod stops."""

    def __init__(self, pod: Obj, running: Iterable[str]) -> None:
        spec = pod.get("spec") or {}
        alive = set(running)
        self._ended: dict[str, asyncio.Event] = {}
        self._prereqs: dict[str, list[asyncio.Event]] = {}
        regular = [self._track(c["name"], alive) for c in spec.get("containers") or []]
        later: asyncio.Event | None = None  # the next sidecar in declaration order
        for c in reversed(spec.get("initContainers") or []):
            ended = self._track(c["name"], alive)
            if is_sidecar(c):
                self._prereqs[c["name"]] = regular + ([later] if later is not None else [])
                later = ended

    def _track(self, name: str, alive: set[str]) -> asyncio.Event:
        ended = self._ended[name] = asyncio.Event()
        if name not in alive:
            ended.set()  # nothing to wait for
        return ended

    def waits(self, name: str) -> bool:
        """Whether container `name` has others to wait for (a sidecar)."""
        return name in self._prereqs

    def pending(self, name: str) -> list[str]:
        """Which containers `name` still waits for (for tests and logs)."""
        prereqs = self._prereqs.get(name) or []
        return [n for n, ev in self._ended.items() if ev in prereqs and not ev.is_set()]

    async def wait_turn(self, name: str, timeout: float) -> None:
        """Until container `name` may be stopped, or `timeout` seconds have passed."""
        prereqs = [ev for ev in self._prereqs.get(name) or [] if not ev.is_set()]
        if not prereqs or timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for ended in prereqs:
                    await ended.wait()

    def ended(self, name: str) -> None:
        """Container `name` has exited: those waiting for it may go."""
        ended = self._ended.get(name)
        if ended is not None:
            ended.set()
