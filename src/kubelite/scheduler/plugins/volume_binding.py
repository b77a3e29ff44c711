"""VolumeBinding: a pod's PersistentVolumeClaims must be satisfiable on the node.

Bound claims need their PV's nodeAffinity to admit the node. Unbound claims
of a WaitForFirstConsumer class need a matching available PV there (or a
class that provisions dynamically). Unbound claims of an Immediate class make
the pod unschedulable everywhere until the PV controller binds them. The
chosen PV per claim is reported at Reserve; writing the bindings is the
caller's job (upstream PreBind), through the API.

Generic ephemeral volumes count as claims named `<pod>-<volume>`: until the
ephemeral volume controller has made the claim the pod waits for it, and a
claim of that name the pod does not control is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.scheduler._quantity import parse_quantity
from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.helpers import match_node_selector_terms
from kubelite.scheduler.framework.interfaces import Handle, VolumeLister
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events

NAME = "VolumeBinding"
EVENTS = frozenset(
    {
        events.NODE_ADD,
        events.NODE_UPDATE,
        events.PVC_ADD,
        events.PVC_UPDATE,
        events.PV_ADD,
        events.PV_UPDATE,
        events.STORAGE_CLASS_ADD,
    }
)
ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_PV_NOT_EXIST = (
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
)
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
STATE_KEY = "PreFilter" + NAME

Obj = Mapping[str, Any]


@dataclass
class _State:
    bound: list[Obj]
    delayed: list[Obj]
    per_node: dict[str, dict[str, str]] = field(default_factory=dict)
    provision: dict[str, list[str]] = field(default_factory=dict)
    decision: dict[str, str] = field(default_factory=dict)
    to_provision: list[str] = field(default_factory=list)

    def clone(self) -> _State:
        return self


def _pv_matches_node(pv: Obj, node: Obj) -> bool:
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
    if not required:
        return True
    return match_node_selector_terms(required.get("nodeSelectorTerms") or (), node)


def _pvc_request(pvc: Obj) -> Any:
    req = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return parse_quantity(req.get("storage", "0"))


def _pv_fits_claim(pv: Obj, pvc: Obj) -> bool:
    spec, cspec = pv.get("spec") or {}, pvc.get("spec") or {}
    ref = spec.get("claimRef")
    meta = pvc.get("metadata", {})
    if ref and (ref.get("name"), ref.get("namespace")) != (meta.get("name"), meta.get("namespace")):
        return False
    if (pv.get("status") or {}).get("phase") not in (None, "Available", "Pending") and not ref:
        return False
    if (spec.get("storageClassName") or "") != (cspec.get("storageClassName") or ""):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return False
    if not set(cspec.get("accessModes") or ()) <= set(spec.get("accessModes") or ()):
        return False
    capacity = parse_quantity((spec.get("capacity") or {}).get("storage", "0"))
    return capacity >= _pvc_request(pvc)


def pod_claims(pod: Obj) -> list[tuple[str, bool]]:
    """(claim name, whether it is a generic ephemeral volume's) per claim volume.

    A generic ephemeral volume's claim is named ``<pod>-<volume>``; it is made
    by the ephemeral volume controller and from then on is a claim like any other.
    """
    name = (pod.get("metadata") or {}).get("name", "")
    out: list[tuple[str, bool]] = []
    for v in (pod.get("spec") or {}).get("volumes") or ():
        if v.get("persistentVolumeClaim"):
            out.append((v["persistentVolumeClaim"]["claimName"], False))
        elif v.get("ephemeral"):
            out.append((f"{name}-{v.get('name', '')}", True))
    return out


def claim_is_for_pod(pvc: Obj, pod: PodInfo) -> bool:
    """The ephemeral claim is controlled by this very pod (upstream VolumeIsForPod)."""
    md = pvc.get("metadata") or {}
    if (md.get("namespace") or "default") != pod.namespace:
        return False
    return any(
        ref.get("controller") and ref.get("uid") == pod.uid
        for ref in md.get("ownerReferences") or ()
    )


class VolumeBinding:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    @property
    def lister(self) -> VolumeLister | None:
        return self.handle.volumes

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        names = pod_claims(pod.pod)
        if not names:
            return Status.skip()
        lister = self.lister
        bound, delayed, immediate = [], [], False
        for name, ephemeral in names:
            pvc = lister.pvc(pod.namespace, name) if lister else None
            if pvc is None and ephemeral:
                # Normal right after the pod was created: the claim is on its way.
                return Status.unresolvable(
                    "waiting for ephemeral volume controller to create the "
                    f'persistentvolumeclaim "{name}"'
                )
            if pvc is None:
                return Status.unresolvable(f'persistentvolumeclaim "{name}" not found')
            if ephemeral and not claim_is_for_pod(pvc, pod):
                return Status.unresolvable(
                    f"PVC {pod.namespace}/{name} was not created for pod "
                    f"{pod.namespace}/{pod.name} (pod is not owner)"
                )
            if pvc.get("metadata", {}).get("deletionTimestamp"):
                return Status.unresolvable(f'persistentvolumeclaim "{name}" is being deleted')
            if (pvc.get("spec") or {}).get("volumeName"):
                bound.append(pvc)
            elif self._is_delayed(pvc):
                delayed.append(pvc)
            else:
                immediate = True
        if immediate:
            return Status.unresolvable(ERR_UNBOUND_IMMEDIATE)
        state.write(STATE_KEY, _State(bound, delayed))
        return None

    def _storage_class(self, pvc: Obj) -> Obj | None:
        name = (pvc.get("spec") or {}).get("storageClassName")
        return self.lister.storage_class(name) if name and self.lister else None

    def _is_delayed(self, pvc: Obj) -> bool:
        sc = self._storage_class(pvc)
        return sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _State = state.read(STATE_KEY)
        assert self.lister is not None
        for pvc in s.bound:
            pv = self.lister.pv(pvc["spec"]["volumeName"])
            if pv is None:
                return Status.unresolvable(ERR_REASON_PV_NOT_EXIST)
            if not _pv_matches_node(pv, node.node):
                return Status.unresolvable(ERR_REASON_NODE_CONFLICT)
        chosen: dict[str, str] = {}
        provision: list[str] = []
        for pvc in s.delayed:
            pv = self._find_pv(pvc, node, set(chosen.values()))
            claim = pvc["metadata"]["name"]
            if pv is not None:
                chosen[claim] = pv["metadata"]["name"]
                continue
            sc = self._storage_class(pvc) or {}
            if sc.get("provisioner", NO_PROVISIONER) == NO_PROVISIONER:
                return Status.unresolvable(ERR_REASON_BIND_CONFLICT)
            provision.append(claim)
        s.per_node[node.name] = chosen
        s.provision[node.name] = provision
        return None

    def _find_pv(self, pvc: Obj, node: NodeInfo, taken: set[str]) -> Obj | None:
        assert self.lister is not None
        best = None
        for pv in self.lister.pvs():
            name = pv["metadata"]["name"]
            if name in taken or not _pv_fits_claim(pv, pvc) or not _pv_matches_node(pv, node.node):
                continue
            size = parse_quantity((pv["spec"].get("capacity") or {}).get("storage", "0"))
            if best is None or size < best[0]:
                best = (size, pv)
        return best[1] if best else None

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        s: _State | None = state.get(STATE_KEY)
        if s is not None:
            s.decision = dict(s.per_node.get(node_name, {}))
            s.to_provision = list(s.provision.get(node_name, []))
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        s: _State | None = state.get(STATE_KEY)
        if s is not None:
            s.decision, s.to_provision = {}, []


def new(args: dict[str, Any], handle: Handle) -> VolumeBinding:
    return VolumeBinding(handle)
