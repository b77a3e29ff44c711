"""The platform traces itself: pod lives and Deployment rollouts as spans in the collector.

:class:`PlatformTracer` watches Pods, Events, Deployments and ReplicaSets through
the API client it is handed (like any other part, it knows the rest of the
cluster only through the API) and writes the spans built by
:mod:`kubelite.tracing.platform_spans` into the collector's own store, so the same
trace search shows "why is this request slow" and "why is this rollout slow".

A trace is written once, when it is complete (the pod is Ready, or gone or
terminal first; the rollout finished), after a short grace period for the Events
that describe it (the scheduler's ``Scheduled`` event may land just after the
pod's Ready). Ids derive from uids, and before writing a trace the tracer asks the
store whether that trace is already there, so a restart does not write it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from kubelite.tracing import platform_spans as ps
from kubelite.tracing.model import Span

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S: Final = 1.0
EVENT_GRACE_S: Final = 2.0  # how long a finished trace waits for its late Events
RS_WAIT_S: Final = 30.0  # how long a complete rollout waits for its ReplicaSet
EVENT_MAX_AGE_S: Final = 3600.0  # Events about objects never seen are forgotten then
_EVENT_REASONS: Final = frozenset({"Scheduled", "Pulled", "ScalingReplicaSet"})

Obj = dict[str, Any]


class SpanSink(Protocol):
    """What the tracer needs of the span store."""

    max_age_s: float

    async def ingest_async(self, spans: list[Span]) -> int: ...

    def get_trace(self, trace_id: str) -> list[Span]: ...


@dataclass
class _PodState:
    pod: Obj
    trace_id: str
    observed: ps.PodMilestones = field(default_factory=ps.PodMilestones)
    deleted_at: float | None = None
    complete_at: float | None = None  # when the tracer first saw the trace complete


@dataclass
class _RolloutState:
    """A rollout seen complete, as it was then."""

    complete_at: float  # when the tracer first saw it complete
    deployment: Obj
    revision: str
    done: float  # completion as the Deployment's status stamps it


class PlatformTracer:
    """Watches the API and writes pod-life and rollout traces; see the module docstring."""

    name = "platform-tracer"

    def __init__(self, store: SpanSink, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.pods: dict[str, _PodState] = {}
        self.events: dict[str, dict[str, Obj]] = defaultdict(dict)  # involved uid -> event uid
        self.deployments: dict[str, Obj] = {}
        self.replica_sets: dict[str, Obj] = {}
        self.rollouts: dict[str, _RolloutState] = {}  # trace id -> complete, not written
        self.first_seen: dict[str, float] = {}  # ReplicaSet uid -> when the tracer saw it
        self.written: set[str] = set()  # trace ids written (or found in the store)

    # -- folding watch events ---------------------------------------------------

    def apply_pod(self, kind: str, pod: Obj) -> None:
        uid = pod.get("metadata", {}).get("uid")
        if not uid:
            return
        now = self.clock()
        state = self.pods.get(uid)
        if kind == "DELETED":
            if state is not None:
                state.pod, state.deleted_at = pod, now
            return
        if state is None:
            state = self.pods[uid] = _PodState(pod, ps.pod_trace_id(uid))
        state.pod = pod
        seen = state.observed
        if seen.scheduled is None and ps.is_scheduled(pod):
            seen.scheduled = now
        if seen.started is None and ps.latest_start(pod) is not None:
            seen.started = now
        if seen.ready is None and ps.is_ready(pod):
            seen.ready = now
        if seen.finished is None and ps.is_finished(pod):
            seen.finished = now

    def apply_event(self, kind: str, event: Obj) -> None:
        if kind == "DELETED" or event.get("reason") not in _EVENT_REASONS:
            return
        involved = event.get("involvedObject") or event.get("regarding") or {}
        uid, event_uid = involved.get("uid"), event.get("metadata", {}).get("uid")
        if uid and event_uid:
            self.events[uid][event_uid] = event

    def apply_deployment(self, kind: str, deployment: Obj) -> None:
        uid = deployment.get("metadata", {}).get("uid")
        if not uid:
            return
        if kind == "DELETED":
            self.deployments.pop(uid, None)
            self.events.pop(uid, None)
            return
        self.deployments[uid] = deployment
        self._note_complete_rollout(deployment)

    def apply_replica_set(self, kind: str, replica_set: Obj) -> None:
        uid = replica_set.get("metadata", {}).get("uid")
        if not uid:
            return
        if kind == "DELETED":
            self.replica_sets.pop(uid, None)
            self.first_seen.pop(uid, None)
        else:
            self.replica_sets[uid] = replica_set
            self.first_seen.setdefault(uid, self.clock())

    # -- deciding what is complete --------------------------------------------------

    def complete_traces(self) -> list[list[Span]]:
        """Traces complete and past their grace period, not yet written; forgets the done."""
        now = self.clock()
        traces = [*self._pod_traces(now), *self._rollout_traces(now)]
        self._forget_stale_events(now)
        return traces

    def _pod_traces(self, now: float) -> list[list[Span]]:
        traces = []
        for uid, state in list(self.pods.items()):
            trace_id = state.trace_id
            if trace_id in self.written:  # most pods, every second: the cheap test first
                self._drop_pod_if_gone(uid, state, trace_id)
                continue
            if not (
                ps.is_ready(state.pod) or ps.is_finished(state.pod) or state.deleted_at is not None
            ):
                continue
            if state.complete_at is None:
                state.complete_at = now
            events = list(self.events.get(uid, {}).values())
            if not self._settled(state, events, now):
                continue
            ended = state.observed.finished or state.deleted_at
            spans = ps.pod_spans(state.pod, events, state.observed, ended=ended)
            if spans and not self._too_old(spans):
                traces.append(spans)
            self.written.add(trace_id)
            self._drop_pod_if_gone(uid, state, trace_id)
        return traces

    def _settled(self, state: _PodState, events: list[Obj], now: float) -> bool:
        """A scheduled pod waits (briefly) for the Scheduled event that carries its score."""
        has_scheduled = any(e.get("reason") == "Scheduled" for e in events)
        if has_scheduled or not ps.is_scheduled(state.pod):
            return True
        return now - (state.complete_at or now) >= EVENT_GRACE_S

    def _drop_pod_if_gone(self, uid: str, state: _PodState, trace_id: str) -> None:
        if state.deleted_at is not None and trace_id in self.written:
            del self.pods[uid]
            self.events.pop(uid, None)
            self.written.discard(trace_id)  # the uid never comes back

    def _rollout_traces(self, now: float) -> list[list[Span]]:
        """Rollouts seen complete (kept as they were: the Deployment may move on to the
        next revision at once), written once past the grace period."""
        traces = []
        for trace_id, state in list(self.rollouts.items()):
            if now - state.complete_at < EVENT_GRACE_S:
                continue
            uid = state.deployment["metadata"]["uid"]
            replica_set = self._replica_set_of(uid, state.revision)
            if replica_set is None and now - state.complete_at < RS_WAIT_S:
                continue  # its ReplicaSet may not have reached the tracer yet
            del self.rollouts[trace_id]
            self.written.add(trace_id)
            if replica_set is None:
                continue
            started = self.first_seen.get(replica_set["metadata"].get("uid", ""))
            rollout = ps.Rollout(
                state.deployment,
                replica_set,
                state.revision,
                steps=list(self.events.get(uid, {}).values()),
                observed_start=started,
            )
            spans = ps.rollout_spans(rollout, ps.refine(state.done, state.complete_at) or now)
            if spans and not self._too_old(spans):
                traces.append(spans)
        return traces

    def _replica_set_of(self, deployment_uid: str, revision: str) -> Obj | None:
        for replica_set in self.replica_sets.values():
            owners = replica_set.get("metadata", {}).get("ownerReferences") or ()
            if ps.revision_of(replica_set) == revision and any(
                o.get("controller") and o.get("uid") == deployment_uid for o in owners
            ):
                return replica_set
        return None

    def _note_complete_rollout(self, deployment: Obj) -> None:
        """Remember a rollout the moment it is seen complete (the next update may start
        another)."""
        revision = ps.revision_of(deployment)
        done = ps.rollout_complete(deployment)
        if revision is None or done is None:
            return
        trace_id = ps.rollout_trace_id(deployment["metadata"]["uid"], revision)
        if trace_id not in self.written and trace_id not in self.rollouts:
            self.rollouts[trace_id] = _RolloutState(self.clock(), deployment, revision, done)

    def _too_old(self, spans: list[Span]) -> bool:
        """Spans retention would drop at once (an old pod seen at startup): not written."""
        oldest_kept_us = (self.clock() - self.store.max_age_s) * 1_000_000
        return all(span.get("timestamp", 0) < oldest_kept_us for span in spans)

    def _forget_stale_events(self, now: float) -> None:
        known = self.pods.keys() | self.deployments.keys()
        for uid in [uid for uid in self.events if uid not in known]:
            times = [ps.event_time(e) or 0.0 for e in self.events[uid].values()]
            if now - max(times, default=0.0) > EVENT_MAX_AGE_S:
                del self.events[uid]

    # -- writing ---------------------------------------------------------------------

    async def flush(self) -> int:
        """Write every complete trace not already in the store; returns spans written."""
        written = 0
        for spans in self.complete_traces():
            trace_id = spans[0]["traceId"]
            stored = await asyncio.to_thread(self.store.get_trace, trace_id)
            have = {span["id"] for span in stored}
            fresh = [span for span in spans if span["id"] not in have]
            if fresh:
                written += await self.store.ingest_async(fresh)
        return written

    # -- running ------------------------------------------------------------------------

    async def run(self, client: Any) -> None:
        """Follow the four kinds and flush once a second, until cancelled."""
        watches: list[tuple[str, str, Callable[[str, Obj], None]]] = [
            ("v1", "Event", self.apply_event),
            ("apps/v1", "ReplicaSet", self.apply_replica_set),
            ("apps/v1", "Deployment", self.apply_deployment),
            ("v1", "Pod", self.apply_pod),
        ]
        async with asyncio.TaskGroup() as group:
            for api_version, kind, apply in watches:
                group.create_task(_keep(_following(client, api_version, kind, apply)))
            group.create_task(_keep(self._flush_forever))

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush()


def _following(
    client: Any, api_version: str, kind: str, apply: Callable[[str, Obj], None]
) -> Callable[[], Awaitable[None]]:
    return lambda: _follow(client, api_version, kind, apply)


async def _keep(run: Callable[[], Awaitable[None]]) -> None:
    """Run ``run`` again after an unexpected error: tracing never stops the cluster."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("platform tracing failed; retrying")
        await asyncio.sleep(1.0)


async def _follow(
    client: Any, api_version: str, kind: str, apply: Callable[[str, Obj], None]
) -> None:
    """List then watch ``kind``; on expiry relist, reporting vanished objects as deleted."""
    known: dict[str, Obj] = {}

    async def relist() -> str:
        nonlocal known
        items, revision = await client.list(api_version, kind)
        fresh = {item["metadata"]["uid"]: item for item in items if item["metadata"].get("uid")}
        for uid in known.keys() - fresh.keys():
            apply("DELETED", known[uid])
        known = fresh if kind != "Event" else {}  # deleted Events mean nothing here
        for item in items:
            apply("ADDED", item)
        return str(revision)

    revision = await relist()
    while True:
        expired = False
        async for event_type, obj in client.watch(api_version, kind, resource_version=revision):
            if event_type == "ERROR":
                expired = True
                break
            meta = obj.get("metadata", {})
            if event_type != "BOOKMARK":
                apply(event_type, obj)
                uid = meta.get("uid")
                if uid and kind != "Event":
                    if event_type == "DELETED":
                        known.pop(uid, None)
                    else:
                        known[uid] = obj
            revision = meta.get("resourceVersion") or revision
        if expired:
            revision = await relist()
