"""DaemonSet controller: one pod per eligible node, rolling updates, history, status."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, template

from kubelite.controllers.daemonset import DaemonSetController
from kubelite.controllers.objects import timestamp

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]
V2 = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}


def make_ds(**spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(), **spec},
    }


async def add_node(
    h: Harness, name: str, *, labels: dict | None = None, taints: list | None = None
) -> None:
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}}
    if labels:
        node["metadata"]["labels"] = labels
    if taints:
        node["spec"]["taints"] = taints
    await h.create(node)


async def setup(h: Harness, nodes: int = 3, **spec: Any) -> DaemonSetController:
    for i in range(1, nodes + 1):
        await add_node(h, f"n{i}")
    ctrl = DaemonSetController(clock=h.clock)
    h.bind(ctrl)
    await h.create(make_ds(**spec))
    return ctrl


def target(pod: Obj) -> str:
    if pod["spec"].get("nodeName"):
        return str(pod["spec"]["nodeName"])
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    return str(terms["nodeSelectorTerms"][0]["matchFields"][0]["values"][0])


async def kubelet(h: Harness, *, ready: bool = True, phase: str = "Running") -> None:
    """Play scheduler and kubelet: bind each new pod to its node, report it; finish deletions."""
    await h.finish_deletions()
    for pod in await h.pods():
        if pod.get("status", {}).get("conditions"):
            continue
        name = pod["metadata"]["name"]
        if not pod["spec"].get("nodeName"):
            await h.client.bind("default", name, target(pod))
        status = {
            "phase": phase,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": timestamp(h.clock()),
                }
            ],
        }
        await h.client.patch("v1", "Pod", name, {"status": status}, "default", subresource="status")


async def settle(h: Harness, ctrl: DaemonSetController, rounds: int = 30) -> None:
    for _ in range(rounds):
        before = h.store.revision
        await h.sync(ctrl)
        await kubelet(h)
        if h.store.revision == before:
            return
    raise AssertionError("did not settle")


async def by_node(h: Harness) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pod in await h.pods():
        out.setdefault(target(pod), []).append(pod["spec"]["containers"][0]["image"])
    return out


async def status(h: Harness) -> Obj:
    return (await h.client.get("apps/v1", "DaemonSet", "web", "default"))["status"]


async def test_one_pod_per_node_pinned_for_the_scheduler(h: Harness) -> None:
    ctrl = await setup(h)
    await h.sync(ctrl)
    pods = await h.pods()
    assert sorted(target(p) for p in pods) == ["n1", "n2", "n3"]
    pod = next(p for p in pods if target(p) == "n2")
    assert pod["metadata"]["name"].startswith("web-") and not pod["spec"].get("nodeName")
    ds = await h.client.get("apps/v1", "DaemonSet", "web", "default")
    [ref] = pod["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == (
        "DaemonSet",
        ds["metadata"]["uid"],
        True,
    )
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
    assert pod["metadata"]["labels"]["controller-revision-hash"]
    keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert keys == {
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    }
    assert sorted(await h.events("SuccessfulCreate")) == sorted(
        f"Created pod: {p['metadata']['name']}" for p in pods
    )
    await settle(h, ctrl)
    st = await status(h)
    assert [st[k] for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady")] == [
        3,
        3,
        3,
    ]
    assert (st["updatedNumberScheduled"], st["numberAvailable"], st["observedGeneration"]) == (
        3,
        3,
        1,
    )
    assert "numberUnavailable" not in st and st["numberMisscheduled"] == 0


async def test_node_selector_follows_node_labels(h: Harness) -> None:
    await add_node(h, "n1", labels={"disk": "ssd"})
    await add_node(h, "n2")
    ctrl = await setup(
        h,
        nodes=0,
        template={
            **template(),
            "spec": {
                "nodeSelector": {"disk": "ssd"},
                "containers": [{"name": "app", "image": "app:v1"}],
            },
        },
    )
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n1"]
    await h.client.patch("v1", "Node", "n2", {"metadata": {"labels": {"disk": "ssd"}}})
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n1", "n2"]
    await h.client.patch("v1", "Node", "n1", {"metadata": {"labels": {"disk": None}}})
    await h.sync(ctrl)
    assert await h.events("SuccessfulDelete")
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n2"]
    assert (await status(h))["desiredNumberScheduled"] == 1


async def test_taints_keep_pods_away_unless_tolerated(h: Harness) -> None:
    await add_node(h, "n1", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}])
    await add_node(h, "n2")
    ctrl = await setup(h, nodes=0)
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n2"]
    tolerating = {
        **template(),
        "spec": {
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
            "containers": [{"name": "app", "image": "app:v1"}],
        },
    }
    await h.client.patch(
        "apps/v1", "DaemonSet", "web", {"spec": {"template": tolerating}}, "default"
    )
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n1", "n2"]
    # A NoSchedule taint added later leaves the running pod; NoExecute removes it.
    await h.client.patch(
        "v1", "Node", "n2", {"spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}}
    )
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n1", "n2"]
    assert (await status(h))["numberMisscheduled"] == 1
    await h.client.patch(
        "v1", "Node", "n2", {"spec": {"taints": [{"key": "x", "effect": "NoExecute"}]}}
    )
    await settle(h, ctrl)
    assert sorted(await by_node(h)) == ["n1"]


async def test_rolling_update_replaces_one_node_at_a_time(h: Harness) -> None:
    ctrl = await setup(h)
    await settle(h, ctrl)
    await h.client.patch("apps/v1", "DaemonSet", "web", V2, "default")
    ds = await h.client.get("apps/v1", "DaemonSet", "web", "default")
    assert ds["metadata"]["generation"] == 2
    assert ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    await h.sync(ctrl)
    # maxUnavailable 1: exactly one old pod goes; the others wait for its replacement
    deleting = [p for p in await h.list("Pod") if p["metadata"].get("deletionTimestamp")]
    assert len(deleting) == 1
    seen_unavailable = []
    for _ in range(30):
        await kubelet(h)
        await h.sync(ctrl)
        st = await status(h)
        seen_unavailable.append(st.get("numberUnavailable", 0))
        if st.get("updatedNumberScheduled") == 3 and st.get("numberAvailable") == 3:
            break
    assert max(seen_unavailable) <= 1
    assert await by_node(h) == {"n1": ["app:v2"], "n2": ["app:v2"], "n3": ["app:v2"]}
    revisions = sorted(r["revision"] for r in await h.list("ControllerRevision"))
    assert revisions == [1, 2]


async def test_percent_max_unavailable_rounds_up(h: Harness) -> None:
    ctrl = await setup(
        h, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}
    )
    await settle(h, ctrl)
    await h.client.patch("apps/v1", "DaemonSet", "web", V2, "default")
    await h.sync(ctrl)
    deleting = [p for p in await h.list("Pod") if p["metadata"].get("deletionTimestamp")]
    assert len(deleting) == 2  # ceil(50% of 3)


async def test_surge_starts_new_pod_before_removing_old(h: Harness) -> None:
    rolling = {"maxUnavailable": 0, "maxSurge": 1}
    ctrl = await setup(h, updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    await settle(h, ctrl)
    await h.client.patch("apps/v1", "DaemonSet", "web", V2, "default")
    await h.sync(ctrl)
    nodes = await by_node(h)
    assert sorted(map(sorted, nodes.values())) == [["app:v1"], ["app:v1"], ["app:v1", "app:v2"]]
    await settle(h, ctrl)
    assert await by_node(h) == {"n1": ["app:v2"], "n2": ["app:v2"], "n3": ["app:v2"]}


async def test_on_delete_waits_for_the_user(h: Harness) -> None:
    ctrl = await setup(h, updateStrategy={"type": "OnDelete"})
    await settle(h, ctrl)
    await h.client.patch("apps/v1", "DaemonSet", "web", V2, "default")
    await settle(h, ctrl)
    assert {i for images in (await by_node(h)).values() for i in images} == {"app:v1"}
    assert (await status(h)).get("updatedNumberScheduled", 0) == 0
    victim = next(p for p in await h.pods() if target(p) == "n1")
    await h.client.delete(
        "v1", "Pod", victim["metadata"]["name"], "default", grace_period_seconds=0
    )
    await settle(h, ctrl)
    assert (await by_node(h))["n1"] == ["app:v2"]


async def test_failed_pod_is_replaced_with_backoff(h: Harness) -> None:
    ctrl = await setup(h, nodes=1)
    await h.sync(ctrl)
    await kubelet(h, phase="Failed", ready=False)
    [failed] = await h.pods()
    await h.sync(ctrl)
    assert await h.events("FailedDaemonPod") == [
        f"Found failed daemon pod default/{failed['metadata']['name']} "
        "on node n1, will try to kill it"
    ]
    await h.finish_deletions()
    await h.sync(ctrl)  # the replacement
    await kubelet(h, phase="Failed", ready=False)
    retry = await h.sync(ctrl)  # failed again within the 1 s backoff: left alone
    assert retry is not None and len(await h.pods()) == 1
    assert len(await h.events("FailedDaemonPod")) == 1
    h.clock.step(2)
    await h.sync(ctrl)
    assert len(await h.events("FailedDaemonPod")) == 2


async def test_surplus_pods_keep_the_oldest(h: Harness) -> None:
    ctrl = await setup(h, nodes=1)
    await settle(h, ctrl)
    [first] = await h.pods()
    h.clock.step(5)
    extra = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "extra", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "x"}]},
    }
    await h.create(extra)
    await h.sync(ctrl)  # adopts the orphan, then prunes it
    await h.sync(ctrl)
    assert [p["metadata"]["name"] for p in await h.pods()] == [first["metadata"]["name"]]


async def test_history_is_pruned_to_the_limit(h: Harness) -> None:
    ctrl = await setup(h, nodes=1, revisionHistoryLimit=1)
    for image in ("app:v1", "app:v2", "app:v3", "app:v4"):
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
        await h.client.patch("apps/v1", "DaemonSet", "web", patch, "default")
        await settle(h, ctrl)
    revisions = sorted(r["revision"] for r in await h.list("ControllerRevision"))
    assert revisions == [3, 4]  # the current one and one old one


async def test_deleted_daemon_set_is_left_to_the_garbage_collector(h: Harness) -> None:
    ctrl = await setup(h, nodes=1)
    await settle(h, ctrl)
    await h.client.delete("apps/v1", "DaemonSet", "web", "default")
    assert await h.sync(ctrl) is None


async def test_returning_to_an_old_template_renumbers_its_revision(h: Harness) -> None:
    ctrl = await setup(h, nodes=1)
    await settle(h, ctrl)
    [first] = await h.list("ControllerRevision")
    # Data as kubectl marshals the live template: keys sorted, zero creationTimestamp null.
    template = first["data"]["spec"]["template"]
    assert list(template) == sorted(template) and template["metadata"]["creationTimestamp"] is None
    await h.client.patch("apps/v1", "DaemonSet", "web", V2, "default")
    await settle(h, ctrl)
    v1 = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v1"}]}}}}
    await h.client.patch("apps/v1", "DaemonSet", "web", v1, "default")
    await settle(h, ctrl)
    by_number = {r["revision"]: r["metadata"]["name"] for r in await h.list("ControllerRevision")}
    assert sorted(by_number) == [2, 3] and by_number[3] == first["metadata"]["name"]
    [pod] = await h.pods()
    assert (
        pod["metadata"]["labels"]["controller-revision-hash"]
        == (first["metadata"]["labels"]["controller-revision-hash"])
    )
    assert pod["metadata"]["labels"]["pod-template-generation"] == "3"
