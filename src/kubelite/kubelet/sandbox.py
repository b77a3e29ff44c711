"""The container's view of the filesystem: a private mount namespace per container.

Inside, the root is a fresh tmpfs holding, at their usual paths, the host's
top-level directories (bind-mounted read-only), the image's files (an
overlay over the host directory of the same name, so `COPY app.py
/app/app.py` is `/app/app.py`), each volume at its `mountPath`, and a
private `/tmp`. Overlays take their writable layer from a tmpfs of the
container's own, so a pod never changes a host file. A UTS namespace makes
the hostname the pod name.

`/dev` is private too, as container runtimes make it: a small tmpfs with
the host's null, zero, full, random, urandom and tty bound in (a user
namespace may bind device nodes but not make them), the host's `/dev/pts`
(terminals the shim and `kubectl exec -t` open on the host are the
container's: `tty` names them), `ptmx` linked to `pts/ptmx`, the pod's
shared `/dev/shm`, the `fd`, `stdin`, `stdout` and `stderr` links, and
then whatever the pod binds there (its termination-log file, volumes).
`probe_private_dev` tells at start whether the machine allows it; where it
does not, containers get the host's `/dev` as before, and the agent binds
nothing of its own (no termination-log file) under it.

`plan()` is pure (what to mount where); `enter()` runs in the forked child
before exec and performs it with raw syscalls. As a non-root user the child
first enters a user namespace mapping it to root. If the kernel refuses,
the container fails with a message naming the missing capability; nothing
is ever mounted elsewhere instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.kubelet.rootpath import path_parts, resolve_in_root

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

# Directories every container gets from the host as they are (devices, kernel views);
# `/dev` only where the machine cannot give it a private one.
PASSTHROUGH = ("dev", "proc", "sys")
PRIVATE_TMPFS = ("tmp",)
# A private /dev: the host's nodes bound in, the links runtimes make, and its size.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
DEV_TMPFS = "mode=755,size=65536k"


@dataclass(frozen=True)
class VolumeMount:
    source: str  # host path
    target: str  # absolute path in the container
    read_only: bool = False
    # the source is an empty file the child makes first (a termination-log file):
    # made there, beside the caller's loop rather than on it
    create: bool = False


@dataclass(frozen=True)
class Op:
    # tmpfs, rbind, overlay, symlink, mkdir, touch, dev (source: the pod's shm),
    # file (source: a host file to make, mode 0666)
    kind: str
    target: str
    source: str = ""
    lowers: tuple[str, ...] = ()
    upper: str = ""
    work: str = ""
    read_only: bool = False

    def __init__(
        self,
        kind: str,
        target: str,
        source: str = "",
        lowers: tuple[str, ...] = (),
        upper: str = "",
        work: str = "",
        read_only: bool = False,
    ) -> None:
        # The generated frozen __init__ sets each field through object.__setattr__,
        # three times slower; a container's plan has some sixty ops.
        d = self.__dict__
        d["kind"], d["target"], d["source"], d["lowers"] = kind, target, source, lowers
        d["upper"], d["work"], d["read_only"] = upper, work, read_only


@dataclass
class Plan:
    root: str
    scratch: str
    ops: list[Op] = field(default_factory=list)
    hostname: str = ""
    workdir: str = "/"


def plan(
    *,
    root: str | Path,
    scratch: str | Path,
    image_rootfs: Path | None,
    volumes: list[VolumeMount],
    visible: list[Path],
    hostname: str,
    workdir: str,
    host_root: Path = Path("/"),
    shm: str | None = None,
) -> Plan:
    """Mount operations for one container; `visible` are host paths that must stay reachable.

    With `shm` (the pod's shared directory for `/dev/shm`) the container gets a
    private `/dev`; without, the host's.
    """
    r, s = os.fspath(root), os.fspath(scratch)
    layers = [layer for layer in (image_rootfs, host_root) if layer is not None]
    volumes = [
        VolumeMount(v.source, resolve_in_root(v.target, layers), v.read_only, v.create)
        for v in volumes
    ]
    p = Plan(root=r, scratch=s, hostname=hostname, workdir=workdir or "/")
    ops = p.ops
    ops.append(Op("tmpfs", s))
    ops.append(Op("tmpfs", r))
    image = _listing(str(image_rootfs)) if image_rootfs else _NOTHING
    host = _listing(str(host_root))
    volume_tops = frozenset(parts[1] for v in volumes if len(parts := path_parts(v.target)) > 1)
    for kind, name, source, lowers, read_only in _top_steps(host, image, volume_tops):
        target = f"{r}/{name}"
        if kind == "overlay":
            upper, work = f"{s}/upper/{name}", f"{s}/work/{name}"
            ops.append(Op("mkdir", upper))
            ops.append(Op("mkdir", work))
            ops.append(Op("overlay", target, lowers=lowers, upper=upper, work=work))
        elif name == "dev" and kind == "rbind" and shm is not None:
            ops.append(Op("dev", target, source=shm))  # one op: the plan travels to the shim
        else:
            ops.append(Op(kind, target, source=source, read_only=read_only))
    for path in visible:
        parts = path.parts
        if len(parts) > 1 and parts[1] in PRIVATE_TMPFS:
            ops.append(Op("mkdir", r + str(path)))
            ops.append(Op("rbind", r + str(path), source=str(path), read_only=True))
    for v in volumes:
        if v.create:
            ops.append(Op("file", r + v.target, source=v.source))
        # a file or a device node (hostPath /dev/fuse) is bound onto a file
        kind = "touch" if v.create or not os.path.isdir(v.source) else "mkdir"
        ops.append(Op(kind, r + v.target))
        ops.append(Op("rbind", r + v.target, source=v.source, read_only=v.read_only))
    return p


# A directory changed this recently may change again without its timestamps
# moving (they advance in clock ticks, or whole seconds on some filesystems),
# so its listing is read afresh until it has been still for this long.
SETTLE_NS = 2_000_000_000
_MAX_CACHED = 64


class _Listing:
    """A directory's top level as of one stat of it; link targets are read on demand.

    Each container start looks at the host's `/` and its image's rootfs, which
    seldom change; adding, removing or replacing an entry moves the
    directory's mtime and ctime, so a listing is reused while its stat is the same.
    """

    __slots__ = ("prefix", "key", "kinds", "settled", "_links")

    def __init__(self, path: str, key: tuple[int, ...], kinds: dict[str, str]) -> None:
        self.prefix = path if path.endswith("/") else path + "/"
        self.key = key
        self.kinds = kinds
        self.settled = False  # long unchanged, so kept in _listings
        self._links: dict[str, str] = {}

    def link(self, name: str) -> str:
        target = self._links.get(name)
        if target is None:
            target = self._links[name] = os.readlink(self.prefix + name)
        return target


_NOTHING = _Listing("", (), {})
_NOTHING.settled = True
_listings: dict[str, _Listing] = {}

# What each top-level name becomes, with the container's root and scratch left out:
# (kind, name, source, lowers, read_only); an "overlay" step also makes its upper and work dirs.
_Step = tuple[str, str, str, tuple[str, ...], bool]
_steps: dict[tuple[_Listing, _Listing, frozenset[str]], list[_Step]] = {}


def _listing(path: str) -> _Listing:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _NOTHING
    key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    cached = _listings.get(path)
    if cached is not None and cached.key == key:
        return cached
    listing = _Listing(path, key, _entries(path))
    if max(st.st_mtime_ns, st.st_ctime_ns) < time.time_ns() - SETTLE_NS:
        if len(_listings) >= _MAX_CACHED:
            _listings.clear()  # image directories of rebuilt images
        listing.settled = True
        _listings[path] = listing
    return listing


def _entries(path: str | Path) -> dict[str, str]:
    """Top-level names: 'dir', 'file' or 'link'."""
    out: dict[str, str] = {}
    try:
        with os.scandir(path) as it:
            for e in it:
                out[e.name] = "link" if e.is_symlink() else "dir" if e.is_dir() else "file"
    except FileNotFoundError:
        pass
    return out


def _top_steps(host: _Listing, image: _Listing, volume_tops: frozenset[str]) -> list[_Step]:
    key = (host, image, volume_tops)
    steps = _steps.get(key)
    if steps is None:
        steps = []
        for name in sorted(host.kinds.keys() | image.kinds.keys()):
            steps.extend(_top_level(name, host, image, volume_tops))
        if host.settled and image.settled:
            if len(_steps) >= _MAX_CACHED:
                _steps.clear()
            _steps[key] = steps
    return steps


def _top_level(
    name: str, host: _Listing, image: _Listing, volume_tops: frozenset[str]
) -> list[_Step]:
    host_kind, image_kind = host.kinds.get(name), image.kinds.get(name)
    if image_kind == "link":
        return [("symlink", name, image.link(name), (), False)]
    if image_kind == "file":
        return [("touch", name, "", (), False), ("rbind", name, image.prefix + name, (), True)]
    if host_kind == "link" and image_kind is None:
        return [("symlink", name, host.link(name), (), False)]
    if name in PRIVATE_TMPFS and image_kind is None:
        return [("mkdir", name, "", (), False), ("tmpfs", name, "", (), False)]
    if name in PASSTHROUGH:
        return [("mkdir", name, "", (), False), ("rbind", name, host.prefix + name, (), False)]
    if host_kind == "file":
        return [("touch", name, "", (), False), ("rbind", name, host.prefix + name, (), True)]
    if image_kind is None and name not in volume_tops:
        return [("mkdir", name, "", (), False), ("rbind", name, host.prefix + name, (), True)]
    lowers = []
    if image_kind == "dir":
        lowers.append(image.prefix + name)
    if host_kind == "dir":
        lowers.append(host.prefix + name)
    return [("mkdir", name, "", (), False), ("overlay", name, "", tuple(lowers), False)]


# ---- in the child, before exec ----------------------------------------------------


class SandboxError(OSError):
    pass


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise SandboxError(err, f"{what}: {os.strerror(err)}")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    rc = _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    _check(rc, f"mount {fstype or 'bind'} {source or ''} on {target}")


def unshare(as_root: bool) -> None:
    flags = CLONE_NEWNS | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    if not as_root:
        flags |= CLONE_NEWUSER
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        need = "CAP_SYS_ADMIN" if as_root else "unprivileged user namespaces"
        raise SandboxError(
            err,
            f"cannot create the container's mount namespace ({os.strerror(err)}): "
            f"kubelite needs {need} to give containers their own filesystem view",
        )
    if not as_root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter(p: Plan, *, as_root: bool) -> None:
    unshare(as_root)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for op in p.ops:
        _apply(op)
    if p.hostname:
        name = p.hostname.encode()[:64]
        _check(_libc.sethostname(name, len(name)), "sethostname")
    os.chroot(p.root)
    try:
        os.chdir(p.workdir)
    except OSError as exc:
        raise SandboxError(
            exc.errno or errno.ENOENT,
            f'chdir to cwd ("{p.workdir}") set in config.json failed: {os.strerror(exc.errno or 2).lower()}',
        ) from None


def _apply(op: Op) -> None:
    if op.kind == "tmpfs":
        _mkdir(op.target)
        _mount("tmpfs", op.target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    elif op.kind == "mkdir":
        _mkdir(op.target)
    elif op.kind == "touch":
        _mkdir(os.path.dirname(op.target))
        try:
            st: os.stat_result | None = os.lstat(op.target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            # A link (the host's /etc/resolv.conf often is one) would carry the
            # bind mount outside the container's root; the copy-on-write layer
            # lets us replace it with a plain file.
            os.unlink(op.target)
            st = None
        if st is None:
            os.close(os.open(op.target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    elif op.kind == "symlink":
        os.symlink(op.source, op.target)
    elif op.kind == "rbind":
        _mount(op.source, op.target, None, MS_BIND | MS_REC)
        if op.read_only:
            _mount(None, op.target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    elif op.kind == "overlay":
        data = f"lowerdir={':'.join(op.lowers)},upperdir={op.upper},workdir={op.work}"
        _mount("overlay", op.target, "overlay", 0, data)
    elif op.kind == "dev":
        private_dev(op.target, op.source)
    elif op.kind == "file":
        _new_file(op.source)


def _new_file(path: str) -> None:
    """An empty host file any user may write (0666, past the umask), its directory
    made if need be."""
    flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o666)
    try:
        os.fchmod(fd, 0o666)
    finally:
        os.close(fd)


def private_dev(target: str, shm: str) -> None:
    """A container's own `/dev` at `target` (an existing directory), from the host's
    `/dev` as seen before the chroot. A node the host lacks is left out."""
    _mount("tmpfs", target, "tmpfs", MS_NOSUID, DEV_TMPFS)
    for name in DEV_NODES:
        path = f"{target}/{name}"
        os.mknod(path, stat.S_IFREG | 0o666)  # a mount point: a plain file, one call
        if not _bind_if_there(f"/dev/{name}", path):
            os.unlink(path)
    _mkdir(f"{target}/pts")
    _bind_if_there("/dev/pts", f"{target}/pts")
    _mkdir(f"{target}/shm")
    _mount(shm, f"{target}/shm", None, MS_BIND)
    for name, link in DEV_LINKS:
        os.symlink(link, f"{target}/{name}")


def _bind_if_there(source: str, target: str) -> bool:
    try:
        _mount(source, target, None, MS_BIND)
    except SandboxError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def probe_private_dev(work: Path) -> str:
    """Whether this machine lets a container have its own `/dev`: "" if so, else why not.

    A forked child does in a mount namespace of its own what each container
    will do; `work` (an empty directory) only serves as its mount point.
    """
    work.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child exits
        os.close(r)
        code = 0
        try:
            unshare(as_root)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("tmpfs", str(work), "tmpfs", MS_NOSUID, "mode=755")
            os.mkdir(f"{work}/dev")
            os.mkdir(f"{work}/shm")
            private_dev(f"{work}/dev", f"{work}/shm")
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear it
            os.write(w, (str(exc) or type(exc).__name__).encode(errors="replace"))
            code = 1
        os._exit(code)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            reason = f.read().decode(errors="replace")
    finally:
        _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        work.rmdir()
    if not reason and os.waitstatus_to_exitcode(status) != 0:
        reason = "the test container ended abnormally"
    return reason


def _mkdir(path: str) -> None:
    """`os.makedirs(path, exist_ok=True)`, in one system call when the parent
    exists, as it nearly always does (a plan makes parents first): a plan has
    some twenty directories, made in each container's process before it starts."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def joiner(pid: int, root: str, cwd: str, cgroups: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """A preexec function entering a running container's cgroups, namespaces and root
    (exec probes, hooks, `kubectl exec`).

    `cgroups` are `cgroup.procs` files to join first, while the host's paths
    still hold. A container made without root has a user namespace of its
    own: joined first, it gives the rights to join the rest."""
    paths = [(f"/proc/{pid}/ns/mnt", CLONE_NEWNS), (f"/proc/{pid}/ns/uts", CLONE_NEWUTS)]
    with contextlib.suppress(OSError):
        if os.stat(f"/proc/{pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino:
            paths.insert(0, (f"/proc/{pid}/ns/user", CLONE_NEWUSER))

    def run() -> None:
        for procs in cgroups:
            with contextlib.suppress(OSError), open(procs, "w") as f:
                f.write("0")
        fds = [(os.open(path, os.O_RDONLY), path, kind) for path, kind in paths]
        for fd, path, kind in fds:
            try:
                _check(_libc.setns(fd, kind), f"setns {path}")
            finally:
                os.close(fd)
        os.chroot(root)
        os.chdir(cwd)

    return run
