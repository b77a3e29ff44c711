"""The container shim: the process that parents a node's containers and owns their logs.

kubelite is both the kubelet and the container runtime, so without a shim a
crash of kubelite would take the containers' stdout/stderr pipes with it (the
next write would raise SIGPIPE) and nobody would be left to reap them and
keep their exit codes. This small process plays containerd-shim's part for
one node: it makes each container's cgroups and spawns it (the sandbox is
set up in the child), copies the container's output into the CRI log with
rotation, reaps it, and keeps its exit status until the agent has read it.
It runs in a session of its own, so it outlives kubelite; a restarted
kubelite reconnects to it, lists what runs, and re-attaches.

Wire format: one JSON object per line over a Unix socket, one client at a
time. Requests carry `op` and a `seq` the reply repeats:
`hello`, `start` (a serialised `process.Spec`), `list`, `forget`, and `bye`
(the agent stops cleanly; ended containers need not be kept).
Unsolicited `{"ev": "exit", "id", "code", "signal"}` lines tell the client a
container ended (after its logs are flushed). With no client and no
container left, the shim exits.

A connection whose first line is `{"op": "attach", "id", "stdin", "stdout",
"stderr"}` is not the agent's: it is one attach session on a running
container's streams (`containerio`), answered `{}` (or `{"error"}`) and
then spoken in frames. Sessions come on connections of their own: the
agent's connection carries nothing for them, and a kubelite restarted
after a crash reaches the streams of the containers it re-adopts the same
way.

Run as `python -I shim.py SOCKET`; it loads only the modules it needs
(process, forkexec, sandbox, criolog, containerio, and orjson) so it stays
small: each container start forks it.
"""

from __future__ import annotations

# ruff: noqa: E402
# (imports follow the lines that keep ssl out)
import sys

if __name__ == "__main__" and "ssl" not in sys.modules:
    # The shim never speaks TLS, and asyncio does without the ssl module: the
    # shim's memory is then some 4 MB smaller (no libssl or libcrypto either),
    # and each fork of it copies that much less.
    sys.modules["ssl"] = None  # type: ignore[assignment]

import asyncio
import contextlib
import gc
import os
import signal
import types
from pathlib import Path
from typing import Any

import orjson

Obj = dict[str, Any]


def _load_runtime() -> types.ModuleType:
    """Import kubelet.process without the package's __init__ (which pulls in the agent)."""
    here = Path(__file__).resolve().parent
    for name, path in (("kubelite", here.parent), ("kubelite.kubelet", here)):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [str(path)]
            sys.modules[name] = module
    from kubelite.kubelet import process

    return process


class Shim:
    def __init__(self, socket_path: Path, process: types.ModuleType) -> None:
        self.path = socket_path
        self.process = process
        self.containers: dict[str, Obj] = {}  # id -> {"pid", "exit": None | {...}}
        self.running: dict[str, Any] = {}  # id -> its process.Process, while it runs
        self.writer: asyncio.StreamWriter | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle = asyncio.Event()

    async def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = await asyncio.start_unix_server(self._client, path=str(self.path))
        os.chmod(self.path, 0o600)
        # What exists now lives as long as the shim: kept out of the collector's
        # full passes, which write to every object they visit (and so, after a
        # fork, copy each page they touch).
        gc.freeze()
        async with server:
            await self.idle.wait()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _check_idle(self) -> None:
        if self.writer is None and not self.containers:
            self.idle.set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            first = orjson.loads(line) if line else None
        except (ConnectionError, ValueError):
            first = None
        if not isinstance(first, dict):
            writer.close()
            return
        if first.get("op") == "attach":
            await self._attach(first, reader, writer)
            return
        if self.writer is not None:  # a newer agent replaces a stale connection
            self.writer.close()
        self.writer = writer
        request: Obj = first
        try:
            while True:
                task = asyncio.create_task(self._handle(request))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                if not (line := await reader.readline()):
                    break
                request = orjson.loads(line)
        except (ConnectionError, ValueError):
            pass
        finally:
            if self.writer is writer:
                self.writer = None
            writer.close()
            self._check_idle()

    def _send(self, message: Obj) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(orjson.dumps(message) + b"\n")

    async def _handle(self, request: Obj) -> None:
        op, seq = request.get("op"), request.get("seq")
        if op == "hello":
            self._send({"seq": seq, "pid": os.getpid()})
        elif op == "list":
            self._send({"seq": seq, "containers": self.containers})
        elif op == "forget":
            entry = self.containers.get(request["id"])
            if entry is not None and entry["exit"] is not None:
                del self.containers[request["id"]]
            self._send({"seq": seq})
            self._check_idle()
        elif op == "bye":  # the agent stops cleanly: nobody will ask for these exits
            for cid in [c for c, e in self.containers.items() if e["exit"] is not None]:
                del self.containers[cid]
            self._check_idle()
        elif op == "start":
            await self._start(seq, request)

    async def _start(self, seq: Any, request: Obj) -> None:
        cid = request["id"]
        try:
            proc = await self.process.start(self.process.spec_from_wire(request["spec"]))
        except self.process.StartError as exc:
            self._send({"seq": seq, "error": str(exc)})
            return
        entry = {"pid": proc.pid, "startTime": proc.start_time, "exit": None}
        self.containers[cid] = entry
        self.running[cid] = proc
        self._send({"seq": seq, "pid": proc.pid, "startTime": proc.start_time})
        exit_ = await proc.wait()
        self.running.pop(cid, None)
        entry["exit"] = {"code": exit_.code, "signal": exit_.signal}
        self._send({"ev": "exit", "id": cid, **entry["exit"]})

    async def _attach(
        self, request: Obj, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        proc = self.running.get(request.get("id", ""))
        if proc is None or proc.exited:
            writer.write(b'{"error": "container is not running"}\n')
            writer.close()
            return
        writer.write(b"{}\n")
        await self.process.containerio.serve(
            proc.attach_io(),
            reader,
            writer,
            stdin=bool(request.get("stdin")),
            stdout=bool(request.get("stdout")),
            stderr=bool(request.get("stderr")),
        )


RUNTIME_NICE = -10


def _raise_priority() -> None:
    """Run ahead of the containers when allowed (root): as a node reserves CPU for its
    runtime, so a burst of containers busy starting up does not hold up the next
    start. Children go back to nice 0 before they run anything (`forkexec`)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, RUNTIME_NICE)
        # With autogroups, nice only orders tasks within a session: the shim's own
        # session (it runs in one of its own) takes the weight too.
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(RUNTIME_NICE))
    except OSError:
        pass  # not permitted, or no autogroups: the usual priority


def main(argv: list[str]) -> int:
    process = _load_runtime()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the agent decides when containers stop
    _raise_priority()
    socket_path = Path(argv[1])
    os.chdir(socket_path.parent)  # bind by a relative name: socket paths max out at 108 bytes
    asyncio.run(Shim(Path(socket_path.name), process).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
