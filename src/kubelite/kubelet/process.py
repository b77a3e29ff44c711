"""One container instance as a local process group, its exit and its output.

A container is spawned in a new session (so a signal reaches every process
it started), with stdout and stderr on pipes copied into the CRI log (and to
attached clients, `containerio`; with `tty` a terminal's output is the
stdout stream), stdin from /dev/null unless it asked for stdin, and an
exit watched through a pidfd on the event loop: no thread per container,
and none per start either (`forkexec`). This runs in the node's shim
process (`shim.py`), which outlives kubelite. When the main process exits,
the rest of its group is killed, as a container runtime tears down a
container's PID namespace. A container with a pod IP has its wildcard
binds put on that IP (`podbind`); one with a `user` runs as that user
(`sandbox.become`, in the child before it looks its executable up).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.kubelet import containerio, criolog, forkexec, podbind, sandbox
from kubelite.kubelet.criolog import LogWriter

log = logging.getLogger(__name__)


class StartError(Exception):
    """The process could not be started: waiting reason RunContainerError / StartError."""


@dataclass
class Spec:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: Path
    plan: sandbox.Plan | None = None
    # cgroups (see cgroups.Placement): set-up steps and the files to join through
    cgroup_ops: list[tuple[str, str, str]] = field(default_factory=list)
    cgroup_procs: list[str] = field(default_factory=list)
    # the container's `stdin`, `stdinOnce` and `tty`
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    # where its wildcard binds go (`podbind`); empty: the host's network as it is
    pod_ip: str = ""
    # whom it runs as (`securityContext.runAsUser` and the rest); None: the
    # runtime's own user (root, or root of the container's user namespace)
    user: sandbox.User | None = None


def spec_to_wire(spec: Spec) -> dict[str, object]:
    """A Spec as JSON for the shim (`shim.py`), which spawns the container."""
    wire: dict[str, object] = {
        "argv": spec.argv,
        "env": spec.env,
        "cwd": spec.cwd,
        "log_path": str(spec.log_path),
        "plan": _plan_to_wire(spec.plan) if spec.plan is not None else None,
        "cgroup_ops": spec.cgroup_ops,
        "cgroup_procs": spec.cgroup_procs,
    }
    if spec.stdin or spec.tty:  # only then: most containers' requests stay as they were
        wire["io"] = [spec.stdin, spec.stdin_once, spec.tty]
    if spec.pod_ip:
        wire["pod_ip"] = spec.pod_ip
    if spec.user is not None:
        wire["user"] = [spec.user.uid, spec.user.gid, list(spec.user.groups)]
    return wire


def _plan_to_wire(plan: sandbox.Plan) -> dict[str, object]:
    # By hand: dataclasses.asdict deep-copies field by field, a measurable part
    # of starting a container when a burst of pods starts at once.
    return {
        "root": plan.root,
        "scratch": plan.scratch,
        "ops": [
            {
                "kind": op.kind,
                "target": op.target,
                "source": op.source,
                "lowers": list(op.lowers),
                "upper": op.upper,
                "work": op.work,
                "read_only": op.read_only,
            }
            for op in plan.ops
        ],
        "hostname": plan.hostname,
        "workdir": plan.workdir,
    }


def spec_from_wire(wire: dict[str, Any]) -> Spec:
    """The Spec a decoded request carries; it takes over the request's lists and dicts."""
    plan = None
    raw = wire.get("plan")
    if raw is not None:
        plan = sandbox.Plan(**{**raw, "ops": [_op_from_wire(op) for op in raw["ops"]]})
    spec = Spec(
        argv=wire["argv"],
        env=wire["env"],
        cwd=wire["cwd"],
        log_path=Path(wire["log_path"]),
        plan=plan,
        cgroup_ops=[(k, p, v) for k, p, v in wire.get("cgroup_ops") or []],
        cgroup_procs=wire.get("cgroup_procs") or [],
        pod_ip=wire.get("pod_ip") or "",
    )
    io = wire.get("io")
    if io:
        spec.stdin, spec.stdin_once, spec.tty = (bool(x) for x in io)
    user = wire.get("user")
    if user:
        spec.user = sandbox.User(int(user[0]), int(user[1]), tuple(int(g) for g in user[2]))
    return spec


_OP_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(sandbox.Op)
    if f.default is not dataclasses.MISSING
}


def _op_from_wire(raw: dict[str, Any]) -> sandbox.Op:
    # A plan has dozens of ops: filled in directly, as the frozen dataclass's
    # own __init__ sets each field through object.__setattr__, five times slower.
    op: sandbox.Op = object.__new__(sandbox.Op)
    fields = op.__dict__
    fields.update(_OP_DEFAULTS)
    fields.update(raw)
    fields["lowers"] = tuple(raw.get("lowers", ()))
    return op


@dataclass
class Exit:
    code: int
    signal: int = 0
    reason: str = ""  # set when the agent knows better than the exit code (a lost container)
    message: str = ""


def error_text(exc: OSError, argv0: str) -> str:
    """runc's words for a command it could not exec (Go's exec.LookPath and execve)."""
    if isinstance(exc, FileNotFoundError):
        if "/" in argv0:
            return f'exec: "{argv0}": stat {argv0}: no such file or directory'
        return f'exec: "{argv0}": executable file not found in $PATH'
    if isinstance(exc, PermissionError):
        return f'exec: "{argv0}": permission denied'
    text = exc.strerror or str(exc)
    return f'exec: "{argv0}": {text[:1].lower()}{text[1:]}'  # Go's errno texts are lower case


def start_message(detail: str) -> str:
    """Upstream's wording for a container that could not start."""
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        f"runc create failed: unable to start container process: {detail}: unknown"
    )


class Process:
    def __init__(
        self,
        child: forkexec.Child,
        writer: LogWriter,
        io: containerio.ContainerIO | None = None,
        pod_ip: str = "",
    ) -> None:
        self.pid = child.pid
        self.start_time = child.start_time
        self._binds = podbind.Listener(child.listener, pod_ip) if child.listener >= 0 else None
        self.returncode: int | None = None
        # With a terminal, one stream: what the terminal shows is logged as stdout.
        self._fds = (child.stdout, child.stderr) if child.stderr >= 0 else (child.stdout,)
        self.writer = writer
        self.io = io  # its streams for attach sessions; made at the first one if need be
        self._exit: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        self._streams_open = len(self._fds)
        self._status: int | None = None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait(self) -> Exit:
        return await asyncio.shield(self._exit)

    @property
    def exited(self) -> bool:
        return self._exit.done()

    def attach_io(self) -> containerio.ContainerIO:
        """Its streams for an attach session (output only, for a container without stdin)."""
        if self.io is None:
            self.io = containerio.ContainerIO()
            self.io.over = self._streams_open == 0
        return self.io

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        if self._binds is not None:
            self._binds.watch(loop)
        for fd, stream in zip(self._fds, ("stdout", "stderr"), strict=False):
            loop.add_reader(fd, self._pump, fd, stream)
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:
            pidfd = -1
        if pidfd >= 0:
            loop.add_reader(pidfd, self._reap, pidfd)
        else:  # very old kernels: poll
            loop.call_later(0.05, self._poll)

    def _pump(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.writer.feed(stream, data)
            if self.io is not None:
                self.io.publish(stream, data)
            return
        asyncio.get_running_loop().remove_reader(fd)
        self.writer.flush(stream)
        self._streams_open -= 1
        self._maybe_done()

    def _reap(self, pidfd: int) -> None:
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        self._poll()

    def _poll(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            asyncio.get_running_loop().call_later(0.05, self._poll)
            return
        self._status = status
        self.returncode = os.waitstatus_to_exitcode(status)
        # The rest of the container goes with its main process.
        self.signal_group(signal.SIGKILL)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._status is None or self._streams_open > 0 or self._exit.done():
            return
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._binds is not None:
            self._binds.close()
        self.writer.close()
        if self.io is not None:
            self.io.ended()
        status = self._status
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            self._exit.set_result(Exit(128 + sig, sig))
        else:
            self._exit.set_result(Exit(os.WEXITSTATUS(status)))


async def start(spec: Spec) -> Process:
    """Fork the container's process and wait, on the loop, until it is ready to exec.

    The cgroups are made here, one start after another (see `cgroups`); the
    child inherits their open join files and joins after `ready`. It sets up
    its mount namespace and finds the executable while the caller's loop
    serves its other work (`forkexec`).
    """
    log_path = spec.log_path
    joins = _cgroups(
        [(kind, path, value.encode()) for kind, path, value in spec.cgroup_ops],
        spec.cgroup_procs,
    )
    listen = None
    if spec.pod_ip and podbind.available():
        listen = podbind.install
    try:
        setup, join, become = _hooks(spec, joins)
        child = await forkexec.spawn(
            spec.argv,
            spec.env,
            None if spec.plan else spec.cwd,
            setup,
            join,
            first=functools.partial(_make_log, log_path),
            stdin=_stdin_kind(spec),
            listen=listen,
            become=become,
        )
    except forkexec.ChildFailed as exc:
        _make_log(log_path)  # a container that failed to start has an empty log
        raise StartError(start_message(_failure_text(exc, spec))) from None
    except OSError as exc:  # no pipe or fork for it: the node is out of resources
        _make_log(log_path)
        raise StartError(start_message(error_text(exc, spec.argv[0]))) from None
    finally:
        for fd in joins:
            os.close(fd)
    try:
        writer = LogWriter(log_path)
    except OSError as exc:
        forkexec.abandon(child)
        raise StartError(start_message(f"open {log_path}: {exc.strerror or exc}")) from None
    io = None
    if child.stdin >= 0:
        io = containerio.ContainerIO(
            child.stdin, has_stdin=spec.stdin, tty=spec.tty, once=spec.stdin_once
        )
    proc = Process(child, writer, io, spec.pod_ip)
    proc._watch()
    return proc


def _stdin_kind(spec: Spec) -> int:
    if spec.tty:
        return forkexec.STDIN_TTY
    return forkexec.STDIN_PIPE if spec.stdin else forkexec.NO_STDIN


def _make_log(path: Path) -> None:
    """Create the log file (and its directory) if need be.

    The child does it first thing, so that in a burst of starts these file
    system updates run beside the caller's loop rather than on it; the caller
    then only opens the file.
    """
    with contextlib.suppress(OSError):
        os.close(criolog.open_log(path))


def _failure_text(exc: forkexec.ChildFailed, spec: Spec) -> str:
    if exc.step == forkexec.SETUP:
        return exc.detail.decode(errors="replace") or "container setup failed"
    err = OSError(exc.errno, os.strerror(exc.errno))
    if exc.step == forkexec.CHDIR:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return (
                f'chdir to cwd ("{spec.cwd}") set in config.json failed: no such file or directory'
            )
        return f'chdir to cwd ("{spec.cwd}") set in config.json failed: {err.strerror}'
    return error_text(err, spec.argv[0])


_Hook = Callable[[], None] | None


def _hooks(spec: Spec, fds: list[int]) -> tuple[_Hook, _Hook, _Hook]:
    """What the child does before it reports ready (its filesystem view), after
    (joining its cgroups through `fds`, the open join files, right before exec),
    and to run as the container's user (as root: `sandbox.become`; without root
    its user namespace maps that user in `setup`)."""
    procs = spec.cgroup_procs
    plan = spec.plan
    as_root = os.geteuid() == 0
    user = spec.user

    def setup() -> None:
        if plan is not None:
            try:
                sandbox.enter(plan, as_root=as_root, user=None if as_root else user)
            except sandbox.SandboxError as exc:
                raise forkexec.SetupFailed(exc.strerror) from None

    def become() -> None:
        assert user is not None
        try:
            sandbox.become(user)
        except sandbox.SandboxError as exc:
            raise forkexec.SetupFailed(exc.strerror) from None

    def join() -> None:
        # A failure here does not fail the start (past `ready`, where most
        # containers join, it no longer can): the container runs, and its log
        # says which limit is missing.
        for fd, path in zip(fds, procs, strict=False):
            try:
                os.write(fd, b"0")
            except OSError as exc:
                os.write(2, f"kubelite: not placed in cgroup {path}: {exc.strerror}\n".encode())
            os.close(fd)

    return (
        setup if plan is not None else None,
        join if fds else None,
        become if user is not None and as_root else None,
    )


def _cgroups(ops: list[tuple[str, str, bytes]], procs: list[str]) -> list[int]:
    """Create the cgroups and open their join files; none if they cannot be made.

    A machine that shows the hierarchies writable but refuses to create in
    them runs its containers without limits (the agent logs it), rather than
    not at all.
    """
    try:
        for kind, path, value in ops:
            if kind == "mkdir":
                os.makedirs(path, exist_ok=True)
            elif kind == "write":
                _write(path, value)
            else:
                _write_quietly(path, value)
        return [os.open(path, os.O_WRONLY) for path in procs]
    except OSError:
        return []


def _write(path: str, value: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)


def _write_quietly(path: str, value: bytes) -> None:
    with contextlib.suppress(OSError):
        _write(path, value)
