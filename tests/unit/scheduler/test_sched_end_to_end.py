"""Placement scenarios through Scheduler.schedule_one, and the binder seam."""

from __future__ import annotations

import asyncio
from collections import Counter

from sched_builders import (
    FakeBinder,
    affinity,
    anti_affinity,
    make_node,
    make_pod,
    make_scheduler,
    taint,
)

from kubelite.scheduler.binder import apply_result, pod_scheduled_condition, scheduled_message

ZONE = "topology.kubernetes.io/zone"


def test_resources_pick_the_least_loaded_node() -> None:
    nodes = [make_node("n1"), make_node("n2"), make_node("n3")]
    existing = [
        make_pod("a", cpu="3", memory="8Gi", node="n1"),
        make_pod("b", cpu="1", memory="2Gi", node="n2"),
    ]
    res = make_scheduler(nodes, existing).schedule_one(make_pod("p", cpu="1", memory="1Gi"))
    # Fit (Least): n1 cpu 0, mem (32-9)/32 -> 71 -> 35 ; n2 cpu 50, mem 90 -> 70 ; n3 cpu 75, mem 96 -> 85
    assert res.node_name == "n3"
    assert res.scores["n3"]["NodeResourcesFit"].score == 85
    assert res.total_scores["n3"] == max(res.total_scores.values())


def test_required_affinity_follows_the_target_pod() -> None:
    nodes = [make_node(f"n{i}") for i in range(3)]
    sched = make_scheduler(nodes, [make_pod("db", node="n2", labels={"app": "db"})])
    assert sched.schedule_one(make_pod("p", affinity=affinity({"app": "db"}))).node_name == "n2"


def test_anti_affinity_replicas_spread_then_the_fourth_fails() -> None:
    sched = make_scheduler([make_node(f"n{i}") for i in range(3)])
    web = {"app": "web"}
    placed = [
        sched.schedule_one(make_pod(f"w{i}", labels=web, affinity=anti_affinity(web))).node_name
        for i in range(3)
    ]
    assert sorted(placed) == ["n0", "n1", "n2"]
    res = sched.schedule_one(make_pod("w3", labels=web, affinity=anti_affinity(web)))
    assert res.message == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )


def test_topology_spread_evens_out_zones() -> None:
    nodes = [make_node(f"{z}{i}", labels={ZONE: z}) for z in "abc" for i in range(2)]
    sched = make_scheduler(nodes)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    placed = [
        sched.schedule_one(
            make_pod(f"w{i}", labels={"app": "web"}, topologySpreadConstraints=spread)
        ).node_name
        for i in range(6)
    ]
    assert Counter(n[0] for n in placed) == {"a": 2, "b": 2, "c": 2}


def test_taints_keep_pods_off_unless_tolerated() -> None:
    nodes = [make_node("gpu", taints=[taint("dedicated", "gpu")]), make_node("plain", cpu="1")]
    sched = make_scheduler(nodes)
    assert sched.schedule_one(make_pod("p", cpu="2")).message.startswith(
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}."
    )
    tol = [{"key": "dedicated", "operator": "Exists"}]
    assert sched.schedule_one(make_pod("q", cpu="2", tolerations=tol)).node_name == "gpu"


def test_preemption_then_placement_on_the_nominated_node() -> None:
    nodes = [make_node("n1", cpu="2"), make_node("n2", cpu="2")]
    existing = [
        make_pod("low", cpu="2", node="n1", priority=1),
        make_pod("high", cpu="2", node="n2", priority=1000),
    ]
    sched = make_scheduler(nodes, existing)
    pod = make_pod("p", cpu="2", priority=100)
    res = sched.schedule_one(pod)
    assert (res.nominated_node_name, [v["metadata"]["name"] for v in res.victims]) == (
        "n1",
        ["low"],
    )
    for victim in res.victims:
        sched.on_pod_delete(victim)
    pod["status"] = {"nominatedNodeName": "n1"}
    again = sched.schedule_one(pod)
    assert again.node_name == "n1" and again.evaluated_nodes == 1


def test_binder_success_writes_binding_and_event() -> None:
    sched = make_scheduler([make_node("node-2")])
    pod = make_pod("web-1")
    binder = FakeBinder()
    asyncio.run(apply_result(binder, pod, sched.schedule_one(pod)))
    assert binder.calls == [
        ("bind", "node-2"),
        (
            "event",
            ("web-1", "Normal", "Scheduled", "Successfully assigned default/web-1 to node-2"),
        ),
    ]
    assert scheduled_message(pod, "node-2") == "Successfully assigned default/web-1 to node-2"
    # one feasible node: nothing was scored, as upstream skips scoring then
    assert binder.annotations == [{"kubelite.io/node": "node-2", "kubelite.io/score": "0"}]


def test_scheduled_event_carries_the_winning_total_score() -> None:
    nodes = [make_node("n1"), make_node("n2"), make_node("n3")]
    existing = [
        make_pod("a", cpu="3", memory="8Gi", node="n1"),
        make_pod("b", cpu="1", memory="2Gi", node="n2"),
    ]
    pod = make_pod("p", cpu="1", memory="1Gi")
    res = make_scheduler(nodes, existing).schedule_one(pod)
    # n3 (empty, 4 cpu / 32Gi) after p: TaintToleration 100*3 = 300;
    # Fit LeastAllocated cpu (4-1)/4 = 75, mem (32-1)/32 = 96 -> (75+96)//2 = 85;
    # BalancedAllocation fractions 0.25, 1/32: std = |0.25-0.03125|/2 = 0.109 -> 89;
    # ImageLocality 0 (no images); the pod has no affinity or spreading to score.
    # total = 300 + 85 + 89 = 474
    assert res.node_name == "n3"
    assert res.node_score == res.total_scores["n3"] == 474
    binder = FakeBinder()
    asyncio.run(apply_result(binder, pod, res))
    assert binder.annotations == [{"kubelite.io/node": "n3", "kubelite.io/score": "474"}]
    assert binder.calls[-1][1][3] == "Successfully assigned default/p to n3"


def test_binder_failure_writes_warning_condition_and_evicts_victims() -> None:
    nodes = [make_node("n1", cpu="1")]
    sched = make_scheduler(nodes, [make_pod("low", cpu="1", node="n1", priority=0)])
    pod = make_pod("p", cpu="1", priority=10)
    pod["metadata"]["uid"] = "uid-p"
    res = sched.schedule_one(pod)
    binder = FakeBinder()
    asyncio.run(apply_result(binder, pod, res, now="2026-01-01T00:00:00Z"))
    msg = "0/1 nodes are available: 1 Insufficient cpu."
    assert binder.calls == [
        ("delete", "low"),
        ("event", ("low", "Normal", "Preempted", "Preempted by pod uid-p on node n1")),
        ("event", ("p", "Warning", "FailedScheduling", msg)),
        (
            "condition",
            (
                pod_scheduled_condition(
                    scheduled=False, reason="Unschedulable", message=msg, now="2026-01-01T00:00:00Z"
                ),
                "n1",
            ),
        ),
    ]
    assert (
        binder.calls[-1][1][0]["type"] == "PodScheduled"
        and binder.calls[-1][1][0]["status"] == "False"
    )
