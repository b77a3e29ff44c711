"""`kubectl exec`: a command started beside a running container's process.

As `runc exec` does, the command joins the container's cgroups, namespaces
(mount, UTS, and the user namespace of a container made without root) and
root, starts in its working directory with its environment, and with `-t`
gets a terminal of its own (stderr then goes to the terminal too) and, as
containerd gives it, `TERM=xterm` (unless the container's environment names
a TERM: podman's rule; containerd's replaces it). Its binds and connects are
the pod's, as its containers' are (`podbind`): it reaches the pod's servers
on `localhost`. `run` runs a command to its end the same way, with its
output (what exec probes and lifecycle hooks need). The API
server relays its streams (`kubelite.apiserver.exec_stream`); `ExecRouter`
finds the node agent by the pod's `spec.nodeName`. It also opens `kubectl
attach` sessions on a container's own streams (`attach`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import termios
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from kubelite.apiserver.errors import BadRequest, InternalError
from kubelite.kubelet import podbind, sandbox
from kubelite.kubelet.attach import AttachSession, NotRunning
from kubelite.kubelet.cgroups import process_cgroups
from kubelite.kubelet.containerio import set_window_size
from kubelite.kubelet.process import error_text

if TYPE_CHECKING:
    from kubelite.kubelet.agent import NodeAgent
    from kubelite.kubelet.runtime import ContainerProcess

Obj = dict[str, Any]
STDOUT, STDERR = 1, 2
TERM = "xterm"  # what containerd sets for an exec with a terminal
_READ = 32768


class ExecRouter:
    """The API server's ExecSource: the agent named by the pod's spec.nodeName runs it."""

    def __init__(self, agents: Iterable[NodeAgent]) -> None:
        self.by_node = {a.name: a for a in agents}

    def _target(self, pod: Obj, container: str) -> tuple[NodeAgent, ContainerProcess, str, str]:
        agent = self.by_node.get((pod.get("spec") or {}).get("nodeName", ""))
        runner = agent.runners.get(pod["metadata"].get("uid", "")) if agent else None
        target = runner.exec_target(container) if runner else None
        if agent is None or target is None:
            raise BadRequest(f'container not found ("{container}")')
        return (agent, *target)

    def check(self, pod: Obj, container: str) -> None:
        self._target(pod, container)

    async def start(
        self,
        pod: Obj,
        container: str,
        command: list[str],
        *,
        stdin: bool,
        tty: bool,
        size: tuple[int, int] | None = None,
    ) -> Session:
        agent, proc, root, cwd = self._target(pod, container)
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        pod_ip = "" if spec.get("hostNetwork") else str(status.get("podIP") or "")
        return await Session.start(
            agent, proc, root, cwd, command, stdin=stdin, tty=tty, size=size, pod_ip=pod_ip
        )

    def _attach_target(self, pod: Obj, container: str) -> ContainerProcess:
        try:
            return self._target(pod, container)[1]
        except BadRequest:
            md = pod["metadata"]
            # upstream's kubelet names the pod as `name_namespace`
            pod_name = f"{md['name']}_{md.get('namespace', 'default')}"
            raise BadRequest(f"container {container} not found in pod {pod_name}") from None

    def check_attach(self, pod: Obj, container: str) -> None:
        self._attach_target(pod, container)

    async def attach(
        self, pod: Obj, container: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachSession:
        proc = self._attach_target(pod, container)
        try:
            return await proc.open_streams(stdin=stdin, stdout=stdout, stderr=stderr)
        except NotRunning as exc:
            raise InternalError(f"error attaching to container: {exc}") from None


class Session:
    """One started command: its pipes (or terminal) and its exit."""

    def __init__(
        self,
        child: asyncio.subprocess.Process,
        master: int | None,
        binds: podbind.Listener | None = None,
    ) -> None:
        self.child = child
        self.master = master  # the terminal's controlling side, with -t
        self.binds = binds  # its binds and connects, served as the container's are

    @classmethod
    async def start(
        cls,
        agent: NodeAgent,
        proc: ContainerProcess,
        root: str,
        cwd: str,
        command: list[str],
        *,
        stdin: bool,
        tty: bool,
        size: tuple[int, int] | None = None,
        pod_ip: str = "",
    ) -> Session:
        isolated = agent.isolate and bool(root)
        # As the container's own process, the command binds and connects from the
        # pod's IP (and reaches ports below 1024 through their stand-ins): its
        # filter's listener comes back over `ours` before it execs.
        ours = theirs = None
        if pod_ip and podbind.available():
            podbind.warm()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        groups = container_cgroups(proc.pid)
        joiner = sandbox.joiner(proc.pid, root, cwd, groups)
        user = container_user(proc.pid)
        master = slave = None
        if tty:
            master, slave = os.openpty()
            os.set_blocking(master, False)
            if size is not None:  # the command's terminal has its size before it runs
                set_window_size(master, *size)
            streams: dict[str, Any] = {"stdin": slave, "stdout": slave, "stderr": slave}
        else:
            pipe = asyncio.subprocess.PIPE
            streams = {
                "stdin": pipe if stdin else asyncio.subprocess.DEVNULL,
                "stdout": pipe,
                "stderr": pipe,
            }

        def setup() -> None:
            joiner() if isolated else _join_cgroups(groups)
            if slave is not None:
                # The terminal becomes the command's own. By the slave's own number:
                # uvloop runs this hook before it moves the streams to 0, 1 and 2.
                if os.getsid(0) != os.getpid():
                    os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            if theirs is not None:
                listener = podbind.install()  # nothing after it binds or connects
                if listener >= 0:
                    socket.send_fds(theirs, [b"listener"], [listener])
                    os.close(listener)
            if user is not None:  # last: the steps above need root
                os.setgroups(user.groups)
                os.setgid(user.gid)
                os.setuid(user.uid)

        try:
            child = await asyncio.create_subprocess_exec(
                *command,
                **streams,
                preexec_fn=setup,
                start_new_session=True,
                env=command_env(proc.pid, tty=tty),
                cwd=None if isolated or not os.path.isdir(cwd) else cwd,
            )
        except OSError as exc:
            _close(master, slave)
            _close_pair(ours, theirs)
            raise _exec_failed(runc_exec_failed(error_text(exc, command[0]))) from None
        except subprocess.SubprocessError as exc:
            _close(master, slave)
            _close_pair(ours, theirs)
            raise _exec_failed(str(exc)) from None
        _close(slave)
        binds = _served_binds(ours, pod_ip)
        _close_pair(ours, theirs)
        return cls(child, master, binds)

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self.master is not None:
            async for data in _read_fd(self.master):
                yield STDOUT, data
            return
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

        async def pump(channel: int, stream: asyncio.StreamReader | None) -> None:
            try:
                while stream is not None and (data := await stream.read(_READ)):
                    await queue.put((channel, data))
            finally:
                await queue.put(None)

        tasks = [
            asyncio.create_task(pump(STDOUT, self.child.stdout)),
            asyncio.create_task(pump(STDERR, self.child.stderr)),
        ]
        try:
            ended = 0
            while ended < len(tasks):
                item = await queue.get()
                if item is None:
                    ended += 1
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()

    async def write(self, data: bytes) -> None:
        if self.master is not None:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.master, view) :]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                except OSError:
                    return
        elif self.child.stdin is not None and not self.child.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                self.child.stdin.write(data)
                await self.child.stdin.drain()

    def close_stdin(self) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")  # end of file, as a terminal says it
        elif self.child.stdin is not None:
            self.child.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.master is not None and width > 0 and height > 0:
            set_window_size(self.master, width, height)

    async def wait(self) -> int:
        code = await self.child.wait()
        if self.master is not None:
            _close(self.master)
            self.master = None
        if self.binds is not None:
            self.binds.close()
            self.binds = None
        return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it

    def kill(self) -> None:
        if self.child.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, signal.SIGKILL)


def container_user(pid: int) -> sandbox.User | None:
    """The user a command run beside the process `pid` runs as: the process's own,
    as runc's exec takes the container's user. None when nothing is to change (the
    process runs as root, or kubelite is not root: then the container's user
    namespace, which the command joins, already maps it)."""
    if os.geteuid() != 0:
        return None
    ids: dict[str, list[int]] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Uid", "Gid", "Groups"):
                    ids[key] = [int(v) for v in rest.split()]
    except (OSError, ValueError):
        return None
    uid, gid = ids.get("Uid", [0])[0], ids.get("Gid", [0])[0]
    if uid == 0 and gid == 0:
        return None
    return sandbox.User(uid, gid, tuple(ids.get("Groups", [])))


def command_env(pid: int, *, tty: bool) -> dict[str, str]:
    """The environment of a command run beside the process `pid`: the process's own,
    with `TERM=xterm` for a terminal where it names no TERM."""
    from kubelite.kubelet.agent import proc_env

    env = proc_env(pid)
    if tty:
        env.setdefault("TERM", TERM)
    return env


async def run(
    agent: NodeAgent,
    proc: ContainerProcess,
    where: tuple[str, str],
    command: list[str],
    *,
    timeout: float | None,
    pod_ip: str = "",
) -> tuple[int | None, bytes]:
    """Run `command` to its end beside the container's process, as `kubectl exec`
    runs it (in its root `where[0]` and working dir `where[1]`, its binds and
    connects the pod's at `pod_ip`): its exit code (126 when it could not start,
    None when `timeout` ran out and it was killed) and its output, stdout then
    stderr, as the kubelet joins an exec probe's."""
    root, cwd = where
    try:
        session = await Session.start(
            agent, proc, root, cwd, command, stdin=False, tty=False, pod_ip=pod_ip
        )
    except InternalError as exc:
        return 126, exc.message.encode()
    out: dict[int, list[bytes]] = {STDOUT: [], STDERR: []}

    async def finish() -> int:
        async for channel, data in session.output():
            out[channel].append(data)
        return await session.wait()

    try:
        code = await asyncio.wait_for(finish(), timeout)
    except TimeoutError:
        session.kill()
        await session.wait()
        return None, b""
    return code, b"".join(out[STDOUT] + out[STDERR])


def _served_binds(ours: socket.socket | None, pod_ip: str) -> podbind.Listener | None:
    """The command's bind filter, served on this loop, when its child sent one (the
    child has exec'd by now, so whatever it sent is there)."""
    if ours is None:
        return None
    ours.setblocking(False)
    try:
        _, fds, _, _ = socket.recv_fds(ours, 16, 1, socket.MSG_CMSG_CLOEXEC)
    except OSError:
        return None
    if not fds:
        return None
    binds = podbind.Listener(fds[0], pod_ip)
    binds.watch(asyncio.get_running_loop())
    return binds


def _close_pair(*socks: socket.socket | None) -> None:
    for sock in socks:
        if sock is not None:
            sock.close()


def runc_exec_failed(detail: str) -> str:
    """How containerd reports a process runc could not exec in a container."""
    exec_id = os.urandom(32).hex()
    return (
        f'failed to start exec "{exec_id}": OCI runtime exec failed: exec failed: '
        f"unable to start container process: {detail}: unknown"
    )


def _exec_failed(detail: str) -> InternalError:
    return InternalError(
        "Internal error occurred: error executing command in container: "
        f"failed to exec in container: {detail}"
    )


def container_cgroups(pid: int) -> tuple[str, ...]:
    """The `cgroup.procs` files of the cgroups kubelite put the container's process in."""
    dirs = dict.fromkeys(process_cgroups(pid).values())  # a v1 hierarchy may hold several
    return tuple(f"{d}/cgroup.procs" for d in dirs if os.path.exists(f"{d}/cgroup.procs"))


def _join_cgroups(files: tuple[str, ...]) -> None:
    for procs in files:
        with contextlib.suppress(OSError), open(procs, "w") as f:
            f.write("0")


async def _read_fd(fd: int) -> AsyncIterator[bytes]:
    """A terminal's output until it closes (EIO once the last writer is gone)."""
    loop = asyncio.get_running_loop()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            continue
        except OSError:
            return
        if not data:
            return
        yield data


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
