"""The scheduler's event recorder: queued, written in batches, bounded as upstream."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.scheduler.recorder import EventRecorder
from kubelite.store import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _event(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"p{i}.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": f"p{i}", "namespace": "default"},
        "reason": "Scheduled",
        "message": f"Successfully assigned default/p{i} to n",
        "type": "Normal",
    }


async def _client(tmp_path: Path) -> tuple[Store, LocalClient]:
    store = Store(tmp_path / "db")
    client = LocalClient(RestStorage(store))
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    return store, client


async def test_recorded_events_are_written_by_the_background_task(tmp_path: Path) -> None:
    store, client = await _client(tmp_path)
    recorder = EventRecorder(client)
    task = asyncio.create_task(recorder.run())
    for i in range(100):  # more than one batch
        recorder.record(_event(i))
    for _ in range(200):
        if not recorder.queue:
            break
        await asyncio.sleep(0.01)
    items, _ = await client.list("v1", "Event", "default")
    assert sorted(e["involvedObject"]["name"] for e in items) == sorted(f"p{i}" for i in range(100))
    task.cancel()
    store.close()


async def test_a_full_queue_drops_as_upstream(tmp_path: Path) -> None:
    store, client = await _client(tmp_path)
    recorder = EventRecorder(client, max_queued=3)
    for i in range(5):
        recorder.record(_event(i))
    assert (len(recorder.queue), recorder.dropped) == (3, 2)
    await recorder.flush()
    items, _ = await client.list("v1", "Event", "default")
    assert len(items) == 3
    store.close()


def _failed(attempt: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"big.{attempt}", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "big", "namespace": "default", "uid": "u1"},
        "reason": "FailedScheduling",
        "action": "Scheduling",
        "message": "0/1 nodes are available: 1 Insufficient cpu.",
        "type": "Warning",
        "firstTimestamp": f"2026-01-01T00:00:0{attempt}Z",
        "lastTimestamp": f"2026-01-01T00:00:0{attempt}Z",
        "eventTime": f"2026-01-01T00:00:0{attempt}.000000Z",
        "count": 1,
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler",
    }


async def test_repeats_become_one_series_as_upstream(tmp_path: Path) -> None:
    store, client = await _client(tmp_path)
    now = [0.0]
    recorder = EventRecorder(client, clock=lambda: now[0])
    for attempt in range(1, 5):  # four identical failures, a second apart
        recorder.record(_failed(attempt))
        now[0] += 1
    await recorder.flush()
    (event,) = (await client.list("v1", "Event", "default"))[0]
    assert event["metadata"]["name"] == "big.1"
    # Written once more when the series starts; later repeats only count in memory.
    assert event["series"] == {"count": 2, "lastObservedTime": "2026-01-01T00:00:02.000000Z"}
    assert (event["count"], event["lastTimestamp"]) == (2, "2026-01-01T00:00:02Z")

    now[0] += 400  # past the series window: a new event
    recorder.record(_failed(9))
    other = _failed(8)
    other["message"] = "0/1 nodes are available: 1 node(s) were unschedulable."
    recorder.record(other)
    await recorder.flush()
    names = sorted(e["metadata"]["name"] for e in (await client.list("v1", "Event", "default"))[0])
    assert names == ["big.1", "big.8", "big.9"]
    store.close()
