"""Turn a container spec into a process spec: image, environment, argv, filesystem view.

Errors come back as `PrepareError(reason, message)` with the waiting reason
the kubelet would show: ErrImageNeverPull/ErrImagePull for a missing image,
CreateContainerConfigError for a missing ConfigMap/Secret key, a volume
mount without a volume, or a `subPath` (`subPathExpr`, expanded from the
container's variables) that cannot be had safely inside its volume
(`subpath`: the container then gets a bind of the checked path, never the
path again).

As on a cluster, configMap, secret, downwardAPI and projected volumes are
mounted read-only whatever the volumeMount says (their plugins' `ReadOnly`
attribute), a `persistentVolumeClaim` volume with `readOnly: true` too;
`readOnlyRootFilesystem` makes the container's root read-only, its
`resolv.conf` and `/etc/hostname` included (containerd's rule; the kubelet's `/etc/hosts` stays
writable); and a container whose environment has no `HOME` gets its user's
home directory from the container's `/etc/passwd`, as runc gives it.

The container runs as its `securityContext` user (`container_user`: the
kubelet's and containerd's rules; the switch itself is `sandbox.become`'s);
as root, the directories it must pass through to reach this machine's
interpreter and the images (under `/root`, or a data directory of mode 0700)
are made searchable in its own view of the filesystem.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kubelite.kubelet import images, sandbox, subpath, termination
from kubelite.kubelet.command import expand_all, resolve_argv
from kubelite.kubelet.envvars import (
    EnvError,
    Sources,
    container_env,
    passwd_home,
    pod_hostname,
    run_as_user,
)
from kubelite.kubelet.images import Image, ImageNotFound, ImageStore, how_to_build
from kubelite.kubelet.process import Spec
from kubelite.kubelet.volumes import projected_kinds

Obj = dict[str, Any]
RESOLV_CONF = "/etc/resolv.conf"  # a volumeMount of the user's at this path wins
ETC_HOSTS = "/etc/hosts"  # likewise
ETC_HOSTNAME = "/etc/hostname"  # likewise
PASSWD = "/etc/passwd"
GROUP = "/etc/group"


ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"


class PrepareError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def image_missing(container: Obj) -> PrepareError:
    image = container.get("image", "")
    policy = container.get("imagePullPolicy") or "IfNotPresent"
    if policy == "Never":
        return PrepareError(
            "ErrImageNeverPull",
            f'Container image "{image}" is not present with pull policy of Never; {how_to_build(image)}',
        )
    return PrepareError(ERR_IMAGE_PULL, f'failed to pull image "{image}": {pull_error(image)}')


def pull_error(image: str) -> str:
    """Why pulling `image` failed: kubelite has no registry to pull from."""
    return f"kubelite runs only local images; {how_to_build(image)}"


def resolve_image(store: ImageStore, container: Obj) -> Image:
    try:
        return store.resolve(container.get("image", ""))
    except ImageNotFound:
        raise image_missing(container) from None


def container_id(uid: str, name: str, restart: int) -> str:
    digest = hashlib.sha256(f"{uid}/{name}/{restart}/{os.urandom(8).hex()}".encode()).hexdigest()
    return f"kubelite://{digest}"


@dataclass
class Context:
    pod: Obj
    pod_dir: Path
    pod_ip: str
    host_ip: str
    volumes: dict[str, str]  # volume name -> host path
    sources: Sources
    data_dir: Path
    isolate: bool
    resolv_conf: Path | None = None  # the pod's resolv.conf, bound over /etc/resolv.conf
    hosts: Path | None = None  # the pod's hosts file, bound over /etc/hosts
    hostname: Path | None = None  # the pod's hostname file, bound over /etc/hostname
    shm: str | None = None  # the pod's /dev/shm; None: the container sees the host's /dev
    # bound at its terminationMessagePath (the container's child makes the file)
    termination_log: Path | None = None


def build_spec(ctx: Context, container: Obj, image: Image, log_path: Path) -> Spec:
    why = run_as_non_root_violation(ctx.pod, container, image.run_config.get("User") or "")
    if why:
        raise PrepareError("CreateContainerConfigError", why)
    try:
        env, defined = container_env(
            ctx.pod,
            container,
            image_env=image.env,
            pod_ip=ctx.pod_ip,
            host_ip=ctx.host_ip,
            sources=ctx.sources,
        )
    except EnvError as exc:
        raise PrepareError("CreateContainerConfigError", str(exc)) from None
    argv = expand_all(resolve_argv(container, image.run_config), defined)
    if not argv:
        raise PrepareError("CreateContainerError", "no command specified")
    workdir = container.get("workingDir") or image.run_config.get("WorkingDir") or "/"
    mounts = _mounts(ctx, container, defined)
    name = container["name"]
    plan = None
    cwd = workdir
    rootfs = image.rootfs if ctx.isolate and os.path.isdir(image.rootfs) else None
    if not env.get("HOME"):
        env["HOME"] = _home(ctx, container, image, rootfs, mounts)
    user = _user(ctx, container, image, rootfs, mounts)
    if ctx.isolate:
        visible = [ctx.data_dir / "images", *_interpreter_paths(env)]
        plan = sandbox.plan(
            root=os.path.join(ctx.pod_dir, "root", name),
            scratch=os.path.join(ctx.pod_dir, "scratch", name),
            image_rootfs=rootfs,
            volumes=mounts,
            visible=visible,
            # a host-network pod keeps the node's hostname, as upstream's sandbox does
            hostname="" if ctx.pod.get("spec", {}).get("hostNetwork") else pod_hostname(ctx.pod),
            workdir=workdir,
            shm=ctx.shm,
            read_only_root=_read_only_root(container),
            searchable=_closed_dirs(tuple(visible)) if user and user.uid and _as_root() else (),
        )
    else:
        # No filesystem view of its own: run in the image directory's copy of workdir.
        cwd = str(image.rootfs / str(PurePosixPath(workdir)).lstrip("/"))
    spec = Spec(argv=argv, env=env, cwd=cwd, log_path=log_path, plan=plan)
    if ctx.isolate or _as_root():  # without either, it can only run as kubelite's user
        spec.user = user
    if not (ctx.pod.get("spec") or {}).get("hostNetwork"):
        spec.pod_ip = ctx.pod_ip  # its wildcard binds go there, as into a network of its own
    if container.get("stdin") or container.get("tty"):  # for `kubectl attach`
        spec.stdin = bool(container.get("stdin"))
        spec.stdin_once = spec.stdin and bool(container.get("stdinOnce"))
        spec.tty = bool(container.get("tty"))
    return spec


def run_as_non_root_violation(pod: Obj, container: Obj, image_user: str) -> str:
    """Upstream's verifyRunAsNonRoot: why `runAsNonRoot: true` refuses this container
    ("" when it does not). The image's user decides when no runAsUser is set; an
    image that names none runs as root."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    if not non_root:
        return ""
    md = pod.get("metadata") or {}
    where = (
        f'(pod: "{md.get("name", "")}_{md.get("namespace", "")}({md.get("uid", "")})", '
        f"container: {container.get('name', '')})"
    )
    uid = run_as_user(pod, container)
    if uid is not None:
        return f"container's runAsUser breaks non-root policy {where}" if uid == 0 else ""
    name = image_user.partition(":")[0]
    if not name or name == "0":
        return f"container has runAsNonRoot and image will run as root {where}"
    if not name.isdigit():
        return (
            f"container has runAsNonRoot and image has non-numeric user ({name}), "
            f"cannot verify user is non-root {where}"
        )
    return ""


def container_user(
    pod: Obj, container: Obj, image_user: str, etc: Callable[[str], str | None]
) -> sandbox.User | None:
    """Whom the container runs as, as the kubelet and containerd decide it; None when
    nothing asks for a user (the runtime's own, root, as before).

    The user is `runAsUser` (the container's, else the pod's), else the image's
    `User` (its part before any `:`, as the kubelet reads it), else root. Its
    group is `runAsGroup` (the container's, else the pod's), else its entry's
    in the container's /etc/passwd, else 0. Its supplementary groups are that
    group, the groups whose member list in the container's /etc/group names
    it (unless `supplementalGroupsPolicy: Strict`), the pod's
    `supplementalGroups` and its `fsGroup`. A user named by the image but
    missing from /etc/passwd is a CreateContainerError, as with containerd.
    `etc` reads the container's /etc/passwd or /etc/group (None if it has none).
    """
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    uid = run_as_user(pod, container)
    gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    extra = [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        extra.append(int(pod_sc["fsGroup"]))
    name = image_user.partition(":")[0]
    if uid is None and gid is None and not extra and not name:
        return None
    users = _passwd_entries(etc(PASSWD))
    if uid is None and name and not name.isdigit():
        found = next((u for u in users if u[0] == name), None)
        if found is None:
            raise PrepareError(
                "CreateContainerError",
                f"unable to find user {name}: no matching entries in passwd file",
            )
    else:
        wanted = uid if uid is not None else int(name or 0)
        found = next((u for u in users if u[1] == wanted), None) or ("", wanted, 0)
    username, uid, primary = found
    gid = int(gid) if gid is not None else primary
    groups = [gid]
    if username and pod_sc.get("supplementalGroupsPolicy") != "Strict":
        groups.extend(_member_of(etc(GROUP), username))
    groups.extend(extra)
    user = sandbox.User(uid, gid, tuple(dict.fromkeys(groups)))
    return None if user == sandbox.User(0, 0, (0,)) else user


def _passwd_entries(passwd: str | None) -> list[tuple[str, int, int]]:
    """(name, uid, gid) of each well-formed line of a passwd file."""
    out = []
    for line in (passwd or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            out.append((fields[0], int(fields[2]), int(fields[3])))
    return out


def _member_of(group: str | None, username: str) -> list[int]:
    """The gids of the groups of a group file that list `username` as a member
    (not those only named after it)."""
    out = []
    for line in (group or "").splitlines():
        fields = line.split(":")
        if (
            len(fields) >= 4
            and fields[2].isdigit()
            and fields[0] != username
            and username in fields[3].split(",")
        ):
            out.append(int(fields[2]))
    return out


def _read_only_root(container: Obj) -> bool:
    return bool((container.get("securityContext") or {}).get("readOnlyRootFilesystem"))


def _mounts(
    ctx: Context, container: Obj, env: Mapping[str, str] | None = None
) -> list[sandbox.VolumeMount]:
    """The container's volume mounts (`env`: its variables, for `subPathExpr`)."""
    out = []
    forced = _read_only_volumes(ctx.pod)
    for index, vm in enumerate(container.get("volumeMounts") or []):
        vol = vm["name"]
        if vol not in ctx.volumes:
            raise PrepareError(
                "CreateContainerConfigError",
                f'cannot find volume "{vol}" to mount into container "{container["name"]}"',
            )
        source = ctx.volumes[vol]
        try:
            sub = subpath.wanted(vm, env or {})
            if sub:
                source = subpath.prepare(
                    source,
                    sub,
                    bind_at=subpath.bind_path(ctx.pod_dir, vol, container["name"], index),
                    mount=vol,
                    container=container["name"],
                )
        except subpath.SubPathError as exc:
            raise PrepareError("CreateContainerConfigError", str(exc)) from None
        read_only = bool(vm.get("readOnly")) or vol in forced
        out.append(sandbox.VolumeMount(source, vm["mountPath"], read_only))
    if ctx.resolv_conf is not None and not any(m.target == RESOLV_CONF for m in out):
        resolv = sandbox.VolumeMount(str(ctx.resolv_conf), RESOLV_CONF, _read_only_root(container))
        out.append(resolv)
    if ctx.hostname is not None and not any(m.target == ETC_HOSTNAME for m in out):
        # containerd's rule: read-only with a read-only root, as resolv.conf
        name = sandbox.VolumeMount(str(ctx.hostname), ETC_HOSTNAME, _read_only_root(container))
        out.append(name)
    if ctx.hosts is not None and not any(m.target == ETC_HOSTS for m in out):
        out.append(sandbox.VolumeMount(str(ctx.hosts), ETC_HOSTS))
    if ctx.termination_log is not None:  # last, as the kubelet adds it
        target = termination.message_path(container)
        out.append(sandbox.VolumeMount(str(ctx.termination_log), target, create=True))
    return out


def _read_only_volumes(pod: Obj) -> set[str]:
    """Volumes mounted read-only whatever their volumeMounts say, as the kubelet
    mounts them (their plugin's `GetAttributes().ReadOnly`)."""
    kinds = projected_kinds()
    out = set()
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        claim = vol.get("persistentVolumeClaim")
        if any(k in vol for k in kinds) or (claim and claim.get("readOnly")):
            out.add(vol["name"])
    return out


def _home(
    ctx: Context,
    container: Obj,
    image: Image,
    rootfs: Path | None,
    mounts: list[sandbox.VolumeMount],
) -> str:
    """HOME for a container whose environment sets none, as runc sets it: its user's
    (`runAsUser`, else the image's `User`, else the one it runs as) home directory
    in its own view of /etc/passwd."""
    uid = run_as_user(ctx.pod, container)
    if uid is not None:
        user = str(uid)
    else:
        # In its own namespaces the process is root; without, the user running kubelite.
        user = image.run_config.get("User") or str(0 if ctx.isolate else os.getuid())
    return passwd_home(_etc_text(_etc_path(ctx, rootfs, mounts, PASSWD)), user)


def _user(
    ctx: Context,
    container: Obj,
    image: Image,
    rootfs: Path | None,
    mounts: list[sandbox.VolumeMount],
) -> sandbox.User | None:
    """`container_user`, with the container's own /etc/passwd and /etc/group."""
    return container_user(
        ctx.pod,
        container,
        image.run_config.get("User") or "",
        lambda path: _etc_text(_etc_path(ctx, rootfs, mounts, path)),
    )


def _etc_path(
    ctx: Context, rootfs: Path | None, mounts: list[sandbox.VolumeMount], path: str
) -> str:
    """Where the container's /etc/passwd (or /etc/group) comes from: a volume over
    it (the last wins), else the image's, else the host's."""
    if ctx.isolate:
        for m in reversed(mounts):
            if m.target == path:
                return m.source
            if m.target == "/etc":
                return os.path.join(m.source, os.path.basename(path))
        if rootfs is not None and os.path.isfile(in_image := f"{rootfs}{path}"):
            return in_image
    return path


_etc_texts: dict[str, tuple[tuple[int, ...], str]] = {}


def _etc_text(path: str) -> str | None:
    """A passwd or group file's text, kept while its stat is the same (None if unreadable)."""
    try:
        st = os.stat(path)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        kept = _etc_texts.get(path)
        if kept is not None and kept[0] == key:
            return kept[1]
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if len(_etc_texts) >= 64:
        _etc_texts.clear()
    _etc_texts[path] = (key, text)
    return text


@functools.cache
def _own_paths() -> dict[Path, None]:
    """This installation's environment, package source and standard library: fixed
    while kubelite runs."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths = dict.fromkeys([Path(sys.prefix), Path(__file__).resolve().parents[2], stdlib])
    return {p: None for p in paths if p.is_absolute() and p.is_dir()}


def _interpreter_paths(env: dict[str, str]) -> list[Path]:
    """Host paths a `FROM python` image may load code from: this installation's
    environment, package source and standard library, and the container's PYTHONPATH.

    The container's /tmp is private, so when these live under the host's /tmp
    (a checkout or virtualenv there) they are bound in read-only; so are they
    where the container sees the host's files through an overlay (which costs
    on each path's first lookup); elsewhere the host's top-level directories
    already show them.
    """
    own = _own_paths()
    extra = dict.fromkeys(Path(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    return [*own, *(p for p in extra if p not in own and p.is_absolute() and p.is_dir())]


def _as_root() -> bool:
    return os.geteuid() == 0


@functools.lru_cache(maxsize=64)
def _closed_dirs(paths: tuple[Path, ...]) -> tuple[str, ...]:
    """The directories on the way to `paths` (and to this machine's interpreter)
    that not every user may pass through on the host (root's 0700 `/root`, a
    0700 data directory): the container's user must, to run the interpreter
    that stands for a `python` image's and to reach the images."""
    closed: dict[str, None] = {}
    for path in (*paths, Path(images.base_python()).parent):
        for directory in (*reversed(path.parents[:-1]), path):
            try:
                mode = os.stat(directory).st_mode
            except OSError:
                break
            if stat.S_ISDIR(mode) and mode & sandbox.SEARCHABLE != sandbox.SEARCHABLE:
                closed[str(directory)] = None
    return tuple(closed)
