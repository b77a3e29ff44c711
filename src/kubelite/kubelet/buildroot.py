"""Where a RUN line runs: the image's filesystem as its containers will see it.

Each RUN line executes in a private mount namespace entered with
`sandbox.enter`, as a container's process is: chrooted, with the image's
files at the paths the Dockerfile gave them, the rest of the host beside
them read-only, a private `/tmp`, the host's `/proc` and `/sys`, and a `/dev`
of its own (the host's where the machine cannot give one, as for containers).

What differs from a container is where writes go. A container writes into a
layer thrown away with it; a RUN line writes into the image, as Docker's
RUN writes into the image's new layer. The root of its view *is* the
image's `rootfs/`, so a new top-level directory (`RUN mkdir /data`) lands in
the image, where later lines and the containers find it. Each of the host's
directories is an overlay whose upper layer is the image's directory of that
name: the line sees the host's files and the image's over them, and what it
writes anywhere (`/etc/passwd` by `useradd`, `/root/.cache`, `/opt/app`) is
copied up into the image, never onto the host. An overlay's lower layer
does not show the mounts below it, and may not contain the image itself
(the data dir under `/root`): such a directory is the image's own, with the
host's entries bound read-only into it and its subdirectories overlays
again, one level down. Where the machine has no overlayfs, every host
entry is such a read-only bind, so writing there fails with EROFS.

Binding the host's entries into the image's directories needs mount points
there: empty directories and files, and links, made by the child and removed
when the line is done (`Root.placeholders`), so the image keeps only what
the line wrote. The image's virtualenv and HOME, which live beside its
`rootfs/`, are bound writable at their own paths, where the image's PATH and
the scripts pip writes name them.

Namespaces are entered as the node agent's containers enter them: directly as
root, otherwise through a user namespace that maps the user to root. On a
machine that allows neither, the build fails naming what is missing: a RUN
line never runs on the host.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from kubelite.kubelet import sandbox
from kubelite.kubelet.sandbox import Op

log = logging.getLogger(__name__)

# What the child reports when it fails before exec: the step, then its text.
_SETUP, _EXEC = b"S", b"E"


class RunError(RuntimeError):
    """The line could not be started in its view; the text says why."""

    def __init__(self, text: str, *, setup: bool = False) -> None:
        super().__init__(text)
        self.setup = setup  # the view could not be made (not the command's exec)


# Set once an overlay could not be mounted where the probe said it could (the
# data dir's file system may lack what the probe's had): read-only binds from then on.
_overlays_refused: list[str] = []


def overlays() -> str | None:
    """The overlay options RUN lines use here; None when they get read-only binds."""
    return None if _overlays_refused else support().overlay


@dataclass(frozen=True)
class Root:
    plan: sandbox.Plan
    # mount points the child makes in the image's directories; gone once it is done
    placeholders: tuple[Op, ...]


@dataclass(frozen=True)
class Support:
    missing: str  # why this machine gives no mount namespace; "" when it does
    private_dev: bool  # whether the view may have a /dev of its own
    as_root: bool
    overlay: str | None = None  # overlay options, None where there is no overlayfs


@dataclass(frozen=True)
class Layers:
    """How the host's directories are layered under the image's: `options` for
    each overlay ("userxattr" in a user namespace), `work` (a directory on the
    image's file system) for their work directories, and the host's mount
    points (an overlay would not show what is mounted below it)."""

    options: str
    work: str
    mounts: frozenset[str] = frozenset()


def plan(
    rootfs: Path,
    *,
    workdir: str,
    writable: Sequence[Path] = (),
    visible: Sequence[Path] = (),
    dev_shm: str | None = None,
    scratch: str = "",
    host_root: Path = Path("/"),
    layers: Layers | None = None,
) -> Root:
    """The view of one RUN line, rooted at the image's `rootfs`.

    `writable` host directories (the virtualenv) are bound read-write at
    their own paths; `visible` ones are bound read-only where the private /tmp
    would hide them. With `dev_shm` (a host directory for `/dev/shm`) the view
    gets a private `/dev`, else the host's. With `layers` the host's
    directories are overlays writing into the image; without, read-only binds.
    """
    root = os.fspath(rootfs)
    ops: list[Op] = []
    made: list[Op] = []
    merge = _Merge(ops, made, dev_shm, layers, os.fspath(rootfs.parent))
    merge.dir(root, os.fspath(host_root), top=True)
    private_tmp = not os.path.lexists(os.path.join(root, "tmp"))
    for paths, read_only in ((writable, False), (visible, True)):
        for path in paths:
            parts = path.parts
            hidden = private_tmp and len(parts) > 1 and parts[1] in sandbox.PRIVATE_TMPFS
            if read_only and not hidden:
                continue  # the host's read-only directories show it already
            target = root + str(path)
            if hidden:
                ops.append(Op("mkdir", target))  # in the private /tmp: nothing to remove
            ops.append(Op("rbind", target, source=str(path), read_only=read_only))
    p = sandbox.Plan(root=root, scratch=scratch, ops=ops, workdir=workdir or "/")
    return Root(p, tuple(made))


@dataclass
class _Merge:
    ops: list[Op]
    made: list[Op]  # placeholders: mount points made in the image
    dev_shm: str | None
    layers: Layers | None
    image_dir: str  # the image's own directory, which no overlay may contain

    def dir(self, image: str, host: str, *, top: bool) -> None:
        """Bind or overlay the host's entries of `host` into the image's directory `image`.

        The image's entry wins where both have one, except that two directories
        merge, and `/dev`, `/proc` and `/sys` are the host's (a private `/dev`
        with `dev_shm`), as in a container.
        """
        image_kinds, host_kinds = _kinds(image), _kinds(host)
        for name in sorted(host_kinds):
            host_kind, image_kind = host_kinds[name], image_kinds.get(name)
            target, source = f"{image}/{name}", os.path.join(host, name)
            if image_kind is None and host_kind == "link":
                self.placeholder(Op("symlink", target, source=os.readlink(source)))
            elif top and name in sandbox.PASSTHROUGH and image_kind in (None, "dir"):
                if image_kind is None:
                    self.placeholder(Op("mkdir", target))
                if name == "dev" and self.dev_shm is not None:
                    self.ops.append(Op("dev", target, source=self.dev_shm))
                else:
                    self.ops.append(Op("rbind", target, source=source))
            elif top and name in sandbox.PRIVATE_TMPFS and image_kind is None:
                self.placeholder(Op("mkdir", target))
                self.ops.append(Op("tmpfs", target))
            elif host_kind == "dir" and image_kind in (None, "dir") and self.overlays(source, top):
                self.overlay(target, source, made=image_kind is None)
            elif image_kind is None and host_kind == "dir" and self.merges(source):
                self.placeholder(Op("mkdir", target))  # the image's now, if the line writes
                self.dir(target, source, top=False)
            elif image_kind is None:
                self.placeholder(Op("mkdir" if host_kind == "dir" else "touch", target))
                self.ops.append(Op("rbind", target, source=source, read_only=True))
            elif image_kind == "dir" and host_kind == "dir":
                self.dir(target, source, top=False)
            # otherwise the image's own file or link is what the line sees

    def placeholder(self, op: Op) -> None:
        self.ops.append(op)
        self.made.append(op)

    def overlays(self, host_dir: str, top: bool) -> bool:
        """Whether the host's directory can be an overlay's lower layer: not one
        holding the image, nor one with mounts below, nor the private /tmp."""
        if not self.merges(host_dir):
            return False
        if top and os.path.basename(host_dir) in sandbox.PRIVATE_TMPFS:
            return False
        below = host_dir.rstrip("/") + "/"
        if (self.image_dir + "/").startswith(below):
            return False
        return not any(m.startswith(below) for m in self.layers.mounts)  # type: ignore[union-attr]

    def merges(self, host_dir: str) -> bool:
        """Whether the host's directory may be layered or merged at all: not the
        image's own directory (its rootfs, virtualenv), which is bound read-only."""
        if self.layers is None:
            return False
        return not (host_dir + "/").startswith(self.image_dir + "/")

    def overlay(self, target: str, source: str, *, made: bool) -> None:
        assert self.layers is not None
        if made:
            self.placeholder(Op("mkdir", target))
        work = f"{self.layers.work}/{len(self.ops)}"
        self.ops.append(Op("mkdir", work))
        self.ops.append(Op("overlay", target, self.layers.options, (source,), target, work))


def _kinds(path: str) -> dict[str, str]:
    """A directory's entries: 'dir', 'file' (anything else but a link) or 'link'."""
    try:
        with os.scandir(path) as it:
            return {
                e.name: "link" if e.is_symlink() else "dir" if e.is_dir() else "file" for e in it
            }
    except OSError:  # missing, or a host directory this user may not read
        return {}


def remove_placeholders(root: Root) -> None:
    """Take the mount points out of the image again, each only if it is still ours."""
    for op in reversed(root.placeholders):
        with contextlib.suppress(OSError):
            if op.kind == "mkdir":
                os.rmdir(op.target)
            elif op.kind == "touch":
                st = os.lstat(op.target)
                if stat.S_ISREG(st.st_mode) and st.st_size == 0:
                    os.unlink(op.target)
            elif op.kind == "symlink" and os.readlink(op.target) == op.source:
                os.unlink(op.target)


# ---- running a line -------------------------------------------------------------


@functools.cache
def support() -> Support:
    """What this machine allows a RUN line (found once per process: two forks at most)."""
    as_root = os.geteuid() == 0
    mode, options = sandbox.machine_layers()
    overlay = None if mode == sandbox.BINDS else options
    with tempfile.TemporaryDirectory(prefix="kubelite-build-probe-") as tmp:
        if not sandbox.probe_private_dev(Path(tmp) / "dev"):
            return Support("", True, as_root, overlay)
    return Support(_probe_namespace(as_root), False, as_root, overlay)


def _probe_namespace(as_root: bool) -> str:
    """ "" if a forked child may enter a mount namespace of its own, else what is missing."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child exits
        os.close(r)
        try:
            sandbox.unshare(as_root)
        except OSError as exc:
            os.write(w, str(exc.errno or errno.EPERM).encode())
            os._exit(1)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().decode()
    os.waitpid(pid, 0)
    if not report:
        return ""
    return missing_text(int(report), as_root=as_root)


def missing_text(err: int, *, as_root: bool) -> str:
    need = (
        "CAP_SYS_ADMIN (run it in a privileged container)"
        if as_root
        else "unprivileged user namespaces (or run kubelite build as root)"
    )
    return (
        f"a RUN line runs in a mount namespace of its own and this machine gives none "
        f"({os.strerror(err)}): kubelite build needs {need}"
    )


def check(found: Support) -> None:
    if found.missing:
        raise RunError(found.missing)


def run_line(
    argv: list[str],
    *,
    env: dict[str, str],
    rootfs: Path,
    workdir: str,
    writable: Sequence[Path] = (),
    visible: Sequence[Path] = (),
    found: Support | None = None,
) -> int:
    """Run one RUN line in the image's view; its exit code (negative: killed by that signal)."""
    found = found or support()
    check(found)
    # the overlays' work directories: beside the image, on its file system
    work = rootfs.parent / ".run-work"
    options = None if _overlays_refused else found.overlay
    layers = None if options is None else Layers(options, os.fspath(work), host_mount_points())
    try:
        return _run_in_view(argv, env, rootfs, workdir, writable, visible, found, layers)
    except RunError as exc:
        if layers is None or not exc.setup:
            raise
        log.warning("RUN lines get read-only host directories: overlay refused (%s)", exc)
        _overlays_refused.append(str(exc))
        return _run_in_view(argv, env, rootfs, workdir, writable, visible, found, None)
    finally:
        _remove_work(work)


def _run_in_view(
    argv: list[str],
    env: dict[str, str],
    rootfs: Path,
    workdir: str,
    writable: Sequence[Path],
    visible: Sequence[Path],
    found: Support,
    layers: Layers | None,
) -> int:
    with tempfile.TemporaryDirectory(prefix="kubelite-build-") as scratch:
        shm = None
        if found.private_dev:
            shm = os.path.join(scratch, "shm")
            os.mkdir(shm)
        root = plan(
            rootfs,
            workdir=workdir,
            writable=writable,
            visible=visible,
            dev_shm=shm,
            scratch=scratch,
            layers=layers,
        )
        return execute(argv, env=env, root=root, as_root=found.as_root)


def host_mount_points() -> frozenset[str]:
    """The host's mount points, from this process's mountinfo."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().decode(errors="surrogateescape").splitlines()
    except OSError:
        return frozenset()
    points = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:  # octal escapes (\040 for a space) as the kernel writes them
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return frozenset(points)


def _remove_work(work: Path) -> None:
    """Overlay work directories: the kernel leaves a mode-0 `work/` in each."""
    for inner in work.glob("*/*"):
        with contextlib.suppress(OSError):
            os.chmod(inner, 0o700)
    shutil.rmtree(work, ignore_errors=True)


def execute(argv: list[str], *, env: dict[str, str], root: Root, as_root: bool) -> int:
    """Fork, enter `root`'s view and exec `argv` there; wait for it; remove the placeholders."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # the line's output follows ours, not the other way round
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(r)
        os.close(w)
        raise RunError(f"cannot start it: {exc.strerror}") from None
    if pid == 0:  # pragma: no cover - the child execs or exits
        os.close(r)
        _child(argv, env, root, as_root, w)
    os.close(w)
    reaped = False
    try:
        with os.fdopen(r, "rb") as f:
            report = f.read()
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        if not reaped:  # interrupted: the line goes with the build
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        remove_placeholders(root)
    if report:
        step, text = report[:1], report[1:].decode(errors="replace")
        if step == _SETUP:
            raise RunError(text, setup=True)
        raise RunError(f"exec {argv[0]}: {text}")
    return os.waitstatus_to_exitcode(status)


def _child(
    argv: list[str], env: dict[str, str], root: Root, as_root: bool, report: int
) -> NoReturn:  # pragma: no cover - runs in the forked child
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)  # a RUN line reads no input, as under docker build
        os.close(null)
        sandbox.enter(root.plan, as_root=as_root)
    except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear it
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        os.write(report, _SETUP + (text or type(exc).__name__).encode(errors="replace"))
        os._exit(127)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(report, _EXEC + (exc.strerror or str(exc)).encode(errors="replace"))
    os._exit(127)
