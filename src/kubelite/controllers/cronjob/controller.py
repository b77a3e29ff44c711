"""The CronJob controller: run a CronJob's Job at each start of its schedule.

Level-triggered over the CronJob and Job informers, as upstream's
ControllerV2. A sync prunes finished Jobs beyond the history limits, folds
what the Jobs did into the status (`active.py`), decides about the schedule
(`plan.py`), creates the Job for a due start (deleting the running ones first
under Replace), writes the status once, and asks to be woken just after the
next start instead of polling. Job events wake the owning CronJob; a change
of schedule or time zone wakes it at the new schedule's next start.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.cronjob import notes
from kubelite.controllers.cronjob.active import (
    dangling_refs,
    fold_finished,
    in_active,
    remove_active,
    unlisted_running,
)
from kubelite.controllers.cronjob.history import jobs_to_prune
from kubelite.controllers.cronjob.jobs import job_from_template, object_reference
from kubelite.controllers.cronjob.notes import Note
from kubelite.controllers.cronjob.plan import Plan, plan_start, schedule_bounds
from kubelite.controllers.cronjob.schedule import at, next_schedule_delay, parse_schedule
from kubelite.controllers.cronjob.zones import ZoneError, annotation_zone, zone_of
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    copy,
    key_of,
    meta,
    namespace_terminating,
    owner_key,
    timestamp,
)

log = logging.getLogger(__name__)

NAME = "cronjob-controller"
BATCH = "batch/v1"


class CronJobController(Controller):
    name = NAME
    workers = 5  # kube-controller-manager's --concurrent-cron-job-syncs

    def setup(self) -> None:
        self.cronjobs: Informer = self.informers.informer(BATCH, "CronJob")
        self.jobs: Informer = self.informers.informer(BATCH, "Job")
        self.cronjobs.add_handlers(
            Handlers(
                on_add=lambda cj: self.enqueue(key_of(cj)),
                on_update=self._cronjob_updated,
                on_delete=lambda cj: self.enqueue(key_of(cj)),
            )
        )
        self.jobs.add_handlers(
            Handlers(on_add=self._job_added, on_update=self._job_updated, on_delete=self._job_seen)
        )

    # ---- event handlers: enqueue keys only ------------------------------------------

    def _owner_key(self, job: Obj) -> str | None:
        return owner_key(job, "CronJob", self.cronjobs)

    def _job_seen(self, job: Obj) -> None:
        key = self._owner_key(job)
        if key is not None:
            self.enqueue(key)

    def _job_added(self, job: Obj) -> None:
        self._job_seen(job)

    def _job_updated(self, old: Obj, job: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(job).get("resourceVersion"):
            return  # a resync: nothing happened to this Job
        old_ref, ref = controller_ref(old), controller_ref(job)
        if old_ref != ref:
            old_key = self._owner_key(old)
            if old_key is not None:
                self.enqueue(old_key)
        self._job_seen(job)

    def _cronjob_updated(self, old: Obj, cj: Obj) -> None:
        """A new schedule or zone is first looked at when it next comes due, as upstream."""
        before, after = old.get("spec") or {}, cj.get("spec") or {}
        same = before.get("schedule") == after.get("schedule")
        if same and before.get("timeZone") == after.get("timeZone"):
            self.enqueue(key_of(cj))
            return
        delay = self._next_delay(cj)
        if delay is None:
            self.enqueue(key_of(cj))  # the sync reports what is wrong with it
        else:
            self.queue.add_after(key_of(cj), delay)

    def _next_delay(self, cj: Obj) -> float | None:
        spec = cj.get("spec") or {}
        try:
            schedule = parse_schedule(
                str(spec.get("schedule") or ""), zone_of(spec.get("timeZone"))
            )
        except (ValueError, ZoneError):
            return None
        created, last = schedule_bounds(cj)
        return next_schedule_delay(
            schedule, now=at(self.clock()), created=created, last_scheduled=last
        )

    # ---- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.cronjobs.get(key)
        if cached is None:
            return None
        cj = copy(cached)
        jobs = self._jobs_of(cj)
        await self._prune(cj, jobs)
        cj = await self._fold_status(cj, jobs)
        plan = plan_start(cj, now=at(self.clock()), parse=parse_schedule)
        await self._record(cj, plan.notes)
        try:
            if plan.start is not None:
                await self._start(cj, plan)
        finally:
            # Whatever was done before a failure (a Job deleted under Replace)
            # is still written down.
            await self._write_status(cj, cached)
        return plan.requeue_s

    def _jobs_of(self, cj: Obj) -> list[Obj]:
        """Jobs whose controller is this CronJob, whatever their labels say now."""
        uid, ns = str(meta(cj).get("uid")), meta(cj).get("namespace")
        return [
            j
            for j in self.jobs.owned_by(uid)
            if meta(j).get("namespace") == ns and (controller_ref(j) or {}).get("uid") == uid
        ]

    async def _record(self, cj: Obj, said: list[Note]) -> None:
        for note in said:
            await self.recorder.event(cj, note.type, note.reason, note.message)

    # ---- history -----------------------------------------------------------------------

    async def _prune(self, cj: Obj, jobs: list[Obj]) -> None:
        for job in jobs_to_prune(cj, jobs):
            await self._delete_job(cj, job)

    async def _delete_job(self, cj: Obj, job: Obj) -> bool:
        """Delete a Job and its pods (background propagation); False if that failed."""
        name = meta(job)["name"]
        try:
            await self.client.delete(
                BATCH, "Job", name, meta(job).get("namespace"), propagation_policy="Background"
            )
        except errors.NotFound:
            remove_active(cj, meta(job).get("uid"))
            return True
        except errors.ApiError as exc:
            log.warning("cronjob %s: deleting job %s failed: %s", key_of(cj), name, exc.message)
            await self._record(cj, [notes.failed_delete(exc.message)])
            return False
        remove_active(cj, meta(job).get("uid"))
        await self._record(cj, [notes.successful_delete(name)])
        return True

    # ---- status from the Jobs -----------------------------------------------------------

    async def _fold_status(self, cj: Obj, jobs: list[Obj]) -> Obj:
        """The status with what the Jobs did; maybe on a fresher CronJob than the cache's."""
        unlisted = unlisted_running(cj, jobs)
        if unlisted:
            # The cache may lag behind our own last status write: ask the API.
            fresh = await self.client.get_or_none(
                BATCH, "CronJob", meta(cj)["name"], meta(cj).get("namespace")
            )
            if fresh is not None and any(in_active(fresh, meta(j).get("uid")) for j in unlisted):
                cj = copy(fresh)
        said = [
            notes.unexpected_job(meta(j)["name"])
            for j in unlisted
            if not in_active(cj, meta(j).get("uid"))
        ]
        said += fold_finished(cj, jobs)
        for ref in dangling_refs(cj, jobs):
            found = await self.client.get_or_none(BATCH, "Job", ref["name"], ref.get("namespace"))
            if found is None:
                said.append(notes.missing_job(ref["name"]))
                remove_active(cj, ref.get("uid"))
        await self._record(cj, said)
        return cj

    # ---- a start -------------------------------------------------------------------------

    async def _start(self, cj: Obj, plan: Plan) -> None:
        """Create the Job for `plan.start` and list it as active."""
        assert plan.start is not None
        await self._replace(cj, plan.replace)
        ns = meta(cj).get("namespace")
        job = job_from_template(cj, plan.start, annotation_zone(_zone_name(cj)))
        try:
            created = await self.client.create(job, ns)
        except errors.AlreadyExists:
            existing = await self._adoptable(cj, meta(job)["name"])
            if existing is None:
                return
            created = existing
        except errors.ApiError as exc:
            if not namespace_terminating(exc):
                await self._record(cj, [notes.failed_create(exc.message)])
            raise
        else:
            await self._record(cj, [notes.successful_create(meta(created)["name"])])
        _mark_started(cj, created, plan.start)

    async def _replace(self, cj: Obj, refs: list[dict[str, Any]]) -> None:
        for ref in refs:
            try:
                job = await self.client.get(BATCH, "Job", ref["name"], ref.get("namespace"))
            except errors.ApiError as exc:
                await self._record(cj, [notes.failed_get(exc.message)])
                raise
            if not await self._delete_job(cj, job):
                raise RuntimeError(f"could not replace job {ref.get('namespace')}/{ref['name']}")

    async def _adoptable(self, cj: Obj, name: str) -> Obj | None:
        """The Job a lost status write left behind: ours and not listed, else None."""
        job = await self.client.get(BATCH, "Job", name, meta(cj).get("namespace"))
        ref = controller_ref(job) or {}
        if ref.get("uid") != meta(cj).get("uid") or in_active(cj, meta(job).get("uid")):
            return None
        log.info("cronjob %s: job %s already exists", key_of(cj), name)
        return job

    async def _write_status(self, cj: Obj, cached: Obj) -> None:
        """One write per sync, if anything changed, against the version read.

        A conflict fails the sync, which is retried on fresh state.
        """
        cj["status"] = _wire_status(cj.get("status") or {})
        if cj["status"] == _wire_status(cached.get("status") or {}):
            return
        try:
            await self.client.update(cj, subresource="status")
        except errors.NotFound:
            return


def _wire_status(status: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty: an empty active list is left out."""
    return {k: v for k, v in status.items() if v not in (None, [])}


def _zone_name(cj: Obj) -> str | None:
    zone = (cj.get("spec") or {}).get("timeZone")
    return None if zone is None else str(zone)


def _mark_started(cj: Obj, job: Obj, start: datetime) -> None:
    status = cj.setdefault("status", {})
    status["active"] = [*(status.get("active") or []), object_reference(job)]
    status["lastScheduleTime"] = timestamp(start.timestamp())
