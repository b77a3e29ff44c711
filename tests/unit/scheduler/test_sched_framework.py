"""The runner: node window, start index, host selection, FitError text, profiles, errors."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sched_builders import make_node, make_pod, make_scheduler

from kubelite.scheduler import Code, ProfileError, Scheduler, Status, load_profiles
from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.framework.diagnosis import Diagnosis, FitError, NodeToStatus
from kubelite.scheduler.framework.runtime import num_feasible_nodes_to_find
from kubelite.scheduler.profile import build_framework
from kubelite.scheduler.registry import REGISTRY
from kubelite.scheduler.scheduler import select_host


@pytest.mark.parametrize(
    ("pct", "nodes", "want"),
    [
        (0, 50, 50),  # under 100 nodes: all of them
        (0, 100, 100),  # 100 * (50 - 0)% = 50 -> at least 100
        (0, 1000, 420),  # 50 - 1000/125 = 42% -> 420
        (0, 2000, 680),  # 50 - 16 = 34% -> 680
        (0, 5000, 500),  # 50 - 40 = 10% -> 500
        (0, 6000, 300),  # 50 - 48 = 2% -> floor of 5% -> 300
        (30, 1000, 300),
        (5, 1000, 100),  # 50 -> at least 100
        (100, 5000, 5000),
    ],
    ids=lambda v: str(v),
)
def test_num_feasible_nodes_to_find(pct: int, nodes: int, want: int) -> None:
    assert num_feasible_nodes_to_find(pct, nodes) == want


def test_start_index_rotates_over_processed_nodes() -> None:
    nodes = [make_node(f"n{i:03d}", cpu="1" if i in (1, 3) else "4") for i in range(200)]
    sched = make_scheduler(nodes)
    pod = make_pod("p", cpu="2")
    first = sched.schedule_one(pod, assume=False)
    # 100 feasible wanted; n001 and n003 fail on cpu, so 102 nodes are processed
    assert first.evaluated_nodes == 102 and first.feasible_nodes == 100
    assert sched.next_start_node_index == 102
    assert first.filter_verdicts["n001"].reasons == ("Insufficient cpu",)
    second = sched.schedule_one(pod, assume=False)
    assert next(iter(second.filter_verdicts)) == "n102"
    # n102..n199 give 98, then n000 and n002 (n001 fails): 101 processed -> (102 + 101) % 200 = 3
    assert second.evaluated_nodes == 101
    assert sched.next_start_node_index == 3


class ScriptedRandom(random.Random):
    def __init__(self, draws: list[int]) -> None:
        super().__init__(0)
        self.draws = list(draws)
        self.calls: list[int] = []

    def randrange(self, n: int, *args: Any) -> int:  # type: ignore[override]
        self.calls.append(n)
        return self.draws.pop(0)


@pytest.mark.parametrize(
    ("draws", "want", "calls"),
    [
        # ties b, c, d (in node order): one draw over 3 picks among them
        ([0], "b", [3]),
        ([1], "c", [3]),
        ([2], "d", [3]),
    ],
    ids=["first", "second", "third"],
)
def test_select_host_breaks_ties_uniformly(draws: list[int], want: str, calls: list[int]) -> None:
    rng = ScriptedRandom(draws)
    assert select_host([("a", 5), ("b", 9), ("c", 9), ("d", 9)], rng) == want
    assert rng.calls == calls


def test_select_host_no_draw_without_ties() -> None:
    rng = ScriptedRandom([])
    assert select_host([("a", 5), ("b", 9), ("c", 7)], rng) == "b"
    assert rng.calls == []


def test_fit_error_message_counts_and_sorts_like_upstream() -> None:
    statuses = NodeToStatus()
    for i in range(10):
        statuses.set(f"x{i}", Status.unschedulable("Insufficient memory"))
    statuses.set("y", Status.unschedulable("Insufficient cpu", "Insufficient memory"))
    statuses.set("z", Status.unresolvable("node(s) didn't match Pod's node affinity/selector"))
    fit = FitError("default/p", 12, Diagnosis(node_to_status=statuses))
    # "<count> <reason>" strings sort as strings: "1 I..." < "1 n..." < "11 ..."
    assert fit.message == (
        "0/12 nodes are available: 1 Insufficient cpu, "
        "1 node(s) didn't match Pod's node affinity/selector, 11 Insufficient memory."
    )


class Boom:
    name = "Boom"

    def filter(self, state: Any, pod: Any, node: Any) -> Status | None:
        if pod.labels.get("boom"):
            raise RuntimeError("kaput")
        return None


def _boom_scheduler() -> Scheduler:
    registry = {**REGISTRY, "Boom": lambda args, handle: Boom()}
    yaml_text = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    filter:
      enabled: [{name: Boom}]
"""
    cache = Cache()
    cache.add_node(make_node("n1"))
    profiles = load_profiles(yaml_text, registry=registry)
    return Scheduler(cache, profiles, rng=random.Random(0), registry=registry)


def test_plugin_that_raises_fails_only_that_pod() -> None:
    sched = _boom_scheduler()
    bad = sched.schedule_one(make_pod("bad", labels={"boom": "1"}))
    assert bad.error is not None and bad.error.code == Code.ERROR
    assert bad.error.plugin == "Boom" and "kaput" in bad.message
    assert not bad.scheduled
    assert sched.schedule_one(make_pod("good")).node_name == "n1"


def test_raising_pod_goes_to_backoff_and_the_queue_moves_on() -> None:
    sched = _boom_scheduler()
    sched.queue.add(make_pod("bad", labels={"boom": "1"}, priority=10))
    sched.queue.add(make_pod("good"))
    qpi, res = sched.schedule_next()
    assert qpi.key == "default/bad" and res.error is not None
    assert sched.queue.where("default/bad") == "backoff"
    qpi, res = sched.schedule_next()
    assert qpi.key == "default/good" and res.node_name == "n1"


CONFIG = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 40
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  percentageOfNodesToScore: 100
  plugins:
    multiPoint:
      disabled: [{name: ImageLocality}]
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"""


def test_load_profiles() -> None:
    default, packer = load_profiles(CONFIG)
    assert (default.scheduler_name, default.percentage_of_nodes_to_score) == (
        "default-scheduler",
        40,
    )
    assert (packer.scheduler_name, packer.percentage_of_nodes_to_score) == ("bin-packer", 100)
    fw = build_framework(packer, _handle())
    assert fw.plugin_names("score") == ["NodeResourcesFit"]
    assert fw.weights == {"NodeResourcesFit": 5}
    assert "ImageLocality" not in fw.plugin_names("score")
    assert fw.plugins("score")[0].strategy == "MostAllocated"
    assert "NodeResourcesFit" in fw.plugin_names("filter")  # score override keeps its filter


def test_default_profile_points_and_weights() -> None:
    (prof,) = load_profiles(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
    )
    fw = build_framework(prof, _handle())
    assert fw.plugin_names("filter") == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
        "NodeResourcesFit", "VolumeRestrictions", "VolumeBinding", "PodTopologySpread",
        "InterPodAffinity",
    ]  # fmt: skip
    assert fw.weights == {
        "TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
        "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1,
    }  # fmt: skip
    assert fw.plugin_names("postFilter") == ["DefaultPreemption"]
    assert fw.plugin_names("queueSort") == ["PrioritySort"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "profiles: [{plugins: {filter: {enabled: [{name: NodeResourceFit}]}}}]",
            'plugin "NodeResourceFit" does not exist',
        ),
        ("profiles: [{pluginConfig: [{name: Nope, args: {}}]}]", 'plugin "Nope" does not exist'),
        ("percentageOfNodesToScore: 120", "percentageOfNodesToScore"),
        ("profiles: [{schedulerName: a}, {schedulerName: a}]", "duplicate profile"),
    ],
    ids=["unknown-plugin", "unknown-config", "bad-percentage", "duplicate"],
)
def test_load_profiles_errors(text: str, needle: str) -> None:
    head = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
    with pytest.raises(ProfileError, match=needle):
        load_profiles(head + text)


def test_pod_picks_its_profile_by_scheduler_name() -> None:
    cache = Cache()
    for n in ("n1", "n2"):
        cache.add_node(make_node(n))
    cache.add_pod(make_pod("busy", cpu="2", node="n2"))
    sched = Scheduler(cache, load_profiles(CONFIG), rng=random.Random(0))
    # MostAllocated prefers the busier n2; the default profile spreads to n1
    assert (
        sched.schedule_one(
            make_pod("a", cpu="1", schedulerName="bin-packer"), assume=False
        ).node_name
        == "n2"
    )
    assert sched.schedule_one(make_pod("b", cpu="1"), assume=False).node_name == "n1"
    assert sched.schedule_one(make_pod("c", schedulerName="other")).error is not None


def _handle() -> Any:
    from kubelite.scheduler.framework.interfaces import Handle

    return Handle(Cache())
