"""VolumeRestrictions: a ReadWriteOncePod claim serves one pod in the whole cluster.

PreFilter finds the pod's claims whose access modes include
``ReadWriteOncePod`` and counts the scheduled (or assumed) pods that already
use one of them; with none, the plugin has nothing to say (Skip). Filter then
rejects every node while that count is above zero. The rejection is plain
Unschedulable, not unresolvable, so preemption may evict a lower-priority
holder: removing a victim in the dry run lowers the count (the PreFilter
extensions), as upstream does. Only ``persistentVolumeClaim`` volumes count,
on both sides, as upstream counts them. The in-tree disk conflicts the
upstream plugin also checks (GCE PD, EBS, RBD, iSCSI) have no kubelite
counterpart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "VolumeRestrictions"
EVENTS = frozenset({events.NODE_ADD, events.ASSIGNED_POD_DELETE, events.PVC_ADD})
ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)
READ_WRITE_ONCE_POD = "ReadWriteOncePod"
STATE_KEY = "PreFilter" + NAME

Obj = Mapping[str, Any]


def claim_names(pod: Obj) -> list[str]:
    """The claims a pod names in ``persistentVolumeClaim`` volumes."""
    return [
        v["persistentVolumeClaim"].get("claimName", "")
        for v in (pod.get("spec") or {}).get("volumes") or ()
        if v.get("persistentVolumeClaim")
    ]


@dataclass
class _State:
    rwop_claims: frozenset[str]  # names, in the pod's namespace
    conflicts: int  # references to them by pods already placed

    def clone(self) -> _State:
        return _State(self.rwop_claims, self.conflicts)

    def count(self, pod: PodInfo, other: PodInfo) -> int:
        if other.namespace != pod.namespace or other.key == pod.key:
            return 0
        return sum(1 for name in claim_names(other.pod) if name in self.rwop_claims)


class VolumeRestrictions:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        names = claim_names(pod.pod)
        if not names:
            return Status.skip()
        lister = self.handle.volumes
        rwop: set[str] = set()
        for name in names:
            pvc = lister.pvc(pod.namespace, name) if lister else None
            if pvc is None:
                return Status.unresolvable(f'persistentvolumeclaim "{name}" not found')
            if READ_WRITE_ONCE_POD in ((pvc.get("spec") or {}).get("accessModes") or ()):
                rwop.add(name)
        if not rwop:
            return Status.skip()
        s = _State(frozenset(rwop), 0)
        used: set[str] = set()
        for node in self.handle.cache.node_infos():
            for other in node.pods:
                if s.count(pod, other):
                    used.update(n for n in claim_names(other.pod) if n in s.rwop_claims)
        # As upstream: at most one pod can hold each claim, so one per claim in use.
        s.conflicts = len(used)
        if not s.conflicts:
            return Status.skip()
        state.write(STATE_KEY, s)
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None:
        s: _State | None = state.get(STATE_KEY)
        if s is not None:
            s.conflicts += s.count(pod, other)

    def remove_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> None:
        s: _State | None = state.get(STATE_KEY)
        if s is not None:
            s.conflicts -= s.count(pod, other)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _State | None = state.get(STATE_KEY)
        if s is not None and s.conflicts > 0:
            return Status.unschedulable(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT)
        return None


def new(args: dict[str, Any], handle: Handle) -> VolumeRestrictions:
    return VolumeRestrictions(handle)
