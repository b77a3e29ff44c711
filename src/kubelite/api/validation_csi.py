"""CSIDriver, CSINode, VolumeAttachment and CSIStorageCapacity validation (storage.k8s.io/v1).

The rules, field paths and messages of upstream's `pkg/apis/storage/validation`
as of Kubernetes 1.32 (and of the v1 strategies that call it):

- a CSIDriver's boolean fields are pointers upstream, defaulted before they
  are validated, so a null one is `Required` (note upstream's path
  `spec.attachedRequired`, kept); `attachRequired` and `volumeLifecycleModes`
  are immutable, the rest of the spec may change;
- a CSINode is named as a Node is; an entry of `spec.drivers` cannot change
  once there (it may be added or removed);
- a VolumeAttachment's spec is read-only; a v1 create or update also checks
  the attacher as a CSI driver name and the PV name as a PV's name
  (`ValidateVolumeAttachmentV1`); its status comes only through `/status`;
- a CSIStorageCapacity's `nodeTopology` and `storageClassName` are immutable.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import GoValue
from kubelite.api.validation_meta import (
    FIELD_IMMUTABLE,
    IS_NEGATIVE,
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
    go_list,
    has,
    idx,
    immutable,
    invalid,
    not_supported,
    parse_quantity,
    qualified_name,
    quantity_string,
    required,
    semantic_equal,
    too_long,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_volumes import _csi_driver_name

__all__ = [
    "validate_csi_driver",
    "validate_csi_driver_update",
    "validate_csi_node",
    "validate_csi_node_update",
    "validate_csi_storage_capacity",
    "validate_csi_storage_capacity_update",
    "validate_volume_attachment",
    "validate_volume_attachment_status_update",
    "validate_volume_attachment_update",
]

_FS_GROUP_POLICIES = ["File", "None", "ReadWriteOnceWithFSType"]  # sorted, as sets.List()
_LIFECYCLE_MODES = ["Persistent", "Ephemeral"]
_TEN_MINUTES = 600
_MAX_ATTACHED_METADATA_SIZE = 256 * (1 << 10)
_MAX_VOLUME_ERROR_MESSAGE_SIZE = 1024
_CSI_NODE_ID_MAX_LENGTH = 192


# ---- CSIDriver ------------------------------------------------------------------------


def validate_csi_driver(driver: Obj) -> Errs:
    errs = validate_object_meta(driver, namespaced=False, name_fn=names.name_is_dns_subdomain)
    return errs + _csi_driver_spec(_d(driver, "spec"), "spec")


def validate_csi_driver_update(new: Obj, old: Obj) -> Errs:
    """The strategy's ValidateCSIDriver, then ValidateCSIDriverUpdate, which checks the
    spec again: a bad spec field is reported twice on update, as upstream reports it."""
    errs = validate_csi_driver(new)
    errs += validate_object_meta_update(new, old)
    spec, old_spec = _d(new, "spec"), _d(old, "spec")
    errs += _csi_driver_spec(spec, "spec")
    # upstream's path says "attachedRequired", here as in the create check
    errs += immutable(spec.get("attachRequired"), old_spec.get("attachRequired"),
                      "spec.attachedRequired")  # fmt: skip
    modes = spec.get("volumeLifecycleModes")
    if not semantic_equal(modes, old_spec.get("volumeLifecycleModes")):
        errs.append(invalid("spec.volumeLifecycleModes", _go_modes(modes), FIELD_IMMUTABLE))
    return errs


def _go_modes(modes: Any) -> GoValue:
    """The modes as Go's %#v prints upstream's []storage.VolumeLifecycleMode."""
    if not isinstance(modes, list):
        return GoValue("[]storage.VolumeLifecycleMode(nil)")
    return GoValue(
        go_list([str(m) for m in modes]).replace("[]string", "[]storage.VolumeLifecycleMode", 1)
    )


def _csi_driver_spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    for key, json_key in (
        ("attachedRequired", "attachRequired"),
        ("podInfoOnMount", "podInfoOnMount"),
        ("storageCapacity", "storageCapacity"),
    ):
        if spec.get(json_key) is None:
            errs.append(required(child(path, key), ""))
    policy = spec.get("fsGroupPolicy")
    if policy is not None and policy not in _FS_GROUP_POLICIES:
        errs.append(not_supported(child(path, "fsGroupPolicy"), policy, _FS_GROUP_POLICIES))
    errs += _token_requests(_dl(spec, "tokenRequests"), child(path, "tokenRequests"))
    for mode in _l(spec, "volumeLifecycleModes"):
        if mode not in _LIFECYCLE_MODES:
            errs.append(not_supported(child(path, "volumeLifecycleModes"), mode, _LIFECYCLE_MODES))
    if spec.get("seLinuxMount") is None:  # SELinuxMountReadWriteOncePod is on in 1.32
        errs.append(required(child(path, "seLinuxMount"), ""))
    return errs


def _token_requests(requests: list[Obj], path: str) -> Errs:
    """Audiences differ; a token lives at least ten minutes and at most 2^32 seconds."""
    errs: Errs = []
    seen: set[str] = set()
    for i, request in enumerate(requests):
        rpath, audience = idx(path, i), _s(request, "audience")
        if audience in seen:
            errs.append(duplicate(child(rpath, "audience"), audience))
            continue
        seen.add(audience)
        seconds: Any = request.get("expirationSeconds")
        if not isinstance(seconds, int):
            continue
        if seconds < _TEN_MINUTES:
            errs.append(invalid(child(rpath, "expirationSeconds"), seconds,
                                "may not specify a duration less than 10 minutes"))  # fmt: skip
        if seconds > 1 << 32:
            errs.append(invalid(child(rpath, "expirationSeconds"), seconds,
                                "may not specify a duration larger than 2^32 seconds"))  # fmt: skip
    return errs


# ---- CSINode --------------------------------------------------------------------------


def validate_csi_node(node: Obj) -> Errs:
    errs = validate_object_meta(node, namespaced=False, name_fn=names.name_is_dns_subdomain)
    drivers_path = "spec.drivers"
    seen: set[str] = set()
    for i, driver in enumerate(_dl(_d(node, "spec"), "drivers")):
        errs += _csi_node_driver(driver, idx(drivers_path, i), seen)
    return errs


def validate_csi_node_update(new: Obj, old: Obj) -> Errs:
    """The strategy's ValidateCSINode, then ValidateCSINodeUpdate, which starts with
    ValidateCSINode again (a bad field is reported twice on update, as upstream's is)."""
    errs = validate_csi_node(new) + validate_csi_node(new)
    errs += validate_object_meta_update(new, old)
    # an entry already there cannot change (the whole entry is reported, on `spec.drivers`)
    for old_driver in _dl(_d(old, "spec"), "drivers"):
        for driver in _dl(_d(new, "spec"), "drivers"):
            same_entry = _s(old_driver, "name") == _s(driver, "name")
            if same_entry and not semantic_equal(driver, old_driver):
                errs.append(invalid("spec.drivers", _go_node_driver(driver), FIELD_IMMUTABLE))
    return errs


def _go_node_driver(driver: Obj) -> GoValue:
    """The entry as Go's %#v prints upstream's storage.CSINodeDriver."""
    keys = driver.get("topologyKeys")
    allocatable = "(*storage.VolumeNodeResources)(nil)"
    if driver.get("allocatable") is not None:
        allocatable = "(*storage.VolumeNodeResources)(0xc000010000)"  # an address: any will do
    return GoValue(
        f'storage.CSINodeDriver{{Name:"{_s(driver, "name")}", NodeID:"{_s(driver, "nodeID")}", '
        f"TopologyKeys:{_go_strings(keys)}, Allocatable:{allocatable}}}"
    )


def _go_strings(values: Any) -> str:
    return go_list([str(v) for v in values]) if isinstance(values, list) else "[]string(nil)"


def _csi_node_driver(driver: Obj, path: str, seen: set[str]) -> Errs:
    name = _s(driver, "name")
    errs = _csi_driver_name(name, child(path, "name"))
    node_id, id_path = _s(driver, "nodeID"), child(path, "nodeID")
    if not node_id:
        errs.append(required(id_path, ""))
    if len(node_id) > _CSI_NODE_ID_MAX_LENGTH:
        errs.append(
            invalid(id_path, node_id, f"must be {_CSI_NODE_ID_MAX_LENGTH} characters or less")
        )
    count: Any = _d(driver, "allocatable").get("count")
    if isinstance(count, int) and count < 0:
        errs.append(invalid(child(path, "allocatable", "count"), count, IS_NEGATIVE))
    if name in seen:
        errs.append(duplicate(child(path, "name"), name))
    seen.add(name)
    keys: set[str] = set()
    for key in _l(driver, "topologyKeys"):
        if not key:
            errs.append(required(path, ""))
        if key in keys:
            errs.append(duplicate(path, key))
        keys.add(key)
        errs += qualified_name(key, path)
    return errs


# ---- VolumeAttachment -----------------------------------------------------------------


def validate_volume_attachment(va: Obj) -> Errs:
    """ValidateVolumeAttachment, then the v1 strategy's ValidateVolumeAttachmentV1 (on
    create only)."""
    spec = _d(va, "spec")
    errs = _volume_attachment(va)
    errs += _csi_driver_name(_s(spec, "attacher"), "spec.attacher")
    source = _d(spec, "source")
    if source.get("persistentVolumeName") is not None:
        pv_name = _s(source, "persistentVolumeName")
        errs += [
            invalid("spec.source.persistentVolumeName", pv_name, m)
            for m in names.name_is_dns_subdomain(pv_name)
        ]
    return errs


def _volume_attachment(va: Obj) -> Errs:
    """ValidateVolumeAttachment."""
    errs = validate_object_meta(va, namespaced=False, name_fn=names.name_is_dns_subdomain)
    errs += _volume_attachment_spec(_d(va, "spec"), "spec")
    return errs + _volume_attachment_status(_d(va, "status"), "status")


def validate_volume_attachment_update(new: Obj, old: Obj) -> Errs:
    """The strategy's ValidateVolumeAttachment, then ValidateVolumeAttachmentUpdate, which
    starts with it again (a bad status field is reported twice, as upstream's is)."""
    errs = _volume_attachment(new) + _volume_attachment(new)
    errs += validate_object_meta_update(new, old)
    if not semantic_equal(new.get("spec"), old.get("spec")):
        errs.append(invalid("spec", _go_attachment_spec(_d(new, "spec")), FIELD_IMMUTABLE))
    return errs


def _go_attachment_spec(spec: Obj) -> GoValue:
    """The spec as Go's %#v prints upstream's storage.VolumeAttachmentSpec (pointers as
    addresses, which differ on every request upstream: any will do)."""
    source = _d(spec, "source")
    pv, inline = "(*string)(nil)", "(*core.PersistentVolumeSpec)(nil)"
    if source.get("persistentVolumeName") is not None:
        pv = "(*string)(0xc000010000)"
    if source.get("inlineVolumeSpec") is not None:
        inline = "(*core.PersistentVolumeSpec)(0xc000010008)"
    return GoValue(
        f'storage.VolumeAttachmentSpec{{Attacher:"{_s(spec, "attacher")}", '
        f"Source:storage.VolumeAttachmentSource{{PersistentVolumeName:{pv}, "
        f'InlineVolumeSpec:{inline}}}, NodeName:"{_s(spec, "nodeName")}"}}'
    )


def validate_volume_attachment_status_update(new: Obj, old: Obj) -> Errs:
    """The status strategy keeps the stored spec, so only the object and status are checked."""
    return validate_volume_attachment_update(new, old)


def _volume_attachment_spec(spec: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(spec, "attacher"):
        errs.append(required(child(path, "attacher"), ""))
    errs += _volume_attachment_source(_d(spec, "source"), child(path, "source"))
    node_name = _s(spec, "nodeName")
    return errs + [
        invalid(child(path, "nodeName"), node_name, m)
        for m in names.name_is_dns_subdomain(node_name)
    ]


_ONE_SOURCE = "must specify exactly one of inlineVolumeSpec and persistentVolumeName"


def _volume_attachment_source(source: Obj, path: str) -> Errs:
    inline, pv_name = source.get("inlineVolumeSpec"), source.get("persistentVolumeName")
    if inline is None and pv_name is None:
        return [required(path, _ONE_SOURCE)]
    if inline is not None and pv_name is not None:
        return [forbidden(path, _ONE_SOURCE)]
    if pv_name is not None:
        if not pv_name:
            return [required(child(path, "persistentVolumeName"),
                             "must specify non empty persistentVolumeName")]  # fmt: skip
        return []
    return _inline_volume_spec(_d(source, "inlineVolumeSpec"), child(path, "inlineVolumeSpec"))


def _inline_volume_spec(spec: Obj, path: str) -> Errs:
    """ValidatePersistentVolumeSpec's inline rules: a CSI source only, no claim, no capacity."""
    errs: Errs = []
    if spec.get("claimRef") is not None:
        errs.append(forbidden(child(path, "claimRef"),
                              "may not be specified in the context of inline volumes"))  # fmt: skip
    if spec.get("capacity"):
        errs.append(forbidden(child(path, "capacity"),
                              "may not be specified in the context of inline volumes"))  # fmt: skip
    if not has(spec, "csi"):
        errs.append(
            required(child(path, "csi"), "has to be specified in the context of inline volumes")
        )
        return errs
    csi, csi_path = _d(spec, "csi"), child(path, "csi")
    errs += _csi_driver_name(_s(csi, "driver"), child(csi_path, "driver"))
    if not _s(csi, "volumeHandle"):
        errs.append(required(child(csi_path, "volumeHandle"), ""))
    return errs


def _volume_attachment_status(status: Obj, path: str) -> Errs:
    errs: Errs = []
    metadata = _d(status, "attachmentMetadata")
    size = sum(len(str(k)) + len(str(v)) for k, v in metadata.items())
    if size > _MAX_ATTACHED_METADATA_SIZE:
        errs.append(too_long(child(path, "attachmentMetadata"), _MAX_ATTACHED_METADATA_SIZE))
    for key in ("attachError", "detachError"):
        if status.get(key) is not None:
            errs += _volume_error(_d(status, key), child(path, key))
    return errs


def _volume_error(error: Obj, path: str) -> Errs:
    errs: Errs = []
    if len(_s(error, "message")) > _MAX_VOLUME_ERROR_MESSAGE_SIZE:
        # upstream reports the metadata limit here, not the message's own
        errs.append(too_long(child(path, "message"), _MAX_ATTACHED_METADATA_SIZE))
    code: Any = error.get("errorCode")
    if isinstance(code, int) and code < 0:
        errs.append(invalid(child(path, "errorCode"), code,
                            names.inclusive_range_error(0, 2147483647)))  # fmt: skip
    return errs


# ---- CSIStorageCapacity ---------------------------------------------------------------


def validate_csi_storage_capacity(capacity: Obj) -> Errs:
    errs = validate_object_meta(capacity, namespaced=True, name_fn=names.name_is_dns_subdomain)
    if capacity.get("nodeTopology") is not None:
        errs += validate_label_selector(capacity["nodeTopology"], "nodeTopology")
    class_name = _s(capacity, "storageClassName")
    errs += [
        invalid("storageClassName", class_name, m) for m in names.name_is_dns_subdomain(class_name)
    ]
    if capacity.get("capacity") is not None:
        errs += _nonnegative_quantity(capacity["capacity"], "capacity")
    return errs


def validate_csi_storage_capacity_update(new: Obj, old: Obj) -> Errs:
    """The strategy's ValidateCSIStorageCapacity, then ValidateCSIStorageCapacityUpdate."""
    errs = validate_csi_storage_capacity(new)
    errs += validate_object_meta_update(new, old)
    if not semantic_equal(new.get("nodeTopology"), old.get("nodeTopology")):
        errs.append(invalid("nodeTopology", _go_selector(new.get("nodeTopology")), FIELD_IMMUTABLE))
    if _s(new, "storageClassName") != _s(old, "storageClassName"):
        errs.append(invalid("storageClassName", _s(new, "storageClassName"), FIELD_IMMUTABLE))
    return errs


def _nonnegative_quantity(value: Any, path: str) -> Errs:
    try:
        negative = parse_quantity(value) < 0
    except (BadQuantity, ValueError):
        return []  # refused while decoding, as upstream's decoder does
    return [invalid(path, quantity_string(value), IS_NEGATIVE)] if negative else []


def _go_selector(selector: Any) -> GoValue:
    """The selector as Go's %#v prints a metav1.LabelSelector (null when unset)."""
    if not isinstance(selector, dict):
        return GoValue("null")
    labels = selector.get("matchLabels")
    labels_text = "map[string]string(nil)"
    if isinstance(labels, dict):
        pairs = ", ".join(f'"{k}":"{labels[k]}"' for k in sorted(labels))
        labels_text = f"map[string]string{{{pairs}}}"
    exprs = selector.get("matchExpressions")
    exprs_text = "[]v1.LabelSelectorRequirement(nil)"
    if isinstance(exprs, list):
        items = ", ".join(
            f'v1.LabelSelectorRequirement{{Key:"{_s(e, "key")}", Operator:"{_s(e, "operator")}", '
            f"Values:{_go_strings(e.get('values'))}}}"
            for e in exprs
            if isinstance(e, dict)
        )
        exprs_text = f"[]v1.LabelSelectorRequirement{{{items}}}"
    return GoValue(f"v1.LabelSelector{{MatchLabels:{labels_text}, MatchExpressions:{exprs_text}}}")
