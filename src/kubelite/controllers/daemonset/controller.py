"""The DaemonSet controller: one pod of the template on every eligible node.

Level-triggered over the DaemonSet, Pod, Node and ControllerRevision
informers, as upstream's pkg/controller/daemon. A sync claims the set's pods
and revisions (adopt/release), makes sure the current template has a
ControllerRevision (its `controller-revision-hash` labels new pods), then,
once its earlier creations and deletions have been seen (expectations):
places pods (`placement`), replaces old ones (`rolling`) and prunes history
beyond revisionHistoryLimit; status is written every time (`status`).
Node, pod and revision events only enqueue the keys of the sets they concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers import history
from kubelite.controllers.claim import claim
from kubelite.controllers.controller import Controller
from kubelite.controllers.daemonset import placement, revisions, rolling
from kubelite.controllers.daemonset import status as ds_status
from kubelite.controllers.daemonset.backoff import Backoff
from kubelite.controllers.daemonset.eligibility import node_should_run, target_node
from kubelite.controllers.daemonset.pods import (
    is_updated,
    new_pod,
    pod_template,
    template_generation,
)
from kubelite.controllers.events import WARNING
from kubelite.controllers.expectations import Expectations
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    deleting,
    key_of,
    labels,
    matching_owners,
    meta,
    namespace_terminating,
    owner_key,
    pod_phase,
    pod_ready,
    selector_of,
    split_key,
)
from kubelite.controllers.podcontrol import PodControl

log = logging.getLogger(__name__)

NAME = "daemonset-controller"
BURST_REPLICAS = 250
SELECTING_ALL = "SelectingAll"


def _terminal(pod: Obj) -> bool:
    return pod_phase(pod) in ("Failed", "Succeeded")


class DaemonSetController(Controller):
    name = NAME
    workers = 2

    def setup(self) -> None:
        # Creations and deletions are expected together; the shared
        # Expectations tracks one or the other, so one of each.
        self.creations = Expectations(clock=self.clock)
        self.deletions = Expectations(clock=self.clock)
        self.backoff = Backoff()
        self.ds_informer: Informer = self.informers.informer("apps/v1", "DaemonSet")
        self.pod_informer: Informer = self.informers.informer("v1", "Pod")
        self.node_informer: Informer = self.informers.informer("v1", "Node")
        self.rev_informer: Informer = self.informers.informer("apps/v1", "ControllerRevision")
        self.ds_informer.add_handlers(
            Handlers(
                on_add=lambda ds: self.enqueue(key_of(ds)),
                on_update=lambda _old, ds: self.enqueue(key_of(ds)),
                on_delete=self._ds_deleted,
            )
        )
        self.pod_informer.add_handlers(
            Handlers(
                on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
            )
        )
        self.node_informer.add_handlers(
            Handlers(on_add=self._node_added, on_update=self._node_updated)
        )
        self.rev_informer.add_handlers(
            Handlers(
                on_add=self._revision_changed,
                on_update=lambda _old, r: self._revision_changed(r),
                on_delete=self._revision_changed,
            )
        )

    @property
    def pods(self) -> PodControl:
        return PodControl(self.client, self.recorder)

    def _satisfied(self, key: str) -> bool:
        return self.creations.satisfied(key) and self.deletions.satisfied(key)

    # ---- event handlers: enqueue keys only ------------------------------------------

    def _ds_deleted(self, ds: Obj) -> None:
        self.creations.forget(key_of(ds))
        self.deletions.forget(key_of(ds))
        self.enqueue(key_of(ds))

    def _owner_key(self, obj: Obj) -> str | None:
        return owner_key(obj, "DaemonSet", self.ds_informer)

    def _enqueue_matching(self, obj: Obj) -> None:
        for key in matching_owners(obj, self.ds_informer):
            self.enqueue(key)

    def _pod_added(self, pod: Obj) -> None:
        if deleting(pod):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.creations.creation_observed(key)
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
            ds = self.ds_informer.get(key) or {}
            min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready and not pod_ready(old) and pod_ready(pod):
                self.queue.add_after(key, float(min_ready + 1))
        elif controller_ref(pod) is None and (
            labels(old) != labels(pod) or controller_ref(old) is not None
        ):
            self._enqueue_matching(pod)  # an orphan someone may want to adopt

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.deletions.deletion_observed(key, key_of(pod))
            self.enqueue(key)

    def _node_added(self, node: Obj) -> None:
        for ds in self.ds_informer.list():
            if node_should_run(node, ds)[0]:
                self.enqueue(key_of(ds))

    def _node_updated(self, old: Obj, node: Obj) -> None:
        for ds in self.ds_informer.list():
            if node_should_run(old, ds) != node_should_run(node, ds):
                self.enqueue(key_of(ds))

    def _revision_changed(self, revision: Obj) -> None:
        key = self._owner_key(revision)
        if key is not None:
            self.enqueue(key)
        elif controller_ref(revision) is None and not deleting(revision):
            self._enqueue_matching(revision)

    # ---- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ds = self.ds_informer.get(key)
        if ds is None:
            self.creations.forget(key)
            self.deletions.forget(key)
            return None
        selector = (ds.get("spec") or {}).get("selector")
        if (
            isinstance(selector, dict)
            and not selector.get("matchLabels")
            and not selector.get("matchExpressions")
        ):
            message = "This daemon set is selecting all pods. A non-empty selector is required."
            await self.recorder.event(ds, WARNING, SELECTING_ALL, message)
            return None
        if deleting(ds):
            return None  # its history may be going: status could not be trusted
        self.backoff.gc(self.clock())
        nodes = sorted(self.node_informer.list(), key=lambda n: str(meta(n).get("name")))
        pods = await self._claimed_pods(ds)
        current, old, collisions = await self._history(ds)
        hash_ = labels(current).get(history.HASH_LABEL, "")
        generation = template_generation(ds)

        def is_new(pod: Obj) -> bool:
            return is_updated(pod, hash_, generation)

        if not self._satisfied(key):
            return await self._write_status(ds, nodes, pods, is_new, collisions, observe=False)
        retry = await self._update(key, ds, nodes, pods, hash_, generation, is_new)
        await revisions.clean_up(self.client, ds, pods, old)
        status_retry = await self._write_status(ds, nodes, pods, is_new, collisions, observe=True)
        delays = [d for d in (retry, status_retry) if d is not None]
        return min(delays) if delays else None

    async def _claimed_pods(self, ds: Obj) -> list[Obj]:
        ns, _ = split_key(key_of(ds))
        return await claim(self.client, ds, selector_of(ds), self.pod_informer.list(ns))

    @staticmethod
    def _node_pods(pods: list[Obj]) -> dict[str, list[Obj]]:
        """Pods by the node they are for; deleted pods that finished are done with."""
        out: dict[str, list[Obj]] = {}
        for pod in pods:
            if deleting(pod) and _terminal(pod):
                continue
            node = target_node(pod)
            if node is not None:
                out.setdefault(node, []).append(pod)
        return out

    async def _update(
        self,
        key: str,
        ds: Obj,
        nodes: list[Obj],
        pods: list[Obj],
        hash_: str,
        generation: int | None,
        is_new: Callable[[Obj], bool],
    ) -> float | None:
        node_pods = self._node_pods(pods)
        now = self.clock()
        placed = placement.plan(ds, nodes, node_pods, hash_, backoff=self.backoff, now=now)
        for kind, reason, message in placed.events:
            await self.recorder.event(ds, kind, reason, message)
        await self._sync_nodes(key, ds, placed.delete, placed.create_on, hash_, generation)
        strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
        if self._satisfied(key) and strategy in (None, "RollingUpdate"):
            wanted = {str(meta(n)["name"]): node_should_run(n, ds)[0] for n in nodes}
            rollout = rolling.plan(ds, node_pods, wanted, is_new, now=now)
            await self._sync_nodes(key, ds, rollout.delete, rollout.create_on, hash_, generation)
        return placed.retry_after

    # ---- creating and deleting pods -----------------------------------------------

    async def _sync_nodes(
        self,
        key: str,
        ds: Obj,
        delete: list[str],
        create_on: list[str],
        hash_: str,
        generation: int | None,
    ) -> None:
        """syncNodes: expectations first, creates in slow-start batches, then deletes."""
        create_on, delete = create_on[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        ns = meta(ds).get("namespace")
        self.creations.expect_creations(key, len(create_on))
        self.deletions.expect_deletions(key, [f"{ns}/{name}" for name in delete])
        failures: list[str] = []
        if create_on:
            template = pod_template(ds, generation, hash_)
            await self._create_pods(key, ds, template, create_on, failures)
        for name in delete:
            try:
                await self.pods.delete(ds, {"metadata": {"name": name, "namespace": ns}})
            except errors.NotFound:
                self.deletions.deletion_observed(key, f"{ns}/{name}")
            except errors.ApiError as exc:
                self.deletions.deletion_observed(key, f"{ns}/{name}")
                failures.append(exc.message)
        if failures:
            raise RuntimeError(f"DaemonSet {key}: {failures[0]}")

    async def _create_pods(
        self, key: str, ds: Obj, template: dict[str, Any], create_on: list[str], failures: list[str]
    ) -> None:
        pos, batch = 0, 1
        while pos < len(create_on):
            batch = min(batch, len(create_on) - pos)
            before = len(failures)
            outcomes = await asyncio.gather(
                *(self._create_one(key, ds, template, n) for n in create_on[pos : pos + batch])
            )
            failures += [o for o in outcomes if o is not None]
            pos += batch
            skipped = len(create_on) - pos
            if len(failures) > before and skipped > 0:
                self.creations.lower_creations(key, skipped)  # retried on a later sync
                return
            batch *= 2

    async def _create_one(
        self, key: str, ds: Obj, template: dict[str, Any], node_name: str
    ) -> str | None:
        try:
            await self.pods.create(ds, new_pod(ds, template, node_name))
        except errors.ApiError as exc:
            self.creations.lower_creations(key)
            return None if namespace_terminating(exc) else exc.message
        return None

    # ---- history -----------------------------------------------------------------

    async def _history(self, ds: Obj) -> tuple[Obj, list[Obj], int]:
        ns, _ = split_key(key_of(ds))
        claimed = await claim(self.client, ds, selector_of(ds), self.rev_informer.list(ns))
        return await revisions.construct(self.client, ds, claimed, lambda: self._claimed_pods(ds))

    # ---- status ------------------------------------------------------------------

    async def _write_status(
        self,
        ds: Obj,
        nodes: list[Obj],
        pods: list[Obj],
        is_new: Callable[[Obj], bool],
        collisions: int,
        *,
        observe: bool,
    ) -> float | None:
        now = self.clock()
        wanted = {str(meta(n)["name"]): node_should_run(n, ds)[0] for n in nodes}
        counts = ds_status.counts(ds, wanted, self._node_pods(pods), is_new, now=now)
        old_collisions = (ds.get("status") or {}).get("collisionCount")
        same_collisions = collisions == int(old_collisions or 0)
        if not (ds_status.unchanged(ds, counts) and same_collisions):
            await self._put_status(ds, counts, collisions, observe=observe)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and counts["numberReady"] != counts["numberAvailable"]:
            return float(min_ready)
        return None

    async def _put_status(
        self, ds: Obj, counts: dict[str, int], collisions: int, *, observe: bool
    ) -> None:
        uid, generation = meta(ds).get("uid"), meta(ds).get("generation")

        def put(live: Obj) -> Obj:
            if meta(live).get("uid") != uid:
                raise errors.NotFound("daemon set was replaced")
            old = live.get("status") or {}
            status = ds_status.wire_status(old, counts, generation if observe else None)
            if collisions or "collisionCount" in old:
                status["collisionCount"] = collisions
            live["status"] = status
            return live

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(
                "apps/v1",
                "DaemonSet",
                meta(ds)["name"],
                put,
                meta(ds)["namespace"],
                subresource="status",
            )
