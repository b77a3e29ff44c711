"""The StatefulSet controller: ordered, stably named pods with their own storage.

OrderedReady creates `NAME-0` first and each next pod only once the ones
before it are Running and Ready (and available for minReadySeconds), and
removes pods from the highest ordinal down, one at a time; Parallel does
each step for all pods at once. Every distinct template is a
ControllerRevision (see `history`); `status.currentRevision` is the one the
set is rolling from and `updateRevision` the one it rolls to. A pod is
"updated" when its `controller-revision-hash` label names the update
revision. RollingUpdate deletes, from the highest ordinal down to
`partition`, one pod at a time that is not updated, and waits for each
replacement to be healthy; pods below the partition are (re)created from the
current revision. OnDelete only uses the new template for pods the user
deletes. PVCs from volumeClaimTemplates are created before their pod and are
kept (Retain) or deleted on scale-down per persistentVolumeClaimRetentionPolicy.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers import history
from kubelite.controllers.claim import claim
from kubelite.controllers.controller import Controller
from kubelite.controllers.events import NORMAL, WARNING
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    copy,
    deleting,
    key_of,
    labels,
    meta,
    owner_ref_for,
    pod_available,
    pod_phase,
    pod_ready,
    selector_of,
    split_key,
)
from kubelite.controllers.statefulset import identity as ident

log = logging.getLogger(__name__)
NAME = "statefulset-controller"
DEFAULT_HISTORY_LIMIT = 10


def _healthy(pod: Obj) -> bool:
    return _running_and_ready(pod) and not deleting(pod)


def _running_and_ready(pod: Obj) -> bool:
    return pod_phase(pod) == "Running" and pod_ready(pod)


def _finished(pod: Obj) -> bool:
    return pod_phase(pod) in ("Failed", "Succeeded")


@dataclass
class _Plan:
    """What one sync sees: the set at both revisions and its pods by slot."""

    sts: Obj
    current: Obj
    update: Obj
    current_set: Obj
    update_set: Obj
    replicas: list[Obj | None]
    condemned: list[Obj]  # highest ordinal first
    start: int
    created: list[Obj] = field(default_factory=list)
    terminated: set[str] = field(default_factory=set)  # pods this sync deleted

    @property
    def ordered(self) -> bool:
        return self.sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"

    @property
    def min_ready(self) -> int:
        return int(self.sts["spec"].get("minReadySeconds") or 0)


class StatefulSetController(Controller):
    name = NAME
    workers = 2

    def setup(self) -> None:
        # Ordinals this controller scaled down, per set uid: their claims wait for the pod.
        self._scaled_down: dict[str, set[int]] = {}
        self.sts_informer = self.informers.informer("apps/v1", "StatefulSet")
        self.pod_informer = self.informers.informer("v1", "Pod")
        self.pvc_informer = self.informers.informer("v1", "PersistentVolumeClaim")
        self.rev_informer = self.informers.informer("apps/v1", "ControllerRevision")
        self.sts_informer.add_handlers(
            Handlers(on_add=self._sts, on_update=lambda _o, s: self._sts(s), on_delete=self._sts)
        )
        self.pod_informer.add_handlers(
            Handlers(
                on_add=self._owned, on_update=lambda _o, p: self._owned(p), on_delete=self._owned
            )
        )
        self.rev_informer.add_handlers(
            Handlers(
                on_add=self._owned, on_update=lambda _o, r: self._owned(r), on_delete=self._owned
            )
        )
        self.pvc_informer.add_handlers(Handlers(on_delete=self._claim_deleted))

    def _sts(self, sts: Obj) -> None:
        self.enqueue(key_of(sts))

    def _owned(self, obj: Obj) -> None:
        ref = controller_ref(obj)
        if ref is not None and ref.get("kind") == "StatefulSet":
            self.enqueue(f"{meta(obj).get('namespace')}/{ref.get('name')}")
        elif ref is None:
            for sts in self.sts_informer.list(meta(obj).get("namespace")):
                if selector_of(sts).matches(labels(obj)):
                    self.enqueue(key_of(sts))

    def _claim_deleted(self, pvc: Obj) -> None:
        """A claim gone may leave a pending pod of ours without it."""
        for sts in self.sts_informer.list(meta(pvc).get("namespace")):
            if sts["spec"].get("volumeClaimTemplates") and selector_of(sts).matches(labels(pvc)):
                self.enqueue(key_of(sts))

    # ---- reconcile -----------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        sts = self.sts_informer.get(key)
        if sts is None or deleting(sts):
            return None
        ns, _ = split_key(key)
        selector = selector_of(sts)
        candidates = [p for p in self.pod_informer.list(ns) if ident.ordinal(sts, p) is not None]
        pods = await claim(self.client, sts, selector, candidates)
        revisions = history.sort_revisions(
            await claim(self.client, sts, selector, self.rev_informer.list(ns))
        )
        current, update, collisions = await self._revisions(sts, revisions)
        plan = self._plan(sts, pods, current, update)
        await self._converge(plan)
        await self._scaled_claims(plan, selector)
        status = self._status(plan, collisions)
        await self._write_status(sts, status)
        await self._truncate_history(sts, pods + plan.created, revisions, current, update)
        if plan.min_ready > 0 and status.get("readyReplicas", 0) != status.get(
            "availableReplicas", 0
        ):
            return float(plan.min_ready)
        return None

    # ---- revisions -------------------------------------------------------------------

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """The current and update revisions, creating or renumbering the update one."""
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        wanted = history.new_revision(sts, history.next_number(revisions), collisions)
        equal = history.find_equal(revisions, wanted)
        if equal and history.equal(revisions[-1], equal[-1]):
            update = revisions[-1]  # the template has not changed
        elif equal:
            update = await self._renumber(equal[-1], history.number(wanted))
        else:
            update, collisions = await self._create_revision(sts, wanted, collisions)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if meta(r)["name"] == current_name), update)
        return current, update, collisions

    async def _renumber(self, revision: Obj, number: int) -> Obj:
        """Going back to an old template: it becomes the newest revision again."""

        def bump(live: Obj) -> Obj:
            live["revision"] = number
            return live

        return await self.client.mutate(
            "apps/v1",
            "ControllerRevision",
            meta(revision)["name"],
            bump,
            meta(revision)["namespace"],
        )

    async def _create_revision(self, sts: Obj, wanted: Obj, collisions: int) -> tuple[Obj, int]:
        """Create the revision; a name taken by other data bumps the collision count."""
        ns = meta(sts)["namespace"]
        while True:
            candidate = history.rename_for(wanted, sts, collisions)
            try:
                return await self.client.create(candidate), collisions
            except errors.AlreadyExists:
                existing = await self.client.get(
                    "apps/v1", "ControllerRevision", meta(candidate)["name"], ns
                )
                if history.raw(existing.get("data")) == history.raw(candidate["data"]):
                    return existing, collisions
                collisions += 1

    async def _truncate_history(
        self, sts: Obj, pods: list[Obj], revisions: list[Obj], current: Obj, update: Obj
    ) -> None:
        limit = sts["spec"].get("revisionHistoryLimit")
        limit = DEFAULT_HISTORY_LIMIT if limit is None else int(limit)
        live = {meta(current)["name"], meta(update)["name"]}
        live.update(labels(p).get(ident.REVISION_HASH, "") for p in pods)
        for old in history.truncatable(revisions, live, limit):
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(
                    "apps/v1", "ControllerRevision", meta(old)["name"], meta(old)["namespace"]
                )

    # ---- pods ----------------------------------------------------------------------

    def _plan(self, sts: Obj, pods: list[Obj], current: Obj, update: Obj) -> _Plan:
        start = int((sts["spec"].get("ordinals") or {}).get("start") or 0)
        want = int(sts["spec"].get("replicas") or 0)
        replicas: list[Obj | None] = [None] * want
        condemned: list[Obj] = []
        for pod in pods:
            i = ident.ordinal(sts, pod)
            assert i is not None
            if start <= i < start + want:
                replicas[i - start] = pod
            else:
                condemned.append(pod)
        condemned.sort(key=lambda p: ident.ordinal(sts, p) or 0, reverse=True)
        return _Plan(
            sts=sts,
            current=current,
            update=update,
            current_set=history.apply_revision(sts, current),
            update_set=history.apply_revision(sts, update),
            replicas=replicas,
            condemned=condemned,
            start=start,
        )

    def _first_unhealthy(self, plan: _Plan) -> Obj | None:
        for pod in [*plan.replicas, *reversed(plan.condemned)]:
            if pod is not None and not _healthy(pod):
                return pod
        return None

    async def _converge(self, plan: _Plan) -> None:
        first_unhealthy = self._first_unhealthy(plan)
        for slot in range(len(plan.replicas)):
            if await self._process_replica(plan, slot) and plan.ordered:
                return
        for pod in plan.condemned:
            if await self._process_condemned(plan, pod, first_unhealthy) and plan.ordered:
                return
        if plan.ordered and plan.condemned:
            return
        await self._rolling_update(plan)

    async def _process_replica(self, plan: _Plan, slot: int) -> bool:
        """Make slot `slot` hold a live pod; True when OrderedReady must stop here."""
        pod = plan.replicas[slot]
        ordinal = plan.start + slot
        if pod is None:
            created = await self._create(plan, ordinal)
            if created is not None:
                plan.replicas[slot] = created
                plan.created.append(created)
            return True
        if _finished(pod):
            if not deleting(pod):
                await self._delete(plan, pod)
            return True  # its replacement comes once it is gone
        if (pod.get("status") or {}).get("phase") == "Pending" and not deleting(pod):
            # A claim deleted under a pod that has not started (it waited for the pod
            # to go, then went): make it again, as upstream does for pending pods.
            for template in plan.sts["spec"].get("volumeClaimTemplates") or []:
                await self._ensure_claim(plan.sts, template, ordinal, meta(pod)["name"])
        for template in plan.sts["spec"].get("volumeClaimTemplates") or []:
            await self._match_retention_policy(plan.sts, template, ordinal)
        if deleting(pod) or not _running_and_ready(pod):
            return True
        return not pod_available(pod, plan.min_ready, self.clock())

    async def _match_retention_policy(self, sts: Obj, template: dict[str, Any], i: int) -> None:
        """A claim's reference to its set follows `whenDeleted` as the policy changes
        (upstream's UpdatePodClaimForRetentionPolicy): switched to Retain, deleting
        the set must no longer delete the data; switched to Delete, it does."""
        ns = meta(sts)["namespace"]
        claim_obj = self.pvc_informer.get(f"{ns}/{ident.claim_name(template, sts, i)}")
        if claim_obj is None or deleting(claim_obj):
            return
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        uid, name = meta(sts).get("uid"), meta(sts)["name"]
        refs = list(meta(claim_obj).get("ownerReferences") or [])

        def of_this_set(ref: dict[str, Any]) -> bool:  # a same-named set's stale one too
            return ref.get("kind") == "StatefulSet" and (
                ref.get("uid") == uid or ref.get("name") == name
            )

        kept = [r for r in refs if not of_this_set(r)]
        if policy.get("whenDeleted") == "Delete":
            kept.append(owner_ref_for(sts))  # a controller ref since 1.31
        if kept == refs:
            return
        out = copy(claim_obj)
        if kept:
            meta(out)["ownerReferences"] = kept
        else:
            meta(out).pop("ownerReferences", None)
        with contextlib.suppress(errors.NotFound, errors.Conflict):  # seen again next sync
            await self.client.update(out)

    async def _process_condemned(self, plan: _Plan, pod: Obj, first_unhealthy: Obj | None) -> bool:
        """Scale down past `replicas`; True when OrderedReady must stop here."""
        if deleting(pod):
            return True
        if (
            plan.ordered
            and pod is not first_unhealthy
            and not pod_available(pod, plan.min_ready, self.clock())
        ):
            return True
        await self._delete(plan, pod)
        ordinal = ident.ordinal(plan.sts, pod)
        if ordinal is not None:  # its claims go once it is gone (whenScaled: Delete)
            self._scaled_down.setdefault(meta(plan.sts)["uid"], set()).add(ordinal)
        return True

    def _versioned_set(self, plan: _Plan, ordinal: int) -> tuple[Obj, str]:
        """Pods below the partition keep the current revision; the rest get the update."""
        strategy = plan.sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if rolling is None:
                below = ordinal < int((plan.sts.get("status") or {}).get("currentReplicas") or 0)
            else:
                below = ordinal < int(rolling.get("partition") or 0)
            if below:
                return plan.current_set, meta(plan.current)["name"]
        return plan.update_set, meta(plan.update)["name"]

    async def _rolling_update(self, plan: _Plan) -> None:
        strategy = plan.sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        update = meta(plan.update)["name"]
        for target in range(len(plan.replicas) - 1, partition - 1, -1):
            pod = plan.replicas[target]
            if pod is None:
                return
            if labels(pod).get(ident.REVISION_HASH) != update and not deleting(pod):
                await self._delete(plan, pod)
                return
            if not _healthy(pod):
                return  # wait for the replacement before touching the next one

    # ---- writes ----------------------------------------------------------------------

    async def _create(self, plan: _Plan, ordinal: int) -> Obj | None:
        versioned, revision = self._versioned_set(plan, ordinal)
        sts = plan.sts
        pod = ident.new_pod(versioned, ordinal, revision)
        name = meta(pod)["name"]
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            await self._ensure_claim(sts, template, ordinal, name)
        try:
            created = await self.client.create(pod)
        except errors.AlreadyExists:
            return None
        except errors.ApiError as exc:
            msg = (
                f"create Pod {name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}"
            )
            await self.recorder.event(sts, WARNING, "FailedCreate", msg)
            raise
        msg = f"create Pod {name} in StatefulSet {meta(sts)['name']} successful"
        await self.recorder.event(sts, NORMAL, "SuccessfulCreate", msg)
        return created

    async def _ensure_claim(
        self, sts: Obj, template: dict[str, Any], i: int, pod_name: str
    ) -> None:
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

    async def _delete(self, plan: _Plan, pod: Obj) -> None:
        sts = plan.sts
        name = meta(pod)["name"]
        plan.terminated.add(name)
        try:
            await self.client.delete("v1", "Pod", name, meta(pod)["namespace"])
        except errors.NotFound:
            return
        except errors.ApiError as exc:
            msg = (
                f"delete Pod {name} in StatefulSet {meta(sts)['name']} failed error: {exc.message}"
            )
            await self.recorder.event(sts, WARNING, "FailedDelete", msg)
            raise
        msg = f"delete Pod {name} in StatefulSet {meta(sts)['name']} successful"
        await self.recorder.event(sts, NORMAL, "SuccessfulDelete", msg)

    async def _scaled_claims(self, plan: _Plan, selector: Any) -> None:
        """`whenScaled: Delete`: a claim goes once its ordinal is out of range AND its
        pod is gone, as upstream lets the garbage collector take it with the pod. A
        scale back up before then keeps it (it was deleted with the pod's deletion,
        and the returning pod found an empty claim)."""
        sts = plan.sts
        pending = self._scaled_down.get(meta(sts)["uid"])
        if not pending:
            return
        wanted = range(plan.start, plan.start + len(plan.replicas))
        pending -= set(wanted)  # scaled back up: its claim stays
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            pending.clear()
            return
        ns, name = meta(sts)["namespace"], meta(sts)["name"]
        pods = [p for p in plan.replicas if p is not None] + plan.condemned
        alive = {ident.ordinal(sts, p) for p in pods}
        prefixes = [
            f"{meta(t)['name']}-{name}-" for t in sts["spec"].get("volumeClaimTemplates") or []
        ]
        for claim_obj in self.pvc_informer.list(ns, selector):
            claim_name = meta(claim_obj)["name"]
            prefix = next((p for p in prefixes if claim_name.startswith(p)), None)
            ordinal = claim_name[len(prefix) :] if prefix is not None else ""
            if not ordinal.isdigit() or deleting(claim_obj):
                continue
            if int(ordinal) not in pending or int(ordinal) in alive:
                continue
            with contextlib.suppress(errors.NotFound):
                await self.client.delete("v1", "PersistentVolumeClaim", claim_name, ns)
        pending -= {o for o in pending if o not in alive}

    # ---- status --------------------------------------------------------------------

    def _status(self, plan: _Plan, collisions: int) -> dict[str, Any]:
        """Counts over every created pod, as upstream's computeReplicaStatus."""
        now = self.clock()
        current, update = meta(plan.current)["name"], meta(plan.update)["name"]
        counts = dict.fromkeys(
            (
                "replicas",
                "readyReplicas",
                "availableReplicas",
                "currentReplicas",
                "updatedReplicas",
            ),
            0,
        )
        for pod in [p for p in plan.replicas if p is not None] + plan.condemned:
            counts["replicas"] += 1
            if _running_and_ready(pod):
                counts["readyReplicas"] += 1
                if pod_available(pod, plan.min_ready, now):
                    counts["availableReplicas"] += 1
            if not deleting(pod) and meta(pod)["name"] not in plan.terminated:
                revision = labels(pod).get(ident.REVISION_HASH)
                counts["currentReplicas"] += revision == current
                counts["updatedReplicas"] += revision == update
        strategy = (plan.sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if (
            strategy == "RollingUpdate"
            and counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]
        ):
            counts["currentReplicas"] = counts["updatedReplicas"]
            current = update  # the rollout is complete
        status: dict[str, Any] = {
            "observedGeneration": meta(plan.sts).get("generation"),
            **counts,
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": collisions,
        }
        # omitempty as the wire type: replicas, availableReplicas and collisionCount always show
        always = ("replicas", "availableReplicas", "collisionCount")
        kept = {k: v for k, v in status.items() if v not in (0, None, "") or k in always}
        conditions = (plan.sts.get("status") or {}).get("conditions")
        if conditions:
            kept["conditions"] = conditions
        return kept

    async def _write_status(self, sts: Obj, status: dict[str, Any]) -> None:
        if status == (sts.get("status") or {}):
            return
        uid = meta(sts)["uid"]

        def put(obj: Obj) -> Obj:
            if meta(obj).get("uid") != uid:
                raise errors.NotFound("statefulset was replaced")
            obj["status"] = status
            return obj

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(
                "apps/v1",
                "StatefulSet",
                meta(sts)["name"],
                put,
                meta(sts)["namespace"],
                subresource="status",
            )
