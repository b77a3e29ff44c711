"""Backoff limit per index: an Indexed Job's indexes fail on their own.

With `spec.backoffLimitPerIndex`, each pod carries how often its index
failed before it (`batch.kubernetes.io/job-index-failure-count`, and the
failures a podFailurePolicy Ignore rule let pass in
`...-ignored-failure-count`). An index whose failures exceed the limit, or
whose pod matched a FailIndex rule, is failed for good: it is listed in
`status.failedIndexes` and never started again. Failed pods stay in the API,
so the counts are recomputed from them on every sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.controllers.job import indexes
from kubelite.controllers.job.pods import (
    INDEX_FAILURE_COUNT,
    INDEX_IGNORED_FAILURE_COUNT,
    is_failed,
    match_failure_policy,
    spec_of,
)
from kubelite.controllers.objects import Obj, meta, parse_time


def per_index(job: Mapping[str, Any]) -> bool:
    spec = spec_of(job)
    return spec.get("completionMode") == "Indexed" and spec.get("backoffLimitPerIndex") is not None


def _annotation(pod: Mapping[str, Any], key: str) -> int:
    try:
        return max(0, int(str((meta(pod).get("annotations") or {}).get(key, "0"))))
    except ValueError:
        return 0


@dataclass(frozen=True)
class IndexState:
    failures: int = 0
    ignored: int = 0
    failed: bool = False  # past its limit, or a FailIndex rule matched
    last_failure: float | None = None


def _finished_at(pod: Mapping[str, Any]) -> float | None:
    times = [
        parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def index_states(job: Obj, pods: list[Obj]) -> dict[int, IndexState]:
    """What each index's pods say about its failures so far."""
    limit = int(spec_of(job).get("backoffLimitPerIndex") or 0)
    completions = int(spec_of(job).get("completions") or 0)
    out: dict[int, IndexState] = {}
    for pod in pods:
        index = indexes.pod_index(pod)
        if not 0 <= index < completions:
            continue
        failures = _annotation(pod, INDEX_FAILURE_COUNT)
        ignored = _annotation(pod, INDEX_IGNORED_FAILURE_COUNT)
        failed, last = False, None
        if is_failed(pod, job):
            match = match_failure_policy(job, pod)
            action = match.action if match is not None else "Count"
            if action == "Ignore":
                ignored += 1
            else:
                failures += 1
            failed = action == "FailIndex" or failures > limit
            last = _finished_at(pod)
        old = out.get(index, IndexState())
        out[index] = IndexState(
            failures=max(old.failures, failures),
            ignored=max(old.ignored, ignored),
            failed=old.failed or failed,
            last_failure=max((t for t in (old.last_failure, last) if t is not None), default=None),
        )
    return out


def failed_indexes(job: Obj, status: Mapping[str, Any], states: dict[int, IndexState]) -> set[int]:
    completions = int(spec_of(job).get("completions") or 0)
    known = indexes.parse(str(status.get("failedIndexes") or ""), completions)
    return known | {i for i, s in states.items() if s.failed}


def creation_delay(state: IndexState, *, base: float, cap: float, now: float) -> float:
    """Seconds until a replacement for this index may start (0: now)."""
    if state.failures + state.ignored == 0 or state.last_failure is None:
        return 0.0
    delay = min(base * 2 ** (state.failures + state.ignored - 1), cap)
    return max(0.0, state.last_failure + delay - now)
