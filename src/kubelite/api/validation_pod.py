"""Pod and pod-template validation (pkg/apis/core/validation, the Pod half).

Follows upstream function by function and in the same order, so the causes
of a 422 come out in the order a real cluster lists them: `ValidatePodSpec`
checks volumes, then containers, init containers, host-network ports,
restartPolicy, dnsPolicy, and so on.

Options a real apiserver derives from feature gates are fixed at the values
of a current release: relaxed env-var names, pods are not on Windows, and
privileged containers are allowed (kubelite is one user's own machine).
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass
from typing import Any

from kubelite.api import names
from kubelite.api.validation_meta import (
    BadQuantity,
    Errs,
    Obj,
    _d,
    _dl,
    _i,
    _l,
    _s,
    child,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    has,
    idx,
    invalid,
    ip_address,
    key,
    nonnegative,
    normalize,
    not_found,
    not_supported,
    parse_quantity,
    port_num_or_name,
    qualified_name,
    quantity_string,
    required,
    semantic_equal,
    too_long,
    validate_annotations,
    validate_label_name,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
    validate_template_object_meta,
)

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
MAX_INT32 = 2**31 - 1


@dataclass(frozen=True)
class PodOptions:
    resource_is_pod: bool = False
    relaxed_env_names: bool = True  # RelaxedEnvironmentVariableValidation, on by default


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

_VOLUME_FIELD_PATHS = {"metadata.name", "metadata.namespace", "metadata.labels",
                       "metadata.annotations", "metadata.uid"}  # fmt: skip
_ENV_FIELD_PATHS = {"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs"}  # fmt: skip
_RESOURCE_FIELD_PATHS = {"limits.cpu", "limits.memory", "limits.ephemeral-storage",
                         "requests.cpu", "requests.memory", "requests.ephemeral-storage"}  # fmt: skip


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
                    )  # fmt: skip
                )
            if seconds > 1 << 32:
                errs.append(
                    invalid(
                        child(tpath, "expirationSeconds"),
                        seconds,
                        "may not specify a duration larger than 2^32 seconds",
                    )  # fmt: skip
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


def _pull_policy(policy: str, path: str) -> Errs:
    if policy in ("Always", "IfNotPresent", "Never"):
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, ["Always", "IfNotPresent", "Never"])]


def _image_source(src: Obj, path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    if opts.resource_is_pod and not _s(src, "reference"):
        errs.append(required(child(path, "reference"), ""))
    return errs + _pull_policy(_s(src, "pullPolicy"), child(path, "pullPolicy"))


# (json key, key used in the "more than 1" Forbidden path, validator, key of the validator path)
_SOURCES: list[tuple[str, str, Any, str]] = [
    ("emptyDir", "emptyDir", None, "emptyDir"),
    ("hostPath", "hostPath", _host_path, "hostPath"),
    ("gitRepo", "gitRepo", _required_fields("repository"), "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk", _required_fields("pdName"), "persistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore", _required_fields("volumeID"), "awsElasticBlockStore"),
    ("secret", "secret", _secret_source, "secret"),
    ("nfs", "nfs", _nfs, "nfs"),
    ("iscsi", "iscsi", _required_fields("targetPortal", "iqn"), "iscsi"),
    ("glusterfs", "glusterfs", _required_fields("endpoints", "path"), "glusterfs"),
    ("flocker", "flocker", None, "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim", _required_fields("claimName"), "persistentVolumeClaim"),
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
    ("photonPersistentDisk", "photonPersistentDisk", _required_fields("pdID"), "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume", _required_fields("volumeID"), "portworxVolume"),
    ("azureDisk", "azureDisk", _required_fields("diskName", "diskURI"), "azureDisk"),
    ("storageos", "storageos", _required_fields("volumeName"), "storageos"),
    ("projected", "projected", _projected_source, "projected"),
    ("scaleIO", "scaleIO", _required_fields("gateway", "system", "volumeName"), "scaleIO"),
    ("csi", "csi", lambda s, p: _csi_driver_name(_s(s, "driver"), child(p, "driver")), "csi"),
    ("ephemeral", "ephemeral", _ephemeral_source, "ephemeral"),
    ("image", "image", None, "image"),
]  # fmt: skip


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
                    )  # fmt: skip
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


# --- containers ---


def _container_ports(ports: list[Obj], path: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        ppath = idx(path, i)
        name = _s(port, "name")
        if name:
            msgs = names.is_valid_port_name(name)
            if msgs:
                errs += [invalid(child(ppath, "name"), name, m) for m in msgs]
            elif name in seen:
                errs.append(duplicate(child(ppath, "name"), name))
            else:
                seen.add(name)
        container_port = _i(port, "containerPort")
        if container_port == 0:
            errs.append(required(child(ppath, "containerPort"), ""))
        else:
            errs += [
                invalid(child(ppath, "containerPort"), container_port, m)
                for m in names.is_valid_port_num(container_port)
            ]
        host_port = _i(port, "hostPort")
        if host_port != 0:
            errs += [
                invalid(child(ppath, "hostPort"), host_port, m)
                for m in names.is_valid_port_num(host_port)
            ]
        protocol = _s(port, "protocol")
        if not protocol:
            errs.append(required(child(ppath, "protocol"), ""))
        elif protocol not in ("TCP", "UDP", "SCTP"):
            errs.append(not_supported(child(ppath, "protocol"), protocol, ["SCTP", "TCP", "UDP"]))
    return errs


def _env_name(name: str, path: str, opts: PodOptions) -> Errs:
    check = names.is_relaxed_env_var_name if opts.relaxed_env_names else names.is_env_var_name
    return [invalid(path, name, m) for m in check(name)]


def _key_selector(sel: Obj, path: str) -> Errs:
    errs = [invalid(child(path, "name"), _s(sel, "name"), m)
            for m in names.name_is_dns_subdomain(_s(sel, "name"))]  # fmt: skip
    if not _s(sel, "key"):
        errs.append(required(child(path, "key"), ""))
    else:
        errs += [invalid(child(path, "key"), _s(sel, "key"), m)
                 for m in names.is_config_map_key(_s(sel, "key"))]  # fmt: skip
    return errs


def _env(env: list[Obj], path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    for i, ev in enumerate(env):
        epath = idx(path, i)
        if not _s(ev, "name"):
            errs.append(required(child(epath, "name"), ""))
        else:
            errs += _env_name(_s(ev, "name"), child(epath, "name"), opts)
        errs += _env_value_from(ev, child(epath, "valueFrom"))
    return errs


def _env_value_from(ev: Obj, path: str) -> Errs:
    if not has(ev, "valueFrom"):
        return []
    vf, errs, count = _d(ev, "valueFrom"), [], 0
    if has(vf, "fieldRef"):
        count += 1
        errs += _object_field_selector(
            _d(vf, "fieldRef"), _ENV_FIELD_PATHS, child(path, "fieldRef")
        )
    if has(vf, "resourceFieldRef"):
        count += 1
        errs += _resource_field_selector(
            _d(vf, "resourceFieldRef"), child(path, "resourceFieldRef"), False
        )
    if has(vf, "configMapKeyRef"):
        count += 1
        errs += _key_selector(_d(vf, "configMapKeyRef"), child(path, "configMapKeyRef"))
    if has(vf, "secretKeyRef"):
        count += 1
        errs += _key_selector(_d(vf, "secretKeyRef"), child(path, "secretKeyRef"))
    if count == 0:
        errs.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                      "`configMapKeyRef` or `secretKeyRef`"))  # fmt: skip
    elif _s(ev, "value"):
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _env_from(sources: list[Obj], path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    for i, ev in enumerate(sources):
        epath = idx(path, i)
        if _s(ev, "prefix"):
            errs += _env_name(_s(ev, "prefix"), child(epath, "prefix"), opts)
        count = 0
        for ref in ("configMapRef", "secretRef"):
            if has(ev, ref):
                count += 1
                name = _s(_d(ev, ref), "name")
                if not name:
                    errs.append(required(child(epath, ref, "name"), ""))
                else:
                    errs += [invalid(child(epath, ref, "name"), name, m)
                             for m in names.name_is_dns_subdomain(name, True)]  # fmt: skip
        if count == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _volume_mounts(mounts: list[Obj], devices: dict[str, str], volumes: dict[str, Obj],
                   container: Obj, path: str) -> Errs:  # fmt: skip
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
            errs.append(invalid(child(mpath, "mountPath"), mount_path,
                                "must not already exist as a path in volumeDevices"))  # fmt: skip
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
                errs.append(invalid(child(mpath, "subPathExpr"), _s(mnt, "subPathExpr"),
                                    "subPathExpr and subPath are mutually exclusive"))  # fmt: skip
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
            errs.append(invalid(child(dpath, "name"), name, "can only use volume source type of "
                                "PersistentVolumeClaim or Ephemeral for block mode"))  # fmt: skip
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
            errs.append(invalid(child(dpath, "devicePath"), dev_path,
                                "must not already exist as a path in volumeMounts"))  # fmt: skip
        if name:
            dev_names.add(name)
    return errs


# --- resources ---

_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "requests.storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "services.nodeports", "services.loadbalancers",
}  # fmt: skip
_INTEGER_RESOURCES = {
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
}  # fmt: skip


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepage_resource(name: str) -> bool:
    return name.startswith("hugepages-")


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not names.is_qualified_name("requests." + name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepage_resource(name)


def _is_integer_resource(name: str) -> bool:
    return name in _INTEGER_RESOURCES or is_extended_resource(name) or name.startswith("count/")


def _container_resource_name(name: str, path: str) -> Errs:
    errs = [invalid(path, name, m) for m in names.is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not is_hugepage_resource(name):
            return [invalid(path, name, "must be a standard resource type or fully qualified")]
        if name not in _STANDARD_CONTAINER_RESOURCES and not is_hugepage_resource(name):
            return [invalid(path, name, "must be a standard resource for containers")]
    elif not is_native_resource(name) and not is_extended_resource(name):
        return [invalid(path, name, "doesn't follow extended resource name standard")]
    return []


def validate_quantity_value(name: str, value: Any, path: str) -> tuple[Any, Errs]:
    """ValidateResourceQuantityValue; returns the parsed value (None if unparsable)."""
    try:
        parsed = parse_quantity(value)
    except BadQuantity as exc:
        # Upstream rejects this while decoding (400); kubelite reports it here.
        return None, [invalid(path, value if isinstance(value, str) else str(value), str(exc))]
    errs: Errs = []
    if parsed < 0:
        errs.append(invalid(path, quantity_string(value), "must be greater than or equal to 0"))
    # MilliValue() rounds up; an integer resource must be a whole number of units.
    if _is_integer_resource(name) and math.ceil(parsed * 1000) % 1000:
        errs.append(invalid(path, quantity_string(value), "must be an integer"))
    return parsed, errs


def _resources(res: Obj, path: str) -> Errs:
    errs: Errs = []
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    limits, requests = _d(res, "limits"), _d(res, "requests")
    parsed_limits: dict[str, Any] = {}
    lim_cpu_mem = req_cpu_mem = lim_huge = req_huge = False
    for name, q in limits.items():
        qpath = key(lim_path, name)
        errs += _container_resource_name(name, qpath)
        parsed_limits[name], qerrs = validate_quantity_value(name, q, qpath)
        errs += qerrs
        lim_huge = lim_huge or is_hugepage_resource(name)
        lim_cpu_mem = lim_cpu_mem or name in ("cpu", "memory")
    for name, q in requests.items():
        qpath = key(req_path, name)
        errs += _container_resource_name(name, qpath)
        parsed, qerrs = validate_quantity_value(name, q, qpath)
        errs += qerrs
        if name in limits:
            limit = parsed_limits.get(name)
            if parsed is not None and limit is not None:
                if parsed != limit and not is_overcommit_allowed(name):
                    errs.append(invalid(req_path, quantity_string(q), f"must be equal to {name} limit "
                                        f"of {quantity_string(limits[name])}"))  # fmt: skip
                elif parsed > limit:
                    errs.append(invalid(req_path, quantity_string(q), f"must be less than or equal to "
                                        f"{name} limit of {quantity_string(limits[name])}"))  # fmt: skip
        elif not is_overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
        req_huge = req_huge or is_hugepage_resource(name)
        req_cpu_mem = req_cpu_mem or name in ("cpu", "memory")
    if not lim_cpu_mem and not req_cpu_mem and (req_huge or lim_huge):
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    return errs


def _resize_policy(policies: list[Obj], path: str, restart_policy: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, p in enumerate(policies):
        name, policy = _s(p, "resourceName"), _s(p, "restartPolicy")
        if name in seen:
            errs.append(duplicate(idx(path, i), name))
        seen.add(name)
        if name == "":
            errs.append(required(path, ""))
        elif name not in ("cpu", "memory"):
            errs.append(not_supported(path, name, ["cpu", "memory"]))
        if policy == "":
            errs.append(required(path, ""))
        elif policy not in ("NotRequired", "RestartContainer"):
            errs.append(not_supported(path, policy, ["NotRequired", "RestartContainer"]))
        if restart_policy == "Never" and policy != "NotRequired":
            errs.append(
                invalid(path, policy, "must be 'NotRequired' when `restartPolicy` is 'Never'")
            )
    return errs


def _seccomp_profile(sp: Any, path: str) -> Errs:
    if not isinstance(sp, dict):
        return []
    kind, errs = _s(sp, "type"), []
    supported = ["Localhost", "RuntimeDefault", "Unconfined"]
    if kind == "":
        errs.append(required(child(path, "type"), "type is required when seccompProfile is set"))
    elif kind not in supported:
        errs.append(not_supported(child(path, "type"), kind, supported))
    if kind == "Localhost":
        if sp.get("localhostProfile") is None:
            errs.append(
                required(
                    child(path, "localhostProfile"), "must be set when seccomp type is Localhost"
                )
            )
        else:
            errs += _local_descending_path(
                _s(sp, "localhostProfile"), child(path, "localhostProfile")
            )
    elif sp.get("localhostProfile") is not None:
        errs.append(
            invalid(
                child(path, "localhostProfile"),
                sp,
                "can only be set when seccomp type is Localhost",
            )
        )
    return errs


def _id_field(sc: Obj, field_name: str, path: str) -> Errs:
    value = sc.get(field_name)
    if isinstance(value, int) and not isinstance(value, bool):
        return [invalid(child(path, field_name), value, m) for m in names.is_valid_user_id(value)]
    return []


def _container_security_context(sc: Any, path: str, host_users: bool) -> Errs:
    if not isinstance(sc, dict):
        return []
    errs = _id_field(sc, "runAsUser", path) + _id_field(sc, "runAsGroup", path)
    proc_mount = sc.get("procMount")
    if proc_mount is not None:
        if proc_mount not in ("Default", "Unmasked"):
            errs.append(
                not_supported(child(path, "procMount"), proc_mount, ["Default", "Unmasked"])
            )
        if host_users and proc_mount == "Unmasked":
            errs.append(
                invalid(
                    child(path, "procMount"),
                    proc_mount,
                    "`hostUsers` must be false to use `Unmasked`",
                )
            )
    errs += _seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile"))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(
                invalid(
                    path,
                    sc,
                    "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                )
            )
        if "CAP_SYS_ADMIN" in _l(_d(sc, "capabilities"), "add"):
            errs.append(invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and "
                                          "`capabilities.Add` CAP_SYS_ADMIN"))  # fmt: skip
    return errs


def _container_common(c: Obj, volumes: dict[str, Obj], path: str, opts: PodOptions,
                      restart_policy: str, host_users: bool) -> Errs:  # fmt: skip
    errs: Errs = []
    name_path = child(path, "name")
    if not _s(c, "name"):
        errs.append(required(name_path, ""))
    else:
        errs += dns1123_label(_s(c, "name"), name_path)
    if not _s(c, "image"):
        errs.append(required(child(path, "image"), ""))
    tmp = _s(c, "terminationMessagePolicy")
    if tmp == "":
        errs.append(required(child(path, "terminationMessagePolicy"), ""))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        errs.append(
            not_supported(
                child(path, "terminationMessagePolicy"), tmp, ["File", "FallbackToLogsOnError"]
            )
        )
    mounts = {_s(m, "name"): _s(m, "mountPath") for m in _dl(c, "volumeMounts")}
    devices = {_s(d, "name"): _s(d, "devicePath") for d in _dl(c, "volumeDevices")}
    errs += _container_ports(_dl(c, "ports"), child(path, "ports"))
    errs += _env(_dl(c, "env"), child(path, "env"), opts)
    errs += _env_from(_dl(c, "envFrom"), child(path, "envFrom"), opts)
    errs += _volume_mounts(_dl(c, "volumeMounts"), devices, volumes, c, child(path, "volumeMounts"))
    errs += _volume_devices(_dl(c, "volumeDevices"), mounts, volumes, child(path, "volumeDevices"))
    errs += _pull_policy(_s(c, "imagePullPolicy"), child(path, "imagePullPolicy"))
    errs += _resources(_d(c, "resources"), child(path, "resources"))
    errs += _resize_policy(_dl(c, "resizePolicy"), child(path, "resizePolicy"), restart_policy)
    errs += _container_security_context(
        c.get("securityContext"), child(path, "securityContext"), host_users
    )
    return errs


# --- probes and lifecycle handlers ---


def _handler(handler: Obj, grace: int | None, path: str, allow_sleep: bool) -> Errs:
    errs: Errs = []
    count = 0
    kinds = ["exec", "httpGet", "tcpSocket", "grpc"] + (["sleep"] if allow_sleep else [])
    for kind in kinds:
        if not has(handler, kind):
            continue
        if count > 0:
            errs.append(forbidden(child(path, kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        sub, spath = _d(handler, kind), child(path, kind)
        if kind == "exec" and not _l(sub, "command"):
            errs.append(required(child(spath, "command"), ""))
        elif kind == "httpGet":
            errs += _http_get(sub, spath)
        elif kind == "tcpSocket":
            errs += port_num_or_name(sub.get("port"), child(spath, "port"))
        elif kind == "grpc":
            errs += port_num_or_name(_i(sub, "port"), child(spath, "port"))
        elif kind == "sleep":
            seconds = _i(sub, "seconds")
            if grace is not None and (seconds < 0 or seconds > grace):
                errs.append(invalid(spath, seconds, "must be non-negative and less than "
                                    f"terminationGracePeriodSeconds ({grace})"))  # fmt: skip
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _http_get(action: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(action, "path"):
        errs.append(required(child(path, "path"), ""))
    errs += port_num_or_name(action.get("port"), child(path, "port"))
    scheme = _s(action, "scheme")
    if scheme not in ("HTTP", "HTTPS"):
        errs.append(not_supported(child(path, "scheme"), scheme, ["HTTP", "HTTPS"]))
    for header in _dl(action, "httpHeaders"):
        errs += [invalid(child(path, "httpHeaders"), _s(header, "name"), m)
                 for m in names.is_http_header_name(_s(header, "name"))]  # fmt: skip
    return errs


def _probe(probe: Any, grace: int | None, path: str, kind: str) -> Errs:
    if not isinstance(probe, dict):
        return []
    errs = _handler(probe, grace, path, allow_sleep=False)
    for field_name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                       "successThreshold", "failureThreshold"):  # fmt: skip
        errs += nonnegative(_i(probe, field_name), child(path, field_name))
    tgps = probe.get("terminationGracePeriodSeconds")
    if isinstance(tgps, int) and tgps <= 0:
        errs.append(
            invalid(child(path, "terminationGracePeriodSeconds"), tgps, "must be greater than 0")
        )
    if kind in ("liveness", "startup") and _i(probe, "successThreshold") != 1:
        errs.append(
            invalid(child(path, "successThreshold"), _i(probe, "successThreshold"), "must be 1")
        )
    if kind == "readiness" and tgps is not None:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), tgps,
                            "must not be set for readinessProbes"))  # fmt: skip
    return errs


def _lifecycle_and_probes(c: Obj, grace: int | None, path: str) -> Errs:
    errs: Errs = []
    if has(c, "lifecycle"):
        lifecycle = _d(c, "lifecycle")
        for hook in ("postStart", "preStop"):
            if has(lifecycle, hook):
                errs += _handler(_d(lifecycle, hook), grace, child(path, "lifecycle", hook), True)
    errs += _probe(c.get("livenessProbe"), grace, child(path, "livenessProbe"), "liveness")
    errs += _probe(c.get("readinessProbe"), grace, child(path, "readinessProbe"), "readiness")
    errs += _probe(c.get("startupProbe"), grace, child(path, "startupProbe"), "startup")
    return errs


def _host_port_conflicts(containers: list[Obj], path: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(_dl(c, "ports")):
            host_port = _i(port, "hostPort")
            if host_port == 0:
                continue
            tag = f"{_s(port, 'protocol')}/{_s(port, 'hostIP')}/{host_port}"
            if tag in seen:
                errs.append(
                    duplicate(child(idx(child(idx(path, ci), "ports"), pi), "hostPort"), tag)
                )
            seen.add(tag)
    return errs


def _containers(containers: list[Obj], volumes: dict[str, Obj], grace: int | None, path: str,
                opts: PodOptions, restart_policy: str, host_users: bool) -> Errs:  # fmt: skip
    if not containers:
        return [required(path, "")]
    errs: Errs = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cpath = idx(path, i)
        errs += _container_common(c, volumes, cpath, opts, restart_policy, host_users)
        if _s(c, "name") in seen:
            errs.append(duplicate(child(cpath, "name"), _s(c, "name")))
        else:
            seen.add(_s(c, "name"))
        errs += _lifecycle_and_probes(c, grace, cpath)
        if c.get("restartPolicy") is not None:
            errs.append(
                forbidden(child(cpath, "restartPolicy"), "may not be set for non-init containers")
            )
    return errs + _host_port_conflicts(containers, path)


def _init_containers(init: list[Obj], regular: list[Obj], volumes: dict[str, Obj], grace: int | None,
                     path: str, opts: PodOptions, restart_policy: str, host_users: bool) -> Errs:  # fmt: skip
    errs: Errs = []
    seen = {_s(c, "name") for c in regular}
    for i, c in enumerate(init):
        cpath = idx(path, i)
        errs += _container_common(c, volumes, cpath, opts, restart_policy, host_users)
        always = False
        if c.get("restartPolicy") is not None:
            if c["restartPolicy"] != "Always":
                errs.append(
                    not_supported(child(cpath, "restartPolicy"), c["restartPolicy"], ["Always"])
                )
            always = c["restartPolicy"] == "Always"
        if _s(c, "name") in seen:
            errs.append(duplicate(child(cpath, "name"), _s(c, "name")))
        elif _s(c, "name"):
            seen.add(_s(c, "name"))
        errs += _host_port_conflicts([c], path)
        if always:
            errs += _lifecycle_and_probes(c, grace, cpath)
        else:
            for field_name in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if has(c, field_name):
                    errs.append(forbidden(child(cpath, field_name),
                                          "may not be set for init containers without restartPolicy=Always"))  # fmt: skip
        if _l(c, "resizePolicy") and not always:
            errs.append(invalid(child(cpath, "resizePolicy"), _l(c, "resizePolicy"),
                                "must not be set for init containers"))  # fmt: skip
    return errs


# --- pod-level fields ---


def _restart_policy(policy: str, path: str) -> Errs:
    if policy in ("Always", "OnFailure", "Never"):
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, ["Always", "OnFailure", "Never"])]


def _dns_policy(policy: str, path: str) -> Errs:
    supported = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    if policy in supported:
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, supported)]


def _pod_security_context(sc: Any, spec: Obj, path: str) -> Errs:
    if not isinstance(sc, dict):
        return []
    errs: Errs = []
    for field_name in ("fsGroup", "runAsUser", "runAsGroup"):
        errs += _id_field(sc, field_name, path)
    for i, gid in enumerate(_l(sc, "supplementalGroups")):
        if isinstance(gid, int):
            errs += [
                invalid(idx(child(path, "supplementalGroups"), i), gid, m)
                for m in names.is_valid_group_id(gid)
            ]
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        errs.append(invalid(child(path, "shareProcessNamespace"), True,
                            "ShareProcessNamespace and HostPID cannot both be enabled"))  # fmt: skip
    policy = sc.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(
            not_supported(child(path, "fsGroupChangePolicy"), policy, ["Always", "OnRootMismatch"])
        )
    errs += _seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile"))
    sgp = sc.get("supplementalGroupsPolicy")
    if sgp is not None and sgp not in ("Merge", "Strict"):
        errs.append(
            not_supported(child(path, "supplementalGroupsPolicy"), sgp, ["Merge", "Strict"])
        )
    return errs


def _image_pull_secrets(secrets: list[Any], path: str) -> Errs:
    errs: Errs = []
    for i, ref in enumerate(secrets):
        if isinstance(ref, dict) and set(normalize(ref)) - {"name"}:
            errs.append(invalid(idx(path, i), ref, "only name may be set"))
    return errs


def _node_selector_requirement(req: Obj, path: str, allow_invalid_values: bool) -> Errs:
    errs: Errs = []
    op, values = _s(req, "operator"), _l(req, "values")
    if op in ("In", "NotIn"):
        if not values:
            errs.append(
                required(
                    child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(forbidden(child(path, "values"),
                                  "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))  # fmt: skip
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(required(child(path, "values"),
                                 "must be specified single value when `operator` is 'Lt' or 'Gt'"))  # fmt: skip
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    errs += validate_label_name(_s(req, "key"), child(path, "key"))
    if not allow_invalid_values:
        for i, v in enumerate(values):
            v = v if isinstance(v, str) else ""
            errs += [
                invalid(idx(child(path, "values"), i), v, m) for m in names.is_valid_label_value(v)
            ]
    return errs


def _node_selector_term(term: Obj, path: str, allow_invalid_values: bool) -> Errs:
    errs: Errs = []
    for j, req in enumerate(_dl(term, "matchExpressions")):
        errs += _node_selector_requirement(
            req, idx(child(path, "matchExpressions"), j), allow_invalid_values
        )
    for j, req in enumerate(_dl(term, "matchFields")):
        rpath = idx(child(path, "matchFields"), j)
        if _s(req, "operator") in ("In", "NotIn"):
            if len(_l(req, "values")) != 1:
                errs.append(required(child(rpath, "values"), "must be only one value when `operator` is "
                                     "'In' or 'NotIn' for node field selector"))  # fmt: skip
        else:
            errs.append(
                invalid(
                    child(rpath, "operator"), _s(req, "operator"), "not a valid selector operator"
                )
            )
        if _s(req, "key") != "metadata.name":
            errs.append(
                invalid(child(rpath, "key"), _s(req, "key"), "not a valid field selector key")
            )
        else:
            for k, v in enumerate(_l(req, "values")):
                v = v if isinstance(v, str) else ""
                errs += [
                    invalid(idx(child(rpath, "values"), k), v, m)
                    for m in names.name_is_dns_subdomain(v)
                ]
    return errs


def validate_node_selector(selector: Obj, path: str, allow_invalid_values: bool = False) -> Errs:
    terms_path = child(path, "nodeSelectorTerms")
    terms = _dl(selector, "nodeSelectorTerms")
    if not terms:
        return [required(terms_path, "must have at least one node selector term")]
    errs: Errs = []
    for i, term in enumerate(terms):
        errs += _node_selector_term(term, idx(terms_path, i), allow_invalid_values)
    return errs


def _pod_affinity_term(term: Obj, path: str) -> Errs:
    errs = validate_label_selector(term.get("labelSelector"), child(path, "labelSelector"))
    errs += validate_label_selector(term.get("namespaceSelector"), child(path, "namespaceSelector"))
    for ns in _l(term, "namespaces"):
        ns = ns if isinstance(ns, str) else ""
        errs += [invalid(child(path, "namespace"), ns, m) for m in names.name_is_dns_label(ns)]
    if not _s(term, "topologyKey"):
        errs.append(required(child(path, "topologyKey"), "can not be empty"))
    return errs + validate_label_name(_s(term, "topologyKey"), child(path, "topologyKey"))


def _affinity(affinity: Any, path: str) -> Errs:
    if not isinstance(affinity, dict):
        return []
    errs: Errs = []
    if has(affinity, "nodeAffinity"):
        na, npath = _d(affinity, "nodeAffinity"), child(path, "nodeAffinity")
        req_key = "requiredDuringSchedulingIgnoredDuringExecution"
        if has(na, req_key):
            errs += validate_node_selector(_d(na, req_key), child(npath, req_key))
        pref_key = "preferredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_dl(na, pref_key)):
            tpath = idx(child(npath, pref_key), i)
            weight = _i(term, "weight")
            if weight <= 0 or weight > 100:
                errs.append(invalid(child(tpath, "weight"), weight, "must be in the range 1-100"))
            errs += _node_selector_term(_d(term, "preference"), child(tpath, "preference"), True)
    for kind in ("podAffinity", "podAntiAffinity"):
        if not has(affinity, kind):
            continue
        pa, ppath = _d(affinity, kind), child(path, kind)
        req_key = "requiredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_dl(pa, req_key)):
            errs += _pod_affinity_term(term, idx(child(ppath, req_key), i))
        pref_key = "preferredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_dl(pa, pref_key)):
            tpath = idx(child(ppath, pref_key), i)
            weight = _i(term, "weight")
            if weight <= 0 or weight > 100:
                errs.append(invalid(child(tpath, "weight"), weight, "must be in the range 1-100"))
            errs += _pod_affinity_term(_d(term, "podAffinityTerm"), child(tpath, "podAffinityTerm"))
    return errs


def _dns_config(config: Any, policy: str, path: str) -> Errs:
    if policy == "None":
        if not isinstance(config, dict):
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not _l(config, "nameservers"):
            return [required(child(path, "nameservers"),
                             "must provide at least one DNS nameserver when `dnsPolicy` is None")]  # fmt: skip
    if not isinstance(config, dict):
        return []
    errs: Errs = []
    servers, searches = _l(config, "nameservers"), _l(config, "searches")
    if len(servers) > 3:
        errs.append(
            invalid(child(path, "nameservers"), servers, "must not have more than 3 nameservers")
        )
    for i, ns in enumerate(servers):
        errs += ip_address(ns if isinstance(ns, str) else "", idx(child(path, "nameservers"), i))
    if len(searches) > 32:
        errs.append(
            invalid(child(path, "searches"), searches, "must not have more than 32 search paths")
        )
    if len(" ".join(str(s) for s in searches)) > 2048:
        errs.append(invalid(child(path, "searches"), searches,
                            "must not have more than 2048 characters (including spaces) in the search list"))  # fmt: skip
    for i, search in enumerate(searches):
        search = search if isinstance(search, str) else ""
        if search != ".":  # AllowRelaxedDNSSearchValidation
            search = search.removesuffix(".")
            errs += [invalid(idx(child(path, "searches"), i), search, m)
                     for m in _dns1123_subdomain_with_underscore(search)]  # fmt: skip
    for i, option in enumerate(_dl(config, "options")):
        if not _s(option, "name"):
            errs.append(required(idx(child(path, "options"), i), "must not be empty"))
    return errs


def _dns1123_subdomain_with_underscore(value: str) -> list[str]:
    import re

    fmt = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*"
    errs: list[str] = []
    if len(value) > 253:
        errs.append(names.max_len_error(253))
    if not re.fullmatch(fmt, value):
        errs.append(names.regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'_', '-' or '.', and must start and end with an alphanumeric character", fmt, "example.com"))  # fmt: skip
    return errs


def validate_tolerations(tolerations: list[Obj], path: str) -> Errs:
    errs: Errs = []
    for i, t in enumerate(tolerations):
        tpath = idx(path, i)
        k, op, value, effect = _s(t, "key"), _s(t, "operator"), _s(t, "value"), _s(t, "effect")
        if k:
            errs += validate_label_name(k, child(tpath, "key"))
        if not k and op != "Exists":
            errs.append(invalid(child(tpath, "operator"), op, "operator must be Exists when `key` is empty, "
                                'which means "match all values and all keys"'))  # fmt: skip
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(child(tpath, "effect"), effect,
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))  # fmt: skip
        if op in ("Equal", ""):
            msgs = names.is_valid_label_value(value)
            if msgs:
                errs.append(invalid(child(tpath, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(
                    invalid(
                        child(tpath, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(not_supported(child(tpath, "operator"), op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(
                not_supported(
                    child(tpath, "effect"), effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]
                )
            )
    return errs


def _topology_spread(constraints: list[Obj], path: str) -> Errs:
    errs: Errs = []
    for i, c in enumerate(constraints):
        cpath = idx(path, i)
        if _i(c, "maxSkew") <= 0:
            errs.append(
                invalid(child(cpath, "maxSkew"), _i(c, "maxSkew"), "must be greater than zero")
            )
        if not _s(c, "topologyKey"):
            errs.append(required(child(cpath, "topologyKey"), "can not be empty"))
        action = _s(c, "whenUnsatisfiable")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(
                not_supported(
                    child(cpath, "whenUnsatisfiable"), action, ["DoNotSchedule", "ScheduleAnyway"]
                )
            )
        for rest in constraints[i + 1 :]:
            if (
                _s(rest, "topologyKey") == _s(c, "topologyKey")
                and _s(rest, "whenUnsatisfiable") == action
            ):
                errs.append(duplicate(child(cpath, "{topologyKey, whenUnsatisfiable}"),
                                      f"{{{_s(c, 'topologyKey')}, {action}}}"))  # fmt: skip
                break
        if c.get("minDomains") is not None:
            md = _i(c, "minDomains")
            if md <= 0:
                errs.append(invalid(child(cpath, "minDomains"), md, "must be greater than zero"))
            if action != "DoNotSchedule":
                errs.append(invalid(child(cpath, "minDomains"), md, "can only use minDomains if "
                                    f"whenUnsatisfiable=DoNotSchedule, not {action}"))  # fmt: skip
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if c.get(policy) is not None and c[policy] not in ("Honor", "Ignore"):
                errs.append(not_supported(child(cpath, policy), c[policy], ["Honor", "Ignore"]))
        errs += validate_label_selector(c.get("labelSelector"), child(cpath, "labelSelector"))
    return errs


def validate_pod_spec(spec: Obj, path: str, opts: PodOptions) -> Errs:
    """ValidatePodSpec."""
    errs: Errs = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(child(path, "terminationGracePeriodSeconds"), ""))
    grace = grace if isinstance(grace, int) else None
    host_users = spec.get("hostUsers") is not False
    restart_policy = _s(spec, "restartPolicy")
    vols, verrs = validate_volumes(_dl(spec, "volumes"), child(path, "volumes"), opts)
    errs += verrs
    errs += _containers(_dl(spec, "containers"), vols, grace, child(path, "containers"),
                        opts, restart_policy, host_users)  # fmt: skip
    errs += _init_containers(_dl(spec, "initContainers"), _dl(spec, "containers"), vols, grace,
                             child(path, "initContainers"), opts, restart_policy, host_users)  # fmt: skip
    if spec.get("hostNetwork") is True:
        for i, c in enumerate(_dl(spec, "containers")):
            for j, port in enumerate(_dl(c, "ports")):
                hp, cp = _i(port, "hostPort"), _i(port, "containerPort")
                if (opts.resource_is_pod or hp != 0) and hp != cp:
                    ppath = idx(child(idx(child(path, "containers"), i), "ports"), j)
                    errs.append(invalid(child(ppath, "hostPort"), hp,
                                        "must match `containerPort` when `hostNetwork` is true"))  # fmt: skip
    errs += _restart_policy(restart_policy, child(path, "restartPolicy"))
    errs += _dns_policy(_s(spec, "dnsPolicy"), child(path, "dnsPolicy"))
    errs += validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector"))
    errs += _pod_security_context(spec.get("securityContext"), spec, child(path, "securityContext"))
    errs += _image_pull_secrets(_l(spec, "imagePullSecrets"), child(path, "imagePullSecrets"))
    errs += _affinity(spec.get("affinity"), child(path, "affinity"))
    errs += _dns_config(spec.get("dnsConfig"), _s(spec, "dnsPolicy"), child(path, "dnsConfig"))
    for i, gate in enumerate(_dl(spec, "readinessGates")):
        errs += qualified_name(
            _s(gate, "conditionType"), child(idx(child(path, "readinessGates"), i), "conditionType")
        )
    seen_gates: set[str] = set()
    for i, gate in enumerate(_dl(spec, "schedulingGates")):
        gpath = idx(child(path, "schedulingGates"), i)
        errs += qualified_name(_s(gate, "name"), gpath)
        if _s(gate, "name") in seen_gates:
            errs.append(duplicate(gpath, _s(gate, "name")))
        seen_gates.add(_s(gate, "name"))
    errs += _topology_spread(
        _dl(spec, "topologySpreadConstraints"), child(path, "topologySpreadConstraints")
    )
    if spec.get("hostUsers") is False:
        for field_name, label in (
            ("hostNetwork", "hostNetwork"),
            ("hostPID", "HostPID"),
            ("hostIPC", "HostIPC"),
        ):
            if spec.get(field_name) is True:
                errs.append(forbidden(child(path, label), "when `pod.Spec.HostUsers` is false"))
    for field_name in ("serviceAccountName", "nodeName"):
        if _s(spec, field_name):
            errs += [invalid(child(path, field_name), _s(spec, field_name), m)
                     for m in names.name_is_dns_subdomain(_s(spec, field_name))]  # fmt: skip
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and not (1 <= ads <= MAX_INT32):
        errs.append(
            invalid(
                child(path, "activeDeadlineSeconds"), ads, names.inclusive_range_error(1, MAX_INT32)
            )
        )
    for field_name in ("hostname", "subdomain"):
        if _s(spec, field_name):
            errs += dns1123_label(_s(spec, field_name), child(path, field_name))
    errs += validate_tolerations(_dl(spec, "tolerations"), child(path, "tolerations"))
    for i, alias in enumerate(_dl(spec, "hostAliases")):
        apath = idx(child(path, "hostAliases"), i)
        errs += ip_address(_s(alias, "ip"), child(apath, "ip"))
        for j, hostname in enumerate(_l(alias, "hostnames")):
            errs += dns1123_subdomain(
                hostname if isinstance(hostname, str) else "", idx(child(apath, "hostnames"), j)
            )
    if _s(spec, "priorityClassName"):
        errs += [invalid(child(path, "priorityClassName"), _s(spec, "priorityClassName"), m)
                 for m in names.name_is_dns_subdomain(_s(spec, "priorityClassName"))]  # fmt: skip
    if spec.get("runtimeClassName") is not None:
        errs += dns1123_subdomain(_s(spec, "runtimeClassName"), child(path, "runtimeClassName"))
    if spec.get("preemptionPolicy") is not None:
        errs += validate_preemption_policy(
            spec.get("preemptionPolicy"), child(path, "preemptionPolicy")
        )
    if has(spec, "os"):
        os_name = _s(_d(spec, "os"), "name")
        if not os_name:
            errs.append(required(child(path, "os", "name"), "cannot be empty"))
        elif os_name not in ("linux", "windows"):
            errs.append(not_supported(child(path, "os"), os_name, ["linux", "windows"]))
    return errs


def validate_preemption_policy(policy: Any, path: str) -> Errs:
    if policy in ("PreemptLowerPriority", "Never"):
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, ["PreemptLowerPriority", "Never"])]


def _pod_specific_annotations(annotations: Any, spec: Obj, path: str) -> Errs:
    annotations = annotations if isinstance(annotations, dict) else {}
    errs: Errs = []
    mirror = "kubernetes.io/config.mirror"
    if mirror in annotations and not _s(spec, "nodeName"):
        errs.append(
            invalid(
                key(path, mirror),
                annotations[mirror],
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    cost_key = "controller.kubernetes.io/pod-deletion-cost"
    if cost_key in annotations:
        try:
            cost = int(str(annotations[cost_key]), 10)
            ok = -(2**31) <= cost <= MAX_INT32 and str(annotations[cost_key]).strip() == str(
                annotations[cost_key]
            )
        except ValueError:
            ok = False
        if not ok:
            errs.append(
                invalid(key(path, cost_key), annotations[cost_key], "must be a 32bit integer")
            )
    return errs


# --- Pods ---


def _pod_metadata_and_spec(pod: Obj) -> Errs:
    opts = PodOptions(resource_is_pod=True)
    spec = _d(pod, "spec")
    errs = validate_object_meta(pod, namespaced=True, name_fn=names.name_is_dns_subdomain)
    errs += _pod_specific_annotations(
        _d(pod, "metadata").get("annotations"), spec, "metadata.annotations"
    )
    errs += validate_pod_spec(spec, "spec", opts)
    if not _s(spec, "serviceAccountName"):
        for vi, vol in enumerate(_dl(spec, "volumes")):
            for si, source in enumerate(_dl(_d(vol, "projected"), "sources")):
                if has(source, "serviceAccountToken"):
                    errs.append(forbidden(
                        f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                        "must not be specified when serviceAccountName is not set"))  # fmt: skip
    for key_ in ("containers", "initContainers"):
        for i, c in enumerate(_dl(spec, key_)):
            image = _s(c, "image")
            if image != image.strip():
                errs.append(
                    invalid(
                        f"spec.{key_}[{i}].image",
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    return errs


def validate_pod(pod: Obj) -> Errs:
    """ValidatePodCreate."""
    errs = _pod_metadata_and_spec(pod)
    spec = _d(pod, "spec")
    if _l(spec, "ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if _s(spec, "nodeName") and _l(spec, "schedulingGates"):
        errs.append(
            forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
        )
    return errs


UPDATABLE_POD_SPEC_FIELDS = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
]


def _container_updates(new: list[Obj], old: list[Obj], path: str) -> tuple[Errs, bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: Errs = []
    for i, c in enumerate(new):
        image = _s(c, "image")
        if not image:
            errs.append(required(child(idx(path, i), "image"), ""))
        if image.strip() != image:
            errs.append(
                invalid(
                    child(idx(path, i), "image"),
                    image,
                    "must not have leading or trailing whitespace",
                )
            )
    return errs, False


def _only_added_tolerations(new: list[Obj], old: list[Obj], path: str) -> Errs:
    for o in old:
        want = {k: v for k, v in o.items() if k != "tolerationSeconds"}
        if not any(
            semantic_equal(want, {k: v for k, v in n.items() if k != "tolerationSeconds"})
            for n in new
        ):
            return [
                forbidden(
                    path, "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return validate_tolerations(new, path)


def spec_diff(old: Any, new: Any, type_name: str) -> str:
    """A short stand-in for cmp.Diff: one `-`/`+` line pair per changed leaf."""
    lines: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{where}.{k}" if where else k)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{i}]")
        elif normalize(a) != normalize(b):
            import json

            lines.append(f"- \t{where}: {json.dumps(normalize(a))}")
            lines.append(f"+ \t{where}: {json.dumps(normalize(b))}")

    walk(old, new, "")
    return "  " + type_name + "{\n" + "".join(line + "\n" for line in lines) + "  }\n"


def validate_pod_update(new: Obj, old: Obj) -> Errs:
    """ValidatePodUpdate."""
    errs = validate_object_meta_update(new, old)
    errs += _pod_metadata_and_spec(new)
    new_spec, old_spec = _d(new, "spec"), _d(old, "spec")
    for key_ in ("containers", "initContainers"):
        cerrs, stop = _container_updates(_dl(new_spec, key_), _dl(old_spec, key_), f"spec.{key_}")
        errs += cerrs
        if stop:
            return errs
    new_ads, old_ads = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if isinstance(new_ads, int):
        if new_ads < 0 or new_ads > MAX_INT32:
            errs.append(
                invalid(
                    "spec.activeDeadlineSeconds", new_ads, names.inclusive_range_error(0, MAX_INT32)
                )
            )
            return errs
        if isinstance(old_ads, int) and old_ads < new_ads:
            errs.append(
                invalid(
                    "spec.activeDeadlineSeconds",
                    new_ads,
                    "must be less than or equal to previous value",
                )
            )
            return errs
    elif isinstance(old_ads, int):
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
    errs += _only_added_tolerations(
        _dl(new_spec, "tolerations"), _dl(old_spec, "tolerations"), "spec.tolerations"
    )
    old_gates = {_s(g, "name") for g in _dl(old_spec, "schedulingGates")}
    for i, gate in enumerate(_dl(new_spec, "schedulingGates")):
        if _s(gate, "name") not in old_gates:
            errs.append(forbidden(f"spec.schedulingGates[{i}].name",
                                  f"only deletion is allowed, but found new scheduling gate '{_s(gate, 'name')}'"))  # fmt: skip
    if semantic_equal(new_spec, old_spec):
        return errs
    munged = _munge_updatable(new_spec, old_spec)
    if not semantic_equal(munged, old_spec):
        detail = "pod updates may not change fields other than " + ",".join(
            UPDATABLE_POD_SPEC_FIELDS
        )
        errs.append(forbidden("spec", detail + "\n" + spec_diff(old_spec, munged, "core.PodSpec")))
    return errs


def _munge_updatable(new_spec: Obj, old_spec: Obj) -> Obj:
    import copy

    munged = copy.deepcopy(new_spec)
    for key_ in ("containers", "initContainers"):
        for c, o in zip(_dl(munged, key_), _dl(old_spec, key_), strict=False):
            if "image" in o:
                c["image"] = o["image"]
            else:
                c.pop("image", None)
    for field_name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        if field_name in old_spec:
            munged[field_name] = copy.deepcopy(old_spec[field_name])
        else:
            munged.pop(field_name, None)
    old_grace, new_grace = (
        old_spec.get("terminationGracePeriodSeconds"),
        munged.get("terminationGracePeriodSeconds"),
    )
    if isinstance(old_grace, int) and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if _l(old_spec, "schedulingGates"):
        # Gated pods may gain nodeSelector entries and node-affinity terms.
        old_sel, new_sel = _d(old_spec, "nodeSelector"), _d(munged, "nodeSelector")
        if all(new_sel.get(k) == v for k, v in old_sel.items()):
            munged["nodeSelector"] = copy.deepcopy(old_spec.get("nodeSelector"))
    return munged


def validate_pod_template_spec(template: Obj, path: str, opts: PodOptions | None = None) -> Errs:
    """ValidatePodTemplateSpec (note upstream's `<path>.labels`, not `.metadata.labels`)."""
    opts = opts or PodOptions()
    meta, spec = _d(template, "metadata"), _d(template, "spec")
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += _pod_specific_annotations(meta.get("annotations"), spec, child(path, "annotations"))
    errs += validate_pod_spec(spec, child(path, "spec"), opts)
    if _l(spec, "ephemeralContainers"):
        errs.append(
            forbidden(
                child(path, "spec", "ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            )
        )
    return errs
