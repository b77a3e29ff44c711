"""Job controller: a pod whose tracking finalizer is removed has no `finalizers` left.

Upstream never shows `finalizers: []`: the controller drops the emptied list
(and the API server would drop it too, as ObjectMeta's field is omitempty).
"""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness

from kubelite.controllers.job import JobController

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


def make_job(name: str = "work") -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "app:v1"}],
                }
            },
        },
    }


async def run_pending(ctrl: JobController) -> None:
    while len(ctrl.queue):
        key = await ctrl.queue.get()
        await ctrl.reconcile(str(key))
        ctrl.queue.done(key)


async def test_completed_pod_keeps_no_empty_finalizers(h: Harness) -> None:
    ctrl = JobController(clock=h.clock, backoff_base_s=10.0)
    h.bind(ctrl)
    await h.client.create(make_job())
    await h.sync(ctrl, "default/work")
    (pod,) = await h.list("Pod")
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    status = {"phase": "Succeeded"}
    name = pod["metadata"]["name"]
    await h.client.patch("v1", "Pod", name, {"status": status}, "default", subresource="status")
    await h.sync(ctrl, "default/work")
    await h.sync(ctrl, "default/work")
    assert "finalizers" not in (await h.get("Pod", name))["metadata"]


async def test_orphaned_pod_keeps_no_empty_finalizers(h: Harness) -> None:
    ctrl = JobController(clock=h.clock, backoff_base_s=10.0)
    h.bind(ctrl)
    await h.client.create(make_job())
    await h.sync(ctrl, "default/work")
    (pod,) = await h.list("Pod")
    await h.informers.relist(h.client)
    await h.client.delete("batch/v1", "Job", "work", "default", propagation_policy="Orphan")
    await h.informers.relist(h.client)
    await run_pending(ctrl)
    assert "finalizers" not in (await h.get("Pod", pod["metadata"]["name"]))["metadata"]
