"""Resource-quota controller: status.hard mirrors spec.hard, status.used is counted."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, make_pod

from kubelite.controllers.resourcequota import ResourceQuotaController, grace_ends

pytestmark = pytest.mark.anyio


def make_quota(**hard: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "default"},
        "spec": {"hard": hard},
    }


async def status(h: Harness) -> dict[str, Any]:
    return (await h.get("ResourceQuota", "q"))["status"]


async def test_status_mirrors_hard_and_counts_usage(h: Harness) -> None:
    ctrl = ResourceQuotaController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_quota(pods="5", configmaps="3", **{"count/deployments.apps": "2"}))
    await h.create(make_pod("a"))
    await h.create(make_pod("b"))
    await h.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
    )
    await h.sync(ctrl, "default/q")
    assert await status(h) == {
        "hard": {"configmaps": "3", "count/deployments.apps": "2", "pods": "5"},
        # two pods, one ConfigMap, no Deployments (counted as 0, as upstream lists it)
        "used": {"configmaps": "1", "count/deployments.apps": "0", "pods": "2"},
    }


async def test_terminal_pods_stop_counting(h: Harness) -> None:
    ctrl = ResourceQuotaController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_quota(pods="5"))
    pod = await h.create(make_pod("a"))
    pod["status"] = {**pod["status"], "phase": "Succeeded"}
    await h.client.update_status(pod)
    await h.sync(ctrl, "default/q")
    assert (await status(h))["used"] == {"pods": "0"}


async def test_usage_changes_enqueue_the_namespace_quotas(h: Harness) -> None:
    ctrl = ResourceQuotaController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_quota(pods="5"))
    await h.informers.relist(h.client)
    while len(ctrl.queue):
        key = await ctrl.queue.get()
        ctrl.queue.done(key)
    await h.create(make_pod("a"))
    await h.informers.relist(h.client)
    assert len(ctrl.queue) == 1  # the pod's ADDED event asked for the quota


def test_grace_end_is_when_a_deleting_pod_stops_counting() -> None:
    pod = {
        "metadata": {"deletionTimestamp": "2024-01-01T00:00:30Z", "deletionGracePeriodSeconds": 30},
        "status": {"phase": "Running"},
    }
    now = 1704067200.0  # 2024-01-01T00:00:00Z
    # stops counting 30 s after the deletion timestamp: 60 s from now, plus a second's margin
    assert grace_ends([pod], now) == 61.0
    assert grace_ends([pod], now + 100) is None
