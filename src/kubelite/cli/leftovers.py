"""What still runs under a data dir's container shims once kubelite is gone.

Pods outlive their kubelite on purpose: a shim per node holds them, and the
next `kubelite up` adopts them again (as a kubelet restart leaves containerd's
containers running). `kubelite down` is the command meant to stop everything,
though, so when kubelite had to be killed, or had already crashed, it asks
each shim what still runs and says so instead of reporting a clean stop.

The shim speaks JSON lines on `nodes/NODE/shim.sock`; `hello` answers its
pid and `list` its containers. Only ask when no kubelite runs in the data
dir: a shim serves one agent at a time, and a new connection replaces the old.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Leftover:
    shim_pid: int
    running: int  # container processes that have not exited


def find(data_dir: Path) -> list[Leftover]:
    """Each shim under `data_dir` that still holds running containers."""
    found = []
    for sock in sorted(data_dir.glob("nodes/*/shim.sock")):
        with contextlib.suppress(OSError, ValueError):
            pid, containers = _ask(sock)
            running = sum(1 for c in containers.values() if c.get("exit") is None)
            if running:
                found.append(Leftover(pid, running))
    return found


def describe(leftovers: list[Leftover]) -> str:
    """One sentence: how many pod processes run, under which shims."""
    count = sum(x.running for x in leftovers)
    pids = ", ".join(str(x.shim_pid) for x in leftovers)
    noun = "process still runs" if count == 1 else "processes still run"
    shims = "shim" if len(leftovers) == 1 else "shims"
    return (
        f"{count} pod {noun} under its container {shims} (pid {pids}): "
        "`kubelite up` adopts them again, and `kubelite down` then stops them"
    )


def _ask(sock: Path) -> tuple[int, dict[str, dict[str, object]]]:
    """The shim's pid and its containers."""
    # through the directory's /proc link: a socket path is limited to 108 bytes
    dir_fd = os.open(sock.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(TIMEOUT_S)
            conn.connect(f"/proc/self/fd/{dir_fd}/{sock.name}")
            conn.sendall(b'{"op": "hello", "seq": 1}\n{"op": "list", "seq": 2}\n')
            replies = _replies(conn.makefile("rb"), want={1, 2})
    finally:
        os.close(dir_fd)
    pid, containers = replies[1].get("pid"), replies[2].get("containers") or {}
    if not isinstance(pid, int) or not isinstance(containers, dict):
        raise ValueError("not a shim's answer")
    return pid, containers


def _replies(stream: IO[bytes], *, want: set[int]) -> dict[int, dict[str, object]]:
    replies: dict[int, dict[str, object]] = {}
    while not want <= replies.keys():
        line = stream.readline()
        if not line:
            raise ValueError("the shim closed the connection")
        message = json.loads(line)
        if isinstance(message, dict) and message.get("seq") in want:
            replies[message["seq"]] = message
    return replies
