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
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
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
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}} in pod["spec"][
        "volumes"
    ]
    await h.set_ready(pod)
    await h.sync(ctrl)
    assert await names(h) == ["web-0", "web-1"]
    await drain(h, ctrl, ready=True)
    assert await names(h) == ["web-0", "web-1", "web-2"]
    assert sorted(c["metadata"]["name"] for c in await h.list("PersistentVolumeClaim")) == [
        "data-web-0",
        "data-web-1",
        "data-web-2",
    ]
    assert (await h.events("SuccessfulCreate"))[:2] == [
        "create Claim data-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
    ]
    status = (await h.get("StatefulSet", "web"))["status"]
    assert (
        status["replicas"],
        status["readyReplicas"],
        status["currentRevision"] == status["updateRevision"],
    ) == (3, 3, True)


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
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}} in pod["spec"][
        "volumes"
    ]


async def test_rolling_update_respects_partition(h: Harness) -> None:
    ctrl = await setup(
        h, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    )
    await drain(h, ctrl, ready=True)
    await h.client.patch(
        "apps/v1",
        "StatefulSet",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
        "default",
    )
    await drain(h, ctrl, ready=True)
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in await h.pods()}
    assert images == {"web-0": "app:v1", "web-1": "app:v2", "web-2": "app:v2"}
    status = (await h.get("StatefulSet", "web"))["status"]
    assert status["updatedReplicas"] == 2 and status["currentRevision"] != status["updateRevision"]


async def test_on_delete_waits_for_the_user(h: Harness) -> None:
    ctrl = await setup(h, updateStrategy={"type": "OnDelete"})
    await drain(h, ctrl, ready=True)
    await h.client.patch(
        "apps/v1",
        "StatefulSet",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
        "default",
    )
    await drain(h, ctrl, ready=True)
    assert {p["spec"]["containers"][0]["image"] for p in await h.pods()} == {"app:v1"}
    await h.client.delete("v1", "Pod", "web-2", "default", grace_period_seconds=0)
    await drain(h, ctrl, ready=True)
    assert (await h.get("Pod", "web-2"))["spec"]["containers"][0]["image"] == "app:v2"


V2 = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}
V1 = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v1"}]}}}}


async def revisions(h: Harness) -> dict[int, dict]:
    return {r["revision"]: r for r in await h.list("ControllerRevision")}


async def test_controller_revision_holds_template_patch(h: Harness) -> None:
    ctrl = await setup(h)
    await drain(h, ctrl, ready=True)
    sts = await h.get("StatefulSet", "web")
    [rev] = (await revisions(h)).values()
    hash_ = rev["metadata"]["labels"]["controller-revision-hash"]
    assert (
        rev["metadata"]["name"]
        == f"web-{hash_}"
        == sts["status"]["currentRevision"]
        == sts["status"]["updateRevision"]
    )
    assert rev["metadata"]["labels"]["app"] == "web"
    [ref] = rev["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "StatefulSet",
        "web",
        sts["metadata"]["uid"],
        True,
    )
    assert rev["revision"] == 1
    template = rev["data"]["spec"]["template"]
    assert template["$patch"] == "replace"
    assert template["spec"]["containers"][0]["image"] == "app:v1"
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in await h.pods()} == {
        rev["metadata"]["name"]
    }
    assert sts["status"]["collisionCount"] == 0
    assert (sts["status"]["currentReplicas"], sts["status"]["updatedReplicas"]) == (3, 3)


async def test_rolling_update_moves_current_revision_when_complete(h: Harness) -> None:
    ctrl = await setup(h)
    await drain(h, ctrl, ready=True)
    first = (await h.get("StatefulSet", "web"))["status"]["currentRevision"]
    await h.client.patch("apps/v1", "StatefulSet", "web", V2, "default")
    await h.sync(ctrl)
    status = (await h.get("StatefulSet", "web"))["status"]
    assert status["currentRevision"] == first != status["updateRevision"]
    assert [
        p["metadata"]["name"] for p in await h.list("Pod") if p["metadata"].get("deletionTimestamp")
    ] == ["web-2"]
    assert (status["currentReplicas"], status.get("updatedReplicas", 0)) == (2, 0)
    await drain(h, ctrl, ready=True)
    status = (await h.get("StatefulSet", "web"))["status"]
    assert status["currentRevision"] == status["updateRevision"] != first
    assert (status["currentReplicas"], status["updatedReplicas"], status["readyReplicas"]) == (
        3,
        3,
        3,
    )
    assert sorted(await revisions(h)) == [1, 2]


async def test_going_back_renumbers_the_old_revision(h: Harness) -> None:
    ctrl = await setup(h)
    await drain(h, ctrl, ready=True)
    first = (await revisions(h))[1]["metadata"]["name"]
    await h.client.patch("apps/v1", "StatefulSet", "web", V2, "default")
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", V1, "default")
    await drain(h, ctrl, ready=True)
    revs = await revisions(h)
    assert sorted(revs) == [2, 3] and revs[3]["metadata"]["name"] == first
    assert (await h.get("StatefulSet", "web"))["status"]["updateRevision"] == first


async def test_undo_applies_revision_data_as_strategic_patch(h: Harness) -> None:
    """What `kubectl rollout undo statefulset/web` sends."""
    ctrl = await setup(h)
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", V2, "default")
    await drain(h, ctrl, ready=True)
    old = (await revisions(h))[1]
    await h.client.patch(
        "apps/v1", "StatefulSet", "web", old["data"], "default", patch_type="strategic"
    )
    await drain(h, ctrl, ready=True)
    assert {p["spec"]["containers"][0]["image"] for p in await h.pods()} == {"app:v1"}
    assert (await h.get("StatefulSet", "web"))["status"]["currentRevision"] == old["metadata"][
        "name"
    ]


async def test_history_is_truncated_to_the_limit(h: Harness) -> None:
    ctrl = await setup(h, revisionHistoryLimit=1, replicas=1)
    for image in ("v2", "v3", "v4"):
        await drain(h, ctrl, ready=True)
        patch = {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": f"app:{image}"}]}}
            }
        }
        await h.client.patch("apps/v1", "StatefulSet", "web", patch, "default")
    await drain(h, ctrl, ready=True)
    # the live revision (3 -> 4 is done) plus one historic one
    assert sorted(await revisions(h)) == [3, 4]


async def test_pods_below_partition_are_recreated_from_current_revision(h: Harness) -> None:
    ctrl = await setup(
        h, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    )
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", V2, "default")
    await drain(h, ctrl, ready=True)
    await h.client.delete("v1", "Pod", "web-0", "default", grace_period_seconds=0)
    await drain(h, ctrl, ready=True)
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in await h.pods()}
    assert images == {"web-0": "app:v1", "web-1": "app:v1", "web-2": "app:v2"}
    status = (await h.get("StatefulSet", "web"))["status"]
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    revs = await revisions(h)
    pod0 = await h.get("Pod", "web-0")
    assert (
        pod0["metadata"]["labels"]["controller-revision-hash"]
        == revs[1]["metadata"]["name"]
        == status["currentRevision"]
    )


async def test_min_ready_seconds_gates_the_next_pod_and_availability(h: Harness) -> None:
    ctrl = await setup(h, minReadySeconds=10)
    await h.sync(ctrl)
    await h.set_ready(await h.get("Pod", "web-0"))
    after = await h.sync(ctrl)
    assert await names(h) == ["web-0"]  # ready, but not yet available
    assert after == 10
    status = (await h.get("StatefulSet", "web"))["status"]
    assert (status["readyReplicas"], status["availableReplicas"]) == (1, 0)
    h.clock.step(10)
    await h.sync(ctrl)
    assert await names(h) == ["web-0", "web-1"]
    status = (await h.get("StatefulSet", "web"))["status"]
    assert (status["readyReplicas"], status["availableReplicas"]) == (1, 1)


async def test_failed_pod_is_replaced(h: Harness) -> None:
    ctrl = await setup(h, replicas=1)
    await drain(h, ctrl, ready=True)
    await h.client.patch(
        "v1", "Pod", "web-0", {"status": {"phase": "Failed"}}, "default", subresource="status"
    )
    await h.sync(ctrl)
    assert await h.events("SuccessfulDelete") == ["delete Pod web-0 in StatefulSet web successful"]
    await drain(h, ctrl, ready=True)
    assert pod_phase_of(await h.get("Pod", "web-0")) == "Running"


def pod_phase_of(pod: dict) -> str:
    return str(pod["status"]["phase"])


async def test_a_pending_pods_deleted_claim_is_made_again(h: Harness) -> None:
    ctrl = await setup(h, replicas=1)
    await drain(h, ctrl)
    assert (await h.get("Pod", "web-0"))["status"]["phase"] == "Pending"
    # The claim went while its pod had not started (in-use protection let it go).
    await h.client.delete("v1", "PersistentVolumeClaim", "data-web-0", "default")
    await drain(h, ctrl)  # the claim's deletion brings the StatefulSet back
    claims = [c["metadata"]["name"] for c in await h.list("PersistentVolumeClaim")]
    assert claims == ["data-web-0"]


async def test_claims_follow_a_changed_retention_policy(h: Harness) -> None:
    """Switched to Retain, the claims lose their set reference (deleting the set must
    keep the data); switched back to Delete, they get it again."""
    delete = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    ctrl = await setup(h, replicas=2, persistentVolumeClaimRetentionPolicy=delete)
    await drain(h, ctrl, ready=True)

    async def set_refs() -> list[list[str]]:
        claims = sorted(await h.list("PersistentVolumeClaim"), key=lambda c: c["metadata"]["name"])
        return [[r["kind"] for r in c["metadata"].get("ownerReferences") or []] for c in claims]

    assert await set_refs() == [["StatefulSet"], ["StatefulSet"]]
    claims = await h.list("PersistentVolumeClaim")
    assert all(c["metadata"]["ownerReferences"][0]["controller"] for c in claims)  # since 1.31
    for when, refs in (("Retain", []), ("Delete", ["StatefulSet"])):
        policy = {"spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": when}}}
        await h.client.patch("apps/v1", "StatefulSet", "web", policy, "default")
        await drain(h, ctrl, ready=True)
        assert await set_refs() == [refs, refs], when


async def claim_names(h: Harness) -> list[str]:
    return sorted(c["metadata"]["name"] for c in await h.list("PersistentVolumeClaim"))


async def test_when_scaled_delete_takes_a_claim_once_its_pod_is_gone(h: Harness) -> None:
    scaled = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    ctrl = await setup(h, podManagementPolicy="Parallel",
                       persistentVolumeClaimRetentionPolicy=scaled)  # fmt: skip
    await drain(h, ctrl, ready=True)
    await h.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 1}}, "default")
    await drain(h, ctrl)  # the pods are terminating: their claims stay for now
    assert await claim_names(h) == ["data-web-0", "data-web-1", "data-web-2"]
    await drain(h, ctrl, ready=True)  # the kubelet lets them go
    assert await claim_names(h) == ["data-web-0"]


async def test_a_scale_back_up_before_the_pod_is_gone_keeps_its_claim(h: Harness) -> None:
    """The returning pod must find its data, not an empty claim made anew."""
    scaled = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    ctrl = await setup(h, podManagementPolicy="Parallel",
                       persistentVolumeClaimRetentionPolicy=scaled)  # fmt: skip
    await drain(h, ctrl, ready=True)
    uids = {
        c["metadata"]["name"]: c["metadata"]["uid"] for c in await h.list("PersistentVolumeClaim")
    }
    await h.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 1}}, "default")
    await drain(h, ctrl)
    await h.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 3}}, "default")
    await drain(h, ctrl, ready=True)
    after = {
        c["metadata"]["name"]: c["metadata"]["uid"] for c in await h.list("PersistentVolumeClaim")
    }
    assert after == uids  # the same claims, none deleted and made again
