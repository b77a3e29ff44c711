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
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from kubelite.api.quantity import parse_quantity
from kubelite.api.selectors import selector_from_dict
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.events import NORMAL, WARNING
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import copy, key_of, meta, split_key

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
    name = "persistentvolume-binder"

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
        spec = pvc.get("spec") or {}
        if spec.get("volumeName"):
            await self._complete_binding(pvc, spec["volumeName"])
            return
        pv = self._best_match(pvc)
        if pv is not None:
            await self._bind(pv, pvc)
            return
        await self._provision_or_wait(pvc)

    def _best_match(self, pvc: Obj) -> Obj | None:
        uid = meta(pvc).get("uid")
        best: tuple[Any, Obj] | None = None
        for pv in self.pvs.list():
            ref = (pv.get("spec") or {}).get("claimRef")
            if ref and ref.get("uid") not in (None, uid):
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

    async def _bind(self, pv: Obj, pvc: Obj) -> None:
        ref = _claim_ref(pvc)

        def claim_volume(obj: Obj) -> Obj:
            current = (obj.get("spec") or {}).get("claimRef")
            if current and current.get("uid") not in (None, ref["uid"]):
                raise errors.Conflict(
                    f'volume "{meta(obj)["name"]}" already bound to a different claim'
                )
            obj.setdefault("spec", {})["claimRef"] = ref
            meta(obj).pop("resourceVersion", None)
            return obj

        pv = await self.client.mutate("v1", "PersistentVolume", meta(pv)["name"], claim_volume)
        await self._set_volume_phase(pv, "Bound")
        await self._complete_binding(pvc, meta(pv)["name"])

    async def _complete_binding(self, pvc: Obj, volume: str) -> None:
        pv = self.pvs.get(volume) or await self.client.get_or_none("v1", "PersistentVolume", volume)
        if pv is None:
            if (pvc.get("status") or {}).get("phase") != "Lost":
                await self._set_claim_status(pvc, {"phase": "Lost"})
                await self.recorder.event(
                    pvc,
                    WARNING,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
            return
        md = meta(pvc)
        ns, name = md.get("namespace"), md["name"]
        if (pvc.get("spec") or {}).get("volumeName") != volume or md.get("annotations", {}).get(
            ANN_BIND_COMPLETED
        ) != "yes":

            def set_volume(obj: Obj) -> Obj:
                obj.setdefault("spec", {})["volumeName"] = volume
                ann = meta(obj).setdefault("annotations", {})
                ann[ANN_BIND_COMPLETED] = "yes"
                ann[ANN_BOUND_BY_CONTROLLER] = "yes"
                meta(obj).pop("resourceVersion", None)
                return obj

            pvc = await self.client.mutate("v1", "PersistentVolumeClaim", name, set_volume, ns)
        status = {
            "phase": "Bound",
            "accessModes": list(pv["spec"].get("accessModes") or []),
            "capacity": dict(pv["spec"].get("capacity") or {}),
        }
        if {k: (pvc.get("status") or {}).get(k) for k in status} != status:
            await self._set_claim_status(pvc, status)
        if (pv.get("status") or {}).get("phase") != "Bound":
            await self._set_volume_phase(pv, "Bound")

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
        if sc.get("provisioner") != PROVISIONER:
            await self.recorder.event(
                pvc,
                NORMAL,
                "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner '{sc.get('provisioner')}' "
                "or manually by the system administrator. If volume creation is delayed, please verify "
                "that the provisioner is running and correctly registered.",
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
        await self._provision(pvc, sc, node)

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
        await self._set_volume_phase(created, "Bound")
        await self._complete_binding(pvc, name)

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
            return
        claim = self.pvcs.get(f"{ref.get('namespace')}/{ref.get('name')}")
        if claim is not None and (not ref.get("uid") or meta(claim).get("uid") == ref.get("uid")):
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
        def change(obj: Obj) -> Obj:
            obj.setdefault("status", {})["phase"] = phase
            meta(obj).pop("resourceVersion", None)
            return obj

        return await self.client.mutate(
            "v1", "PersistentVolume", meta(pv)["name"], change, subresource="status"
        )

    async def _set_claim_status(self, pvc: Obj, status: Obj) -> Obj:
        ns, name = split_key(key_of(pvc))

        def change(obj: Obj) -> Obj:
            obj.setdefault("status", {}).update(copy(status))
            meta(obj).pop("resourceVersion", None)
            return obj

        return await self.client.mutate(
            "v1", "PersistentVolumeClaim", name, change, ns, subresource="status"
        )
