"""Which finished Jobs a CronJob lets go: the oldest beyond its history limits.

Successful and failed Jobs are counted apart, against
`successfulJobsHistoryLimit` and `failedJobsHistoryLimit`; a limit left unset
keeps everything (defaulting fills 3 and 1). Running Jobs are never pruned.
"""

from __future__ import annotations

from kubelite.controllers.cronjob.jobs import COMPLETE, FAILED, finished_condition, start_order
from kubelite.controllers.objects import Obj


def jobs_to_prune(cronjob: Obj, jobs: list[Obj]) -> list[Obj]:
    """Finished Jobs past the limits, oldest first."""
    spec = cronjob.get("spec") or {}
    out: list[Obj] = []
    for outcome, field in (
        (COMPLETE, "successfulJobsHistoryLimit"),
        (FAILED, "failedJobsHistoryLimit"),
    ):
        limit = spec.get(field)
        if limit is None:
            continue
        ended = sorted((j for j in jobs if finished_condition(j) == outcome), key=start_order)
        out += ended[: max(0, len(ended) - int(limit))]
    return out
