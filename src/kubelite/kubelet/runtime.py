"""The agent's side of the container shim (see `shim.py`): start, watch and re-attach containers.

`ShimRuntime` connects to the node's shim, starting one when none answers,
and hands out `RemoteProcess`es with the interface of `process.Process`
(pid, signal_group, wait, exited). Exits arrive as events on the shim
connection. After a kubelite crash, `connect` returns what the shim still
holds, running or ended, so the agent can re-attach or restart per policy.
If the shim connection breaks, every attached container is reported lost
(exit 137) and a new shim is started for the next container. An attach
session on a container's streams (`attach`) is a connection of its own.

`LocalRuntime` spawns in-process (the shim's own code path) for machines or
tests where a separate shim is not wanted; its containers die with kubelite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

from kubelite.kubelet import containerio, process, shim
from kubelite.kubelet.attach import AttachSession, NotRunning, open_session
from kubelite.kubelet.process import Exit, Spec, StartError

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CONNECT_TIMEOUT_S = 10.0
# Upstream's status for a container the runtime can no longer find.
LOST = Exit(
    137,
    signal.SIGKILL,
    reason="ContainerStatusUnknown",
    message="The container could not be located when the pod was deleted.  "
    "The container used to be Running",
)


class ContainerProcess(Protocol):
    pid: int
    start_time: int | None  # clock ticks after boot (/proc/PID/stat), with the pid its identity

    def signal_group(self, sig: int) -> None: ...

    async def wait(self) -> Exit: ...

    @property
    def exited(self) -> bool: ...

    def release(self) -> None: ...

    async def open_streams(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachSession:
        """An attach session on its streams; NotRunning once it has ended."""
        ...


class Runtime(Protocol):
    async def start(
        self, cid: str, spec: Spec, sent: Callable[[], None] | None = None
    ) -> ContainerProcess:
        """Start the container; `sent` is called once the request has left the agent's hands."""
        ...

    async def run(self) -> None: ...


class RemoteProcess:
    """A container the shim parents; its exit comes over the shim connection."""

    def __init__(
        self, runtime: ShimRuntime, cid: str, pid: int, start_time: int | None = None
    ) -> None:
        self.runtime = runtime
        self.id = cid
        self.pid = pid
        self.start_time = start_time
        self._exit: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()

    def signal_group(self, sig: int) -> None:
        if self.exited:
            return  # the pid may be someone else's by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait(self) -> Exit:
        return await asyncio.shield(self._exit)

    @property
    def exited(self) -> bool:
        return self._exit.done()

    def ended(self, exit_: Exit) -> None:
        if not self._exit.done():
            self._exit.set_result(exit_)

    def release(self) -> None:
        """The agent has recorded the exit: the shim may drop it."""
        self.runtime.forget(self.id)

    async def open_streams(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachSession:
        if self.exited:
            raise NotRunning("container is not running")
        return await self.runtime.open_streams(self.id, stdin=stdin, stdout=stdout, stderr=stderr)


class EndedProcess:
    """A container that ended while nobody watched: only its exit remains."""

    def __init__(self, pid: int, exit_: Exit) -> None:
        self.pid = pid
        self.start_time: int | None = None
        self._exit = exit_

    def signal_group(self, sig: int) -> None:
        pass

    async def wait(self) -> Exit:
        return self._exit

    @property
    def exited(self) -> bool:
        return True

    def release(self) -> None:
        pass

    async def open_streams(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachSession:
        raise NotRunning("container is not running")


class LocalProcess:
    def __init__(self, proc: process.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.start_time = proc.start_time
        self._sessions: set[asyncio.Task[None]] = set()

    def signal_group(self, sig: int) -> None:
        self.proc.signal_group(sig)

    async def wait(self) -> Exit:
        return await self.proc.wait()

    @property
    def exited(self) -> bool:
        return self.proc.exited

    def release(self) -> None:
        pass

    async def open_streams(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachSession:
        """The shim's session code, in-process: over a socket pair instead of the shim's socket."""
        if self.proc.exited:
            raise NotRunning("container is not running")
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=theirs)
        session = asyncio.create_task(
            containerio.serve(
                self.proc.attach_io(), reader, writer, stdin=stdin, stdout=stdout, stderr=stderr
            )
        )
        self._sessions.add(session)  # it ends with the connection or the container
        session.add_done_callback(self._sessions.discard)
        return AttachSession(*await asyncio.open_unix_connection(sock=ours))


class LocalRuntime:
    async def start(
        self, cid: str, spec: Spec, sent: Callable[[], None] | None = None
    ) -> ContainerProcess:
        started = process.start(spec)
        if sent is not None:
            sent()
        return LocalProcess(await started)

    async def run(self) -> None:
        await asyncio.Event().wait()


class ShimRuntime:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.procs: dict[str, RemoteProcess] = {}
        # An exit can arrive before its start reply has been handled: held until it is.
        self._starting: set[str] = set()
        self._early: dict[str, Exit] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._replies: dict[int, asyncio.Future[Obj]] = {}
        self._seq = 0
        self._connected = asyncio.Event()
        self._connect_lock = asyncio.Lock()
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "shim.sock"

    # ---- connection ------------------------------------------------------------------

    async def connect(self) -> dict[str, Obj]:
        """Reach the node's shim (starting one if needed); what it holds, by container id.

        One connection at a time: after a shim dies, the agent's reconnect and every
        pod worker's next call all ask at once, and each starting a shim left two
        running. A shim that fails while answering is an OSError, as one not there is."""
        async with self._connect_lock:
            if self._connected.is_set():
                return {}  # another caller connected meanwhile (its listing was the news)
            self.dir.mkdir(parents=True, exist_ok=True)
            if not await self._open():
                self._spawn()
                deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S
                while not await self._open():
                    if asyncio.get_running_loop().time() > deadline:
                        raise OSError(f"container shim did not start; see {self.dir / 'shim.log'}")
                    await asyncio.sleep(0.02)
            try:
                listing = await self._call_inline({"op": "list"})
            except (EOFError, ValueError) as exc:
                raise OSError(f"container shim connection failed: {exc}") from exc
            self._connected.set()
            return dict(listing.get("containers") or {})

    async def _open(self) -> bool:
        try:
            reader, writer = await asyncio.open_unix_connection(_short(self.socket))
        except OSError:
            return False
        self._reader, self._writer = reader, writer
        try:
            await self._call_inline({"op": "hello"})
        except (OSError, ValueError, EOFError):
            writer.close()
            return False  # a shim on its way out
        return True

    def _spawn(self) -> None:
        with (self.dir / "shim.log").open("ab") as out:
            self._child = subprocess.Popen(
                [sys.executable, "-I", shim.__file__, str(self.socket)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                close_fds=True,
                cwd=self.dir,
            )

    async def _call_inline(self, request: Obj) -> Obj:
        """Request and reply before the pump runs (connect time only)."""
        assert self._reader is not None and self._writer is not None
        self._seq += 1
        self._writer.write(json.dumps({**request, "seq": self._seq}).encode() + b"\n")
        await self._writer.drain()
        while True:
            line = await self._reader.readline()
            if not line:
                raise EOFError("shim closed the connection")
            message = json.loads(line)
            if message.get("seq") == self._seq:
                return message

    async def run(self) -> None:
        """Deliver replies and exit events for as long as the agent runs."""
        try:
            while True:
                await self._connected.wait()
                await self._pump()
                self._connection_lost()
                try:
                    await self.connect()
                except OSError as exc:  # the next container start asks again
                    log.warning("container shim: reconnecting failed: %s", exc)
        finally:
            await self._goodbye()

    async def _goodbye(self) -> None:
        """A clean stop: the shim may drop every ended container and, with none left, exit."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        try:
            writer.write(json.dumps({"op": "bye", "seq": 0}).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), 2)
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _pump(self) -> None:
        assert self._reader is not None
        try:
            while line := await self._reader.readline():
                self._dispatch(orjson.loads(line))
        except (OSError, ValueError) as exc:
            log.warning("container shim connection failed: %s", exc)

    def _dispatch(self, message: Obj) -> None:
        if message.get("ev") == "exit":
            cid = message["id"]
            exit_ = Exit(message["code"], message.get("signal", 0))
            proc = self.procs.pop(cid, None)
            if proc is not None:
                proc.ended(exit_)
            elif cid in self._starting:
                self._early[cid] = exit_
            else:
                self.forget(cid)
            return
        future = self._replies.pop(message.get("seq", -1), None)
        if future is not None and not future.done():
            future.set_result(message)

    def _connection_lost(self) -> None:
        """The shim is gone and with it the containers' output pipes: they are lost."""
        log.warning("container shim exited; %d containers lost", len(self.procs))
        self._connected.clear()
        for future in self._replies.values():
            if not future.done():
                future.set_exception(OSError("container shim exited"))
        self._replies.clear()
        for proc in self.procs.values():
            proc.signal_group(signal.SIGKILL)
            proc.ended(LOST)
        self.procs.clear()

    async def _call(self, request: Obj, sent: Callable[[], None] | None = None) -> Obj:
        if not self._connected.is_set():
            await self.connect()
        assert self._writer is not None
        self._seq += 1
        future: asyncio.Future[Obj] = asyncio.get_running_loop().create_future()
        self._replies[self._seq] = future
        # orjson: a start request carries the whole spec (~6 KB), and in a burst
        # stdlib json's encoding of it was a measurable part of each pod's start.
        self._writer.write(orjson.dumps({**request, "seq": self._seq}) + b"\n")
        if sent is not None:
            sent()
        return await future

    # ---- containers ------------------------------------------------------------------

    async def start(
        self, cid: str, spec: Spec, sent: Callable[[], None] | None = None
    ) -> ContainerProcess:
        self._starting.add(cid)
        try:
            reply = await self._call(
                {"op": "start", "id": cid, "spec": process.spec_to_wire(spec)}, sent
            )
        except OSError as exc:
            raise StartError(process.start_message(str(exc))) from None
        finally:
            self._starting.discard(cid)
        if "error" in reply:
            raise StartError(reply["error"])
        proc = RemoteProcess(self, cid, int(reply["pid"]), reply.get("startTime"))
        early = self._early.pop(cid, None)
        if early is not None:
            proc.ended(early)
        else:
            self.procs[cid] = proc
        return proc

    def attach(self, cid: str, entry: Obj) -> RemoteProcess:
        """A container the shim held across a kubelite restart, running or ended."""
        proc = RemoteProcess(self, cid, int(entry["pid"]), entry.get("startTime"))
        if entry.get("exit") is not None:
            proc.ended(Exit(entry["exit"]["code"], entry["exit"].get("signal", 0)))
        else:
            self.procs[cid] = proc
        return proc

    async def open_streams(
        self, cid: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachSession:
        """A session on a container's streams, over a connection of its own to the shim."""
        try:
            reader, writer = await asyncio.open_unix_connection(_short(self.socket))
        except OSError as exc:
            raise NotRunning(f"container shim not reachable: {exc}") from None
        request = {"op": "attach", "id": cid, "stdin": stdin, "stdout": stdout, "stderr": stderr}
        return await open_session(reader, writer, request)

    def forget(self, cid: str) -> None:
        if self._writer is None or self._writer.is_closing() or not self._connected.is_set():
            return
        self._seq += 1
        self._writer.write(
            json.dumps({"op": "forget", "id": cid, "seq": self._seq}).encode() + b"\n"
        )


_DIR_FDS: dict[Path, int] = {}


def _short(path: Path) -> str:
    """Unix socket paths are limited to 108 bytes: go through the directory's /proc link."""
    text = str(path)
    if len(text) < 100:
        return text
    fd = _DIR_FDS.get(path.parent)
    if fd is None:  # kept open for the process's lifetime, one per node directory
        fd = _DIR_FDS[path.parent] = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}"
