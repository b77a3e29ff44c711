"""Fork a container's process, and learn on the event loop when it has started.

`subprocess.Popen` returns only once its child has exec'd, so starting many
containers at once needs a thread per start in flight, and in the shim those
threads and its event loop take turns at one GIL: a start-up burst of 100
pods then spent most of its time waiting for the GIL, not forking. Here the
loop forks, at its next turn, every child asked for meanwhile, one after
the other (`_fork_queued`), and is free at once; each child reports on a
status pipe.

The child does what `Popen(..., start_new_session=True, close_fds=True,
restore_signals=True)` does before exec: a new session (back at nice 0 if
the parent's priority was raised), stdin from /dev/null, stdout and stderr
on pipes (a container with `stdin: true` reads a pipe whose write end the
caller keeps; one with `tty: true` gets a terminal for all three, as its
controlling terminal, and the caller keeps the terminal's other side),
SIGPIPE and SIGXFSZ back to their defaults (and SIGINT, which the shim
ignores), the working directory; then the `setup` hook (the
container's filesystem view), and it finds the executable in the `PATH` of
the given environment, as `runc create` does.
Any failure so far is reported, by step, and the start fails. Otherwise the
child reports `ready` with its start time (the start is done, as `runc start`
is done once it has told the container's init to go), runs the `join` hook
(its cgroups) and execs. A failure after `ready` is rare (the file changed in between, or
its format is one the kernel cannot run) and is the container's own: its
message goes to the container's stderr and it exits with 126, the shell's
code for a command found but not executable.

With `listen`, the child's last step before `ready` makes a file descriptor
(the bind filter's listener, `podbind`) that travels to the caller with the
report: the report channel is a socket pair for that reason.

Reporting before the join matters in a burst: once in its cgroup the child
shares the CPU with every container already starting up, and with 100 of
them its last few steps before exec waited tens to hundreds of ms.

With `become` (a container that runs as a user of its own, `sandbox.become`)
the order is runc's: the child joins its cgroups and makes its `listen`
descriptor while still root, then switches to the user and finds the
executable as that user, so an executable it may not run (EACCES) fails the
start; only then does it report `ready` and exec. Containers without a user
keep the order above, and make no system call more.

Every descriptor but 0, 1 and 2 is close-on-exec (PEP 446).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import os
import signal
import socket
import stat
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

# What failed in the child: the set-up hook (its message follows), chdir or exec (an errno).
SETUP, CHDIR, EXEC = b"setup", b"chdir", b"exec"
READY = b"ready"
# What the container's stdin is: /dev/null (most containers), a pipe, or a terminal.
NO_STDIN, STDIN_PIPE, STDIN_TTY = 0, 1, 2
CANNOT_EXECUTE = 126
_RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT)


@dataclass
class Child:
    pid: int
    stdout: int  # read ends of the output pipes, non-blocking (with a terminal: its master)
    stderr: int  # -1 with a terminal: its output is all one stream
    stdin: int = -1  # the write end of its stdin (a copy of the master with a terminal)
    listener: int = -1  # what its `listen` hook made, sent with its report
    # Its start time (field 22 of /proc/PID/stat), sent with `ready`: read by the
    # caller instead, it could block while the child is in the middle of its exec.
    start_time: int | None = None

    def fds(self) -> tuple[int, ...]:
        return tuple(fd for fd in (self.stdout, self.stderr, self.stdin, self.listener) if fd >= 0)


class SetupFailed(Exception):
    """Raised by a set-up hook: its text is what the start error says."""


class ChildFailed(Exception):
    def __init__(self, step: bytes, detail: bytes) -> None:
        super().__init__(step.decode(), detail.decode(errors="replace"))
        self.step = step
        self.detail = detail

    @property
    def errno(self) -> int:
        try:
            return int(self.detail)
        except ValueError:
            return errno.EINVAL


def _candidates(argv0: str, env: dict[str, str]) -> tuple[bytes, ...]:
    """The paths exec tries, in order: as `os.get_exec_path`, without its warnings
    machinery, and remembered (a node starts the same commands with the same PATH)."""
    return _paths(argv0, env.get("PATH", os.defpath))


@functools.lru_cache(maxsize=256)
def _paths(argv0: str, search: str) -> tuple[bytes, ...]:
    exe = os.fsencode(argv0)
    if b"/" in exe:
        return (exe,)
    return tuple(os.path.join(os.fsencode(d), exe) for d in search.split(os.pathsep))


def fork(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    setup: Callable[[], None] | None,
    join: Callable[[], None] | None = None,
    first: Callable[[], None] | None = None,
    stdin: int = NO_STDIN,
    listen: Callable[[], int] | None = None,
    become: Callable[[], None] | None = None,
) -> tuple[int, Child, socket.socket]:
    """Start the child; returns its pid, the caller's ends of its streams, and its
    report channel."""
    paths = _candidates(argv[0], env)
    if stdin == NO_STDIN:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ours, theirs = Child(0, out_r, err_r), (-1, out_w, err_w)
    else:
        ours, theirs = _stdio(stdin)
    st_r, st_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        hooks = (setup, join, first, listen, become)
        _child(argv, env, cwd, hooks, paths, theirs, stdin == STDIN_TTY, st_w.fileno())
    st_w.close()
    for fd in set(theirs) - {-1}:  # a terminal's one side stands for all three
        os.close(fd)
    st_r.setblocking(False)
    for fd in (ours.stdout, ours.stderr):
        if fd >= 0:
            # A read end's flags are known: one system call, not set_blocking's two.
            fcntl.fcntl(fd, fcntl.F_SETFL, os.O_RDONLY | os.O_NONBLOCK)
    if ours.stdin >= 0:
        os.set_blocking(ours.stdin, False)
    ours.pid = pid
    return pid, ours, st_r


def _stdio(stdin: int) -> tuple[Child, tuple[int, int, int]]:
    """The caller's and the child's ends for a container that reads stdin."""
    if stdin == STDIN_TTY:
        master, slave = os.openpty()
        return Child(0, master, -1, os.dup(master)), (slave, slave, slave)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    return Child(0, out_r, err_r, in_w), (in_r, out_w, err_w)


_Hooks = tuple[
    Callable[[], None] | None,  # setup
    Callable[[], None] | None,  # join
    Callable[[], None] | None,  # first
    Callable[[], int] | None,  # listen
    Callable[[], None] | None,  # become
]


def _child(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    hooks: _Hooks,
    paths: tuple[bytes, ...],
    stdio: tuple[int, int, int],
    tty: bool,
    st_w: int,
) -> None:  # pragma: no cover - the child execs or exits
    setup, join, first, listen, become = hooks
    try:
        if first is not None:
            first()
        ready = READY + b" " + _own_start_time()
        _prepare(cwd, setup, stdio, tty, st_w)
        if become is None:
            path = _find(paths, st_w)
            listener = listen() if listen is not None else -1
        else:  # root's steps first, then the user, as whom the executable is found
            listener = listen() if listen is not None else -1
            if join is not None:
                join()
                join = None
            become()
            path = _find(paths, st_w)
    except BaseException as exc:  # noqa: BLE001 - never let the child return into the caller
        _fail(st_w, SETUP, (str(exc) or type(exc).__name__).encode())
    try:
        if listener >= 0:
            channel = socket.socket(fileno=st_w)
            socket.send_fds(channel, [ready], [listener])
            channel.close()
            os.close(listener)
        else:
            os.write(st_w, ready)
            os.close(st_w)
        if join is not None:
            join()
        os.execve(path, argv, env)
    except OSError as exc:
        text = f'exec: "{argv[0]}": {exc.strerror or exc}\n'
        os.write(2, text.encode(errors="replace"))
        os._exit(CANNOT_EXECUTE)
    finally:
        os._exit(255)


def proc_start_time(pid: int | str) -> int | None:
    """Field 22 of /proc/PID/stat: clock ticks after boot at which the process started
    (None if it is gone or a zombie). Waits while that process is in the middle of
    an exec."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        stat = os.read(fd, 4096)  # the whole line: a command name is at most 15 bytes
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = stat.rsplit(b")", 1)[1].split()
    if fields[0] == b"Z":
        return None  # a zombie is as good as gone
    return int(fields[19])


def _own_start_time() -> bytes:  # pragma: no cover - in the child
    """Its own start time, read before the set-up may leave /proc behind; empty if
    it cannot be read."""
    start = proc_start_time("self")
    return b"" if start is None else b"%d" % start


def _prepare(
    cwd: str | None,
    setup: Callable[[], None] | None,
    stdio: tuple[int, int, int],
    tty: bool,
    st_w: int,
) -> None:  # pragma: no cover - in the child
    """The session, streams, signals, working directory and set-up: a failure here
    is reported and fails the start."""
    os.setsid()
    if os.getpriority(os.PRIO_PROCESS, 0) < 0:
        # A runtime's raised priority is not the container's (a lowered one, as
        # under `nice kubelite up`, is kept: only root could undo it anyway).
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    in_r, out_w, err_w = stdio
    os.dup2(os.open(os.devnull, os.O_RDONLY) if in_r < 0 else in_r, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    if tty:  # the new session's controlling terminal, as a shell in a terminal has
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    for sig in _RESET:
        signal.signal(sig, signal.SIG_DFL)
    if cwd:
        try:
            os.chdir(cwd)
        except OSError as exc:
            _fail(st_w, CHDIR, str(exc.errno or errno.ENOENT).encode())
    if setup is not None:
        try:
            setup()
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear it
            _fail(st_w, SETUP, (str(exc) or "container setup failed").encode())


def _find(paths: tuple[bytes, ...], st_w: int) -> bytes:  # pragma: no cover - in the child
    """The executable to run; a failure is reported and fails the start."""
    path, err = _look_up(paths)
    if path is None:
        _fail(st_w, EXEC, str(err).encode())
    return path


def _look_up(paths: tuple[bytes, ...]) -> tuple[bytes | None, int]:
    """The first candidate exec could run, or the errno exec would have failed with.

    As execvpe: ENOENT and ENOTDIR move on to the next directory; the first
    other error is the one reported if nothing is found.
    """
    saved = 0
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            err = exc.errno or errno.ENOENT
        else:
            if not stat.S_ISDIR(st.st_mode) and os.access(path, os.X_OK):
                return path, 0
            err = errno.EACCES
        if err not in (errno.ENOENT, errno.ENOTDIR) and not saved:
            saved = err
    return None, saved or errno.ENOENT


def _fail(fd: int, step: bytes, detail: bytes) -> NoReturn:  # pragma: no cover - in the child
    os.write(fd, step + b":" + detail)
    os._exit(255)


async def spawn(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None = None,
    setup: Callable[[], None] | None = None,
    join: Callable[[], None] | None = None,
    first: Callable[[], None] | None = None,
    stdin: int = NO_STDIN,
    listen: Callable[[], int] | None = None,
    become: Callable[[], None] | None = None,
) -> Child:
    """Fork, then wait on the loop for `ready`; ChildFailed if the child did not get there.

    `first` runs in the child before anything else, whatever fails next;
    `listen` last before `ready`, and the descriptor it returns (unless -1)
    becomes the Child's `listener`. `become` switches the child to the
    container's user: then `join` and `listen` come before it, and the
    executable is looked up after it, before `ready` (see the module's docstring).
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future[tuple[Child, bytes]] = loop.create_future()
    _enqueue(loop, (argv, env, cwd, setup, join, first, stdin, listen, become), started)
    child, report = await started
    if report.startswith(READY):
        ticks = report[len(READY) + 1 :]
        child.start_time = int(ticks) if ticks.isdigit() else None
    else:
        for fd in child.fds():
            os.close(fd)
        _reap(child.pid)
        step, _, detail = report.partition(b":")
        if not report:
            step, detail = SETUP, b"container process ended before it started"
        raise ChildFailed(step, detail)
    return child


_Args = tuple[
    list[str],
    dict[str, str],
    str | None,
    Callable[[], None] | None,
    Callable[[], None] | None,
    Callable[[], None] | None,
    int,
    Callable[[], int] | None,
    Callable[[], None] | None,
]
_Queue = tuple[asyncio.AbstractEventLoop, list[tuple[_Args, asyncio.Future[Any]]]]
_queue: _Queue | None = None


def _enqueue(loop: asyncio.AbstractEventLoop, args: _Args, started: asyncio.Future[Any]) -> None:
    global _queue
    if _queue is None or _queue[0] is not loop:
        _queue = (loop, [])
        loop.call_soon(_fork_queued, _queue)
    _queue[1].append((args, started))


def _fork_queued(queue: _Queue) -> None:
    """Fork every start asked for since the loop's last turn, back to back.

    A fork write-protects the caller's memory, and each page the caller
    writes next costs it a fault (and a copy while the child has not exec'd).
    So little runs between two forks; the rest of each start (watching for
    its report, then the caller's own work) comes once they are all made,
    and touches those pages once per burst rather than once per start.
    """
    global _queue
    if _queue is queue:
        _queue = None
    loop, requests = queue
    forked: list[tuple[tuple[int, Child, socket.socket] | Exception, asyncio.Future[Any]]] = []
    for args, started in requests:
        if started.cancelled():
            continue
        try:
            forked.append((fork(*args), started))
        except Exception as exc:  # noqa: BLE001 - out of pipes or processes: that start fails
            forked.append((exc, started))
    for result, started in forked:
        if isinstance(result, Exception):
            if not started.done():
                started.set_exception(result)
        else:
            _watch_report(loop, *result, started)


def _watch_report(
    loop: asyncio.AbstractEventLoop,
    pid: int,
    child: Child,
    st_r: socket.socket,
    started: asyncio.Future[tuple[Child, bytes]],
) -> None:
    """Resolve `started` with what the child reports: `ready` as soon as it comes
    (the child writes nothing after it), a failure once the child has exited."""
    chunks: list[bytes] = []

    def readable() -> None:
        try:
            data, fds, _, _ = socket.recv_fds(st_r, 4096, 1, socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        for fd in fds:
            child.listener = fd
        if data:
            chunks.append(data)
            if not data.startswith(READY) or len(chunks) > 1:
                return
        loop.remove_reader(st_r)
        st_r.close()
        if started.done():  # the start was cancelled: nobody will watch this child
            abandon(child)
            return
        started.set_result((child, b"".join(chunks)))

    loop.add_reader(st_r, readable)


def abandon(child: Child) -> None:
    """Kill a started child nobody will watch (its session: it may have exec'd and
    forked), reap it and close its output."""
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    for fd in child.fds():
        os.close(fd)
    _reap(child.pid)


def _reap(pid: int) -> None:
    """The failed child exits right after writing its report."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
