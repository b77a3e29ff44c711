"""Volume sources, volume mounts and volume devices (pkg/apis/core/validation).

`validate_volumes` mirrors ValidateVolumes: each volume's source is checked
in upstream's field order (so "may not specify more than 1 volume type"
names the same field a real cluster names), then its name.
"""

from __future__ import annotations

import posixpath
from typing import Any

from kubelite.api import names
from kubelite.api.validation_meta import (
    BadQuantity,
    Errs,
    Obj,
    PodOptions,
    _d,
    _dl,
    _i,
    _s,
    child,
    dns1123_label,
    duplicate,
    forbidden,
    has,
    idx,
    invalid,
    not_found,
    not_supported,
    parse_quantity,
    pull_policy,
    qualified_name,
    required,
    too_long,
    validate_template_object_meta,
)

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"


# --- paths on disk ---


def _path_no_backsteps(target: str, path: str) -> Errs:
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def _local_descending_path(target: str, path: str) -> Errs:
    errs: Errs = []
    if posixpath.isabs(target):
        errs.append(invalid(path, target, "must be a relative path"))
    return errs + _path_no_backsteps(target, path)


def _local_non_reserved_path(target: str, path: str) -> Errs:
    errs = _local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(path, target, "must not start with '..'"))
    return errs


def _file_mode(obj: Obj, k: str, path: str) -> Errs:
    mode = obj.get(k)
    if isinstance(mode, int) and not (0 <= mode <= 0o777):
        return [invalid(child(path, k), mode, FILE_MODE_ERROR)]
    return []


def _key_to_path(kp: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(kp, "key"):
        errs.append(required(child(path, "key"), ""))
    if not _s(kp, "path"):
        errs.append(required(child(path, "path"), ""))
    errs += _local_non_reserved_path(_s(kp, "path"), child(path, "path"))
    return errs + _file_mode(kp, "mode", path)


# --- volumes ---

_HOST_PATH_TYPES = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
]

_VOLUME_FIELD_PATHS = {
    "metadata.name",
    "metadata.namespace",
    "metadata.labels",
    "metadata.annotations",
    "metadata.uid",
}
_ENV_FIELD_PATHS = {
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
}
_RESOURCE_FIELD_PATHS = {
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
}


def _host_path(src: Obj, path: str) -> Errs:
    if not _s(src, "path"):
        return [required(child(path, "path"), "")]
    errs = _path_no_backsteps(_s(src, "path"), child(path, "path"))
    if src.get("type") is not None and src.get("type") not in _HOST_PATH_TYPES:
        errs.append(not_supported(child(path, "type"), src.get("type"), _HOST_PATH_TYPES))
    return errs


def _secret_source(src: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(src, "secretName"):
        errs.append(required(child(path, "secretName"), ""))
    errs += _file_mode(src, "defaultMode", path)
    for i, kp in enumerate(_dl(src, "items")):
        errs += _key_to_path(kp, idx(child(path, "items"), i))
    return errs


def _config_map_source(src: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(src, "name"):
        errs.append(required(child(path, "name"), ""))
    errs += _file_mode(src, "defaultMode", path)
    for i, kp in enumerate(_dl(src, "items")):
        errs += _key_to_path(kp, idx(child(path, "items"), i))
    return errs


def _object_field_selector(fs: Obj, allowed: set[str], path: str) -> Errs:
    if not _s(fs, "apiVersion"):
        return [required(child(path, "apiVersion"), "")]
    field_path = _s(fs, "fieldPath")
    if not field_path:
        return [required(child(path, "fieldPath"), "")]
    if field_path.endswith("']") and "['" in field_path:
        base, _, rest = field_path.partition("['")
        subscript = rest[:-2]
        if base == "metadata.annotations":
            return qualified_name(subscript.lower(), path)
        if base == "metadata.labels":
            return qualified_name(subscript, path)
        return [invalid(path, base, "does not support subscript")]
    if field_path not in allowed:
        return [not_supported(child(path, "fieldPath"), field_path, sorted(allowed))]
    return []


def _resource_field_selector(fs: Obj, path: str, volume: bool) -> Errs:
    resource = _s(fs, "resource")
    if volume and not _s(fs, "containerName"):
        return [required(child(path, "containerName"), "")]
    if not resource:
        return [required(child(path, "resource"), "")]
    if resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(
        ("requests.hugepages-", "limits.hugepages-")
    ):
        return [not_supported(child(path, "resource"), resource, sorted(_RESOURCE_FIELD_PATHS))]
    return []


def _downward_api_file(item: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(item, "path"):
        errs.append(required(child(path, "path"), ""))
    errs += _local_non_reserved_path(_s(item, "path"), child(path, "path"))
    if has(item, "fieldRef"):
        errs += _object_field_selector(
            _d(item, "fieldRef"), _VOLUME_FIELD_PATHS, child(path, "fieldRef")
        )
        if has(item, "resourceFieldRef"):
            errs.append(
                invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                )
            )
    elif has(item, "resourceFieldRef"):
        errs += _resource_field_selector(
            _d(item, "resourceFieldRef"), child(path, "resourceFieldRef"), True
        )
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return errs + _file_mode(item, "mode", path)


def _downward_api_source(src: Obj, path: str) -> Errs:
    errs = _file_mode(src, "defaultMode", path)
    for item in _dl(src, "items"):
        errs += _downward_api_file(item, path)  # sic: upstream passes the volume path
    return errs


def _projected_source(src: Obj, path: str) -> Errs:
    errs = _file_mode(src, "defaultMode", path)
    seen: set[str] = set()

    def track(p: str, bad: Any) -> None:
        if p in seen:
            errs.append(invalid(path, bad, "conflicting duplicate paths"))
        seen.add(p)

    for i, source in enumerate(_dl(src, "sources")):
        src_path, count = idx(child(path, "sources"), i), 0
        for kind in ("secret", "configMap"):
            if has(source, kind):
                count += 1
                sub, sub_path = _d(source, kind), child(src_path, kind)
                if not _s(sub, "name"):
                    errs.append(required(child(sub_path, "name"), ""))
                for j, kp in enumerate(_dl(sub, "items")):
                    errs += _key_to_path(kp, idx(child(sub_path, "items"), j))
                    if _s(kp, "path"):
                        track(_s(kp, "path"), _s(sub, "name"))
        if has(source, "downwardAPI"):
            count += 1
            for item in _dl(_d(source, "downwardAPI"), "items"):
                errs += _downward_api_file(item, child(src_path, "downwardAPI"))
                if _s(item, "path"):
                    track(_s(item, "path"), _s(item, "path"))
        if has(source, "serviceAccountToken"):
            count += 1
            token, tpath = _d(source, "serviceAccountToken"), child(src_path, "serviceAccountToken")
            seconds = _i(token, "expirationSeconds")
            if seconds < 600:
                errs.append(
                    invalid(
                        child(tpath, "expirationSeconds"),
                        seconds,
                        "may not specify a duration less than 10 minutes",
                    )
                )
            if seconds > 1 << 32:
                errs.append(
                    invalid(
                        child(tpath, "expirationSeconds"),
                        seconds,
                        "may not specify a duration larger than 2^32 seconds",
                    )
                )
            if not _s(token, "path"):
                errs.append(required(child(path, "path"), ""))
            else:
                errs += _local_non_reserved_path(_s(token, "path"), child(path, "path"))
        if has(source, "clusterTrustBundle"):
            count += 1
        if count > 1:
            errs.append(forbidden(src_path, "may not specify more than 1 volume type per source"))
    return errs


def _csi_driver_name(driver: str, path: str) -> Errs:
    errs: Errs = []
    if not driver:
        errs.append(required(path, ""))
    if len(driver) > 63:
        errs.append(too_long(path, 63))
    errs += [invalid(path, driver, m) for m in names.is_dns1123_subdomain(driver.lower())]
    return errs


def _ephemeral_source(src: Obj, path: str) -> Errs:
    if not has(src, "volumeClaimTemplate"):
        return [required(child(path, "volumeClaimTemplate"), "")]
    from kubelite.api.validation_storage import validate_pvc_spec  # avoid an import cycle

    template, tpath = _d(src, "volumeClaimTemplate"), child(path, "volumeClaimTemplate")
    errs = validate_template_object_meta(_d(template, "metadata"), child(tpath, "metadata"))
    return errs + validate_pvc_spec(_d(template, "spec"), child(tpath, "spec"))


def _required_fields(*fields: str):
    def check(src: Obj, path: str) -> Errs:
        return [required(child(path, f), "") for f in fields if not src.get(f)]

    return check


def _nfs(src: Obj, path: str) -> Errs:
    errs = _required_fields("server", "path")(src, path)
    if not posixpath.isabs(_s(src, "path")):
        errs.append(invalid(child(path, "path"), _s(src, "path"), "must be an absolute path"))
    return errs


def _image_source(src: Obj, path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    if opts.resource_is_pod and not _s(src, "reference"):
        errs.append(required(child(path, "reference"), ""))
    return errs + pull_policy(_s(src, "pullPolicy"), child(path, "pullPolicy"))


# (json key, key used in the "more than 1" Forbidden path, validator, key of the validator path)
_SOURCES: list[tuple[str, str, Any, str]] = [
    ("emptyDir", "emptyDir", None, "emptyDir"),
    ("hostPath", "hostPath", _host_path, "hostPath"),
    ("gitRepo", "gitRepo", _required_fields("repository"), "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk", _required_fields("pdName"), "persistentDisk"),
    (
        "awsElasticBlockStore",
        "awsElasticBlockStore",
        _required_fields("volumeID"),
        "awsElasticBlockStore",
    ),
    ("secret", "secret", _secret_source, "secret"),
    ("nfs", "nfs", _nfs, "nfs"),
    ("iscsi", "iscsi", _required_fields("targetPortal", "iqn"), "iscsi"),
    ("glusterfs", "glusterfs", _required_fields("endpoints", "path"), "glusterfs"),
    ("flocker", "flocker", None, "flocker"),
    (
        "persistentVolumeClaim",
        "persistentVolumeClaim",
        _required_fields("claimName"),
        "persistentVolumeClaim",
    ),
    ("rbd", "rbd", _required_fields("monitors", "image"), "rbd"),
    ("cinder", "cinder", _required_fields("volumeID"), "cinder"),
    ("cephfs", "cephFS", _required_fields("monitors"), "cephfs"),
    ("quobyte", "quobyte", _required_fields("volume"), "quobyte"),
    ("downwardAPI", "downwarAPI", _downward_api_source, "downwardAPI"),  # sic upstream
    ("fc", "fc", None, "fc"),
    ("flexVolume", "flexVolume", _required_fields("driver"), "flexVolume"),
    ("configMap", "configMap", _config_map_source, "configMap"),
    ("azureFile", "azureFile", _required_fields("secretName", "shareName"), "azureFile"),
    ("vsphereVolume", "vsphereVolume", _required_fields("volumePath"), "vsphereVolume"),
    (
        "photonPersistentDisk",
        "photonPersistentDisk",
        _required_fields("pdID"),
        "photonPersistentDisk",
    ),
    ("portworxVolume", "portworxVolume", _required_fields("volumeID"), "portworxVolume"),
    ("azureDisk", "azureDisk", _required_fields("diskName", "diskURI"), "azureDisk"),
    ("storageos", "storageos", _required_fields("volumeName"), "storageos"),
    ("projected", "projected", _projected_source, "projected"),
    ("scaleIO", "scaleIO", _required_fields("gateway", "system", "volumeName"), "scaleIO"),
    ("csi", "csi", lambda s, p: _csi_driver_name(_s(s, "driver"), child(p, "driver")), "csi"),
    ("ephemeral", "ephemeral", _ephemeral_source, "ephemeral"),
    ("image", "image", None, "image"),
]


def _volume_source(vol: Obj, path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    count = 0
    for json_key, forbid_key, check, check_key in _SOURCES:
        if not has(vol, json_key):
            continue
        if count > 0 and json_key != "emptyDir":
            errs.append(
                forbidden(child(path, forbid_key), "may not specify more than 1 volume type")
            )
            continue
        count += 1
        src = _d(vol, json_key)
        if json_key == "emptyDir":
            limit = src.get("sizeLimit")
            if limit is not None and _quantity_negative(limit):
                errs.append(
                    forbidden(
                        child(path, "emptyDir", "sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    )
                )
        elif json_key == "image":
            errs += _image_source(src, child(path, "image"), opts)
        elif check is not None:
            errs += check(src, child(path, check_key))
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    return errs


def _quantity_negative(value: Any) -> bool:
    try:
        return parse_quantity(value) < 0
    except BadQuantity:
        return False


def validate_volumes(
    volumes: list[Obj], path: str, opts: PodOptions
) -> tuple[dict[str, Obj], Errs]:
    errs: Errs = []
    vols: dict[str, Obj] = {}
    for i, vol in enumerate(volumes):
        vpath = idx(path, i)
        name_path = child(vpath, "name")
        el = _volume_source(vol, vpath, opts)
        name = _s(vol, "name")
        if not name:
            el.append(required(name_path, ""))
        else:
            el += dns1123_label(name, name_path)
        if name in vols:
            el.append(duplicate(name_path, name))
        if el:
            errs += el
        else:
            vols[name] = vol
    return vols, errs


def _volume_mounts(
    mounts: list[Obj], devices: dict[str, str], volumes: dict[str, Obj], container: Obj, path: str
) -> Errs:
    errs: Errs = []
    mount_points: set[str] = set()
    for i, mnt in enumerate(mounts):
        mpath = idx(path, i)
        name, mount_path = _s(mnt, "name"), _s(mnt, "mountPath")
        if not name:
            errs.append(required(child(mpath, "name"), ""))
        if name not in volumes:
            errs.append(not_found(child(mpath, "name"), name))
        if not mount_path:
            errs.append(required(child(mpath, "mountPath"), ""))
        if mount_path in mount_points:
            errs.append(invalid(child(mpath, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        if name in devices:
            errs.append(
                invalid(child(mpath, "name"), name, "must not already exist in volumeDevices")
            )
        if mount_path in devices.values():
            errs.append(
                invalid(
                    child(mpath, "mountPath"),
                    mount_path,
                    "must not already exist as a path in volumeDevices",
                )
            )
        if name in volumes and has(volumes[name], "image"):
            for sub in ("subPath", "subPathExpr"):
                if _s(mnt, sub):
                    errs.append(
                        invalid(
                            child(mpath, sub), _s(mnt, sub), "not allowed in image volume sources"
                        )
                    )
        if _s(mnt, "subPath"):
            errs += _local_descending_path(_s(mnt, "subPath"), child(path, "subPath"))
        if _s(mnt, "subPathExpr"):
            if _s(mnt, "subPath"):
                errs.append(
                    invalid(
                        child(mpath, "subPathExpr"),
                        _s(mnt, "subPathExpr"),
                        "subPathExpr and subPath are mutually exclusive",
                    )
                )
            errs += _local_descending_path(_s(mnt, "subPathExpr"), child(path, "subPathExpr"))
        errs += _mount_propagation(mnt, container, child(path, "mountPropagation"))
        errs += _recursive_read_only(mnt, child(path, "recursiveReadOnly"))
    return errs


def _mount_propagation(mnt: Obj, container: Obj, path: str) -> Errs:
    mode = mnt.get("mountPropagation")
    if mode is None:
        return []
    supported = ["Bidirectional", "HostToContainer", "None"]
    errs = [] if mode in supported else [not_supported(path, mode, supported)]
    privileged = _d(container, "securityContext").get("privileged") is True
    if mode == "Bidirectional" and not privileged:
        errs.append(
            forbidden(
                path, "Bidirectional mount propagation is available only to privileged containers"
            )
        )
    return errs


def _recursive_read_only(mnt: Obj, path: str) -> Errs:
    rro = mnt.get("recursiveReadOnly")
    if rro is None or rro == "Disabled":
        return []
    if rro in ("Enabled", "IfPossible"):
        errs: Errs = []
        if mnt.get("readOnly") is not True:
            errs.append(forbidden(path, "may only be specified when readOnly is true"))
        if mnt.get("mountPropagation") not in (None, "None"):
            errs.append(
                forbidden(
                    path, "may only be specified when mountPropagation is None or not specified"
                )
            )
        return errs
    return [not_supported(path, rro, ["Disabled", "Enabled", "IfPossible"])]


def _volume_devices(
    devices: list[Obj], mounts: dict[str, str], volumes: dict[str, Obj], path: str
) -> Errs:
    errs: Errs = []
    dev_paths: set[str] = set()
    dev_names: set[str] = set()
    for i, dev in enumerate(devices):
        dpath = idx(path, i)
        name, dev_path = _s(dev, "name"), _s(dev, "devicePath")
        matched = name in volumes
        is_pvc = matched and (
            has(volumes[name], "persistentVolumeClaim") or has(volumes[name], "ephemeral")
        )
        if not name:
            errs.append(required(child(dpath, "name"), ""))
        if name in dev_names:
            errs.append(invalid(child(dpath, "name"), name, "must be unique"))
        if matched and not is_pvc:
            errs.append(
                invalid(
                    child(dpath, "name"),
                    name,
                    "can only use volume source type of "
                    "PersistentVolumeClaim or Ephemeral for block mode",
                )
            )
        if not matched:
            errs.append(not_found(child(dpath, "name"), name))
        if not dev_path:
            errs.append(required(child(dpath, "devicePath"), ""))
        if dev_path in dev_paths:
            errs.append(invalid(child(dpath, "devicePath"), dev_path, "must be unique"))
        if dev_path and _path_no_backsteps(dev_path, ""):
            errs.append(
                invalid(child(dpath, "devicePath"), dev_path, "can not contain backsteps ('..')")
            )
        else:
            dev_paths.add(dev_path)
        if name in mounts:
            errs.append(
                invalid(child(dpath, "name"), name, "must not already exist in volumeMounts")
            )
        if dev_path in mounts.values():
            errs.append(
                invalid(
                    child(dpath, "devicePath"),
                    dev_path,
                    "must not already exist as a path in volumeMounts",
                )
            )
        if name:
            dev_names.add(name)
    return errs
