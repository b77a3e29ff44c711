"""Table printers for the CSI kinds of storage.k8s.io/v1, as kubectl's.

The columns and cells of upstream's `pkg/printers/internalversion` (1.32):
`printCSIDriver`, `printCSINode`, `printVolumeAttachment` and
`printCSIStorageCapacity`. Descriptions are the first sentence of each
field's API documentation, which upstream takes whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables_printers import AGE, NAME, Printer, Row, _age, _name, _spec, col

Obj = Mapping[str, Any]


def _flag(spec: Obj, key: str, unset: bool) -> bool:
    value = spec.get(key)
    return unset if value is None else bool(value)


def _csi_driver(obj: Obj, now: datetime) -> Row:
    spec = _spec(obj)
    audiences = [str(t.get("audience", "")) for t in spec.get("tokenRequests") or []]
    modes = ",".join(str(m) for m in spec.get("volumeLifecycleModes") or [])
    cells = [
        _name(obj),
        _flag(spec, "attachRequired", True),
        _flag(spec, "podInfoOnMount", False),
        _flag(spec, "storageCapacity", False),
        ",".join(audiences) if audiences else "<unset>",
        _flag(spec, "requiresRepublish", False),
        modes or "<none>",
        _age(obj, now),
    ]
    return cells, None


CSI_DRIVER = Printer(
    (
        NAME,
        col(
            "AttachRequired",
            "attachRequired indicates this CSI volume driver requires an attach operation.",
            "boolean",
        ),  # fmt: skip
        col(
            "PodInfoOnMount",
            "podInfoOnMount indicates this CSI volume driver requires "
            "additional pod information during mount operations, if set to true.",
            "boolean",
        ),  # fmt: skip
        col(
            "StorageCapacity",
            "storageCapacity indicates that the CSI volume driver wants pod "
            "scheduling to consider the storage capacity it reports.",
            "boolean",
        ),  # fmt: skip
        col(
            "TokenRequests",
            "tokenRequests indicates the CSI driver needs pods' service "
            "account tokens it is mounting volume for to do necessary authentication.",
        ),  # fmt: skip
        col(
            "RequiresRepublish",
            "requiresRepublish indicates the CSI driver wants "
            "`NodePublishVolume` being periodically called.",
            "boolean",
        ),  # fmt: skip
        col(
            "Modes",
            "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports.",
        ),  # fmt: skip
        AGE,
    ),
    _csi_driver,
)


def _csi_node(obj: Obj, now: datetime) -> Row:
    return [_name(obj), len(_spec(obj).get("drivers") or []), _age(obj, now)], None


CSI_NODE = Printer(
    (
        NAME,
        col(
            "Drivers",
            "Drivers indicates the number of CSI drivers registered on the node",
            "integer",
        ),  # fmt: skip
        AGE,
    ),
    _csi_node,
)


def _volume_attachment(obj: Obj, now: datetime) -> Row:
    spec = _spec(obj)
    status = obj.get("status") or {}
    cells = [
        _name(obj),
        spec.get("attacher", ""),
        (spec.get("source") or {}).get("persistentVolumeName") or "",
        spec.get("nodeName", ""),
        bool(status.get("attached", False)),
        _age(obj, now),
    ]
    return cells, None


VOLUME_ATTACHMENT = Printer(
    (
        NAME,
        col(
            "Attacher",
            "attacher indicates the name of the volume driver that MUST handle "
            "this request. This is the name returned by GetPluginName().",
            fmt="name",
        ),  # fmt: skip
        col("PV", "persistentVolumeName represents the name of the persistent volume to attach."),
        col("Node", "nodeName represents the node that the volume should be attached to."),
        col("Attached", "attached indicates the volume is successfully attached.", "boolean"),
        AGE,
    ),
    _volume_attachment,
)


def _csi_storage_capacity(obj: Obj, now: datetime) -> Row:
    capacity = obj.get("capacity")
    cells = [
        _name(obj),
        obj.get("storageClassName", ""),
        "<unset>" if capacity is None else str(capacity),  # stored canonical, as String() prints
    ]
    return cells, None


CSI_STORAGE_CAPACITY = Printer(
    (
        NAME,
        col(
            "StorageClassName",
            "storageClassName represents the name of the StorageClass "
            "that the reported capacity applies to.",
        ),  # fmt: skip
        col(
            "Capacity",
            "capacity is the value reported by the CSI driver in its "
            "GetCapacityResponse for a GetCapacityRequest with topology and parameters that "
            "match the previous fields.",
        ),  # fmt: skip
    ),
    _csi_storage_capacity,
)
