"""Volumes: where each of a pod's volumes lives on the host.

emptyDir is a directory of the pod's (tmpfs for medium Memory where the
agent may mount); configMap, secret, downwardAPI and projected volumes are
projected with the atomic writer and refreshed while the pod runs; hostPath
and persistentVolumeClaim resolve to existing host paths, a hostPath (inline
or a PersistentVolume's) checked as its `type` says (`hostpath`). A generic
`ephemeral` volume is the claim `<pod>-<volume>` its controller makes,
mounted like a claim once it is bound and controlled by the pod. A volume
that cannot be set up (the host's refusal included) is a `VolumeError` with
upstream's FailedMount wording; the pod then waits in ContainerCreating and
the set-up is retried.

A pod's mounts (its shm, memory emptyDirs, subPath binds) are released by
`teardown` as the pod goes, whichever way its worker ended, and by
`release_orphans` for pods no worker holds.

A projected `serviceAccountToken` source is a token the agent asks the
TokenRequest API for (the pod's service account, the source's audience and
lifetime, bound to the pod), as the kubelet's token manager does: it is kept
and asked for again once 80 % of its lifetime has passed (or after 24 h).

With `shm`, the pod also gets the directory its containers share as
`/dev/shm` (as a pod's IPC namespace shares it upstream): a 64 MiB tmpfs,
containerd's default, where the agent may mount, else a plain directory.

An emptyDir is writable by every user (mode 0777, as upstream makes it). With
the pod's `fsGroup`, the kubelet's SetVolumeOwnership is applied to emptyDir,
configMap, secret, downwardAPI and projected volumes, and to a claim's
`local` PersistentVolume (not a hostPath one, nor a claim mounted
`readOnly`, as upstream): every file and directory gets the group fsGroup and
group read (and write, except for the read-only kinds), directories group
search and the setgid bit, so that what is made in them later gets that
group too. A claim's volume with `fsGroupChangePolicy: OnRootMismatch` is
left alone when its root already has them. Projected files get those mode
bits when written, so a refresh leaves no file without them. Without root
only the modes change: the files are kubelite's user's, which is the
container's own (`sandbox`).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kubelite.api.quantity import value
from kubelite.api.resources import pod_limits
from kubelite.kubelet import atomic_writer, hostpath
from kubelite.kubelet.atomic_writer import FileProjection
from kubelite.kubelet.envvars import EnvError, field_value, resource_value, run_as_user

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Getter = Callable[[str, str, str], Awaitable[Obj | None]]  # (kind, namespace, name)
# (namespace, service account, TokenRequest) -> the TokenRequest with its status
TokenRequester = Callable[[str, str, Obj], Awaitable[Obj]]
TOKEN_REFRESH_FRACTION = 0.8  # of a token's lifetime, as the kubelet's token manager
TOKEN_MAX_AGE_S = 24 * 3600
SHM_SIZE = "64Mi"
# What SetVolumeOwnership adds to each file's mode (read-write or read-only
# volume), and to each directory's besides.
RW_MASK, RO_MASK, DIR_MASK = 0o660, 0o440, 0o2110
EMPTY_DIR_MODE = 0o777


class VolumeError(Exception):
    pass


def failed_mount(volume: str, reason: str) -> str:
    return f'MountVolume.SetUp failed for volume "{volume}" : {reason}'


def projected_kinds() -> tuple[str, ...]:
    return ("configMap", "secret", "downwardAPI", "projected")


@dataclass(frozen=True)
class ServiceAccountToken:
    token: str
    fetched: float  # when we got it (seconds since the epoch)
    expires: float

    def needs_refresh(self, now: float) -> bool:
        lifetime = self.expires - self.fetched
        return (
            now >= self.fetched + TOKEN_REFRESH_FRACTION * lifetime
            or now >= self.fetched + TOKEN_MAX_AGE_S
        )

    def valid(self, now: float) -> bool:
        return now < self.expires


class PodVolumes:
    def __init__(
        self,
        pod_dir: Path,
        *,
        allocatable: dict[str, str] | None = None,
        tokens: TokenRequester | None = None,
        now: Callable[[], float] = time.time,
        shm: bool = False,
    ) -> None:
        self.dir = pod_dir / "volumes"
        # the pod's /dev/shm, once set up (None: its containers see the host's /dev)
        self.shm: str | None = None
        self._want_shm = shm
        self.allocatable = allocatable or {}
        self.paths: dict[str, str] = {}
        self._tmpfs: list[Path] = []
        self._request_token = tokens
        self._now = now
        self._tokens: dict[tuple[str, str, str, int], ServiceAccountToken] = {}

    async def setup(self, pod: Obj, get: Getter, *, pod_ip: str, host_ip: str) -> None:
        if self._want_shm and self.shm is None:
            self.shm = self._shm()
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            try:
                path = await self._one(pod, vol, get, pod_ip=pod_ip, host_ip=host_ip)
            except OSError as exc:
                # the host refused (a file where a directory goes, no space): this
                # volume fails to mount and is retried, the pod's worker goes on
                log.warning("volume %s of pod %s: %s", vol["name"], _pod_key(pod), exc)
                raise VolumeError(failed_mount(vol["name"], _os_error(exc))) from None
            self.paths[vol["name"]] = path

    async def refresh(self, pod: Obj, get: Getter, *, pod_ip: str, host_ip: str) -> None:
        """Re-project configMap/secret/downwardAPI volumes (the `..data` swap)."""
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            if any(k in vol for k in projected_kinds()):
                with contextlib.suppress(VolumeError):
                    await self._one(pod, vol, get, pod_ip=pod_ip, host_ip=host_ip)

    async def _one(self, pod: Obj, vol: Obj, get: Getter, *, pod_ip: str, host_ip: str) -> str:
        name = vol["name"]
        ns = pod["metadata"].get("namespace", "default")
        target = self.dir / name
        pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
        fs_group = pod_sc.get("fsGroup")
        if "emptyDir" in vol:
            path = self._empty_dir(target, vol["emptyDir"] or {}, pod)
            if fs_group is not None:
                set_ownership(path, int(fs_group), read_only=False)
            return path
        if "hostPath" in vol:
            return _host_path(name, vol["hostPath"])
        if "persistentVolumeClaim" in vol or "ephemeral" in vol:
            claim = vol.get("persistentVolumeClaim") or {}
            if "ephemeral" in vol:
                path, local = await _ephemeral(pod, name, get)
            else:
                path, local = await _pvc(name, ns, claim, get)
            if fs_group is not None and local and not claim.get("readOnly"):
                policy = pod_sc.get("fsGroupChangePolicy")
                if policy != "OnRootMismatch" or _root_mismatch(path, int(fs_group)):
                    set_ownership(path, int(fs_group), read_only=False)
            return path
        payload = await self._payload(pod, vol, get, ns, pod_ip=pod_ip, host_ip=host_ip)
        if payload is None:
            raise VolumeError(failed_mount(name, f"unsupported volume type in {sorted(vol)}"))
        if fs_group is not None:
            # the modes the ownership pass gives, from the start: a refresh then
            # writes no file without them, and finds an unchanged payload unchanged
            payload = {k: FileProjection(v.data, v.mode | RO_MASK) for k, v in payload.items()}
        if atomic_writer.write(target, payload) and fs_group is not None:
            set_ownership(str(target), int(fs_group), read_only=True)
        return str(target)

    async def _payload(
        self, pod: Obj, vol: Obj, get: Getter, ns: str, *, pod_ip: str, host_ip: str
    ) -> dict[str, FileProjection] | None:
        name = vol["name"]
        if "configMap" in vol or "secret" in vol:
            return await _object_payload(name, vol, get, ns)
        if "downwardAPI" in vol:
            return self._downward(name, pod, vol["downwardAPI"], pod_ip=pod_ip, host_ip=host_ip)
        if "serviceAccountToken" in vol:
            return await self._service_account_token(pod, name, vol["serviceAccountToken"] or {})
        if "projected" in vol:
            spec = vol["projected"] or {}
            payload: dict[str, FileProjection] = {}
            for src in spec.get("sources") or []:
                sub = {"name": name, **src}
                if "defaultMode" in spec:
                    for key in ("configMap", "secret", "downwardAPI", "serviceAccountToken"):
                        if key in sub:
                            sub[key] = {"defaultMode": spec["defaultMode"], **(sub[key] or {})}
                part = await self._payload(pod, sub, get, ns, pod_ip=pod_ip, host_ip=host_ip)
                payload.update(part or {})
            return payload
        return None

    async def _service_account_token(
        self, pod: Obj, name: str, spec: Obj
    ) -> dict[str, FileProjection]:
        """The token file of a projected `serviceAccountToken` source, fetched when due."""
        md = pod["metadata"]
        ns = md.get("namespace", "default")
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        audience = str(spec.get("audience") or "")
        seconds = int(spec.get("expirationSeconds") or 3600)
        key = (name, account, audience, seconds)
        now = self._now()
        held = self._tokens.get(key)
        if held is None or held.needs_refresh(now):
            try:
                held = await self._fetch_token(pod, ns, account, audience, seconds)
                self._tokens[key] = held
            except Exception as exc:  # an API error, or no API at all
                if held is None or not held.valid(now):
                    raise VolumeError(failed_mount(name, f"failed to fetch token: {exc}")) from None
                log.warning("pod %s/%s: token refresh failed: %s", ns, md.get("name"), exc)
        mode = int(spec.get("defaultMode", 0o644))
        fs_user = fs_user_of(pod)
        fs_group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
        if fs_user is not None or fs_group is not None:
            mode = 0o600  # the projected volume's rule: readable by the pod's user alone
        path = spec.get("path") or "token"
        return {path: FileProjection(held.token.encode(), mode, fs_user)}

    async def _fetch_token(
        self, pod: Obj, ns: str, account: str, audience: str, seconds: int
    ) -> ServiceAccountToken:
        if self._request_token is None:
            raise RuntimeError("this node agent cannot request service account tokens")
        md = pod["metadata"]
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": seconds,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": md.get("name", ""),
                    "uid": md.get("uid", ""),
                },
            },
        }
        fetched = self._now()
        answer = await self._request_token(ns, account, request)
        status = answer.get("status") or {}
        stamp = str(status.get("expirationTimestamp") or "").replace("Z", "+00:00")
        expires = datetime.fromisoformat(stamp).timestamp()
        log.debug("pod %s/%s: fetched a token for %s", ns, md.get("name"), account)
        return ServiceAccountToken(str(status.get("token") or ""), fetched, expires)

    def _downward(
        self, name: str, pod: Obj, spec: Obj, *, pod_ip: str, host_ip: str
    ) -> dict[str, FileProjection]:
        mode = int(spec.get("defaultMode", 0o644))
        out = {}
        for item in spec.get("items") or []:
            try:
                if "fieldRef" in item:
                    text = field_value(
                        pod, item["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip
                    )
                else:
                    ref = item["resourceFieldRef"]
                    container = {"name": ref.get("containerName", "")}
                    text = resource_value(pod, container, ref, self.allocatable)
            except EnvError as exc:
                raise VolumeError(failed_mount(name, str(exc))) from None
            out[item["path"]] = FileProjection(text.encode(), int(item.get("mode", mode)))
        return out

    def _empty_dir(self, target: Path, spec: Obj, pod: Obj) -> str:
        target.mkdir(parents=True, exist_ok=True)
        # Already mounted (by a kubelite before a restart) is still the pod's to unmount.
        if (
            spec.get("medium") == "Memory"
            and target not in self._tmpfs
            and (
                os.path.ismount(target)
                or _mount_tmpfs(target, memory_volume_size(pod, self.allocatable, spec))
            )
        ):
            self._tmpfs.append(target)
        os.chmod(target, EMPTY_DIR_MODE)  # past the umask: any user may write there
        return str(target)

    def _shm(self) -> str:
        target = self.dir.parent / "shm"
        target.mkdir(parents=True, exist_ok=True)
        # mounted now, or by a kubelite before a restart: ours to unmount either way
        if os.path.ismount(target) or _mount_tmpfs(target, SHM_SIZE, mode="1777", flags=_SHM_FLAGS):
            self._tmpfs.append(target)
        else:
            os.chmod(target, 0o1777)
        return str(target)

    def teardown(self) -> None:
        """Unmount all the pod's mounts: its shm and memory emptyDirs, its subPath
        binds, and whatever a kubelite before a restart mounted there."""
        for path in self._tmpfs:
            _umount(path)
        self._tmpfs.clear()
        release_mounts(self.dir.parent)


def fs_user_of(pod: Obj) -> int | None:
    """volumeutil.FsUserFrom: the user every init and regular container runs as
    (its runAsUser, else the pod's), or None when one sets none or they differ."""
    spec = pod.get("spec") or {}
    found: int | None = None
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        user = run_as_user(pod, c)
        if user is None or (found is not None and user != found):
            return None
        found = user
    return found


async def _object_payload(name: str, vol: Obj, get: Getter, ns: str) -> dict[str, FileProjection]:
    is_secret = "secret" in vol
    spec = (vol["secret"] if is_secret else vol["configMap"]) or {}
    # a secret volume names its secret in `secretName`, a projected one in `name`
    obj_name = spec.get("secretName", spec.get("name")) if is_secret else spec.get("name")
    kind = "Secret" if is_secret else "ConfigMap"
    obj = await get(kind, ns, obj_name or "")
    if obj is None:
        if spec.get("optional"):
            return {}
        what = "secret" if is_secret else "configmap"
        raise VolumeError(failed_mount(name, f'{what} "{obj_name}" not found'))
    data: dict[str, bytes] = {}
    if is_secret:
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    else:
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    mode = int(spec.get("defaultMode", 0o644))
    items = spec.get("items")
    if not items:
        return {k: FileProjection(v, mode) for k, v in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            if spec.get("optional"):
                continue
            raise VolumeError(
                failed_mount(name, f"configmap references non-existent config key: {item['key']}")
                if not is_secret
                else failed_mount(name, f"references non-existent secret key: {item['key']}")
            )
        out[item["path"]] = FileProjection(data[item["key"]], int(item.get("mode", mode)))
    return out


def _host_path(name: str, spec: Obj) -> str:
    """An inline hostPath volume's path, made and checked as its `type` says."""
    path = str(spec["path"])
    kind = spec.get("type") or ""
    try:
        hostpath.check(path, kind)
        if not kind and not os.path.lexists(path):
            os.makedirs(path, exist_ok=True)  # the runtime's part, for a path of no type
    except hostpath.HostPathError as exc:
        raise VolumeError(failed_mount(name, str(exc))) from None
    except OSError as exc:
        raise VolumeError(failed_mount(name, _os_error(exc))) from None
    return path


def _pod_key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', 'default')}/{md.get('name', '')}"


def _os_error(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"{exc.filename}: {text}" if exc.filename else text


def set_ownership(root: str, gid: int, *, read_only: bool) -> None:
    """The kubelet's SetVolumeOwnership: every file and directory below `root` (and
    `root`) gets group `gid` (as root) and the group's bits; symlinks are left as
    they are. A file that cannot be changed is logged and skipped, as upstream."""
    chown = os.geteuid() == 0
    mask = RO_MASK if read_only else RW_MASK
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir:
                with os.scandir(path) as entries:
                    stack.extend(e.path for e in entries)
            if chown and st.st_gid != gid:
                os.chown(path, -1, gid)
            mode = stat.S_IMODE(st.st_mode) | mask | (DIR_MASK if is_dir else 0)
            if mode != stat.S_IMODE(st.st_mode):
                os.chmod(path, mode)
        except OSError as exc:
            log.warning("fsGroup: cannot set the ownership of %s: %s", path, exc.strerror)


def _root_mismatch(root: str, gid: int) -> bool:
    """`fsGroupChangePolicy: OnRootMismatch`: whether the volume's root lacks the
    group, its read-write-search bits or the setgid bit (then the whole volume is
    changed)."""
    try:
        st = os.stat(root)
    except OSError:
        return True
    wanted = RW_MASK | DIR_MASK
    return st.st_gid != gid or not stat.S_ISDIR(st.st_mode) or st.st_mode & wanted != wanted


async def _pvc(name: str, ns: str, spec: Obj, get: Getter) -> tuple[str, bool]:
    """The claim's host path, and whether its PersistentVolume is a `local` one."""
    pvc = await _claim(ns, spec["claimName"], get)
    return await _claim_volume(pvc, get)


async def _claim(ns: str, claim: str, get: Getter) -> Obj:
    pvc = await get("PersistentVolumeClaim", ns, claim)
    if pvc is None:
        raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
    return pvc


async def _claim_volume(pvc: Obj, get: Getter) -> tuple[str, bool]:
    """A bound claim's volume: its host path (checked as its PersistentVolume's
    hostPath `type` says, or a `local` path that must exist), and whether it is
    a `local` one. Messages name the PersistentVolume, as upstream's do."""
    claim = pvc["metadata"]["name"]
    pv_name = (pvc.get("spec") or {}).get("volumeName")
    if not pv_name or (pvc.get("status") or {}).get("phase") not in (None, "Bound"):
        raise VolumeError(f'pod has unbound immediate PersistentVolumeClaims (claim "{claim}")')
    pv = await get("PersistentVolume", "", pv_name)
    if pv is None:
        raise VolumeError(failed_mount(pv_name, f'persistentvolume "{pv_name}" not found'))
    pv_spec = pv.get("spec") or {}
    if "hostPath" in pv_spec:
        return _host_path(pv_name, pv_spec["hostPath"] or {}), False
    local = pv_spec.get("local") or {}
    if not local.get("path"):
        raise VolumeError(
            failed_mount(pv_name, f"persistentvolume {pv_name} has no hostPath or local path")
        )
    path = str(local["path"])
    if not os.path.exists(path):
        raise VolumeError(
            f'MountVolume.NewMounter initialization failed for volume "{pv_name}" : '
            f'path "{path}" does not exist'
        )
    return path, True


async def _ephemeral(pod: Obj, name: str, get: Getter) -> tuple[str, bool]:
    """A generic ephemeral volume: the claim `<pod>-<volume>` its controller makes,
    mounted as a claim once it exists, is bound, and is the pod's own (controlled
    by it: a claim of that name made by someone else is refused)."""
    md = pod["metadata"]
    ns = md.get("namespace", "default")
    claim = f"{md['name']}-{name}"
    pvc = await _claim(ns, claim, get)
    owners = (pvc.get("metadata") or {}).get("ownerReferences") or []
    if not any(o.get("controller") and o.get("uid") == md.get("uid") for o in owners):
        raise VolumeError(
            f"PVC {ns}/{claim} was not created for pod {ns}/{md['name']} (pod is not owner)"
        )
    return await _claim_volume(pvc, get)


_libc = ctypes.CDLL(None, use_errno=True)


_SHM_FLAGS = 2 | 4 | 8  # MS_NOSUID | MS_NODEV | MS_NOEXEC, as runtimes mount /dev/shm


def memory_volume_size(pod: Obj, allocatable: dict[str, str], spec: Obj) -> str | None:
    """Bytes of a memory-backed emptyDir, as upstream's calculateEmptyDirMemorySize:
    the node's allocatable memory, lowered to the pod's memory limit (when every
    container declares one) and then to the volume's sizeLimit, each only when
    above zero and smaller. None: the kernel's default (nothing known)."""
    size = value(allocatable["memory"]) if allocatable.get("memory") else None
    for bound in (_pod_memory_limit(pod), spec.get("sizeLimit")):
        limit = value(bound) if bound not in (None, "") else 0
        if limit > 0 and (size is None or limit <= size):
            size = limit
    return None if size is None else str(int(size))


def _pod_memory_limit(pod: Obj) -> int | None:
    """The pod cgroup's memory limit as upstream's ResourceConfigForPod sets it: only
    when every container declares one (upstream's PodLimits otherwise)."""
    spec = pod.get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if ((c.get("resources") or {}).get("limits") or {}).get("memory") is None:
            return None
    return int(pod_limits(pod).get("memory", 0))


def _mount_tmpfs(target: Path, size: str | None, *, mode: str = "777", flags: int = 0) -> bool:
    if os.geteuid() != 0:
        return False
    data = f"mode={mode},size={value(size)}" if size else f"mode={mode}"
    rc = _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", flags, data.encode())
    if rc != 0:
        log.info("%s: tmpfs not available (%s)", target, os.strerror(ctypes.get_errno()))
    return rc == 0


def release_mounts(pod_dir: Path) -> None:
    """Unmount whatever the agent mounted under a pod's directory (its shm, emptyDirs
    of medium Memory) before the directory goes: a pod a previous kubelite ran."""
    prefix = str(pod_dir) + "/"
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            points = [line.split()[4].decode() for line in f]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        _umount(Path(point))


def _umount(target: Path) -> None:
    _libc.umount2(str(target).encode(), 2)  # MNT_DETACH


def release_orphans(pods_dir: Path, known: Collection[str]) -> None:
    """Unmount what is still mounted under the directories of pods whose uid is not
    in `known` (a pod whose worker failed, one removed while kubelite was down or
    one adopted half-way through its termination): no pod is left to do it."""
    prefix = str(pods_dir) + "/"
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            points = [line.split()[4].decode() for line in f]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        pod = point[len(prefix) :].partition("/")[0]
        if pod.rpartition("_")[2] not in known:
            log.info("releasing %s: its pod is gone", point)
            _umount(Path(point))
