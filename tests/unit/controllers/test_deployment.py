"""Deployment controller driven with the ReplicaSet controller and a simulated kubelet."""

from __future__ import annotations

import pytest
from ctl_builders import Harness, drain, make_deployment

from kubelite.controllers.deployment import DeploymentController
from kubelite.controllers.replicaset import ReplicaSetController

pytestmark = pytest.mark.anyio


async def setup(h: Harness, **spec: object) -> tuple[DeploymentController, ReplicaSetController]:
    dc, rc = DeploymentController(clock=h.clock), ReplicaSetController(clock=h.clock)
    h.bind(dc, rc)
    await h.create(make_deployment(**spec))
    return dc, rc


async def rs_by_revision(h: Harness) -> dict[str, dict]:
    return {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r
        for r in await h.list("ReplicaSet")
    }


def conditions(d: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in d["status"].get("conditions", [])}


async def test_first_sync_creates_new_replica_set(h: Harness) -> None:
    dc, _ = await setup(h)
    await h.sync(dc)
    [rs] = await h.list("ReplicaSet")
    pth = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pth}"
    assert rs["spec"]["replicas"] == 3
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pth}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pth}
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    d = await h.get("Deployment", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert conditions(d)["Progressing"] == ("True", "NewReplicaSetCreated")
    assert await h.events("ScalingReplicaSet") == [f"Scaled up replica set web-{pth} to 3"]


async def test_reaches_complete_status(h: Harness) -> None:
    dc, rc = await setup(h)
    await drain(h, dc, rc, ready=True)
    d = await h.get("Deployment", "web")
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert conditions(d) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    [rs] = await h.list("ReplicaSet")
    msg = [c["message"] for c in d["status"]["conditions"] if c["type"] == "Progressing"][0]
    assert msg == f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'


async def test_rolling_update_stays_within_surge_and_availability(h: Harness) -> None:
    dc, rc = await setup(h, replicas=4)  # 25%: surge 1, unavailable 1
    await drain(h, dc, rc, ready=True)
    await h.client.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
        "default",
    )
    for _ in range(40):
        await drain(h, dc, rc)
        pods = await h.pods()
        ready = [
            p
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
        ]
        assert len(pods) <= 5, "more than replicas + maxSurge"
        assert len(ready) >= 3, "fewer than replicas - maxUnavailable available"
        pending = [p for p in pods if p not in ready]
        if not pending and all(p["spec"]["containers"][0]["image"] == "app:v2" for p in pods):
            break
        for p in pending[:1]:  # one pod becomes ready at a time
            await h.set_ready(p)
    revs = await rs_by_revision(h)
    assert sorted(revs) == ["1", "2"]
    assert revs["1"]["spec"]["replicas"] == 0 and revs["2"]["spec"]["replicas"] == 4
    old, new = revs["1"]["metadata"]["name"], revs["2"]["metadata"]["name"]
    events = await h.events("ScalingReplicaSet")
    assert events[:3] == [
        f"Scaled up replica set {old} to 4",
        f"Scaled up replica set {new} to 1",
        f"Scaled down replica set {old} to 3 from 4",
    ]
    assert events[-1] == f"Scaled down replica set {old} to 0 from 1"


async def test_undo_reuses_old_replica_set(h: Harness) -> None:
    dc, rc = await setup(h)
    await drain(h, dc, rc, ready=True)
    v1_template = (await h.get("Deployment", "web"))["spec"]["template"]
    await h.client.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
        "default",
    )
    await drain(h, dc, rc, ready=True)
    # kubectl rollout undo: the revision-1 template back, as a JSON patch, hash label removed.
    old = (await rs_by_revision(h))["1"]
    template = old["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    template["metadata"]["creationTimestamp"] = None
    await h.client.patch(
        "apps/v1",
        "Deployment",
        "web",
        [{"op": "replace", "path": "/spec/template", "value": template}],
        "default",
        patch_type="json",
    )
    await drain(h, dc, rc, ready=True)
    revs = await rs_by_revision(h)
    assert sorted(revs) == ["2", "3"]
    assert revs["3"]["metadata"]["name"] == old["metadata"]["name"]
    assert revs["3"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert revs["3"]["spec"]["replicas"] == 3 and revs["2"]["spec"]["replicas"] == 0
    assert (await h.get("Deployment", "web"))["spec"]["template"]["spec"]["containers"][0][
        "image"
    ] == v1_template["spec"]["containers"][0]["image"]


@pytest.mark.parametrize(
    "sizes", [pytest.param([5, 2], id="3-5-2"), pytest.param([0, 1], id="3-0-1")]
)
async def test_scale(h: Harness, sizes: list[int]) -> None:
    dc, rc = await setup(h)
    await drain(h, dc, rc, ready=True)
    for n in sizes:
        await h.client.patch(
            "apps/v1", "Deployment", "web", {"spec": {"replicas": n}}, "default", subresource=""
        )
        await drain(h, dc, rc, ready=True)
        assert len(await h.pods()) == n
        d = await h.get("Deployment", "web")
        assert d["status"].get("availableReplicas", 0) == n
    [rs] = await h.list("ReplicaSet")
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == str(
        sizes[-1]
    )


async def test_proportional_scaling_during_rollout(h: Harness) -> None:
    dc, rc = await setup(h, replicas=10)
    await drain(h, dc, rc, ready=True)
    await h.client.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
        "default",
    )
    await drain(h, dc, rc)  # new pods never become ready: the rollout is stuck mid-way
    revs = await rs_by_revision(h)
    assert (revs["1"]["spec"]["replicas"], revs["2"]["spec"]["replicas"]) == (
        8,
        5,
    )  # 10+3 surge, 10-2 unavailable
    await h.client.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 20}}, "default")
    await drain(h, dc, rc)
    revs = await rs_by_revision(h)
    # allowed 20+5=25, 12 to add: old 8*25/13=15.4->15 (+7), new gets the remaining 5
    assert (revs["1"]["spec"]["replicas"], revs["2"]["spec"]["replicas"]) == (15, 10)


async def test_recreate_scales_old_to_zero_before_new(h: Harness) -> None:
    dc, rc = await setup(h, strategy={"type": "Recreate"})
    await drain(h, dc, rc, ready=True)
    await h.client.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
        "default",
    )
    await h.sync(dc)
    assert len(await h.list("ReplicaSet")) == 1  # the old one at 0, no new one yet
    await drain(h, dc, rc)
    assert len(await h.list("ReplicaSet")) == 1  # old pods still terminating
    await drain(h, dc, rc, ready=True)
    revs = await rs_by_revision(h)
    assert (revs["1"]["spec"]["replicas"], revs["2"]["spec"]["replicas"]) == (0, 3)
    assert all(p["spec"]["containers"][0]["image"] == "app:v2" for p in await h.pods())


async def test_progress_deadline_exceeded(h: Harness) -> None:
    dc, rc = await setup(h, progressDeadlineSeconds=30)
    await drain(h, dc, rc)  # pods never become ready (missing image)
    after = await h.sync(dc)
    assert after is not None and 29 <= after <= 31
    h.clock.step(31)
    await h.sync(dc)
    d = await h.get("Deployment", "web")
    assert conditions(d) == {
        "Available": ("False", "MinimumReplicasUnavailable"),
        "Progressing": ("False", "ProgressDeadlineExceeded"),
    }
    [rs] = await h.list("ReplicaSet")
    msg = [c["message"] for c in d["status"]["conditions"] if c["type"] == "Progressing"][0]
    assert msg == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'


async def test_paused_deployment_does_not_roll(h: Harness) -> None:
    dc, rc = await setup(h)
    await drain(h, dc, rc, ready=True)
    await h.client.patch(
        "apps/v1",
        "Deployment",
        "web",
        {
            "spec": {
                "paused": True,
                "template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}},
            }
        },
        "default",
    )
    await drain(h, dc, rc, ready=True)
    assert len(await h.list("ReplicaSet")) == 1
    assert conditions(await h.get("Deployment", "web"))["Progressing"] == (
        "Unknown",
        "DeploymentPaused",
    )
    await h.client.patch("apps/v1", "Deployment", "web", {"spec": {"paused": False}}, "default")
    await drain(h, dc, rc, ready=True)
    assert len(await h.list("ReplicaSet")) == 2
    assert conditions(await h.get("Deployment", "web"))["Progressing"] == (
        "True",
        "NewReplicaSetAvailable",
    )


async def test_revision_history_limit_cleans_old_replica_sets(h: Harness) -> None:
    dc, rc = await setup(h, revisionHistoryLimit=1)
    for image in ("app:v2", "app:v3", "app:v4"):
        await drain(h, dc, rc, ready=True)
        await h.client.patch(
            "apps/v1",
            "Deployment",
            "web",
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
            "default",
        )
    await drain(h, dc, rc, ready=True)
    assert sorted(await rs_by_revision(h)) == ["3", "4"]
