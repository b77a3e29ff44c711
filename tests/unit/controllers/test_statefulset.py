"""StatefulSet controller: ordered identity, claims, scale-down order, rolling update."""

from __future__ import annotations

import pytest
from ctl_builders import Harness, drain, template

from kubelite.controllers.statefulset import StatefulSetController

pytestmark = pytest.mark.anyio


def make_sts(replicas: int = 3, **spec: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(),
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
            ],
            **spec,
        },
    }


async def setup(h: Harness, **spec: object) -> StatefulSetController:
    ctrl = StatefulSetController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_sts(**spec))
    return ctrl


async def names(h: Harness) -> list[str]:
    return sorted(p["metadata"]["name"] for p in await h.pods())


async def test_ordered_ready_creates_one_at_a_time(h: Harness) -> None:
    ctrl = await setup(h)
    await h.sync(ctrl)
    await h.sync(ctrl)
    assert await names(h) == ["web-0"]  # web-1 waits for web-0 to be Running and Ready
    pod = await h.get("Pod", "web-0")
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "0"
    assert pod["metadata"]["labels"]["controller-revision-hash"].startswith("web-")
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-0", "web")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}} in pod["spec"]["volumes"]
    await h.set_ready(pod)
    await h.sync(ctrl)
    assert await names(h) == ["web-0", "web-1"]
    await drain(h, ctrl, ready=True)
    assert await names(h) == ["web-0", "web-1", "web-2"]
    assert sorted(c["metadata"]["name"] for c in await h.list("PersistentVolumeClaim")) == ["data-web-0", "data-web-1", "data-web-2"]
    assert (await h.events("SuccessfulCreate"))[:2] == [
        "create Claim data-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
    ]
    status = (await h.get("StatefulSet", "web"))["status"]
    assert (status["replicas"], status["readyReplicas"], status["currentRevision"] == status["updateRevision"]) == (3, 3, True)


async def test_parallel_creates_all_at_once(h: Harness) -> None:
    ctrl = await setup(h, podManagementPolicy="Parallel")
    await h.sync(ctrl)
    assert await names(h) == ["web-0", "web-1", "web-2"]


async def test_scale_down_from_highest_ordinal_keeps_claims(h: Harness) -> None:
    ctrl = await setup(h)
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 1}}, "default")
    await h.sync(ctrl)
    assert [p["metadata"]["name"] for p in await h.pods()] != [] and "web-2" not in await names(h)
    assert "web-1" in await names(h)  # one at a time, highest first
    await drain(h, ctrl, ready=True)
    assert await names(h) == ["web-0"]
    assert len(await h.list("PersistentVolumeClaim")) == 3  # Retain by default


async def test_recreated_pod_gets_same_name_and_claim(h: Harness) -> None:
    ctrl = await setup(h)
    await drain(h, ctrl, ready=True)
    await h.client.delete("v1", "Pod", "web-1", "default", grace_period_seconds=0)
    await drain(h, ctrl, ready=True)
    pod = await h.get("Pod", "web-1")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}} in pod["spec"]["volumes"]


async def test_rolling_update_respects_partition(h: Harness) -> None:
    ctrl = await setup(h, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}, "default")
    await drain(h, ctrl, ready=True)
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in await h.pods()}
    assert images == {"web-0": "app:v1", "web-1": "app:v2", "web-2": "app:v2"}
    status = (await h.get("StatefulSet", "web"))["status"]
    assert status["updatedReplicas"] == 2 and status["currentRevision"] != status["updateRevision"]


async def test_on_delete_waits_for_the_user(h: Harness) -> None:
    ctrl = await setup(h, updateStrategy={"type": "OnDelete"})
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}, "default")
    await drain(h, ctrl, ready=True)
    assert {p["spec"]["containers"][0]["image"] for p in await h.pods()} == {"app:v1"}
    await h.client.delete("v1", "Pod", "web-2", "default", grace_period_seconds=0)
    await drain(h, ctrl, ready=True)
    assert (await h.get("Pod", "web-2"))["spec"]["containers"][0]["image"] == "app:v2"
