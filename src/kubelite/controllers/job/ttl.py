"""The TTL-after-finished controller: delete finished Jobs once their time is up.

A Job with `spec.ttlSecondsAfterFinished` that is Complete or Failed is
deleted that many seconds after the terminal condition's transition time,
its pods with it (the garbage collector follows the ownerReferences). As
upstream, the Job is re-read from the API before deleting, so a TTL changed
meanwhile is honoured, and the delete is conditional on the uid.
"""

from __future__ import annotations

import contextlib
import logging

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import Obj, deleting, key_of, meta, parse_time, split_key

log = logging.getLogger(__name__)

NAME = "ttl-after-finished-controller"


def finish_time(job: Obj) -> float | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime"))
    return None


def expires_in(job: Obj, now: float) -> float | None:
    """Seconds until the Job may be deleted (<= 0: now), None when it never expires."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    finished = finish_time(job)
    if ttl is None or finished is None or deleting(job):
        return None
    return finished + float(ttl) - now


class TTLAfterFinishedController(Controller):
    name = NAME
    workers = 2

    def setup(self) -> None:
        self.job_informer: Informer = self.informers.informer("batch/v1", "Job")
        self.job_informer.add_handlers(
            Handlers(
                on_add=self._maybe_enqueue,
                on_update=lambda _old, job: self._maybe_enqueue(job),
            )
        )

    def _maybe_enqueue(self, job: Obj) -> None:
        if expires_in(job, self.clock()) is not None:
            self.enqueue(key_of(job))

    async def reconcile(self, key: str) -> float | None:
        job = self.job_informer.get(key)
        if job is None:
            return None
        left = expires_in(job, self.clock())
        if left is None:
            return None
        if left > 0:
            return left
        ns, name = split_key(key)
        fresh = await self.client.get_or_none("batch/v1", "Job", name, ns)
        if fresh is None:
            return None
        left = expires_in(fresh, self.clock())
        if left is None:
            return None
        if left > 0:
            return left
        log.info("deleting job %s: ttlSecondsAfterFinished has passed", key)
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                "batch/v1",
                "Job",
                name,
                ns,
                propagation_policy="Background",
                preconditions={"uid": meta(fresh).get("uid")},
            )
        return None
