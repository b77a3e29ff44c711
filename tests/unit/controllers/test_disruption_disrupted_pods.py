"""Disruption controller: pods the eviction API approved (`status.disruptedPods`)."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, make_pod

from kubelite.controllers.disruption import (
    DELETION_TIMEOUT,
    DisruptionController,
    count_healthy,
    pending_disruptions,
)
from kubelite.controllers.objects import timestamp

pytestmark = pytest.mark.anyio


async def setup(h: Harness, ready: int = 3) -> DisruptionController:
    """Three Ready pods under a budget of minAvailable 2."""
    ctrl = DisruptionController(clock=h.clock)
    h.bind(ctrl)
    await h.create(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 2},
        }
    )
    for i in range(ready):
        await h.set_ready(await h.create(make_pod(f"web-{i}")))
    return ctrl


async def record_disruption(h: Harness, pod: str, at: float) -> None:
    """Play the eviction API: enter `pod` in the budget's disruptedPods."""
    await h.client.patch(
        "policy/v1",
        "PodDisruptionBudget",
        "web",
        {"status": {"disruptedPods": {pod: timestamp(at)}}},
        "default",
        subresource="status",
    )


async def status(h: Harness) -> dict[str, Any]:
    pdb = await h.client.get("policy/v1", "PodDisruptionBudget", "web", "default")
    return pdb["status"]


async def test_an_approved_eviction_counts_as_unhealthy_until_the_pod_goes(h: Harness) -> None:
    ctrl = await setup(h)
    await record_disruption(h, "web-0", h.clock())
    recheck = await h.sync(ctrl)
    got = await status(h)
    # 3 Ready, 1 of them approved for eviction -> healthy 2; desired 2 -> allowed 0
    assert (got["currentHealthy"], got["disruptionsAllowed"]) == (2, 0)
    assert list(got["disruptedPods"]) == ["web-0"]
    assert recheck == DELETION_TIMEOUT  # looked at again when the entry would expire


async def test_the_entry_is_dropped_once_the_pod_is_being_deleted(h: Harness) -> None:
    ctrl = await setup(h)
    await record_disruption(h, "web-0", h.clock())
    await h.client.delete("v1", "Pod", "web-0", "default")  # graceful: deletionTimestamp set
    assert await h.sync(ctrl) is None
    got = await status(h)
    # web-0 is terminating (not healthy): healthy 2, allowed 0, nothing left pending
    assert (got["currentHealthy"], got["disruptionsAllowed"]) == (2, 0)
    assert "disruptedPods" not in got


async def test_the_entry_is_dropped_for_a_pod_that_is_gone(h: Harness) -> None:
    ctrl = await setup(h)
    await record_disruption(h, "ghost", h.clock())
    await h.sync(ctrl)
    got = await status(h)
    assert (got["currentHealthy"], got["disruptionsAllowed"]) == (3, 1)
    assert "disruptedPods" not in got


async def test_an_entry_older_than_the_timeout_expires_with_a_warning(h: Harness) -> None:
    ctrl = await setup(h)
    await record_disruption(h, "web-0", h.clock())
    h.clock.step(DELETION_TIMEOUT + 1)
    assert await h.sync(ctrl) is None
    got = await status(h)
    # the pod was never deleted after all: it counts again -> healthy 3, allowed 1
    assert (got["currentHealthy"], got["disruptionsAllowed"]) == (3, 1)
    assert "disruptedPods" not in got
    assert await h.events("NotDeleted") == [
        "Pod was expected by PDB default/web to be deleted but it wasn't"
    ]


def _pod(name: str, *, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if deleting:
        md["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    cond = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": md, "status": {"conditions": [cond]}}


def test_pending_disruptions_keep_only_live_recent_entries() -> None:
    now = 1_000.0
    pods = [_pod("a"), _pod("b"), _pod("c", deleting=True), _pod("d")]
    recorded = {
        "a": timestamp(now - 30),  # recent: pending, expires in 120 - 30 = 90 s
        "b": timestamp(now - DELETION_TIMEOUT - 5),  # too old: expired
        "c": timestamp(now),  # already being deleted: done
        "gone": timestamp(now),  # no such pod: done
    }
    got = pending_disruptions(pods, recorded, now)
    assert got.pending == {"a": recorded["a"]}
    assert [p["metadata"]["name"] for p in got.expired] == ["b"]
    assert got.recheck_after == 90
    # healthy: b and d (a is pending, c is deleting)
    assert count_healthy(pods, got.pending) == 2
