"""The StatefulSet controller: ordered, stably named pods with their own storage.

OrderedReady creates `NAME-0` first and each next pod only once the ones
before it are Running and Ready, and removes pods from the highest ordinal
down, one at a time; Parallel does each step for all pods at once. A
RollingUpdate replaces pods whose `controller-revision-hash` differs, from
the highest ordinal down to `partition`, one at a time and only while all
others are Ready; OnDelete only uses the new template for pods the user
deletes. PVCs from volumeClaimTemplates are created before their pod and are
kept (Retain) or deleted on scale-down per
persistentVolumeClaimRetentionPolicy.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.claim import claim
from kubelite.controllers.controller import Controller
from kubelite.controllers.events import NORMAL, WARNING
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    deleting,
    key_of,
    labels,
    meta,
    pod_available,
    pod_phase,
    pod_ready,
    selector_of,
    split_key,
)
from kubelite.controllers.statefulset import identity as ident

log = logging.getLogger(__name__)
NAME = "statefulset-controller"


class StatefulSetController(Controller):
    name = NAME
    workers = 2

    def setup(self) -> None:
        self.sts_informer = self.informers.informer("apps/v1", "StatefulSet")
        self.pod_informer = self.informers.informer("v1", "Pod")
        self.pvc_informer = self.informers.informer("v1", "PersistentVolumeClaim")
        self.sts_informer.add_handlers(
            Handlers(on_add=self._sts, on_update=lambda _o, s: self._sts(s), on_delete=self._sts)
        )
        self.pod_informer.add_handlers(
            Handlers(on_add=self._pod, on_update=lambda _o, p: self._pod(p), on_delete=self._pod)
        )

    def _sts(self, sts: Obj) -> None:
        self.enqueue(key_of(sts))

    def _pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "StatefulSet":
            self.enqueue(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        elif ref is None:
            for sts in self.sts_informer.list(meta(pod).get("namespace")):
                if selector_of(sts).matches(labels(pod)):
                    self.enqueue(key_of(sts))

    # ---- reconcile -----------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        sts = self.sts_informer.get(key)
        if sts is None or deleting(sts):
            return None
        ns, _ = split_key(key)
        candidates = [p for p in self.pod_informer.list(ns) if ident.ordinal(sts, p) is not None]
        pods = await claim(self.client, sts, selector_of(sts), candidates)
        by_ordinal = {ident.ordinal(sts, p): p for p in pods}
        update_rev = ident.revision_name(sts)
        current_rev = (sts.get("status") or {}).get("currentRevision") or update_rev
        await self._converge(sts, by_ordinal, current_rev, update_rev)
        await self._write_status(sts, by_ordinal, current_rev, update_rev)
        return None

    def _ordered(self, sts: Obj) -> bool:
        return sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"

    async def _converge(self, sts: Obj, pods: dict[Any, Obj], current: str, update: str) -> None:
        want = int(sts["spec"].get("replicas") or 0)
        ordered = self._ordered(sts)
        for i in range(want):
            pod = pods.get(i)
            if pod is None:
                await self._create(sts, i, self._revision_for(sts, i, current, update))
                if ordered:
                    return
            elif pod_phase(pod) == "Failed" and not deleting(pod):
                await self._delete(sts, pod)
                if ordered:
                    return
            elif ordered and (deleting(pod) or not (pod_phase(pod) == "Running" and pod_ready(pod))):
                return
        condemned = sorted((i for i in pods if i >= want), reverse=True)
        for i in condemned:
            pod = pods[i]
            if not deleting(pod):
                await self._delete(sts, pod)
                await self._scaled_claims(sts, i)
            if ordered:
                return
        if not condemned:
            await self._rolling_update(sts, pods, want, update)

    def _revision_for(self, sts: Obj, i: int, current: str, update: str) -> str:
        strategy = sts["spec"].get("updateStrategy") or {}
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and i < partition:
            return current
        return update

    async def _rolling_update(self, sts: Obj, pods: dict[Any, Obj], want: int, update: str) -> None:
        strategy = sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        if any(deleting(p) or not pod_ready(p) for p in pods.values()):
            return  # one pod at a time, and only from a healthy set
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for i in range(want - 1, partition - 1, -1):
            pod = pods.get(i)
            if pod is not None and labels(pod).get(ident.REVISION_HASH) != update:
                await self._delete(sts, pod)
                return

    # ---- writes ----------------------------------------------------------------------

    async def _create(self, sts: Obj, i: int, revision: str) -> None:
        pod = ident.new_pod(sts, i, revision)
        name = meta(pod)["name"]
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            await self._ensure_claim(sts, template, i, name)
        try:
            await self.client.create(pod)
        except errors.AlreadyExists:
            return
        except errors.ApiError as exc:
            msg = f"create Pod {name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}"
            await self.recorder.event(sts, WARNING, "FailedCreate", msg)
            raise
        msg = f"create Pod {name} in StatefulSet {meta(sts)['name']} successful"
        await self.recorder.event(sts, NORMAL, "SuccessfulCreate", msg)

    async def _ensure_claim(self, sts: Obj, template: dict[str, Any], i: int, pod_name: str) -> None:
        claim_obj = ident.new_claim(sts, template, i)
        claim_name = meta(claim_obj)["name"]
        if self.pvc_informer.get(f"{meta(sts)['namespace']}/{claim_name}") is not None:
            return
        try:
            await self.client.create(claim_obj)
        except errors.AlreadyExists:
            return
        except errors.ApiError as exc:
            msg = f"create Claim {claim_name} for Pod {pod_name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}"
            await self.recorder.event(sts, WARNING, "FailedCreate", msg)
            raise
        msg = f"create Claim {claim_name} Pod {pod_name} in StatefulSet {meta(sts)['name']} success"
        await self.recorder.event(sts, NORMAL, "SuccessfulCreate", msg)

    async def _delete(self, sts: Obj, pod: Obj) -> None:
        name = meta(pod)["name"]
        try:
            await self.client.delete("v1", "Pod", name, meta(pod)["namespace"])
        except errors.NotFound:
            return
        except errors.ApiError as exc:
            msg = f"delete Pod {name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}"
            await self.recorder.event(sts, WARNING, "FailedDelete", msg)
            raise
        msg = f"delete Pod {name} in StatefulSet {meta(sts)['name']} successful"
        await self.recorder.event(sts, NORMAL, "SuccessfulDelete", msg)

    async def _scaled_claims(self, sts: Obj, i: int) -> None:
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete("v1", "PersistentVolumeClaim", ident.claim_name(template, sts, i), meta(sts)["namespace"])

    async def _write_status(self, sts: Obj, pods: dict[Any, Obj], current: str, update: str) -> None:
        now = self.clock()
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        live = [p for p in pods.values() if not deleting(p)]
        updated = sum(1 for p in live if labels(p).get(ident.REVISION_HASH) == update)
        want = int(sts["spec"].get("replicas") or 0)
        if updated == want and len(live) == want:
            current = update
        status: dict[str, Any] = {
            "observedGeneration": meta(sts).get("generation"),
            "replicas": len(live),
            "readyReplicas": sum(1 for p in live if pod_ready(p)),
            "currentReplicas": sum(1 for p in live if labels(p).get(ident.REVISION_HASH) == current),
            "updatedReplicas": updated,
            "availableReplicas": sum(1 for p in live if pod_available(p, min_ready, now)),
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": int((sts.get("status") or {}).get("collisionCount") or 0),
        }
        status = {k: v for k, v in status.items() if v not in (0, None) or k in ("replicas", "availableReplicas", "collisionCount")}
        if status == (sts.get("status") or {}):
            return
        uid = meta(sts)["uid"]

        def put(obj: Obj) -> Obj:
            if meta(obj).get("uid") != uid:
                raise errors.NotFound("statefulset was replaced")
            obj["status"] = status
            return obj

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate("apps/v1", "StatefulSet", meta(sts)["name"], put, meta(sts)["namespace"], subresource="status")
