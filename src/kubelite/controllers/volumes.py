"""PersistentVolume binding and local-path provisioning.

As upstream's PV controller: an unbound claim is matched with the smallest
Available volume of its class whose access modes, capacity, volume mode and
selector fit; the volume gets a `claimRef` and the claim a `volumeName`, and
both turn Bound. A claim no volume satisfies is provisioned by its class's
provisioner — here `kubelite.io/local-path`, which makes a directory under the
data dir (the role k3s's local-path-provisioner plays) — at once for
`Immediate` classes, and after the scheduler picked a node (the
`volume.kubernetes.io/selected-node` annotation) for `WaitForFirstConsumer`.
A volume whose claim is gone is Released, then deleted (with its directory)
when its reclaim policy is Delete.

A claim that names its volume (`spec.volumeName`) is pre-bound: it binds only
if that volume exists, is not reserved for another claim and satisfies it
(size, class, volume mode, access modes), else it stays Pending with
upstream's event. The binding is two-step as upstream: the volume's
`claimRef` first, then the claim's `volumeName` and `bind-completed`;
`bound-by-controller` marks whichever side the controller (not the user) set.
A Bound claim whose request grows past its capacity, in a class that allows
expansion, is expanded: a local-path volume has no fixed size, so the new
size is simply recorded on the volume and the claim (the resizer's work).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelite.api.quantity import parse_quantity
from kubelite.api.selectors import selector_from_dict
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller, SyncError
from kubelite.controllers.events import NORMAL, WARNING
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import key_of, meta, split_key, timestamp

log = logging.getLogger(__name__)
Obj = dict[str, Any]

PROVISIONER = "kubelite.io/local-path"
DEFAULT_CLASS = "local-path"
IS_DEFAULT = "storageclass.kubernetes.io/is-default-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_RESIZER = "volume.kubernetes.io/storage-resizer"
PV_PREFIX = "pv:"
ENSURE_DEFAULT_CLASS = "storageclass:default"


def default_storage_class() -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {IS_DEFAULT: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def pv_fits(pv: Obj, pvc: Obj) -> bool:
    """Whether a volume can serve a claim (upstream's findMatchingVolume checks)."""
    spec, want = pv.get("spec") or {}, pvc.get("spec") or {}
    if (spec.get("storageClassName") or "") != (want.get("storageClassName") or ""):
        return False
    if spec.get("volumeMode", "Filesystem") != want.get("volumeMode", "Filesystem"):
        return False
    if not set(want.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    request = ((want.get("resources") or {}).get("requests") or {}).get("storage", "0")
    if parse_quantity((spec.get("capacity") or {}).get("storage", "0")) < parse_quantity(request):
        return False
    sel = want.get("selector")
    return sel is None or selector_from_dict(sel).matches(meta(pv).get("labels") or {})


def _storage(obj: Obj, where: str) -> Any:
    spec = obj.get("spec") or {}
    section = (spec.get("resources") or {}).get("requests") if where == "request" else None
    if where == "capacity":
        section = spec.get("capacity")
    return parse_quantity((section or {}).get("storage", "0"))


def volume_mismatch(pv: Obj, pvc: Obj) -> str | None:
    """Why a volume cannot serve the claim that names it, in upstream's words
    (checkVolumeSatisfyClaim); None when it can."""
    spec, want = pv.get("spec") or {}, pvc.get("spec") or {}
    if meta(pv).get("deletionTimestamp"):
        return f'the volume is marked for deletion "{meta(pv)["name"]}"'
    if _storage(pv, "capacity") < _storage(pvc, "request"):
        return "requested PV is too small"
    if (spec.get("storageClassName") or "") != (want.get("storageClassName") or ""):
        return "storageClassName does not match"
    if spec.get("volumeMode", "Filesystem") != want.get("volumeMode", "Filesystem"):
        return "incompatible volumeMode"
    if not set(want.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return "incompatible accessMode"
    return None


def bound_to_claim(pv: Obj, pvc: Obj) -> bool:
    """The volume's claimRef names this claim (and, when it has a uid, this very claim)."""
    ref = (pv.get("spec") or {}).get("claimRef")
    md = meta(pvc)
    if not ref or (ref.get("namespace"), ref.get("name")) != (md.get("namespace"), md["name"]):
        return False
    return not ref.get("uid") or ref.get("uid") == md.get("uid")


def _claim_ref(pvc: Obj) -> Obj:
    md = meta(pvc)
    return {
        "kind": "PersistentVolumeClaim",
        "namespace": md.get("namespace"),
        "name": md["name"],
        "uid": md.get("uid"),
        "apiVersion": "v1",
        "resourceVersion": md.get("resourceVersion"),
    }


class PersistentVolumeController(Controller):
    name = "persistentvolume-controller"

    def __init__(self, storage_root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.storage_root = storage_root

    def setup(self) -> None:
        self.pvcs: Informer = self.informers.informer("v1", "PersistentVolumeClaim")
        self.pvs: Informer = self.informers.informer("v1", "PersistentVolume")
        self.classes: Informer = self.informers.informer("storage.k8s.io/v1", "StorageClass")
        self.pvcs.add_handlers(
            Handlers(
                on_add=lambda o: self.enqueue(key_of(o)),
                on_update=lambda _o, o: self.enqueue(key_of(o)),
                on_delete=self._claim_deleted,
            )
        )
        self.pvs.add_handlers(
            Handlers(
                on_add=lambda o: self.enqueue(PV_PREFIX + key_of(o)),
                on_update=lambda _o, o: self.enqueue(PV_PREFIX + key_of(o)),
            )
        )

        self.enqueue(ENSURE_DEFAULT_CLASS)

    def _claim_deleted(self, pvc: Obj) -> None:
        name = (pvc.get("spec") or {}).get("volumeName")
        if name:
            self.enqueue(PV_PREFIX + name)

    async def reconcile(self, key: str) -> float | None:
        if key == ENSURE_DEFAULT_CLASS:
            await self._ensure_default_class()
        elif key.startswith(PV_PREFIX):
            await self._sync_volume(key[len(PV_PREFIX) :])
        else:
            await self._sync_claim(key)
        return None

    async def _ensure_default_class(self) -> None:
        """The `local-path` class exists from the first start, as k3s ships it."""
        if (
            await self.client.get_or_none("storage.k8s.io/v1", "StorageClass", DEFAULT_CLASS)
            is None
        ):
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(default_storage_class())

    # ---- claims ------------------------------------------------------------

    async def _sync_claim(self, key: str) -> None:
        pvc = self.pvcs.get(key)
        if pvc is None or meta(pvc).get("deletionTimestamp"):
            return
        if ANN_BIND_COMPLETED in (meta(pvc).get("annotations") or {}):
            await self._sync_bound_claim(pvc)
        else:
            await self._sync_unbound_claim(pvc)

    async def _sync_unbound_claim(self, pvc: Obj) -> None:
        name = (pvc.get("spec") or {}).get("volumeName")
        if not name:
            pv = self._best_match(pvc)
            if pv is not None:
                await self._bind(pv, pvc)
            else:
                await self._provision_or_wait(pvc)
            return
        # The user asked for this very volume.
        pv = await self._volume(name)
        if pv is None:
            # Not there (yet): the claim waits for it, it has lost nothing.
            await self._claim_pending(pvc)
        elif not (pv.get("spec") or {}).get("claimRef"):
            why = volume_mismatch(pv, pvc)
            if why is None:
                await self._bind(pv, pvc)
                return
            await self.recorder.event(
                pvc, WARNING, "VolumeMismatch", f'Cannot bind to requested volume "{name}": {why}'
            )
            await self._claim_pending(pvc)
        elif bound_to_claim(pv, pvc):
            await self._bind(pv, pvc)  # reserved for this claim: finish the binding
        else:
            await self.recorder.event(
                pvc,
                WARNING,
                "FailedBinding",
                f'volume "{name}" already bound to a different claim.',
            )
            await self._claim_pending(pvc)
            if ANN_BOUND_BY_CONTROLLER in (meta(pvc).get("annotations") or {}):
                ref = pv["spec"]["claimRef"]
                raise SyncError(
                    f'invalid binding of claim "{key_of(pvc)}" to volume "{name}": volume '
                    f'already claimed by "{ref.get("namespace")}/{ref.get("name")}"'
                )

    async def _sync_bound_claim(self, pvc: Obj) -> None:
        name = (pvc.get("spec") or {}).get("volumeName")
        if not name:
            await self._claim_lost(
                pvc,
                "ClaimLost",
                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
            )
            return
        pv = await self._volume(name)
        if pv is None:
            await self._claim_lost(
                pvc,
                "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
            )
        elif not (pv.get("spec") or {}).get("claimRef") or bound_to_claim(pv, pvc):
            pv, pvc = await self._bind(pv, pvc)
            await self._expand(pv, pvc)
        else:
            await self._claim_lost(
                pvc,
                "ClaimMisbound",
                "Two claims are bound to the same volume, this one is bound incorrectly",
            )

    async def _volume(self, name: str) -> Obj | None:
        return self.pvs.get(name) or await self.client.get_or_none("v1", "PersistentVolume", name)

    def _best_match(self, pvc: Obj) -> Obj | None:
        uid = meta(pvc).get("uid")
        best: tuple[Any, Obj] | None = None
        for pv in self.pvs.list():
            ref = (pv.get("spec") or {}).get("claimRef")
            if ref and ref.get("uid") not in (None, "", uid):
                continue
            if ref and (ref.get("namespace"), ref.get("name")) != (
                meta(pvc).get("namespace"),
                meta(pvc)["name"],
            ):
                continue
            if (pv.get("status") or {}).get("phase") in ("Released", "Failed"):
                continue
            if not pv_fits(pv, pvc):
                continue
            size = parse_quantity(pv["spec"].get("capacity", {}).get("storage", "0"))
            if best is None or size < best[0]:
                best = (size, pv)
        return best[1] if best else None

    async def _bind(self, pv: Obj, pvc: Obj) -> tuple[Obj, Obj]:
        """Volume first (claimRef), then the claim (volumeName), then both Bound."""
        ref = _claim_ref(pvc)
        current = (pv.get("spec") or {}).get("claimRef") or {}
        if (current.get("namespace"), current.get("name"), current.get("uid")) != (
            ref["namespace"],
            ref["name"],
            ref["uid"],
        ):

            def claim_volume(obj: Obj) -> Obj:
                reserved = bound_to_claim(obj, pvc)
                if (obj.get("spec") or {}).get("claimRef") and not reserved:
                    raise errors.Conflict(
                        f'volume "{meta(obj)["name"]}" already bound to a different claim'
                    )
                obj.setdefault("spec", {})["claimRef"] = ref
                if not reserved:  # the controller, not the user, chose this claim
                    meta(obj).setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
                meta(obj).pop("resourceVersion", None)
                return obj

            pv = await self.client.mutate("v1", "PersistentVolume", meta(pv)["name"], claim_volume)
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv = await self._set_volume_phase(pv, "Bound")
        pvc = await self._complete_binding(pvc, pv)
        return pv, pvc

    async def _complete_binding(self, pvc: Obj, pv: Obj) -> Obj:
        volume = meta(pv)["name"]
        md = meta(pvc)
        ns, name = md.get("namespace"), md["name"]
        if (pvc.get("spec") or {}).get("volumeName") != volume or ANN_BIND_COMPLETED not in (
            md.get("annotations") or {}
        ):

            def set_volume(obj: Obj) -> Obj:
                spec = obj.setdefault("spec", {})
                ann = meta(obj).setdefault("annotations", {})
                if spec.get("volumeName") != volume:
                    spec["volumeName"] = volume
                    ann.setdefault(ANN_BOUND_BY_CONTROLLER, "yes")
                ann.setdefault(ANN_BIND_COMPLETED, "yes")
                meta(obj).pop("resourceVersion", None)
                return obj

            pvc = await self.client.mutate("v1", "PersistentVolumeClaim", name, set_volume, ns)
        status = pvc.get("status") or {}
        modes = list(pv["spec"].get("accessModes") or [])
        if status.get("phase") != "Bound" or status.get("accessModes") != modes:

            def bound(st: Obj) -> None:
                # Capacity is taken when the claim turns Bound, not later: a
                # difference after that is an expansion's business.
                if st.get("phase") != "Bound":
                    st["capacity"] = dict(pv["spec"].get("capacity") or {})
                st["phase"] = "Bound"
                st["accessModes"] = modes

            pvc = await self._change_claim_status(pvc, bound)
        return pvc

    async def _claim_pending(self, pvc: Obj) -> None:
        status = pvc.get("status") or {}
        if status.get("phase") == "Pending" and not (
            status.get("accessModes") or status.get("capacity")
        ):
            return

        def pending(st: Obj) -> None:
            st["phase"] = "Pending"
            st.pop("accessModes", None)
            st.pop("capacity", None)

        await self._change_claim_status(pvc, pending)

    async def _claim_lost(self, pvc: Obj, reason: str, message: str) -> None:
        if (pvc.get("status") or {}).get("phase") == "Lost":
            return

        def lost(st: Obj) -> None:
            st["phase"] = "Lost"
            st.pop("accessModes", None)
            st.pop("capacity", None)

        await self._change_claim_status(pvc, lost)
        await self.recorder.event(pvc, WARNING, reason, message)

    # ---- expansion -----------------------------------------------------------

    async def _expand(self, pv: Obj, pvc: Obj) -> None:
        """A Bound claim asking for more than its capacity: grow the volume (the
        resizer's part) and report the new size on the claim (the kubelet's part
        for a filesystem volume; a local-path directory needs nothing done)."""
        want = ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        status = pvc.get("status") or {}
        if want is None or parse_quantity(want) <= parse_quantity(
            (status.get("capacity") or {}).get("storage", "0")
        ):
            return
        cls_name = (pvc.get("spec") or {}).get("storageClassName")
        sc = self.classes.get(str(cls_name)) if cls_name else None
        if sc is None or not sc.get("allowVolumeExpansion"):
            return  # admission refuses such a resize; nothing to act on
        provisioner = str(sc.get("provisioner") or "")
        ours = (meta(pv).get("annotations") or {}).get(ANN_PROVISIONED_BY) == PROVISIONER
        if provisioner != PROVISIONER or not ours:
            await self._wait_for_external_resizer(pvc, provisioner)
            return
        name = meta(pv)["name"]
        await self.recorder.event(
            pvc, NORMAL, "Resizing", f"External resizer is resizing volume {name}"
        )
        pvc = await self._change_claim_status(
            pvc, lambda st: st.__setitem__("allocatedResources", {"storage": want})
        )
        if _storage(pv, "capacity") < parse_quantity(want):

            def grow(obj: Obj) -> Obj:
                obj.setdefault("spec", {}).setdefault("capacity", {})["storage"] = want
                meta(obj).pop("resourceVersion", None)
                return obj

            pv = await self.client.mutate("v1", "PersistentVolume", name, grow)

        def resized(st: Obj) -> None:
            st["capacity"] = {**(st.get("capacity") or {}), "storage": want}
            st["allocatedResources"] = {**(st.get("allocatedResources") or {}), "storage": want}
            conditions = [
                c
                for c in st.get("conditions") or []
                if c.get("type") not in ("Resizing", "FileSystemResizePending")
            ]
            if conditions:
                st["conditions"] = conditions
            else:
                st.pop("conditions", None)
            pending = dict(st.get("allocatedResourceStatuses") or {})
            pending.pop("storage", None)
            if pending:
                st["allocatedResourceStatuses"] = pending
            else:
                st.pop("allocatedResourceStatuses", None)

        await self._change_claim_status(pvc, resized)
        await self.recorder.event(pvc, NORMAL, "VolumeResizeSuccessful", "Resize volume succeeded")

    async def _wait_for_external_resizer(self, pvc: Obj, provisioner: str) -> None:
        """Another provisioner's claim: name its resizer and leave it the work."""
        if (meta(pvc).get("annotations") or {}).get(ANN_STORAGE_RESIZER) == provisioner:
            return
        md = meta(pvc)

        def annotate(obj: Obj) -> Obj:
            meta(obj).setdefault("annotations", {})[ANN_STORAGE_RESIZER] = provisioner
            meta(obj).pop("resourceVersion", None)
            return obj

        await self.client.mutate(
            "v1", "PersistentVolumeClaim", md["name"], annotate, md.get("namespace")
        )
        await self.recorder.event(
            pvc,
            NORMAL,
            "ExternalExpanding",
            "waiting for an external controller to expand this PVC",
        )

    async def _provision_or_wait(self, pvc: Obj) -> None:
        spec = pvc.get("spec") or {}
        cls_name = spec.get("storageClassName")
        sc = self.classes.get(str(cls_name)) if cls_name else None
        if sc is None:
            why = (
                "no persistent volumes available for this claim and no storage class is set"
                if not cls_name
                else f'storageclass.storage.k8s.io "{cls_name}" not found'
            )
            await self.recorder.event(
                pvc,
                WARNING if cls_name else NORMAL,
                "ProvisioningFailed" if cls_name else "FailedBinding",
                why,
            )
            return
        node = (meta(pvc).get("annotations") or {}).get(SELECTED_NODE)
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not node:
            await self.recorder.event(
                pvc,
                NORMAL,
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            )
            return
        if sc.get("provisioner") != PROVISIONER:
            pvc = await self._set_claim_provisioner(pvc, str(sc.get("provisioner") or ""))
            await self.recorder.event(
                pvc,
                NORMAL,
                "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner '{sc.get('provisioner')}' "
                "or manually by the system administrator. If volume creation is delayed, please verify "
                "that the provisioner is running and correctly registered.",
            )
            return
        pvc = await self._set_claim_provisioner(pvc, PROVISIONER)
        await self._provision(pvc, sc, node)

    async def _set_claim_provisioner(self, pvc: Obj, provisioner: str) -> Obj:
        """Name the provisioner on the claim, as upstream does before provisioning:
        external provisioners wait for exactly these annotations."""
        ann = meta(pvc).get("annotations") or {}
        if ann.get(ANN_PROVISIONER) == provisioner and ann.get(ANN_BETA_PROVISIONER) == provisioner:
            return pvc
        md = meta(pvc)

        def annotate(obj: Obj) -> Obj:
            ann = meta(obj).setdefault("annotations", {})
            ann[ANN_PROVISIONER] = provisioner
            ann[ANN_BETA_PROVISIONER] = provisioner
            meta(obj).pop("resourceVersion", None)
            return obj

        return await self.client.mutate(
            "v1", "PersistentVolumeClaim", md["name"], annotate, md.get("namespace")
        )

    async def _provision(self, pvc: Obj, sc: Obj, node: str | None) -> None:
        md = meta(pvc)
        name = f"pvc-{md['uid']}"
        path = self.storage_root / f"{name}_{md.get('namespace')}_{md['name']}"
        await self.recorder.event(
            pvc,
            NORMAL,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{md.get("namespace")}/{md["name"]}"',
        )
        try:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)
        except OSError as exc:
            await self.recorder.event(
                pvc,
                WARNING,
                "ProvisioningFailed",
                f'failed to provision volume with StorageClass "{meta(sc)["name"]}": {exc.strerror}',
            )
            return
        spec = pvc.get("spec") or {}
        pv: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {ANN_PROVISIONED_BY: PROVISIONER}},
            "spec": {
                "capacity": {
                    "storage": ((spec.get("resources") or {}).get("requests") or {}).get(
                        "storage", "1Gi"
                    )
                },
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": meta(sc)["name"],
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": _claim_ref(pvc),
            },
        }
        if node:
            pv["spec"]["nodeAffinity"] = {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            }
        try:
            created = await self.client.create(pv)
        except errors.AlreadyExists:
            created = await self.client.get("v1", "PersistentVolume", name)
        await self.recorder.event(
            pvc, NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {name}"
        )
        await self._bind(created, pvc)

    # ---- volumes -----------------------------------------------------------

    async def _sync_volume(self, name: str) -> None:
        pv = self.pvs.get(name)
        if pv is None:
            return
        # A volume being deleted is still synced: its in-use protection waits for it
        # to be released, which happens here once its claim is gone.
        ref = (pv.get("spec") or {}).get("claimRef")
        phase = (pv.get("status") or {}).get("phase")
        if not ref:
            if phase != "Available" and not meta(pv).get("deletionTimestamp"):
                await self._set_volume_phase(pv, "Available")
                # A free volume may be what a waiting claim asked for (upstream
                # finds it at its periodic claim resync).
                for waiting in self.pvcs.list():
                    if ANN_BIND_COMPLETED not in (meta(waiting).get("annotations") or {}):
                        self.enqueue(key_of(waiting))
            return
        claim = self.pvcs.get(f"{ref.get('namespace')}/{ref.get('name')}")
        if not ref.get("uid"):
            # Reserved by its creator for a claim that has not bound it yet:
            # Available to that claim only (the claim's sync binds it).
            if phase != "Available" and not meta(pv).get("deletionTimestamp"):
                await self._set_volume_phase(pv, "Available")
            if claim is not None:
                self.enqueue(key_of(claim))
            return
        if claim is not None and meta(claim).get("uid") == ref.get("uid"):
            if phase != "Bound" and (claim.get("spec") or {}).get("volumeName") == name:
                await self._set_volume_phase(pv, "Bound")
            elif (claim.get("spec") or {}).get("volumeName") in (None, ""):
                self.enqueue(key_of(claim))
            return
        if phase != "Released":
            pv = await self._set_volume_phase(pv, "Released")
        await self._reclaim(pv)

    async def _reclaim(self, pv: Obj) -> None:
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Retain")
        if policy != "Delete":
            return
        name = meta(pv)["name"]
        path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
        provisioned = (meta(pv).get("annotations") or {}).get(ANN_PROVISIONED_BY) == PROVISIONER
        if (
            provisioned
            and path
            and Path(path).resolve().is_relative_to(self.storage_root.resolve())
        ):
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(errors.NotFound):
            await self.client.delete("v1", "PersistentVolume", name)

    # ---- writes ------------------------------------------------------------

    async def _set_volume_phase(self, pv: Obj, phase: str) -> Obj:
        now = timestamp(self.clock())

        def change(obj: Obj) -> Obj:
            status = obj.setdefault("status", {})
            if status.get("phase") != phase or not status.get("lastPhaseTransitionTime"):
                status["lastPhaseTransitionTime"] = now
            status["phase"] = phase
            meta(obj).pop("resourceVersion", None)
            return obj

        return await self.client.mutate(
            "v1", "PersistentVolume", meta(pv)["name"], change, subresource="status"
        )

    async def _change_claim_status(self, pvc: Obj, edit: Callable[[Obj], None]) -> Obj:
        ns, name = split_key(key_of(pvc))

        def change(obj: Obj) -> Obj:
            edit(obj.setdefault("status", {}))
            meta(obj).pop("resourceVersion", None)
            return obj

        return await self.client.mutate(
            "v1", "PersistentVolumeClaim", name, change, ns, subresource="status"
        )
