"""The ReplicaSet controller: keep `spec.replicas` pods matching the selector.

Level-triggered over the ReplicaSet and Pod informers. A sync claims pods
(adopt/release), then, only if its expectations are met, creates missing pods
in slow-start batches (1, 2, 4, ...: a broken template fails fast instead of
making hundreds of doomed requests) or deletes the surplus in the upstream
victim order, then writes status. Pod events settle expectations and wake
the owning ReplicaSet.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kubelite.api.selectors import LabelSelector
from kubelite.apiserver import errors
from kubelite.controllers.claim import claim
from kubelite.controllers.controller import Controller, SyncError
from kubelite.controllers.expectations import Expectations
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    deleting,
    key_of,
    matching_owners,
    meta,
    owner_key,
    pod_active,
    pod_ready,
    selector_of,
    split_key,
)
from kubelite.controllers.podcontrol import PodControl, pod_from_template
from kubelite.controllers.replicaset.status import calculate_status, status_changed, wire_status
from kubelite.controllers.replicaset.victims import pods_to_delete

log = logging.getLogger(__name__)

BURST_REPLICAS = 500
NAME = "replicaset-controller"


class ReplicaSetController(Controller):
    """Subclasses may run another kind the same way (see `replication`): they set
    `api_version` and `kind` and say how to read the kind's selector."""

    name = NAME
    workers = 5
    api_version = "apps/v1"
    kind = "ReplicaSet"

    def selector(self, owner: Obj) -> LabelSelector:
        return selector_of(owner)

    def setup(self) -> None:
        self.expectations = Expectations(clock=self.clock)
        self.rs_informer: Informer = self.informers.informer(self.api_version, self.kind)
        self.pod_informer: Informer = self.informers.informer("v1", "Pod")
        self.rs_informer.add_handlers(
            Handlers(
                on_add=lambda rs: self.enqueue(key_of(rs)),
                on_update=lambda _old, rs: self.enqueue(key_of(rs)),
                on_delete=self._rs_deleted,
            )
        )
        self.pod_informer.add_handlers(
            Handlers(
                on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
            )
        )

    @property
    def pods(self) -> PodControl:
        return PodControl(self.client, self.recorder)

    # ---- event handlers: enqueue keys only ------------------------------------------

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(key_of(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        return owner_key(pod, self.kind, self.rs_informer)

    def _enqueue_matching(self, pod: Obj) -> None:
        for key in matching_owners(pod, self.rs_informer, selector=self.selector):
            self.enqueue(key)

    def _pod_added(self, pod: Obj) -> None:
        if deleting(pod):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, pod: Obj) -> None:
        if deleting(pod) and not deleting(old):
            self._pod_deleted(pod)
        old_key, key = self._owner_key(old), self._owner_key(pod)
        if old_key is not None and old_key != key:
            self.enqueue(old_key)
        if key is not None:
            self.enqueue(key)
            min_ready = self._min_ready(key)
            if min_ready and not pod_ready(old) and pod_ready(pod):
                self.queue.add_after(key, float(min_ready))
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.enqueue(key)

    def _min_ready(self, key: str) -> int:
        rs = self.rs_informer.get(key)
        return int(((rs or {}).get("spec") or {}).get("minReadySeconds") or 0)

    # ---- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        rs = self.rs_informer.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        needs_sync = self.expectations.satisfied(key)
        ns, _ = split_key(key)
        candidates = [p for p in self.pod_informer.list(ns) if pod_active(p)]
        pods = await claim(self.client, rs, self.selector(rs), candidates)
        error: tuple[str, str] | None = None
        if needs_sync and not deleting(rs):
            error = await self._manage_replicas(key, rs, pods)
        status = calculate_status(rs, pods, error=error, now=self.clock())
        await self._write_status(rs, status)
        if error is not None:
            raise SyncError(f"{self.kind} {key}: {error[1]}")
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        wanted = int(spec.get("replicas") or 0)
        if (
            min_ready
            and status["readyReplicas"] == wanted
            and status["availableReplicas"] != wanted
        ):
            return float(min_ready)
        return None

    async def _write_status(self, rs: Obj, status: dict[str, Any]) -> None:
        if not status_changed(rs, status):
            return
        generation = meta(rs).get("generation")
        uid = meta(rs).get("uid")

        def put(live: Obj) -> Obj:
            if meta(live).get("uid") != uid:
                raise errors.NotFound("replica set was replaced")
            live["status"] = wire_status({**status, "observedGeneration": generation})
            return live

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(
                self.api_version,
                self.kind,
                meta(rs)["name"],
                put,
                meta(rs)["namespace"],
                subresource="status",
            )

    async def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj]) -> tuple[str, str] | None:
        diff = len(pods) - int((rs.get("spec") or {}).get("replicas") or 0)
        if diff < 0:
            return await self._create_pods(key, rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            return await self._delete_pods(key, rs, pods, min(diff, BURST_REPLICAS))
        return None

    async def _create_pods(self, key: str, rs: Obj, count: int) -> tuple[str, str] | None:
        self.expectations.expect_creations(key, count)
        template = (rs.get("spec") or {}).get("template") or {}
        created, batch = 0, 1
        while created < count:
            batch = min(batch, count - created)
            for _ in range(batch):
                try:
                    await self.pods.create(rs, pod_from_template(rs, template))
                except errors.ApiError as exc:
                    self.expectations.lower_creations(key, count - created)
                    return ("FailedCreate", exc.message)
                created += 1
            batch *= 2
        return None

    async def _delete_pods(
        self, key: str, rs: Obj, pods: list[Obj], count: int
    ) -> tuple[str, str] | None:
        victims = pods_to_delete(pods, self._related_pods(rs), count, now=self.clock())
        self.expectations.expect_deletions(key, [key_of(p) for p in victims])
        failure: tuple[str, str] | None = None
        for pod in victims:
            try:
                await self.pods.delete(rs, pod)
            except errors.NotFound:
                self.expectations.deletion_observed(key, key_of(pod))
            except errors.ApiError as exc:
                self.expectations.deletion_observed(key, key_of(pod))
                failure = failure or ("FailedDelete", exc.message)
        return failure

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Active pods of every ReplicaSet sharing this one's controller (a Deployment's)."""
        ref = controller_ref(rs)
        siblings = [rs]
        if ref is not None:
            siblings = [
                other
                for other in self.rs_informer.list(meta(rs).get("namespace"))
                if (controller_ref(other) or {}).get("uid") == ref.get("uid")
            ]
        out: list[Obj] = []
        for sibling in siblings:
            out += [p for p in self.pod_informer.owned_by(meta(sibling)["uid"]) if pod_active(p)]
        return out
