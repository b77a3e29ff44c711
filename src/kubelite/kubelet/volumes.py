"""Volumes: where each of a pod's volumes lives on the host.

emptyDir is a directory of the pod's (tmpfs for medium Memory where the
agent may mount); configMap, secret, downwardAPI and projected volumes are
projected with the atomic writer and refreshed while the pod runs; hostPath
and persistentVolumeClaim resolve to existing host paths. A volume that
cannot be set up is a `VolumeError` with upstream's FailedMount wording; the
pod then waits in ContainerCreating.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kubelite.api.quantity import value
from kubelite.kubelet import atomic_writer
from kubelite.kubelet.atomic_writer import FileProjection
from kubelite.kubelet.envvars import EnvError, field_value, resource_value

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Getter = Callable[[str, str, str], Awaitable[Obj | None]]  # (kind, namespace, name)


class VolumeError(Exception):
    pass


def failed_mount(volume: str, reason: str) -> str:
    return f'MountVolume.SetUp failed for volume "{volume}" : {reason}'


def projected_kinds() -> tuple[str, ...]:
    return ("configMap", "secret", "downwardAPI", "projected")


class PodVolumes:
    def __init__(self, pod_dir: Path, *, allocatable: dict[str, str] | None = None) -> None:
        self.dir = pod_dir / "volumes"
        self.allocatable = allocatable or {}
        self.paths: dict[str, str] = {}
        self._tmpfs: list[Path] = []

    async def setup(self, pod: Obj, get: Getter, *, pod_ip: str, host_ip: str) -> None:
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            self.paths[vol["name"]] = await self._one(pod, vol, get, pod_ip=pod_ip, host_ip=host_ip)

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
        if "emptyDir" in vol:
            return self._empty_dir(target, vol["emptyDir"] or {})
        if "hostPath" in vol:
            return _host_path(name, vol["hostPath"])
        if "persistentVolumeClaim" in vol:
            return await _pvc(name, ns, vol["persistentVolumeClaim"], get)
        payload = await self._payload(pod, vol, get, ns, pod_ip=pod_ip, host_ip=host_ip)
        if payload is None:
            raise VolumeError(failed_mount(name, f"unsupported volume type in {sorted(vol)}"))
        atomic_writer.write(target, payload)
        return str(target)

    async def _payload(
        self, pod: Obj, vol: Obj, get: Getter, ns: str, *, pod_ip: str, host_ip: str
    ) -> dict[str, FileProjection] | None:
        name = vol["name"]
        if "configMap" in vol or "secret" in vol:
            return await _object_payload(name, vol, get, ns)
        if "downwardAPI" in vol:
            return self._downward(name, pod, vol["downwardAPI"], pod_ip=pod_ip, host_ip=host_ip)
        if "projected" in vol:
            spec = vol["projected"] or {}
            payload: dict[str, FileProjection] = {}
            for src in spec.get("sources") or []:
                sub = {"name": name, **src}
                if "defaultMode" in spec:
                    for key in ("configMap", "secret", "downwardAPI"):
                        if key in sub:
                            sub[key] = {"defaultMode": spec["defaultMode"], **(sub[key] or {})}
                part = await self._payload(pod, sub, get, ns, pod_ip=pod_ip, host_ip=host_ip)
                payload.update(part or {})
            return payload
        return None

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

    def _empty_dir(self, target: Path, spec: Obj) -> str:
        target.mkdir(parents=True, exist_ok=True)
        # Already mounted (by a kubelite before a restart) is still the pod's to unmount.
        if (
            spec.get("medium") == "Memory"
            and target not in self._tmpfs
            and (os.path.ismount(target) or _mount_tmpfs(target, spec.get("sizeLimit")))
        ):
            self._tmpfs.append(target)
        return str(target)

    def teardown(self) -> None:
        for path in self._tmpfs:
            _umount(path)
        self._tmpfs.clear()


async def _object_payload(name: str, vol: Obj, get: Getter, ns: str) -> dict[str, FileProjection]:
    is_secret = "secret" in vol
    spec = (vol["secret"] if is_secret else vol["configMap"]) or {}
    obj_name = spec.get("secretName") if is_secret else spec.get("name")
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
    path = Path(spec["path"])
    kind = spec.get("type") or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    elif kind == "FileOrCreate":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    elif kind == "Directory" and not path.is_dir():
        raise VolumeError(
            failed_mount(name, f"hostPath type check failed: {path} is not a directory")
        )
    elif kind == "File" and not path.is_file():
        raise VolumeError(failed_mount(name, f"hostPath type check failed: {path} is not a file"))
    elif kind == "" and not path.exists():
        path.mkdir(parents=True, exist_ok=True)
    return str(path)


async def _pvc(name: str, ns: str, spec: Obj, get: Getter) -> str:
    claim = spec["claimName"]
    pvc = await get("PersistentVolumeClaim", ns, claim)
    if pvc is None:
        raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
    pv_name = (pvc.get("spec") or {}).get("volumeName")
    if not pv_name or (pvc.get("status") or {}).get("phase") not in (None, "Bound"):
        raise VolumeError(f'pod has unbound immediate PersistentVolumeClaims (claim "{claim}")')
    pv = await get("PersistentVolume", "", pv_name)
    if pv is None:
        raise VolumeError(failed_mount(name, f'persistentvolume "{pv_name}" not found'))
    pv_spec = pv.get("spec") or {}
    source = pv_spec.get("hostPath") or pv_spec.get("local")
    if not source:
        raise VolumeError(
            failed_mount(name, f"persistentvolume {pv_name} has no hostPath or local path")
        )
    path = Path(source["path"])
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


_libc = ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(target: Path, size: str | None) -> bool:
    if os.geteuid() != 0:
        return False
    data = f"mode=777,size={value(size)}" if size else "mode=777"
    rc = _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", 0, data.encode())
    if rc != 0:
        log.info("emptyDir %s: tmpfs not available (%s)", target, os.strerror(ctypes.get_errno()))
    return rc == 0


def _umount(target: Path) -> None:
    _libc.umount2(str(target).encode(), 2)  # MNT_DETACH
