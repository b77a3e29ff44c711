"""The container's view of the filesystem: a private mount namespace per container.

Inside, the root is a fresh tmpfs holding, at their usual paths, the host's
top-level directories (bind-mounted read-only), the image's files (an
overlay over the host directory of the same name, so `COPY app.py
/app/app.py` is `/app/app.py`), each volume at its `mountPath`, and a
private `/tmp`. Overlays take their writable layer from a tmpfs of the
container's own, so a pod never changes a host file. A UTS namespace makes
the hostname the pod name.

`plan()` is pure (what to mount where); `enter()` runs in the forked child
before exec and performs it with raw syscalls. As a non-root user the child
first enters a user namespace mapping it to root. If the kernel refuses,
the container fails with a message naming the missing capability; nothing
is ever mounted elsewhere instead.
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.kubelet.rootpath import resolve_in_root

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

# Directories every container gets from the host as they are (devices, kernel views).
PASSTHROUGH = ("dev", "proc", "sys")
PRIVATE_TMPFS = ("tmp",)


@dataclass(frozen=True)
class VolumeMount:
    source: str  # host path
    target: str  # absolute path in the container
    read_only: bool = False


@dataclass(frozen=True)
class Op:
    kind: str  # tmpfs, rbind, bind_ro, overlay, symlink, mkdir, touch
    target: str
    source: str = ""
    lowers: tuple[str, ...] = ()
    upper: str = ""
    work: str = ""
    read_only: bool = False


@dataclass
class Plan:
    root: str
    scratch: str
    ops: list[Op] = field(default_factory=list)
    hostname: str = ""
    workdir: str = "/"


def plan(
    *,
    root: Path,
    scratch: Path,
    image_rootfs: Path | None,
    volumes: list[VolumeMount],
    visible: list[Path],
    hostname: str,
    workdir: str,
    host_root: Path = Path("/"),
) -> Plan:
    """Mount operations for one container; `visible` are host paths that must stay reachable."""
    r = str(root)
    layers = [layer for layer in (image_rootfs, host_root) if layer is not None]
    volumes = [
        VolumeMount(v.source, resolve_in_root(v.target, layers), v.read_only) for v in volumes
    ]
    p = Plan(root=r, scratch=str(scratch), hostname=hostname, workdir=workdir or "/")
    p.ops.append(Op("tmpfs", str(scratch)))
    p.ops.append(Op("tmpfs", r))
    image_top = _entries(image_rootfs) if image_rootfs else {}
    host_top = _entries(host_root)
    volume_tops = {Path(v.target).parts[1] for v in volumes if len(Path(v.target).parts) > 1}
    for name in sorted(set(host_top) | set(image_top)):
        p.ops.extend(
            _top_level(
                name, host_root, image_rootfs, host_top, image_top, volume_tops, r, str(scratch)
            )
        )
    for path in visible:
        parts = path.parts
        if len(parts) > 1 and parts[1] in PRIVATE_TMPFS:
            p.ops.append(Op("mkdir", r + str(path)))
            p.ops.append(Op("rbind", r + str(path), source=str(path), read_only=True))
    for v in volumes:
        kind = "touch" if os.path.isfile(v.source) else "mkdir"
        p.ops.append(Op(kind, r + v.target))
        p.ops.append(Op("rbind", r + v.target, source=v.source, read_only=v.read_only))
    return p


def _entries(path: Path) -> dict[str, str]:
    """Top-level names: 'dir', 'file' or 'link'."""
    out: dict[str, str] = {}
    try:
        with os.scandir(path) as it:
            for e in it:
                out[e.name] = "link" if e.is_symlink() else "dir" if e.is_dir() else "file"
    except FileNotFoundError:
        pass
    return out


def _top_level(
    name: str,
    host_root: Path,
    image_rootfs: Path | None,
    host_top: dict[str, str],
    image_top: dict[str, str],
    volume_tops: set[str],
    r: str,
    scratch: str,
) -> list[Op]:
    target = f"{r}/{name}"
    host_kind, image_kind = host_top.get(name), image_top.get(name)
    host_path = str(host_root / name)
    if image_kind == "file" or (image_kind == "link"):
        src = str(image_rootfs / name)  # type: ignore[operator]
        if image_kind == "link":
            return [Op("symlink", target, source=os.readlink(src))]
        return [Op("touch", target), Op("rbind", target, source=src, read_only=True)]
    if host_kind == "link" and image_kind is None:
        return [Op("symlink", target, source=os.readlink(host_path))]
    if name in PRIVATE_TMPFS and image_kind is None:
        return [Op("mkdir", target), Op("tmpfs", target)]
    if name in PASSTHROUGH:
        return [Op("mkdir", target), Op("rbind", target, source=host_path)]
    if host_kind == "file":
        return [Op("touch", target), Op("rbind", target, source=host_path, read_only=True)]
    lowers = []
    if image_kind == "dir":
        lowers.append(str(image_rootfs / name))  # type: ignore[operator]
    if host_kind == "dir":
        lowers.append(host_path)
    if image_kind is None and name not in volume_tops:
        return [Op("mkdir", target), Op("rbind", target, source=host_path, read_only=True)]
    return [
        Op("mkdir", target),
        Op("mkdir", f"{scratch}/upper/{name}"),
        Op("mkdir", f"{scratch}/work/{name}"),
        Op(
            "overlay",
            target,
            lowers=tuple(lowers),
            upper=f"{scratch}/upper/{name}",
            work=f"{scratch}/work/{name}",
        ),
    ]


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
        os.makedirs(op.target, exist_ok=True)
        _mount("tmpfs", op.target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    elif op.kind == "mkdir":
        os.makedirs(op.target, exist_ok=True)
    elif op.kind == "touch":
        os.makedirs(os.path.dirname(op.target), exist_ok=True)
        if os.path.islink(op.target):
            # A link (the host's /etc/resolv.conf often is one) would carry the
            # bind mount outside the container's root; the copy-on-write layer
            # lets us replace it with a plain file.
            os.unlink(op.target)
        if not os.path.exists(op.target):
            os.close(os.open(op.target, os.O_CREAT | os.O_WRONLY, 0o644))
    elif op.kind == "symlink":
        os.symlink(op.source, op.target)
    elif op.kind == "rbind":
        _mount(op.source, op.target, None, MS_BIND | MS_REC)
        if op.read_only:
            _mount(None, op.target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    elif op.kind == "overlay":
        data = f"lowerdir={':'.join(op.lowers)},upperdir={op.upper},workdir={op.work}"
        _mount("overlay", op.target, "overlay", 0, data)


_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def joiner(pid: int, root: str, cwd: str):  # type: ignore[no-untyped-def]
    """A preexec function entering a running container's namespaces and root (exec probes, hooks)."""
    paths = [(f"/proc/{pid}/ns/mnt", CLONE_NEWNS), (f"/proc/{pid}/ns/uts", CLONE_NEWUTS)]

    def run() -> None:
        for path, kind in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                _check(_libc.setns(fd, kind), f"setns {path}")
            finally:
                os.close(fd)
        os.chroot(root)
        os.chdir(cwd)

    return run
