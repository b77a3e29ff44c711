"""The container's view of the filesystem: a private mount namespace per container.

Inside, the root holds, at their usual paths, the host's top-level
directories, the image's files (an overlay over the host directory of the
same name, so `COPY app.py /app/app.py` is `/app/app.py`), each volume at
its `mountPath`, and a private `/tmp`. A UTS namespace makes the hostname
the pod name.

The root is writable as a container's is: its writes land in a layer of the
container's own (a tmpfs in its namespace, gone with the container: a
restarted container starts afresh) and no host file ever changes. How that
layer is made depends on what the machine allows (`machine_layers`, probed
once):

- `root` (as root): one overlay over the host's whole root, so every path
  is copy-on-write; the host's mounts, which that overlay does not show, are
  bound read-only in place (a few per directory, else their common parents),
  save a top-level mount point apps write to (`/home`, `/run`), which gets an
  overlay of its own;
- `dirs` (rootless: a user namespace may not overlay a directory with mounts
  below it): a tmpfs root, an overlay over each of the directories apps
  write to (`WRITABLE`: `/root`, `/home`, `/var`, `/opt`, `/srv`, with
  `/etc` and `/run`) that has no mounts below, the others bound read-only;
  a directory the user may not read is an empty one of the container's own;
- `binds` (no overlayfs): a tmpfs root, host directories bound read-only,
  and where the plan must add files (`/etc`, a volume's parent) a tmpfs with
  each of the directory's entries bound in.

With `readOnlyRootFilesystem` all of it is remounted read-only once the
mount points are made: then only volumes, `/dev` and the termination-log
file are writable, as with runc.

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

`plan()` is pure (what to mount where, from the host's and the image's
top-level listings and the host's mount points, all kept while unchanged);
`enter()` runs in the forked child before exec and performs it with raw
syscalls. As a non-root user the child first enters a user namespace
mapping it to root. If the kernel refuses, the container fails with a
message naming the missing capability; nothing is ever mounted elsewhere
instead.

A container with a user of its own (`securityContext.runAsUser` and the
rest, `User`) runs as that user, as runc runs it: as root, the child
switches (`become`) once everything that needs root is done, right before
the executable is looked up, so an executable the user may not run fails
the start. Without root, the user namespace's one mapped id is that user
(and its group) instead of root: `id -u` tells what the pod asked for, and
it owns what it writes as kubelite does; supplementary groups cannot be set
there (as with rootless runc, they are left out). The container's `/tmp`
is writable by all (mode 1777), as an image's is.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubelite.kubelet.rootpath import path_parts, resolve_in_root

log = logging.getLogger(__name__)

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
TMP_MODE = "1777"
# The permission bits that let the group and others pass through a directory.
SEARCHABLE = 0o011

# How a container's root gets its writable layer (see the module docstring).
ROOT_OVERLAY = "root"
DIR_OVERLAYS = "dirs"
BINDS = "binds"
_STRENGTH = {BINDS: 0, DIR_OVERLAYS: 1, ROOT_OVERLAY: 2}
# `KUBELITE_ROOTFS=dirs|binds` settles for less than the machine allows.
ROOTFS_ENV = "KUBELITE_ROOTFS"

# Where apps write (HOME, logs, caches, state, add-ons, served data) besides
# /tmp, and what the `dirs` layout gives a layer; /etc and /run always had one.
WRITABLE = frozenset({"etc", "home", "opt", "root", "run", "srv", "var"})
# Without root the host's directories belong to nobody the container knows:
# these get a directory of the container's root in its layer (same mode), so
# it may add files there.
OWN_SUBDIRS = {"var": ("cache", "lib", "log", "spool", "tmp")}
# The host's mounts below /run are its runtime state, never a container's.
HIDDEN_BELOW = frozenset({"run"})
# At most this many host mounts below one top-level directory are bound one by
# one; more (Docker's layers under /var/lib/docker, snaps) are bound by their
# nearest common directories, and at worst the whole directory read-only.
MAX_HOST_BINDS = 4
# The node agents' own mounts (pods' /dev/shm, memory emptyDirs): of no
# container's business, wherever a cluster's data directory is.
_POD_MOUNT = re.compile(r"/nodes/[^/]+/pods/[^/]+/")


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
    # tmpfs (source: its mode in octal, 755 if empty), rbind, overlay (source:
    # extra mount options), symlink, mkdir, touch, dev (source: the pod's shm),
    # file (source: a host file to make, mode 0666), unlink, layerdir (source: its
    # mode in octal), hostbind (read-only, skipped if the source has gone),
    # readonly (source: "tmpfs" or "overlay"), traverse (a directory made
    # searchable by every user, where the container's view lets it change)
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
        # three times slower; a container's plan has dozens of ops.
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
    read_only_root: bool = False,
    layers: str | None = None,
    host_mounts: Sequence[str] | None = None,
    as_root: bool | None = None,
    searchable: Sequence[str] = (),
) -> Plan:
    """Mount operations for one container; `visible` are host paths that must stay reachable.

    With `shm` (the pod's shared directory for `/dev/shm`) the container gets a
    private `/dev`; without, the host's. `read_only_root` is the container's
    `readOnlyRootFilesystem`. `searchable` are directories (absolute paths in
    the container) its user must pass through but may not on the host (an
    interpreter under root's 0700 `/root`): in the container's view they let
    everyone through, where its layer lets them change (as a file system
    change of the container's own: the host's stay as they are, and one at
    or below a volume is left alone). `layers`
    (one of ROOT_OVERLAY, DIR_OVERLAYS, BINDS), `host_mounts` (mount points,
    absolute host paths) and `as_root` default to what this machine and
    process have.
    """
    r, s = os.fspath(root), os.fspath(scratch)
    mode, options = machine_layers() if layers is None else (layers, "")
    as_root = os.geteuid() == 0 if as_root is None else as_root
    if mode == ROOT_OVERLAY and not as_root:
        mode = DIR_OVERLAYS  # a user namespace may not overlay a root with mounts below it
    roots = [layer for layer in (image_rootfs, host_root) if layer is not None]
    volumes = [
        VolumeMount(v.source, resolve_in_root(v.target, roots), v.read_only, v.create)
        for v in volumes
    ]
    p = Plan(root=r, scratch=s, hostname=hostname, workdir=workdir or "/")
    image = _listing(str(image_rootfs)) if image_rootfs else _NOTHING
    host = _listing(str(host_root))
    volume_tops = frozenset(parts[1] for v in volumes if len(parts := path_parts(v.target)) > 1)
    layout = _Layout(mode, options, as_root, _host_mounts(str(host_root), as_root, host_mounts))
    steps = _top_steps(host, image, volume_tops, layout)
    if steps is None:  # the image turns a host directory into a file or link
        layout = replace(layout, mode=DIR_OVERLAYS)
        steps = _top_steps(host, image, volume_tops, layout)
        assert steps is not None
    ops = p.ops
    ops.append(Op("tmpfs", s))
    mounted: list[Op] = []  # the container's own file systems, for read_only_root
    if layout.mode == ROOT_OVERLAY:
        # the layer's own root directory gives the root its owner and mode
        upper, work = f"{s}/rootfs-upper", f"{s}/rootfs-work"
        ops.append(Op("layerdir", upper, f"{_mode(os.fspath(host_root)):o}"))
        ops.extend((Op("mkdir", work), Op("mkdir", r)))
        ops.append(Op("overlay", r, options, (os.fspath(host_root),), upper, work))
        mounted.append(Op("readonly", r, "overlay"))
    else:
        ops.append(Op("tmpfs", r))
        mounted.append(Op("readonly", r, "tmpfs"))
    for step in steps:
        _step_ops(ops, mounted, step, r, s, layout, shm)
    # Under the private /tmp they would be gone. In a layer they are read through
    # overlayfs, whose first look at each path costs (some 6 us: ~5 ms of an
    # interpreter's imports), so they are bound as they are, read-only; but not a
    # whole top-level directory (a system Python's /usr), which stays writable.
    layered = {rel for kind, rel, *_ in steps if kind == "overlay"}
    for path in sorted(visible):
        parts = path.parts
        if len(parts) < 2:
            continue
        if parts[1] in PRIVATE_TMPFS or (
            len(parts) > 2 and (parts[1] in layered or layout.mode == ROOT_OVERLAY)
        ):
            ops.append(Op("mkdir", r + str(path)))
            ops.append(Op("rbind", r + str(path), source=str(path), read_only=True))
    for v in volumes:
        if v.create:
            ops.append(Op("file", r + v.target, source=v.source))
        # a file or a device node (hostPath /dev/fuse) is bound onto a file
        kind = "touch" if v.create or not os.path.isdir(v.source) else "mkdir"
        ops.append(Op(kind, r + v.target))
        ops.append(Op("rbind", r + v.target, source=v.source, read_only=v.read_only))
    # never through a volume: that would change the host's directory
    mounted_at = [v.target.rstrip("/") + "/" for v in volumes]
    for closed in searchable:
        if not any((closed + "/").startswith(target) for target in mounted_at):
            ops.append(Op("traverse", r + closed))
    if read_only_root:
        ops.extend(mounted)  # last: every mount point is made by now
    return p


def _step_ops(
    ops: list[Op],
    mounted: list[Op],
    step: _Step,
    r: str,
    s: str,
    layout: _Layout,
    shm: str | None,
) -> None:
    """The ops of one step: its target relative to the root (or to the scratch's
    upper directory, for `upper` and `layerdir`)."""
    kind, rel, source, lowers, read_only = step
    target = f"{r}/{rel}"
    if kind == "upper":
        ops.append(Op("layerdir", f"{s}/upper/{rel}", source))
        ops.append(Op("mkdir", f"{s}/work/{rel}"))
    elif kind == "layerdir":
        ops.append(Op("layerdir", f"{s}/upper/{rel}", source))
    elif kind == "overlay":
        upper, work = f"{s}/upper/{rel}", f"{s}/work/{rel}"
        ops.append(Op("overlay", target, layout.options, lowers, upper, work))
        mounted.append(Op("readonly", target, "overlay"))
    elif kind == "tmpfs":
        ops.append(Op("tmpfs", target, source))
        mounted.append(Op("readonly", target, "tmpfs"))
    elif rel == "dev" and kind == "rbind" and shm is not None:
        ops.append(Op("dev", target, source=shm))  # one op: the plan travels to the shim
    else:
        ops.append(Op(kind, target, source=source, read_only=read_only))


# A directory changed this recently may change again without its timestamps
# moving (they advance in clock ticks, or whole seconds on some filesystems),
# so its listing is read afresh until it has been still for this long.
SETTLE_NS = 2_000_000_000
_MAX_CACHED = 64
# The host's mount points are read again at most this often: a mount made in
# the meantime shows in the containers started after.
MOUNTS_TTL_NS = 1_000_000_000


class _Listing:
    """A directory's top level as of one stat of it; link targets are read on demand.

    Each container start looks at the host's `/` and its image's rootfs, which
    seldom change; adding, removing or replacing an entry moves the
    directory's mtime and ctime, so a listing is reused while its stat is the same.
    """

    __slots__ = ("prefix", "key", "kinds", "settled", "_links", "_modes")

    def __init__(self, path: str, key: tuple[int, ...], kinds: dict[str, str]) -> None:
        self.prefix = path if path.endswith("/") else path + "/"
        self.key = key
        self.kinds = kinds
        self.settled = False  # long unchanged, so kept in _listings
        self._links: dict[str, str] = {}
        self._modes: dict[str, int] = {}

    def link(self, name: str) -> str:
        target = self._links.get(name)
        if target is None:
            target = self._links[name] = os.readlink(self.prefix + name)
        return target

    def mode(self, name: str) -> int:
        """The permission bits of an entry (0 if it has gone)."""
        mode = self._modes.get(name)
        if mode is None:
            try:
                mode = stat.S_IMODE(os.stat(self.prefix + name).st_mode)
            except OSError:
                mode = 0
            self._modes[name] = mode
        return mode


_NOTHING = _Listing("", (), {})
_NOTHING.settled = True
_listings: dict[str, _Listing] = {}


@dataclass(frozen=True)
class _Mounts:
    """The host's mount points as a plan needs them, by top-level name."""

    tops: frozenset[str] = frozenset()  # top-level directories that are mount points
    # the outermost mount points below each top-level directory (paths from the
    # root), the agents' own pod mounts left out as root
    below: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # top-level directories with any mount below them, pod mounts included
    any_below: frozenset[str] = frozenset()

    def under(self, name: str) -> tuple[str, ...]:
        for top, points in self.below:
            if top == name:
                return points
        return ()


@dataclass(frozen=True)
class _Layout:
    mode: str
    options: str  # extra overlay options ("userxattr" in a user namespace)
    as_root: bool
    mounts: _Mounts

    def blocked(self, name: str) -> bool:
        """Whether an overlay of the host's `/name` would miss mounts below it (or,
        in a user namespace, be refused for them)."""
        if self.as_root:
            return bool(self.mounts.under(name))
        return name in self.mounts.any_below


# What each top-level name becomes, with the container's root and scratch left out:
# (kind, path relative to the root, source, lowers, read_only); see _step_ops.
_Step = tuple[str, str, str, tuple[str, ...], bool]
_steps: dict[tuple[_Listing, _Listing, frozenset[str], _Layout], list[_Step]] = {}
_mounts_read: dict[tuple[str, bool], tuple[int, _Mounts]] = {}


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


def _host_mounts(host_root: str, as_root: bool, points: Sequence[str] | None) -> _Mounts:
    """The host's mounts below `host_root`; read from /proc at most every MOUNTS_TTL_NS."""
    if points is not None:
        return _mounts_of(host_root, points, as_root)
    now = time.monotonic_ns()
    cached = _mounts_read.get((host_root, as_root))
    if cached is not None and now - cached[0] < MOUNTS_TTL_NS:
        return cached[1]
    mounts = _mounts_of(host_root, _mount_points(), as_root)
    _mounts_read[(host_root, as_root)] = (now, mounts)
    return mounts


def _mount_points() -> list[str]:
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            return _parse_mountinfo(f.read())
    except OSError:
        return []


def _parse_mountinfo(data: bytes) -> list[str]:
    """The mount points of a /proc/PID/mountinfo (its fifth field)."""
    points = []
    for line in data.splitlines():
        point = line.split(b" ", 5)[4]
        if b"\\" in point:  # spaces, tabs, newlines and backslashes come as \ooo
            point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), point)
        points.append(os.fsdecode(point))
    return points


def _mounts_of(host_root: str, points: Sequence[str], as_root: bool) -> _Mounts:
    prefix = host_root.rstrip("/")
    tops: set[str] = set()
    any_below: set[str] = set()
    below: dict[str, list[str]] = {}
    for point in points:
        if prefix and not point.startswith(prefix + "/"):
            continue
        rel = point[len(prefix) :]
        parts = rel.split("/")
        if len(parts) < 2 or not parts[1] or parts[1] in PASSTHROUGH or parts[1] in PRIVATE_TMPFS:
            continue
        name = parts[1]
        if len(parts) == 2:
            tops.add(name)
            continue
        any_below.add(name)
        if as_root and _POD_MOUNT.search(rel):
            continue
        below.setdefault(name, []).append(rel)
    outermost = []
    for name, found in sorted(below.items()):
        kept: list[str] = []
        for path in sorted(set(found)):
            if not any(path.startswith(k + "/") for k in kept):
                kept.append(path)
        outermost.append((name, tuple(kept)))
    return _Mounts(frozenset(tops), tuple(outermost), frozenset(any_below))


def _covers(points: tuple[str, ...], most: int = MAX_HOST_BINDS) -> tuple[str, ...]:
    """At most `most` directories holding all of `points` (below one top-level
    directory), each as deep as can be; the top-level directory alone at worst."""
    paths = {tuple(p.split("/")[1:]) for p in points}
    while len(paths) > most:
        deepest = max(len(p) for p in paths)
        if deepest == 1:
            break
        paths = {p[:-1] if len(p) == deepest else p for p in paths}
        paths = {p for p in paths if not any(p[:i] in paths for i in range(1, len(p)))}
    return tuple(sorted("/" + "/".join(p) for p in paths))


def _top_steps(
    host: _Listing, image: _Listing, volume_tops: frozenset[str], layout: _Layout
) -> list[_Step] | None:
    """Every top-level name's steps; None if the layout cannot make this image's root."""
    key = (host, image, volume_tops, layout)
    steps = _steps.get(key)
    if steps is None:
        steps = []
        for name in sorted(host.kinds.keys() | image.kinds.keys()):
            found = _top_level(name, host, image, volume_tops, layout)
            if found is None:
                return None
            steps.extend(found)
        # in `binds` the steps list entries below the top level, which may change unseen
        if host.settled and image.settled and layout.mode != BINDS:
            if len(_steps) >= _MAX_CACHED:
                _steps.clear()
            _steps[key] = steps
    return steps


def _top_level(
    name: str, host: _Listing, image: _Listing, volume_tops: frozenset[str], layout: _Layout
) -> list[_Step] | None:
    host_kind, image_kind = host.kinds.get(name), image.kinds.get(name)
    in_root = layout.mode == ROOT_OVERLAY  # the host's entry is there already
    before: list[_Step] = []
    if in_root and image_kind is not None and image_kind != host_kind:
        if host_kind == "dir":
            return None  # an overlay cannot make a directory a file or a link
        if host_kind is not None:
            before.append(("unlink", name, "", (), False))
    if image_kind == "link":
        return [*before, ("symlink", name, image.link(name), (), False)]
    if image_kind == "file":
        return [
            *before,
            ("touch", name, "", (), False),
            ("rbind", name, image.prefix + name, (), True),
        ]
    if not (in_root and host_kind == "dir"):
        before.append(("mkdir", name, "", (), False))
    if name in PRIVATE_TMPFS and image_kind is None:
        # sticky and writable by all, as an image's /tmp is: any user may write there
        return [*before, ("tmpfs", name, TMP_MODE, (), False)]
    if name in PASSTHROUGH:
        return [*before, ("rbind", name, host.prefix + name, (), False)]
    if image_kind == "dir":
        lowers = [image.prefix + name]
        inside = lowers[0].startswith(host.prefix + name + "/")  # overlapping layers
        if host_kind == "dir" and not inside and (layout.as_root or not layout.blocked(name)):
            lowers.append(host.prefix + name)
        return [*before, *_layer(name, tuple(lowers), host, layout)]
    if in_root:
        return _in_root(name, host, host_kind, volume_tops, layout)
    if host_kind == "link":
        return [("symlink", name, host.link(name), (), False)]
    if host_kind == "file":
        return [("touch", name, "", (), False), ("rbind", name, host.prefix + name, (), True)]
    return [*before, *_host_dir(name, host, volume_tops, layout)]


def _in_root(
    name: str, host: _Listing, host_kind: str | None, volume_tops: frozenset[str], layout: _Layout
) -> list[_Step]:
    """A host entry in the overlay of the host's root: there already, save the mounts
    at or below it, which the overlay does not show."""
    lower = host.prefix + name
    if host_kind != "dir":
        return [("hostbind", name, lower, (), True)] if name in layout.mounts.tops else []
    if name in layout.mounts.tops and name not in WRITABLE and name not in volume_tops:
        return [("rbind", name, lower, (), True)]  # a mount of its own (/boot): read-only
    covers = () if name in HIDDEN_BELOW else _covers(layout.mounts.under(name))
    if covers == ("/" + name,):  # too many mounts below to bind one by one
        if name not in volume_tops:
            return [("rbind", name, lower, (), True)]  # the host's directory as it is, read-only
        covers = ()  # a volume's parent stays writable, the mounts below unseen
    steps = _layer(name, (lower,), host, layout) if name in layout.mounts.tops else []
    steps.extend(("hostbind", path[1:], host.prefix + path[1:], (), True) for path in covers)
    return steps


def _host_dir(
    name: str, host: _Listing, volume_tops: frozenset[str], layout: _Layout
) -> list[_Step]:
    """A host directory on a tmpfs root (`dirs`, `binds`), its mount point made before."""
    lower = host.prefix + name
    if not layout.as_root and not os.access(lower, os.R_OK | os.X_OK):
        return []  # not the user's to read (root's /root): an empty one of the container's
    wanted = name in WRITABLE or name in volume_tops
    if wanted and layout.mode == DIR_OVERLAYS and not layout.blocked(name):
        return _layer(name, (lower,), host, layout)
    if name == "run":
        return []  # an empty /run of the container's own rather than the host's state
    if name == "etc" or name in volume_tops:
        return _farm(name, (lower,))  # files to add: each entry bound into a tmpfs
    return [("rbind", name, lower, (), True)]


def _layer(name: str, lowers: tuple[str, ...], host: _Listing, layout: _Layout) -> list[_Step]:
    """Writable `/name` over `lowers` (the first wins): an overlay, or without overlayfs
    a tmpfs with each entry of the lowers bound in (read-only)."""
    if layout.mode == BINDS:
        return _farm(name, lowers)
    mode = (host.mode(name) if host.kinds.get(name) == "dir" else 0) or 0o755
    # the layer's directory gives the merged one its owner and mode: the host's mode
    steps: list[_Step] = [("upper", name, f"{mode:o}", (), False)]
    if not layout.as_root and lowers[-1] == host.prefix + name:
        # Its merged directories take the owner of the layer's: there the
        # container's root, not the host's (whom a user namespace maps to nobody).
        below = _listing(host.prefix + name)
        for sub in OWN_SUBDIRS.get(name, ()):
            if below.kinds.get(sub) == "dir":
                steps.append(
                    ("layerdir", f"{name}/{sub}", f"{below.mode(sub) or 0o755:o}", (), False)
                )
    steps.append(("overlay", name, "", lowers, False))
    return steps


def _mode(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode) or 0o755
    except OSError:
        return 0o755


def _farm(name: str, lowers: tuple[str, ...]) -> list[_Step]:
    entries: dict[str, tuple[str, str]] = {}
    for lower in reversed(lowers):
        listing = _listing(lower)
        for entry, kind in listing.kinds.items():
            entries[entry] = (kind, lower)
    steps: list[_Step] = [("tmpfs", name, "", (), False)]
    for entry, (kind, lower) in sorted(entries.items()):
        rel, source = f"{name}/{entry}", f"{lower}/{entry}"
        if kind == "link":
            steps.append(("symlink", rel, os.readlink(source), (), False))
        else:
            steps.append(("mkdir" if kind == "dir" else "touch", rel, "", (), False))
            steps.append(("hostbind", rel, source, (), True))
    return steps


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


@dataclass(frozen=True)
class User:
    """Whom a container's process runs as: `runAsUser`, `runAsGroup` (or the
    user's group) and the supplementary groups (`supplementalGroups`, `fsGroup`,
    the user's groups in the container's `/etc/group`)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def unshare(as_root: bool, user: User | None = None) -> None:
    """New mount and UTS namespaces; without root a user namespace too, whose one
    mapped user is this process's own: root there, or `user` (and its group) when
    given, so the process is that user without a switch (its supplementary
    groups cannot be set there: the kernel lets an unprivileged user namespace
    map groups only once setgroups is denied)."""
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
        inner_uid, inner_gid = (user.uid, user.gid) if user is not None else (0, 0)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{inner_uid} {uid} 1")
        _write("/proc/self/gid_map", f"{inner_gid} {gid} 1")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter(p: Plan, *, as_root: bool, user: User | None = None) -> None:
    unshare(as_root, user)
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
        _mount("tmpfs", op.target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={op.source or '755'}")
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
        _mount("overlay", op.target, "overlay", 0, f"{data},{op.source}" if op.source else data)
    elif op.kind == "hostbind":
        with contextlib.suppress(FileNotFoundError):  # a host mount gone since the plan
            _mount(op.source, op.target, None, MS_BIND | MS_REC)
            _mount(None, op.target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    elif op.kind == "unlink":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(op.target)
    elif op.kind == "layerdir":
        _mkdir(op.target)
        os.chmod(op.target, int(op.source, 8))  # past the umask, sticky bit included
    elif op.kind == "readonly":
        keep = MS_NOSUID | MS_NODEV if op.source == "tmpfs" else 0
        _mount(None, op.target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
    elif op.kind == "dev":
        private_dev(op.target, op.source)
    elif op.kind == "file":
        _new_file(op.source)
    elif op.kind == "traverse":
        # Where the view is read-only (a host bind) it stays as it is: the user
        # then meets the host's permissions, as the exec's error will say.
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(op.target).st_mode)
            if mode & SEARCHABLE != SEARCHABLE:
                os.chmod(op.target, mode | SEARCHABLE)
    else:
        # A step this code does not know: a plan from a newer kubelite reaching a
        # container shim started by an older one. Skipping it would give the
        # container another view than planned.
        raise SandboxError(
            f"unknown set-up step {op.kind!r}: the node's container shim is older than "
            "this kubelite (it restarts once its containers are gone: kubelite down, up)"
        )


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
    machine_layers()  # the agent's start asks this once, off its loop: the layout too

    def test(root: str, _as_root: bool) -> str:  # pragma: no cover - in the probe's child
        os.mkdir(f"{root}/dev")
        os.mkdir(f"{root}/shm")
        private_dev(f"{root}/dev", f"{root}/shm")
        return ""

    reason, code = _probe(work, MS_NOSUID, test)
    with contextlib.suppress(OSError):
        work.rmdir()
    if code != 0:
        return reason or "the test container ended abnormally"
    return ""


def _probe(work: Path, tmpfs_flags: int, test: Callable[[str, bool], str]) -> tuple[str, int]:
    """Run `test(root, as_root)` in a forked child, in a mount namespace of its own
    with a tmpfs at `work` (an empty directory): its answer, or the text of what it
    raised, and the child's exit code (1 when it raised)."""
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
            _mount("tmpfs", str(work), "tmpfs", tmpfs_flags, "mode=755")
            answer = test(str(work), as_root)
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear it
            answer, code = str(exc) or type(exc).__name__, 1
        os.write(w, answer.encode(errors="replace"))
        os._exit(code)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            answer = f.read().decode(errors="replace")
    finally:
        _, status = os.waitpid(pid, 0)
    return answer, os.waitstatus_to_exitcode(status)


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


_DEV_NULL = os.makedev(1, 3)


def become(user: User) -> None:
    """Switch this process (root) to the container's user, as runc does before it
    looks the executable up: its stdio made the user's first (so that it may
    open `/dev/stdout`), then the supplementary groups, the group and the user,
    in that order (each step needs the rights the next one drops).

    A SandboxError names what failed, in runc's words: in a user namespace an
    id that is not mapped there cannot be set.
    """
    _own_stdio(user.uid)
    try:
        os.setgroups(user.groups)
    except PermissionError:
        pass  # setgroups is denied in this user namespace: runc leaves them too
    except OSError as exc:
        raise _user_error(exc, "setgroups") from None
    try:
        os.setgid(user.gid)
    except OSError as exc:
        raise _user_error(exc, "setgid", "gid", user.gid) from None
    try:
        os.setuid(user.uid)
    except OSError as exc:
        raise _user_error(exc, "setuid", "uid", user.uid) from None


def _own_stdio(uid: int) -> None:
    """Give the user its stdio (pipes or terminal the runtime made), /dev/null aside."""
    for fd in (0, 1, 2):
        st = os.fstat(fd)
        if st.st_uid == uid or (stat.S_ISCHR(st.st_mode) and st.st_rdev == _DEV_NULL):
            continue
        try:
            os.fchown(fd, uid, -1)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EROFS):
                raise _user_error(exc, "fchown") from None


def _user_error(exc: OSError, call: str, kind: str = "", wanted: int = 0) -> SandboxError:
    err = exc.errno or errno.EPERM
    if err == errno.EINVAL and kind:
        why = f"cannot {call} to unmapped {kind} {wanted} in user namespace"
    else:
        why = f"{call}: {os.strerror(err).lower()}"
    return SandboxError(err, f"unable to setup user: {why}")


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


# ---- what the machine allows ------------------------------------------------------

_machine: tuple[str, str] | None = None  # (layout, overlay options), once probed


def machine_layers() -> tuple[str, str]:
    """The strongest layout this machine allows a container's root, and the overlay
    options it needs: probed once (a forked child tries it), then kept.
    `KUBELITE_ROOTFS=dirs|binds` asks for less."""
    global _machine
    if _machine is None:
        import tempfile  # here: the shim, which imports this module too, never needs it

        work = Path(tempfile.mkdtemp(prefix="kubelite-layers-"))
        try:
            found = probe_layers(work)
        finally:
            with contextlib.suppress(OSError):
                work.rmdir()
        wanted = os.environ.get(ROOTFS_ENV, "")
        if _STRENGTH.get(wanted, 9) < _STRENGTH[found[0]]:
            found = (wanted, found[1])
        if found[0] == BINDS:
            log.warning("no overlayfs here: containers see the host's directories read-only")
        elif found[0] != ROOT_OVERLAY:
            log.info("containers' root filesystems: %s layout", found[0])
        _machine = found
    return _machine


def probe_layers(work: Path) -> tuple[str, str]:
    """What a container's mount namespace here may overlay: (layout, options).

    As root, an overlay over the host's whole root; in a user namespace one
    over a plain directory, with `userxattr` if the kernel knows it (its
    xattrs then work in the tmpfs layer, and it logs no warning per mount).
    `work` (an empty directory) only serves as a mount point.
    """
    answer, code = _probe(work, MS_NOSUID | MS_NODEV, _try_layers)
    if code != 0:  # no namespace: nothing to overlay in
        answer = f"{BINDS} "
    mode, _, options = answer.partition(" ")
    return (mode if mode in _STRENGTH else BINDS), options


def _try_layers(work: str, as_root: bool) -> str:  # pragma: no cover - in the probe's child
    def overlay(n: int, lower: str, options: str) -> bool:
        upper, wd, target = f"{work}/u{n}", f"{work}/w{n}", f"{work}/m{n}"
        for d in (upper, wd, target):
            os.mkdir(d)
        data = f"lowerdir={lower},upperdir={upper},workdir={wd}" + (
            f",{options}" if options else ""
        )
        return _libc.mount(b"overlay", target.encode(), b"overlay", 0, data.encode()) == 0

    if as_root and overlay(0, "/", ""):
        return f"{ROOT_OVERLAY} "
    os.mkdir(f"{work}/lower")
    for n, options in enumerate([""] if as_root else ["userxattr", ""]):
        if overlay(n + 1, f"{work}/lower", options):
            return f"{DIR_OVERLAYS} {options}"
    return f"{BINDS} "
