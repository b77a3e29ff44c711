"""PersistentVolume, PersistentVolumeClaim and StorageClass validation."""

from __future__ import annotations

import copy
import math
import posixpath
from fractions import Fraction
from typing import Any

from kubelite.api import names
from kubelite.api.validation_containers import validate_quantity_value
from kubelite.api.validation_meta import (
    BadQuantity,
    Errs,
    Obj,
    _d,
    _dl,
    _l,
    _s,
    child,
    duplicate,
    forbidden,
    immutable,
    invalid,
    key,
    not_supported,
    parse_quantity,
    quantity_string,
    required,
    semantic_equal,
    too_long,
    validate_label_name,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import spec_diff, validate_node_selector

_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_VOLUME_MODES = ["Block", "Filesystem"]


def _access_modes(modes: list[Any], path: str) -> Errs:
    errs: Errs = []
    rwop = other = False
    for mode in modes:
        if mode not in _ACCESS_MODES:
            errs.append(not_supported(path, mode, _ACCESS_MODES))
        if mode == "ReadWriteOncePod":
            rwop = True
        elif mode in _ACCESS_MODES:
            other = True
    if rwop and other:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _positive_quantity(value: Any, path: str) -> tuple[Any, Errs]:
    try:
        parsed = parse_quantity(value)
    except BadQuantity as exc:
        return None, [invalid(path, value if isinstance(value, str) else str(value), str(exc))]
    if parsed <= 0:
        return parsed, [invalid(path, quantity_string(value), "must be greater than zero")]
    return parsed, []


# --- PersistentVolume ---

_PV_SOURCES: list[tuple[str, str, tuple[str, ...]]] = [
    # (json key, key in the "more than 1" Forbidden path, required fields)
    ("hostPath", "hostPath", ("path",)),
    ("gcePersistentDisk", "gcePersistentDisk", ("pdName",)),
    ("awsElasticBlockStore", "awsElasticBlockStore", ("volumeID",)),
    ("glusterfs", "glusterfs", ("endpoints", "path")),
    ("flocker", "flocker", ()),
    ("nfs", "nfs", ("server", "path")),
    ("rbd", "rbd", ("monitors", "image")),
    ("quobyte", "quobyte", ("volume",)),
    ("cephfs", "cephFS", ("monitors",)),
    ("iscsi", "iscsi", ("targetPortal", "iqn")),
    ("cinder", "cinder", ("volumeID",)),
    ("fc", "fc", ()),
    ("flexVolume", "flexVolume", ("driver",)),
    ("azureFile", "azureFile", ("secretName", "shareName")),
    ("vsphereVolume", "vsphereVolume", ("volumePath",)),
    ("photonPersistentDisk", "photonPersistentDisk", ("pdID",)),
    ("portworxVolume", "portworxVolume", ("volumeID",)),
    ("azureDisk", "azureDisk", ("diskName", "diskURI")),
    ("scaleIO", "scaleIO", ("gateway", "system", "volumeName")),
    ("local", "local", ("path",)),
    ("storageos", "storageos", ("volumeName",)),
    ("csi", "csi", ("volumeHandle",)),
]
_PV_SOURCE_KEYS = [k for k, _, _ in _PV_SOURCES]


def _pv_source(spec: Obj, json_key: str, path: str, node_affinity_set: bool) -> Errs:
    src = _d(spec, json_key)
    if json_key == "hostPath":
        if not _s(src, "path"):
            return [required(child(path, "path"), "")]
        errs: Errs = []
        if ".." in _s(src, "path").split("/"):
            errs.append(invalid(child(path, "path"), _s(src, "path"), "must not contain '..'"))
        types = [
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ]
        if src.get("type") is not None and src["type"] not in types:
            errs.append(not_supported(child(path, "type"), src["type"], types))
        return errs
    if json_key == "local":
        if not _s(src, "path"):
            return [required(child(path, "path"), "")]
        errs = []
        if ".." in _s(src, "path").split("/"):
            errs.append(invalid(child(path, "path"), _s(src, "path"), "must not contain '..'"))
        if not node_affinity_set:
            errs.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
        return errs
    if json_key == "csi":
        from kubelite.api.validation_volumes import _csi_driver_name

        errs = _csi_driver_name(_s(src, "driver"), child(path, "driver"))
        if not _s(src, "volumeHandle"):
            errs.append(required(child(path, "volumeHandle"), ""))
        return errs
    fields = next(f for k, _, f in _PV_SOURCES if k == json_key)
    errs = [required(child(path, f), "") for f in fields if not src.get(f)]
    if json_key == "nfs" and not posixpath.isabs(_s(src, "path")):
        errs.append(invalid(child(path, "path"), _s(src, "path"), "must be an absolute path"))
    return errs


def validate_pv_spec(spec: Obj, path: str = "spec") -> Errs:
    """ValidatePersistentVolumeSpec for a (non-inline) PersistentVolume."""
    errs: Errs = []
    modes = _l(spec, "accessModes")
    if not modes:
        errs.append(required(child(path, "accessModes"), ""))
    errs += _access_modes(modes, child(path, "accessModes"))
    capacity = _d(spec, "capacity")
    if not capacity:
        errs.append(required(child(path, "capacity"), ""))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported(child(path, "capacity"), capacity, ["storage"]))
    for resource, q in capacity.items():
        qpath = key(child(path, "capacity"), resource)
        parsed, qerrs = _positive_quantity(q, qpath)
        if parsed is not None and parsed < 0:  # validateBasicResource: Value() < 0
            errs.append(invalid(qpath, math.ceil(parsed), "must be a valid resource quantity"))
        errs += qerrs
    policy = _s(spec, "persistentVolumeReclaimPolicy")
    if policy and policy not in ("Delete", "Recycle", "Retain"):
        errs.append(
            not_supported(
                child(path, "persistentVolumeReclaimPolicy"),
                policy,
                ["Delete", "Recycle", "Retain"],
            )
        )
    node_affinity_set = isinstance(spec.get("nodeAffinity"), dict)
    if node_affinity_set:
        na = spec["nodeAffinity"]
        if isinstance(na.get("required"), dict):
            errs += validate_node_selector(na["required"], child(path, "nodeAffinity", "required"))
        else:
            errs.append(
                required(
                    child(path, "nodeAffinity", "required"),
                    "must specify required node constraints",
                )
            )
    count = 0
    for json_key, forbid_key, _fields in _PV_SOURCES:
        if spec.get(json_key) is None:
            continue
        if count > 0 and json_key != "flexVolume":
            errs.append(
                forbidden(child(path, forbid_key), "may not specify more than 1 volume type")
            )
            continue
        count += 1
        check_key = "persistentDisk" if json_key == "gcePersistentDisk" else json_key
        errs += _pv_source(spec, json_key, child(path, check_key), node_affinity_set)
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    host_path = _d(spec, "hostPath")
    if (
        host_path
        and posixpath.normpath(_s(host_path, "path") or ".") == "/"
        and policy == "Recycle"
    ):
        errs.append(
            forbidden(
                child(path, "persistentVolumeReclaimPolicy"),
                "may not be 'recycle' for a hostPath mount of '/'",
            )
        )
    if _s(spec, "storageClassName"):
        errs += [
            invalid(child(path, "storageClassName"), _s(spec, "storageClassName"), m)
            for m in names.name_is_dns_subdomain(_s(spec, "storageClassName"))
        ]
    if spec.get("volumeMode") is not None and spec["volumeMode"] not in _VOLUME_MODES:
        errs.append(not_supported(child(path, "volumeMode"), spec["volumeMode"], _VOLUME_MODES))
    return errs


def validate_pv(pv: Obj) -> Errs:
    errs = validate_object_meta(pv, namespaced=False, name_fn=names.name_is_dns_subdomain)
    return errs + validate_pv_spec(_d(pv, "spec"))


def validate_pv_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old) + validate_pv(new)
    spec, old_spec = _d(new, "spec"), _d(old, "spec")
    new_src = {k: spec.get(k) for k in _PV_SOURCE_KEYS if spec.get(k) is not None}
    old_src = {k: old_spec.get(k) for k in _PV_SOURCE_KEYS if old_spec.get(k) is not None}
    new_csi, old_csi = new_src.get("csi"), old_src.get("csi")
    if (
        isinstance(new_csi, dict)
        and isinstance(old_csi, dict)
        and old_csi.get("controllerExpandSecretRef") is None
    ):
        new_src["csi"] = {k: v for k, v in new_csi.items() if k != "controllerExpandSecretRef"}
    if not semantic_equal(new_src, old_src):
        errs.append(
            forbidden(
                "spec.persistentvolumesource",
                "spec.persistentvolumesource is immutable after creation\n"
                + spec_diff(old_src, new_src, "core.PersistentVolumeSource"),
            )
        )
    errs += immutable(
        spec.get("volumeMode"), old_spec.get("volumeMode"), "volumeMode"
    )  # sic: upstream path
    if old_spec.get("nodeAffinity") is not None and not semantic_equal(
        spec.get("nodeAffinity"), old_spec.get("nodeAffinity")
    ):
        errs.append(
            invalid(
                "nodeAffinity",
                spec.get("nodeAffinity"),
                "field is immutable, except for updating from beta label to GA",
            )
        )
    return errs


# --- PersistentVolumeClaim ---


def validate_pvc_spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    modes = _l(spec, "accessModes")
    if not modes:
        errs.append(required(child(path, "accessModes"), "at least 1 access mode is required"))
    if spec.get("selector") is not None:
        errs += validate_label_selector(spec.get("selector"), child(path, "selector"))
    errs += _access_modes(modes, child(path, "accessModes"))
    requests = _d(_d(spec, "resources"), "requests")
    spath = key(child(path, "resources"), "storage")
    if "storage" not in requests:
        errs.append(required(spath, ""))
    else:
        parsed, perrs = _positive_quantity(requests["storage"], spath)
        if perrs:
            errs += perrs
        elif parsed is not None:
            errs += validate_quantity_value("storage", requests["storage"], spath)[1]
    if _s(spec, "storageClassName"):
        errs += [
            invalid(child(path, "storageClassName"), _s(spec, "storageClassName"), m)
            for m in names.name_is_dns_subdomain(_s(spec, "storageClassName"))
        ]
    if spec.get("volumeMode") is not None and spec["volumeMode"] not in _VOLUME_MODES:
        errs.append(not_supported(child(path, "volumeMode"), spec["volumeMode"], _VOLUME_MODES))
    for field_name in ("dataSource", "dataSourceRef"):
        if isinstance(spec.get(field_name), dict):
            errs += _data_source(spec[field_name], child(path, field_name))
    return errs


def _data_source(ds: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(ds, "name"):
        errs.append(required(child(path, "name"), ""))
    if not _s(ds, "kind"):
        errs.append(required(child(path, "kind"), ""))
    group = _s(ds, "apiGroup")
    if not group and _s(ds, "kind") != "PersistentVolumeClaim":
        errs.append(
            invalid(
                path,
                _s(ds, "kind"),
                "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
            )
        )
    if group:
        errs += [
            invalid(child(path, "apiGroup"), group, m) for m in names.is_dns1123_subdomain(group)
        ]
    return errs


def validate_pvc(pvc: Obj) -> Errs:
    errs = validate_object_meta(pvc, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + validate_pvc_spec(_d(pvc, "spec"), "spec")


def _storage(spec: Obj) -> Any:
    try:
        return parse_quantity(_d(_d(spec, "resources"), "requests").get("storage", "0"))
    except BadQuantity:
        return None


def validate_pvc_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old) + validate_pvc(new)
    spec, old_spec = _d(new, "spec"), _d(old, "spec")
    new_clone, old_clone = copy.deepcopy(spec), copy.deepcopy(old_spec)
    if not _s(old_spec, "volumeName"):
        old_clone["volumeName"] = spec.get("volumeName")  # volumeName may be set once
    beta = "volume.beta.kubernetes.io/storage-class"
    old_annotations = _d(_d(old, "metadata"), "annotations")
    new_class = spec.get("storageClassName")
    if (
        old_spec.get("storageClassName") is None
        and new_class is not None
        and (beta not in old_annotations or old_annotations[beta] == new_class)
    ):
        new_clone["storageClassName"] = None
    bound = _s(_d(new, "status"), "phase") == "Bound"
    if bound and isinstance(_d(new_clone, "resources").get("requests"), dict):
        requests = new_clone["resources"]["requests"]
        old_storage = _d(_d(old_spec, "resources"), "requests").get("storage")
        if old_storage is None:
            requests.pop("storage", None)
        else:
            requests["storage"] = old_storage
    if bound and new_clone.get("volumeAttributesClassName") is not None:
        new_clone["volumeAttributesClassName"] = old_clone.get("volumeAttributesClassName")
    if not semantic_equal(new_clone, old_clone):
        errs.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims\n"
                + spec_diff(old_clone, new_clone, "core.PersistentVolumeClaimSpec"),
            )
        )
    new_size, old_size = _storage(spec), _storage(old_spec)
    if new_size is not None and old_size is not None and new_size < old_size:
        # RecoverVolumeExpansionFailure (on by default): may shrink back down
        # to, but not below, what the volume reports it has.
        try:
            status_size = parse_quantity(_d(_d(new, "status"), "capacity").get("storage", "0"))
        except BadQuantity:
            status_size = Fraction(0)
        if new_size <= status_size:
            errs.append(
                forbidden(
                    "spec.resources.requests.storage", "field can not be less than status.capacity"
                )
            )
    return errs + immutable(spec.get("volumeMode"), old_spec.get("volumeMode"), "volumeMode")


# --- StorageClass ---


def validate_storage_class(sc: Obj) -> Errs:
    errs = validate_object_meta(sc, namespaced=False, name_fn=names.name_is_dns_subdomain)
    provisioner = _s(sc, "provisioner")
    if not provisioner:
        errs.append(required("provisioner", provisioner))
    else:
        errs += [
            invalid("provisioner", provisioner.lower(), m)
            for m in names.is_qualified_name(provisioner.lower())
        ]
    params = _d(sc, "parameters")
    if len(params) > 512:
        errs.append(too_long("parameters", 512))
    else:
        total = 0
        for k, v in params.items():
            if not k:
                errs.append(invalid("parameters", k, "field can not be empty."))
            total += len(k.encode()) + len(str(v).encode())
        if total > 256 * 1024:
            errs.append(too_long("parameters", 256 * 1024))
    policy = _s(sc, "reclaimPolicy")
    if policy and policy not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = sc.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode", ""))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    return errs + _allowed_topologies(_dl(sc, "allowedTopologies"))


def _allowed_topologies(terms: list[Obj]) -> Errs:
    """validateAllowedTopologies / ValidateTopologySelectorTerm."""
    errs: Errs = []
    seen_terms: list[dict[str, frozenset[Any]]] = []
    for i, term in enumerate(terms):
        tpath = f"allowedTopologies[{i}]"
        exprs: dict[str, frozenset[Any]] = {}
        for j, req in enumerate(_dl(term, "matchLabelExpressions")):
            rpath = f"{tpath}.matchLabelExpressions[{j}]"
            values = _l(req, "values")
            if not values:
                errs.append(required(f"{rpath}.values", ""))
            for k, v in enumerate(values):
                if v in values[:k]:
                    errs.append(duplicate(f"{rpath}.values[{k}]", v))
            errs += validate_label_name(_s(req, "key"), f"{rpath}.key")
            if _s(req, "key") in exprs:
                errs.append(duplicate(f"{rpath}.key", _s(req, "key")))
            exprs[_s(req, "key")] = frozenset(v for v in values if isinstance(v, str))
        if exprs in seen_terms:
            errs.append(duplicate(f"{tpath}.matchLabelExpressions", ""))
        seen_terms.append(exprs)
    return errs


def validate_storage_class_update(new: Obj, old: Obj) -> Errs:
    errs = validate_storage_class(new) + validate_object_meta_update(new, old)
    if not semantic_equal(new.get("parameters"), old.get("parameters")):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if _s(new, "provisioner") != _s(old, "provisioner"):
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if _s(new, "reclaimPolicy") != _s(old, "reclaimPolicy"):
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    errs += immutable(
        new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode"
    )
    return errs
