"""One container instance as a local process group, its exit and its output.

A container is spawned in a new session (so a signal reaches every process
it started), with stdout and stderr on pipes copied into the CRI log, and an
exit watched through a pidfd on the event loop: no thread per container.
This runs in the node's shim process (`shim.py`), which outlives kubelite. When the main process exits, the rest of its group is killed, as
a container runtime tears down a container's PID namespace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.kubelet import sandbox
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
    cgroup_procs: list[Path] = field(default_factory=list)


def spec_to_wire(spec: Spec) -> dict[str, object]:
    """A Spec as JSON for the shim (`shim.py`), which spawns the container."""
    return {
        "argv": spec.argv,
        "env": spec.env,
        "cwd": spec.cwd,
        "log_path": str(spec.log_path),
        "plan": _plan_to_wire(spec.plan) if spec.plan is not None else None,
        "cgroup_procs": [str(p) for p in spec.cgroup_procs],
    }


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
    plan = None
    if wire.get("plan") is not None:
        raw = dict(wire["plan"])
        ops = [sandbox.Op(**{**op, "lowers": tuple(op["lowers"])}) for op in raw.pop("ops")]
        plan = sandbox.Plan(**raw, ops=ops)
    return Spec(
        argv=list(wire["argv"]),
        env=dict(wire["env"]),
        cwd=wire["cwd"],
        log_path=Path(wire["log_path"]),
        plan=plan,
        cgroup_procs=[Path(p) for p in wire.get("cgroup_procs") or []],
    )


@dataclass
class Exit:
    code: int
    signal: int = 0
    reason: str = ""  # set when the agent knows better than the exit code (a lost container)
    message: str = ""


def _error_text(exc: OSError, argv0: str, env: dict[str, str]) -> str:
    if isinstance(exc, FileNotFoundError):
        if "/" in argv0:
            return f'exec: "{argv0}": stat {argv0}: no such file or directory'
        return f'exec: "{argv0}": executable file not found in $PATH'
    if isinstance(exc, PermissionError):
        return f'exec: "{argv0}": permission denied'
    return f'exec: "{argv0}": {exc.strerror or exc}'


def start_message(detail: str) -> str:
    """Upstream's wording for a container that could not start."""
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        f"runc create failed: unable to start container process: {detail}: unknown"
    )


class Process:
    def __init__(self, popen: subprocess.Popen[bytes], writer: LogWriter) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.writer = writer
        self._exit: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        self._streams_open = 2
        self._status: int | None = None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait(self) -> Exit:
        return await asyncio.shield(self._exit)

    @property
    def exited(self) -> bool:
        return self._exit.done()

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        for fd, stream in ((self.popen.stdout, "stdout"), (self.popen.stderr, "stderr")):
            assert fd is not None
            os.set_blocking(fd.fileno(), False)
            loop.add_reader(fd.fileno(), self._pump, fd.fileno(), stream)
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
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        # The rest of the container goes with its main process.
        self.signal_group(signal.SIGKILL)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._status is None or self._streams_open > 0 or self._exit.done():
            return
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.writer.close()
        status = self._status
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            self._exit.set_result(Exit(128 + sig, sig))
        else:
            self._exit.set_result(Exit(os.WEXITSTATUS(status)))


def spawn(spec: Spec) -> Process:
    """Start the container process; StartError carries upstream's message."""
    writer = LogWriter(spec.log_path)
    proc = Process(_popen(spec, writer), writer)
    proc._watch()
    return proc


async def start(spec: Spec) -> Process:
    """`spawn` without blocking the event loop while the child sets up its sandbox.

    Popen returns only once the child has exec'd, and the mount namespace is
    built in the child before that: done on a thread, many containers start
    in parallel and the agent keeps serving its other pods meanwhile.
    """
    writer = LogWriter(spec.log_path)
    popen = await asyncio.get_running_loop().run_in_executor(_spawners(), _popen, spec, writer)
    proc = Process(popen, writer)
    proc._watch()
    return proc


_SPAWNERS: concurrent.futures.ThreadPoolExecutor | None = None


def _spawners() -> concurrent.futures.ThreadPoolExecutor:
    """Threads that wait for children to exec: a start-up burst of 100 pods spawns
    in parallel instead of queueing behind asyncio's default handful of workers."""
    global _SPAWNERS
    if _SPAWNERS is None:
        _SPAWNERS = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="spawn")
    return _SPAWNERS


def _popen(spec: Spec, writer: LogWriter) -> subprocess.Popen[bytes]:
    err_r, err_w = os.pipe()
    preexec = _preexec(spec, err_w)
    try:
        popen = subprocess.Popen(
            spec.argv,
            env=spec.env,
            cwd=None if spec.plan else spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
    except subprocess.SubprocessError:
        os.close(err_w)
        detail = os.read(err_r, 4096).decode(errors="replace") or "container setup failed"
        os.close(err_r)
        writer.close()
        raise StartError(start_message(detail)) from None
    except OSError as exc:
        os.close(err_w)
        os.close(err_r)
        writer.close()
        if (
            spec.plan is None
            and exc.filename == spec.cwd
            and isinstance(exc, FileNotFoundError | NotADirectoryError)
        ):
            raise StartError(
                start_message(
                    f'chdir to cwd ("{spec.cwd}") set in config.json failed: no such file or directory'
                )
            ) from None
        raise StartError(start_message(_error_text(exc, spec.argv[0], spec.env))) from None
    os.close(err_w)
    os.close(err_r)
    return popen


def _preexec(spec: Spec, err_fd: int) -> Callable[[], None] | None:
    procs = [str(p) for p in spec.cgroup_procs]
    plan = spec.plan
    if not procs and plan is None:
        return None
    as_root = os.geteuid() == 0

    def run() -> None:
        try:
            # Open the cgroups first (their paths vanish behind the chroot) but join
            # them last: the sandbox is built at the node agent's CPU weight, not
            # squeezed in beside every already-busy container of a start-up burst.
            fds = [os.open(path, os.O_WRONLY) for path in procs]
            if plan is not None:
                sandbox.enter(plan, as_root=as_root)
            for fd in fds:
                os.write(fd, b"0")
                os.close(fd)
        except OSError as exc:
            os.write(
                err_fd, str(exc.strerror if isinstance(exc, sandbox.SandboxError) else exc).encode()
            )
            raise

    return run
