"""PlatformTracer: watch events in, each complete trace written once, restarts included."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from platform_builders import T0, deployment, event, pod, replica_set
from tracing_builders import FakeClock

from kubelite.tracing import SpanStore
from kubelite.tracing import platform_spans as ps
from kubelite.tracing.platform import EVENT_GRACE_S, PlatformTracer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + 5.5)


@pytest.fixture
def span_store(tmp_path: Path, clock: FakeClock) -> Any:
    store = SpanStore(tmp_path / "spans.db", clock=clock)
    yield store
    store.close()


def flush(tracer: PlatformTracer) -> int:
    return asyncio.run(tracer.flush())


def names(store: SpanStore, trace_id: str) -> list[str]:
    return sorted(span["name"] for span in store.get_trace(trace_id))


def test_a_ready_pod_is_written_once_with_the_score_of_its_scheduled_event(
    span_store: SpanStore, clock: FakeClock
) -> None:
    tracer = PlatformTracer(span_store, clock=clock)
    tracer.apply_pod("ADDED", pod(started=None, ready=None))
    assert flush(tracer) == 0  # not ready: nothing yet
    tracer.apply_pod("MODIFIED", pod())
    tracer.apply_event("ADDED", event("Scheduled", 1, annotations={"kubelite.io/score": "42"}))

    assert flush(tracer) == 4  # root, schedule, start, ready
    assert flush(tracer) == 0  # written once
    trace_id = ps.pod_trace_id("pod-uid-1")
    assert names(span_store, trace_id) == ["pod default/web-1", "ready", "schedule", "start"]
    schedule = next(s for s in span_store.get_trace(trace_id) if s["name"] == "schedule")
    assert schedule["tags"]["score"] == "42"


def test_a_ready_pod_waits_briefly_for_its_scheduled_event(
    span_store: SpanStore, clock: FakeClock
) -> None:
    tracer = PlatformTracer(span_store, clock=clock)
    tracer.apply_pod("ADDED", pod())

    assert flush(tracer) == 0  # the Scheduled event may still be on its way
    clock.advance(EVENT_GRACE_S)
    assert flush(tracer) == 4  # it never came: written without a score
    schedule = next(
        s for s in span_store.get_trace(ps.pod_trace_id("pod-uid-1")) if s["name"] == "schedule"
    )
    assert "score" not in schedule["tags"]


def test_a_restarted_tracer_does_not_write_a_stored_trace_again(
    span_store: SpanStore, clock: FakeClock
) -> None:
    first = PlatformTracer(span_store, clock=clock)
    first.apply_pod("ADDED", pod())
    first.apply_event("ADDED", event("Scheduled", 1))
    assert flush(first) == 4

    second = PlatformTracer(span_store, clock=clock)  # a new process: nothing in memory
    second.apply_pod("ADDED", pod())
    second.apply_event("ADDED", event("Scheduled", 1))
    assert flush(second) == 0
    assert span_store.count() == 4


def test_a_pod_deleted_before_ready_ends_its_trace_and_is_forgotten(
    span_store: SpanStore, clock: FakeClock
) -> None:
    tracer = PlatformTracer(span_store, clock=clock)
    gone = pod(ready=None)
    tracer.apply_pod("ADDED", gone)
    tracer.apply_event("ADDED", event("Scheduled", 1))
    tracer.apply_pod("DELETED", gone)

    assert flush(tracer) == 3  # root (ended at deletion), schedule, start
    root = next(
        s for s in span_store.get_trace(ps.pod_trace_id("pod-uid-1")) if "parentId" not in s
    )
    assert root["tags"]["error"] == "not ready"
    assert tracer.pods == {} and "pod-uid-1" not in tracer.events


def test_pods_too_old_for_retention_are_not_written(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", clock=clock, max_age_s=60)
    clock.advance(3600)  # the pod became ready an hour ago
    tracer = PlatformTracer(store, clock=clock)
    tracer.apply_pod("ADDED", pod())
    tracer.apply_event("ADDED", event("Scheduled", 1))

    assert flush(tracer) == 0
    store.close()


def test_a_finished_rollout_is_written_with_its_steps(
    span_store: SpanStore, clock: FakeClock
) -> None:
    clock.now = T0 + 10.5
    tracer = PlatformTracer(span_store, clock=clock)
    tracer.apply_replica_set("ADDED", replica_set(revision="1"))
    tracer.apply_deployment("ADDED", deployment(complete_at=None))
    for at, message in [(0, "Scaled up replica set web-1 to 1"), (3, "... to 2 from 1")]:
        tracer.apply_event(
            "ADDED",
            event(
                "ScalingReplicaSet",
                at,
                kind="Deployment",
                involved_uid="dep-uid-1",
                message=message,
            ),
        )
    assert flush(tracer) == 0  # still rolling out
    tracer.apply_deployment("MODIFIED", deployment(complete_at=10))
    assert flush(tracer) == 0  # complete: a grace period for late Events
    clock.advance(EVENT_GRACE_S)

    assert flush(tracer) == 3
    trace_id = ps.rollout_trace_id("dep-uid-1", "1")
    assert names(span_store, trace_id) == ["rollout default/web", "scale up", "scale up"]
    clock.advance(60)
    assert flush(tracer) == 0  # once


def test_a_new_revision_is_a_new_rollout_trace(span_store: SpanStore, clock: FakeClock) -> None:
    tracer = PlatformTracer(span_store, clock=clock)
    clock.now = T0 + 10
    tracer.apply_replica_set("ADDED", replica_set(revision="1"))
    tracer.apply_deployment("ADDED", deployment(revision="1", complete_at=10))
    flush(tracer)
    clock.advance(EVENT_GRACE_S)
    assert flush(tracer) == 1
    clock.now = T0 + 20
    tracer.apply_replica_set("ADDED", replica_set(uid="rs-2", revision="2", created=20))
    clock.now = T0 + 25
    tracer.apply_deployment("MODIFIED", deployment(revision="2", complete_at=25, generation=2))
    assert flush(tracer) == 0
    clock.advance(EVENT_GRACE_S)

    assert flush(tracer) == 1
    assert span_store.get_trace(ps.rollout_trace_id("dep-uid-1", "2"))[0]["tags"]["revision"] == "2"


def test_events_of_other_reasons_are_ignored(span_store: SpanStore, clock: FakeClock) -> None:
    tracer = PlatformTracer(span_store, clock=clock)
    tracer.apply_event("ADDED", event("BackOff", 1))
    tracer.apply_event("ADDED", event("Pulled", 1))
    assert list(tracer.events["pod-uid-1"].values())[0]["reason"] == "Pulled"
    assert len(tracer.events["pod-uid-1"]) == 1


class FakeClient:
    """list/watch over fixed objects; the watch then stays open until cancelled."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects

    async def list(self, api_version: str, kind: str) -> tuple[list[dict[str, Any]], str]:
        return list(self.objects.get(kind, [])), "7"

    async def watch(self, api_version: str, kind: str, *, resource_version: str | None = None):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()
        yield "BOOKMARK", {}


def test_run_lists_every_kind_and_writes_complete_traces(
    span_store: SpanStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kubelite.tracing.platform.FLUSH_INTERVAL_S", 0.01)
    client = FakeClient({"Pod": [pod()], "Event": [event("Scheduled", 1)]})
    tracer = PlatformTracer(span_store, clock=clock)

    async def scenario() -> int:
        task = asyncio.create_task(tracer.run(client))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if span_store.count():
                break
        task.cancel()
        return span_store.count()

    assert asyncio.run(scenario()) == 4


def test_a_rollout_superseded_right_after_it_completed_is_still_written(
    span_store: SpanStore, clock: FakeClock
) -> None:
    clock.now = T0 + 10
    tracer = PlatformTracer(span_store, clock=clock)
    tracer.apply_replica_set("ADDED", replica_set(revision="1"))
    tracer.apply_deployment("ADDED", deployment(revision="1", complete_at=10))
    assert flush(tracer) == 0  # seen complete; waiting for late Events
    tracer.apply_replica_set("ADDED", replica_set(uid="rs-2", revision="2", created=11))
    tracer.apply_deployment("MODIFIED", deployment(revision="2", complete_at=None, generation=2))
    clock.advance(EVENT_GRACE_S)

    assert flush(tracer) == 1
    assert span_store.get_trace(ps.rollout_trace_id("dep-uid-1", "1"))
    assert not span_store.get_trace(ps.rollout_trace_id("dep-uid-1", "2"))  # still rolling
