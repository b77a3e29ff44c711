"""The ephemeral volume controller: a claim for each generic ephemeral volume.

A pod volume with `ephemeral.volumeClaimTemplate` is served by a
PersistentVolumeClaim named `<pod>-<volume>`, made here from the template's
labels, annotations and spec, and controlled by the pod (`controller` and
`blockOwnerDeletion` true), so the garbage collector deletes it with the pod.
From then on it is an ordinary claim: the scheduler waits for it, the PV
controller binds or provisions it. A claim of that name the pod does not
control is never taken over: the pod gets a FailedBinding event and the sync
is retried. A claim deleted while its pod lives is made again, as upstream's
controller does. The pod spec is immutable, so only pod creation matters.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller, SyncError
from kubelite.controllers.events import WARNING
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import controller_ref, copy, key_of, meta, split_key

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def claim_name(pod: Obj, volume: Obj) -> str:
    """The claim of a pod's generic ephemeral volume (upstream VolumeClaimName)."""
    return f"{meta(pod)['name']}-{volume.get('name', '')}"


def ephemeral_volumes(pod: Obj) -> list[Obj]:
    return [v for v in (pod.get("spec") or {}).get("volumes") or [] if v.get("ephemeral")]


def claim_is_for_pod(pod: Obj, pvc: Obj) -> str | None:
    """None when the pod controls the claim, else upstream's VolumeIsForPod error."""
    ref = controller_ref(pvc)
    pns, cns = meta(pod).get("namespace"), meta(pvc).get("namespace")
    if cns == pns and ref is not None and ref.get("uid") == meta(pod).get("uid"):
        return None
    return (
        f"PVC {cns}/{meta(pvc)['name']} was not created for pod "
        f"{pns}/{meta(pod)['name']} (pod is not owner)"
    )


def claim_for(pod: Obj, volume: Obj) -> Obj:
    template = (volume.get("ephemeral") or {}).get("volumeClaimTemplate") or {}
    tmeta = template.get("metadata") or {}
    md: Obj = {
        "name": claim_name(pod, volume),
        "namespace": meta(pod).get("namespace"),
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta(pod)["name"],
                "uid": meta(pod).get("uid"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if tmeta.get("labels"):
        md["labels"] = copy(tmeta["labels"])
    if tmeta.get("annotations"):
        md["annotations"] = copy(tmeta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": md,
        "spec": copy(template.get("spec") or {}),
    }


class EphemeralVolumeController(Controller):
    name = "ephemeral_volume"

    def setup(self) -> None:
        self.pods: Informer = self.informers.informer("v1", "Pod")
        self.pvcs: Informer = self.informers.informer("v1", "PersistentVolumeClaim")
        self.pods.add_handlers(Handlers(on_add=self._pod_added))
        self.pvcs.add_handlers(Handlers(on_delete=self._claim_deleted))

    def _pod_added(self, pod: Obj) -> None:
        if not meta(pod).get("deletionTimestamp") and ephemeral_volumes(pod):
            self.enqueue(key_of(pod))

    def _claim_deleted(self, pvc: Obj) -> None:
        ns = meta(pvc).get("namespace")
        for pod in self.pods.list(ns):
            if any(claim_name(pod, v) == meta(pvc)["name"] for v in ephemeral_volumes(pod)):
                self._pod_added(pod)

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.get(key)
        if pod is None or meta(pod).get("deletionTimestamp"):
            return None
        for volume in ephemeral_volumes(pod):
            problem = await self._ensure_claim(pod, volume)
            if problem is not None:
                await self.recorder.event(
                    pod, WARNING, "FailedBinding", f"ephemeral volume {volume['name']}: {problem}"
                )
                raise SyncError(f"pod {key}, ephemeral volume {volume['name']}: {problem}")
        return None

    async def _ensure_claim(self, pod: Obj, volume: Obj) -> str | None:
        """Make the volume's claim if it is missing; what is wrong, or None."""
        ns, _ = split_key(key_of(pod))
        name = claim_name(pod, volume)
        pvc = self.pvcs.get(f"{ns}/{name}")
        if pvc is None:
            try:
                await self.client.create(claim_for(pod, volume))
                return None
            except errors.AlreadyExists:
                pvc = await self.client.get_or_none("v1", "PersistentVolumeClaim", name, ns)
            except errors.ApiError as exc:
                return f"create PVC {name}: {exc}"
            if pvc is None:
                return None  # gone again: the delete brings the pod back here
        return claim_is_for_pod(pod, pvc)


__all__ = ["EphemeralVolumeController", "claim_for", "claim_is_for_pod", "claim_name"]
