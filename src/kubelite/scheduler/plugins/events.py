"""Cluster events the queue reacts to (names only; the loop emits them)."""

from __future__ import annotations

__all__ = [
    "ASSIGNED_POD_ADD",
    "ASSIGNED_POD_DELETE",
    "ASSIGNED_POD_UPDATE",
    "NODE_ADD",
    "NODE_UPDATE",
    "PV_ADD",
    "PV_UPDATE",
    "PVC_ADD",
    "PVC_UPDATE",
    "STORAGE_CLASS_ADD",
    "UNSCHEDULABLE_TIMEOUT",
]

NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_ADD = "AssignedPodAdd"
ASSIGNED_POD_UPDATE = "AssignedPodUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
PVC_ADD = "PvcAdd"
PVC_UPDATE = "PvcUpdate"
PV_ADD = "PvAdd"
PV_UPDATE = "PvUpdate"
STORAGE_CLASS_ADD = "StorageClassAdd"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
