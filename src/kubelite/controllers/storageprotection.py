"""Storage object in-use protection: a claim in use, or a bound volume, is not removed.

Upstream's pvc-protection and pv-protection controllers. Admission puts
`kubernetes.io/pvc-protection` on every new PersistentVolumeClaim and
`kubernetes.io/pv-protection` on every new PersistentVolume; deleting one
only marks it (`kubectl get pvc` shows it Terminating) until this controller
removes the finalizer: for a claim, once no scheduled pod names it in a
`persistentVolumeClaim` volume; for a volume, once it is no longer Bound.
Without it, deleting a claim a pod still writes to would release (and, with
reclaim policy Delete, wipe) the volume under the running pod.
"""

from __future__ import annotations

import logging

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, deleting, key_of, meta, split_key

log = logging.getLogger(__name__)

PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
_PV = "pv:"


def claims_of(pod: Obj) -> list[str]:
    """The claims a pod's volumes name, its generic ephemeral volumes' included
    (`<pod>-<volume>`, as upstream's ephemeral.VolumeClaimName)."""
    out = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim and volume.get("ephemeral") is not None:
            claim = f"{(pod.get('metadata') or {}).get('name')}-{volume.get('name')}"
        if claim:
            out.append(claim)
    return out


def pod_uses_claim(pod: Obj, claim: str) -> bool:
    """As upstream: only a scheduled pod counts (the node agent will not start a pod
    whose claim is being deleted), and it counts until the pod object is gone."""
    return bool((pod.get("spec") or {}).get("nodeName")) and claim in claims_of(pod)


def _protected(obj: Obj, finalizer: str) -> bool:
    return deleting(obj) and finalizer in (meta(obj).get("finalizers") or [])


class StorageProtectionController(Controller):
    name = "pvc-protection-controller"

    def setup(self) -> None:
        self.pvcs = self.informers.informer("v1", "PersistentVolumeClaim")
        self.pvs = self.informers.informer("v1", "PersistentVolume")
        self.pods = self.informers.informer("v1", "Pod")
        self.pvcs.add_handlers(
            Handlers(on_add=self._claim_changed, on_update=lambda _o, new: self._claim_changed(new))
        )
        self.pvs.add_handlers(
            Handlers(
                on_add=self._volume_changed, on_update=lambda _o, new: self._volume_changed(new)
            )
        )
        self.pods.add_handlers(Handlers(on_delete=self._pod_deleted))

    def _claim_changed(self, pvc: Obj) -> None:
        if _protected(pvc, PVC_PROTECTION_FINALIZER):
            self.enqueue(key_of(pvc))

    def _volume_changed(self, pv: Obj) -> None:
        if _protected(pv, PV_PROTECTION_FINALIZER):
            self.enqueue(_PV + meta(pv)["name"])

    def _pod_deleted(self, pod: Obj) -> None:
        ns = meta(pod).get("namespace") or ""
        for claim in claims_of(pod):
            self.enqueue(f"{ns}/{claim}")

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(_PV):
            await self._sync_volume(key[len(_PV) :])
        else:
            await self._sync_claim(key)
        return None

    async def _sync_claim(self, key: str) -> None:
        pvc = self.pvcs.get(key)
        if pvc is None or not _protected(pvc, PVC_PROTECTION_FINALIZER):
            return
        ns, name = split_key(key)
        if any(pod_uses_claim(p, name) for p in self.pods.list(ns)):
            return  # the pod's deletion enqueues the claim again
        # The cache may not have seen a pod just created: ask the API, as upstream does.
        pods, _ = await self.client.list("v1", "Pod", ns)
        if any(pod_uses_claim(p, name) for p in pods):
            return
        await self._remove_finalizer("PersistentVolumeClaim", name, ns, PVC_PROTECTION_FINALIZER)

    async def _sync_volume(self, name: str) -> None:
        pv = self.pvs.get(name)
        if pv is None or not _protected(pv, PV_PROTECTION_FINALIZER):
            return
        if (pv.get("status") or {}).get("phase") == "Bound":
            return  # the binder's Released update enqueues it again
        await self._remove_finalizer("PersistentVolume", name, None, PV_PROTECTION_FINALIZER)

    async def _remove_finalizer(
        self, kind: str, name: str, namespace: str | None, finalizer: str
    ) -> None:
        def drop(obj: Obj) -> Obj:
            md = meta(obj)
            md["finalizers"] = [f for f in md.get("finalizers") or [] if f != finalizer]
            md.pop("resourceVersion", None)
            return obj

        try:
            await self.client.mutate("v1", kind, name, drop, namespace)
        except errors.NotFound:
            return
        log.info("removed %s from %s %s/%s", finalizer, kind, namespace or "", name)


__all__ = [
    "PVC_PROTECTION_FINALIZER",
    "PV_PROTECTION_FINALIZER",
    "StorageProtectionController",
    "claims_of",
    "pod_uses_claim",
]
