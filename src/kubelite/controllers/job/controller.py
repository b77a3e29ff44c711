"""The Job controller: run pods to completion, count them, finish the Job.

Level-triggered over the Job and Pod informers, as upstream's
pkg/controller/job. A sync claims the Job's pods, counts the finished ones
exactly once (`tracking`), decides what to create, delete and report
(`decide`) and writes it. Pods are created only when the controller's
expectations are met, so a stale cache never doubles them; a failed pod is
replaced after a backoff of `backoff_base_s` doubling per consecutive
failure up to `backoff_max_s` (10 s and 6 min upstream; the environment
variable KUBELITE_JOB_BACKOFF_BASE shortens it for tests).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.claim import claim
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.expectations import Expectations
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.job import tracking
from kubelite.controllers.job.decide import Decision, Inputs, decide
from kubelite.controllers.job.pods import TRACKING_FINALIZER, new_pod, tracked
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    copy,
    deleting,
    key_of,
    matching_owners,
    meta,
    selector_of,
    split_key,
)
from kubelite.controllers.podcontrol import PodControl

log = logging.getLogger(__name__)

NAME = "job-controller"
BACKOFF_ENV = "KUBELITE_JOB_BACKOFF_BASE"
DEFAULT_BACKOFF_S = 10.0
MAX_BACKOFF_S = 6 * 60.0
JOB_CONTROLLER_MANAGER = "kubernetes.io/job-controller"
_COUNTERS = ("active", "succeeded", "failed")
ORPHAN_PREFIX = "orphan-pod:"  # queue keys of tracked pods whose Job is gone


def managed_elsewhere(job: Obj) -> bool:
    """`spec.managedBy` names another controller: this one leaves the Job alone."""
    manager = (job.get("spec") or {}).get("managedBy")
    return manager is not None and manager != JOB_CONTROLLER_MANAGER


def backoff_base_from_env() -> float:
    try:
        return float(os.environ.get(BACKOFF_ENV, "") or DEFAULT_BACKOFF_S)
    except ValueError:
        return DEFAULT_BACKOFF_S


@dataclass
class _Backoff:
    """Failures since the last success, and when the last one was counted."""

    failures: int = 0
    last: float = 0.0


class JobController(Controller):
    name = NAME
    workers = 5

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        backoff_base_s: float | None = None,
        backoff_max_s: float = MAX_BACKOFF_S,
    ) -> None:
        super().__init__(clock=clock)
        self.backoff_base_s = backoff_base_from_env() if backoff_base_s is None else backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._backoff: dict[str, _Backoff] = {}
        # Pods whose finalizer removal was sent and not yet seen: never count them twice.
        self._removing: dict[str, set[str]] = {}

    def setup(self) -> None:
        self.expectations = Expectations(clock=self.clock)
        self.job_informer: Informer = self.informers.informer("batch/v1", "Job")
        self.pod_informer: Informer = self.informers.informer("v1", "Pod")
        self.job_informer.add_handlers(
            Handlers(
                on_add=lambda job: self.enqueue(key_of(job)),
                on_update=lambda _old, job: self.enqueue(key_of(job)),
                on_delete=self._job_deleted,
            )
        )
        self.pod_informer.add_handlers(
            Handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_gone)
        )

    @property
    def pods(self) -> PodControl:
        return PodControl(self.client, self.recorder)

    # ---- event handlers: enqueue keys only ------------------------------------------

    def _job_deleted(self, job: Obj) -> None:
        key = key_of(job)
        self.expectations.forget(key)
        self.enqueue(key)
        for pod in self.pod_informer.owned_by(str(meta(job).get("uid"))):
            if tracked(pod):
                self.enqueue(ORPHAN_PREFIX + key_of(pod))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        return f"{meta(pod).get('namespace')}/{ref.get('name')}"

    def _orphaned(self, pod: Obj) -> bool:
        """A tracked pod whose Job is gone (or was replaced): its finalizer must go."""
        if not tracked(pod):
            return False
        ref = controller_ref(pod)
        if ref is None:
            return True
        if ref.get("kind") != "Job":
            return False
        job = self.job_informer.get(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        return job is None or meta(job).get("uid") != ref.get("uid")

    def _pod_added(self, pod: Obj) -> None:
        if self._orphaned(pod):
            self.enqueue(ORPHAN_PREFIX + key_of(pod))
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, pod: Obj) -> None:
        if self._orphaned(pod):
            self.enqueue(ORPHAN_PREFIX + key_of(pod))
        key = self._owner_key(pod)
        if key is None:
            if controller_ref(pod) is None:
                self._enqueue_matching(pod)
            return
        if deleting(pod) and not deleting(old):
            self.expectations.deletion_observed(key, key_of(pod))
        if not tracked(pod):
            self._removing.get(key, set()).discard(str(meta(pod).get("uid")))
        self.enqueue(key)

    def _pod_gone(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self._removing.get(key, set()).discard(str(meta(pod).get("uid")))
            self.enqueue(key)

    def _enqueue_matching(self, pod: Obj) -> None:
        for key in matching_owners(pod, self.job_informer):
            self.enqueue(key)

    # ---- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(ORPHAN_PREFIX):
            await self._release_orphan(key[len(ORPHAN_PREFIX) :])
            return None
        cached = self.job_informer.get(key)
        if cached is None:
            self._forget(key)
            return None
        if managed_elsewhere(cached):
            return None
        job = copy(cached)
        ns, _ = split_key(key)
        candidates = self.pod_informer.list(ns)
        pods = await claim(self.client, job, selector_of(job), candidates)
        removing = self._removing.setdefault(key, set())
        self._settle_removals(key, pods)
        indexed = (job.get("spec") or {}).get("completionMode") == "Indexed"
        status = dict(job.get("status") or {})
        track = tracking.track(job, pods, removing)
        if track.changed:
            status = tracking.uncounted_status(status, track, indexed=indexed)
            if not await self._write_status(job, status):
                return None
        settled = await self._unfinalize(key, track.unfinalize)
        present = {str(meta(p).get("uid")) for p in pods if tracked(p)}
        settled |= {u for u in track.succeeded + track.failed if u not in present}
        if tracking.finished(job):
            if settled:
                status, _ = tracking.flush(status, track, settled, indexed=indexed)
                await self._write_status(job, self._wire(status))
            return None
        status, flushed = tracking.flush(status, track, settled, indexed=indexed)
        self._note_backoff(key, flushed)
        decision = decide(
            Inputs(
                job=job,
                status=status,
                pods=pods,
                now=self.clock(),
                backoff_remaining=self._backoff_remaining(key),
                fail_job=track.fail_job,
                can_manage=self.expectations.satisfied(key) and not deleting(job),
                backoff_base_s=self.backoff_base_s,
                backoff_max_s=self.backoff_max_s,
            )
        )
        await self._act(key, job, decision)
        return decision.requeue

    async def _release_orphan(self, pod_key: str) -> None:
        pod = self.pod_informer.get(pod_key)
        if pod is None or not self._orphaned(pod):
            return
        owner = self._owner_key(pod) or pod_key
        self._removing.setdefault(owner, set())
        await self._unfinalize(owner, [pod])

    def _forget(self, key: str) -> None:
        self.expectations.forget(key)
        self._backoff.pop(key, None)
        self._removing.pop(key, None)

    def _settle_removals(self, key: str, pods: list[Obj]) -> None:
        removing = self._removing[key]
        still = {str(meta(p).get("uid")) for p in pods if tracked(p)}
        removing.intersection_update(still)

    async def _act(self, key: str, job: Obj, d: Decision) -> None:
        if d.discard:
            await self._unfinalize(key, d.discard)
        await self._delete(key, job, d.delete + d.discard)
        error = await self._create(key, job, d.create, d.index_counts)
        await self._write_status(job, self._wire(d.status))
        for kind, reason, message in d.events:
            await self.recorder.event(job, kind, reason, message)
        if error is not None:
            raise RuntimeError(f"Job {key}: {error}")

    @staticmethod
    def _wire(status: dict[str, Any]) -> dict[str, Any]:
        out = dict(status)
        for counter in _COUNTERS:
            if not out.get(counter):
                out.pop(counter, None)
        if not out.get("completedIndexes"):
            out.pop("completedIndexes", None)
        return out

    # ---- writes ----------------------------------------------------------------------

    async def _write_status(self, job: Obj, status: dict[str, Any]) -> bool:
        """Write the Job's status; False when the Job is gone or was replaced.

        Conditional on the resourceVersion this sync read (a Conflict retries
        the sync): counters computed from a stale cache must never overwrite
        newer ones. `job` (the sync's own copy) follows the write.
        """
        if status == (job.get("status") or {}):
            return True
        uid, rv = meta(job).get("uid"), meta(job).get("resourceVersion")

        def put(live: Obj) -> Obj:
            if meta(live).get("uid") != uid:
                raise errors.NotFound("job was replaced")
            meta(live)["resourceVersion"] = rv
            live["status"] = status
            return live

        try:
            stored = await self.client.mutate(
                "batch/v1",
                "Job",
                meta(job)["name"],
                put,
                meta(job)["namespace"],
                subresource="status",
            )
        except errors.NotFound:
            return False
        meta(job)["resourceVersion"] = meta(stored).get("resourceVersion")
        job["status"] = stored.get("status") or {}
        return True

    async def _unfinalize(self, key: str, pods: list[Obj]) -> set[str]:
        """Remove the tracking finalizer; the uids it is now gone from (or the pod is)."""
        done: set[str] = set()
        for pod in pods:
            uid = str(meta(pod).get("uid"))

            def drop(live: Obj, uid: str = uid) -> Obj:
                if meta(live).get("uid") != uid:
                    raise errors.NotFound("pod was replaced")
                finalizers = [
                    f for f in meta(live).get("finalizers") or [] if f != TRACKING_FINALIZER
                ]
                if finalizers:
                    meta(live)["finalizers"] = finalizers
                else:
                    meta(live).pop("finalizers", None)
                return live

            try:
                await self.client.mutate(
                    "v1", "Pod", meta(pod)["name"], drop, meta(pod)["namespace"]
                )
            except errors.NotFound:
                done.add(uid)
                continue
            except errors.ApiError as exc:
                log.warning("job %s: removing the finalizer of pod %s: %s", key, uid, exc)
                continue
            self._removing[key].add(uid)
            done.add(uid)
        return done

    async def _delete(self, key: str, job: Obj, pods: list[Obj]) -> None:
        if not pods:
            return
        self.expectations.expect_deletions(key, [key_of(p) for p in pods])
        for pod in pods:
            try:
                await self.pods.delete(job, pod)
            except errors.ApiError:
                self.expectations.deletion_observed(key, key_of(pod))

    async def _create(
        self,
        key: str,
        job: Obj,
        batch: list[int | None],
        counts: dict[int, tuple[int, int]],
    ) -> str | None:
        if not batch:
            return None
        self.expectations.expect_creations(key, len(batch))
        for done, index in enumerate(batch):
            failures = counts.get(index) if index is not None else None
            try:
                await self.pods.create(job, new_pod(job, index, failures))
            except errors.ApiError as exc:
                self.expectations.lower_creations(key, len(batch) - done)
                return exc.message
        return None

    # ---- backoff ---------------------------------------------------------------------

    def _note_backoff(self, key: str, flushed: tracking.Flushed) -> None:
        record = self._backoff.setdefault(key, _Backoff())
        if flushed.succeeded:
            record.failures = 0
        if flushed.failed:
            record.failures += flushed.failed
            record.last = self.clock()

    def _backoff_remaining(self, key: str) -> float:
        record = self._backoff.get(key)
        if record is None or record.failures == 0:
            return 0.0
        delay = min(self.backoff_base_s * 2 ** (record.failures - 1), self.backoff_max_s)
        return max(0.0, record.last + delay - self.clock())
