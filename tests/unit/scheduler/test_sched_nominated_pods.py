"""Nominated pods: a preemptor's freed room stays its own while its victims go.

Upstream semantics (RunFilterPluginsWithNominatedPods, DefaultPreemption,
the queue's nominator): pods nominated to a node with at least the incoming
pod's priority count as running there, filters run with and without them, and
a preemptor nominating a node clears lower-priority nominations there.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sched_builders import FakeBinder, affinity, anti_affinity, make_node, make_pod

from kubelite.scheduler.binder import apply_result
from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.framework.nominator import Nominator
from kubelite.scheduler.framework.queue import SchedulingQueue
from kubelite.scheduler.framework.types import PodInfo
from kubelite.scheduler.scheduler import Scheduler

NOT_ELIGIBLE = "not eligible due to a terminating pod on the nominated node."


class Clock:
    """A hand-wound clock for the queue's backoff."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scheduler(
    nodes: list[dict[str, Any]], *, fast_path: bool = True, clock: Clock | None = None
) -> Scheduler:
    sched = Scheduler(Cache(), rng=random.Random(0), fast_path=fast_path, clock=clock or Clock())
    for node in nodes:
        sched.on_node_add(node)
    return sched


def nominated(name: str, to: str, **kw: Any) -> dict[str, Any]:
    """A pending pod whose status names its nominated node (as listed after a restart)."""
    pod = make_pod(name, **kw)
    pod["status"] = {"nominatedNodeName": to}
    return pod


def terminating(pod: dict[str, Any]) -> dict[str, Any]:
    return {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}


def names(pods: Any) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


# -- filtering ----------------------------------------------------------------


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "reference"])
@pytest.mark.parametrize(
    ("priority", "placed"),
    [(0, False), (100, False), (1000, True)],
    ids=["lower", "equal", "higher"],
)
def test_nominated_pod_holds_the_room_it_freed(
    fast_path: bool, priority: int, placed: bool
) -> None:
    # n1: 2 cpu, "run" (cannot be preempted) uses 1; the other is held for p (priority 100).
    sched = scheduler([make_node("n1", cpu="2")], fast_path=fast_path)
    sched.on_pod_add(make_pod("run", cpu="1", node="n1", priority=10_000))
    sched.on_pod_add(nominated("p", "n1", cpu="1", priority=100))
    res = sched.schedule_one(make_pod("q", cpu="1", priority=priority))
    # lower or equal: run + p + q = 3 cpu > 2; higher: p does not count, 1 + 1 fits
    assert res.scheduled is placed
    if placed:
        assert res.node_name == "n1"
    else:
        assert res.message.startswith("0/1 nodes are available: 1 Insufficient cpu.")


def test_a_pod_does_not_yield_to_its_own_nomination() -> None:
    sched = scheduler([make_node("n1", cpu="2")])
    sched.on_pod_add(make_pod("run", cpu="1", node="n1"))
    pod = nominated("p", "n1", cpu="1", priority=100)
    sched.on_pod_add(pod)
    res = sched.schedule_one(pod)
    assert res.node_name == "n1" and res.evaluated_nodes == 1
    assert sched.nominator.node_for("default/p") == ""  # assumed: no longer nominated


def test_anti_affinity_counts_the_nominated_pod() -> None:
    # n2 is busier, so without the nominated pod q would pick n1 for its free resources.
    sched = scheduler([make_node("n1"), make_node("n2")])
    sched.on_pod_add(make_pod("busy", cpu="2", memory="8Gi", node="n2"))
    sched.on_pod_add(nominated("p", "n1", labels={"app": "p"}, priority=100))
    res = sched.schedule_one(make_pod("q", affinity=anti_affinity({"app": "p"})))
    assert res.node_name == "n2"
    verdict = res.filter_verdicts["n1"]
    assert verdict is not None and verdict.plugin == "InterPodAffinity"


def test_filters_also_pass_without_the_nominated_pods() -> None:
    # With p counted, q's affinity to app=p holds on n1; without it (p may yet
    # go elsewhere) it does not, and the pod must fit both ways.
    sched = scheduler([make_node("n1")])
    sched.on_pod_add(nominated("p", "n1", labels={"app": "p"}, priority=100))
    res = sched.schedule_one(make_pod("q", affinity=affinity({"app": "p"})))
    assert not res.scheduled
    assert "didn't match pod affinity rules" in res.message


def test_fast_path_steps_aside_only_for_nominations_it_must_respect() -> None:
    sched = scheduler([make_node("n1", cpu="2"), make_node("n2", cpu="2")])
    sched.on_pod_add(nominated("p", "n1", cpu="1", priority=100))
    higher = sched.schedule_one(make_pod("hi", cpu="1", priority=1000))
    assert higher.fast_path  # p (lower) changes nothing for it
    lower = sched.schedule_one(make_pod("lo", cpu="1", priority=0))
    assert not lower.fast_path and lower.scheduled


# -- the nominator and the queue --------------------------------------------------


def test_nominator_follows_the_watch_and_keeps_its_own_nominations() -> None:
    nom = Nominator()
    queue = SchedulingQueue(lambda a, b: False, nominator=nom)
    queue.add(nominated("a", "n1"))  # listed with a nomination (e.g. after a restart)
    assert nom.node_for("default/a") == "n1" and names(p.pod for p in nom.pods_for("n1")) == ["a"]

    b = make_pod("b")
    queue.add(b)
    nom.add(PodInfo(b), "n2")  # the scheduler's own nomination, not yet written
    queue.update({**b, "metadata": {**b["metadata"], "labels": {"x": "y"}}})
    assert nom.node_for("default/b") == "n2"  # an update showing none keeps it

    queue.update(nominated("b", "n3"))
    assert nom.node_for("default/b") == "n3" and nom.pods_for("n2") == []
    queue.update(make_pod("b"))  # the nomination was cleared in the API
    assert nom.node_for("default/b") == ""

    queue.update(nominated("a", "n1", node="n1"))  # bound pods are not nominated
    assert nom.node_for("default/a") == ""
    queue.add(nominated("c", "n1"))
    queue.delete(make_pod("c"))
    assert len(nom) == 0


def test_scheduler_restart_rebuilds_nominations_from_pod_status() -> None:
    sched = scheduler([make_node("n1", cpu="1")])
    sched.on_pod_add(nominated("p", "n1", cpu="1", priority=100))
    assert sched.nominator.node_for("default/p") == "n1"
    assert not sched.schedule_one(make_pod("q", cpu="1")).scheduled
    sched.on_pod_update(nominated("p", "n1", cpu="1", priority=100, node="n1"))  # bound
    assert len(sched.nominator) == 0


# -- preemption ---------------------------------------------------------------------


def test_preemptor_keeps_the_freed_room_and_evicts_one_victim() -> None:
    """The scenario end to end through the queue: p preempts one of two pods on
    n1; before p is retried (it backs off), q of the victims' priority arrives.
    q must wait, p must land on n1, and no second victim is evicted."""
    clock = Clock()
    sched = scheduler([make_node("n1", cpu="2")], clock=clock)
    for name in ("v1", "v2"):
        sched.on_pod_add(make_pod(name, cpu="1", node="n1", priority=0))
    p = make_pod("p", cpu="1", priority=100)
    sched.on_pod_add(p)

    step = sched.schedule_next()
    assert step is not None
    first = step[1]
    assert first.nominated_node_name == "n1" and len(first.victims) == 1
    victim = first.victims[0]
    # the victim terminates and goes; p's status write has not come back yet
    sched.on_pod_update(terminating(victim))
    sched.on_pod_delete(victim)
    sched.on_pod_add(make_pod("q", cpu="1", priority=0))

    results = []
    for _ in range(5):  # q goes first while p backs off, then p, then any retries
        while (step := sched.schedule_next()) is not None:
            results.append(step[1])
        clock.now += 400.0  # past any backoff and the unschedulable pool's 5 minutes
        sched.queue.flush_unschedulable_leftover()
    assert results[0].pod_key == "default/q"
    placed = {r.pod_key: r.node_name for r in results if r.scheduled}
    assert placed == {"default/p": "n1"}
    assert [v for r in results for v in r.victims] == []


def test_preemptor_waiting_for_a_terminating_victim_does_not_preempt_again() -> None:
    sched = scheduler([make_node("n1", cpu="2")])
    for name in ("v1", "v2"):
        sched.on_pod_add(make_pod(name, cpu="1", node="n1", priority=0))
    first = sched.schedule_one(make_pod("p", cpu="1", priority=100))
    assert first.nominated_node_name == "n1" and len(first.victims) == 1
    sched.on_pod_update(terminating(first.victims[0]))
    # retried before its status shows the nomination: the nominator knows it
    again = sched.schedule_one(make_pod("p", cpu="1", priority=100))
    assert again.victims == () and again.message.endswith(f"preemption: {NOT_ELIGIBLE}")
    assert not again.nominating  # the nomination is kept, not cleared
    assert sched.nominator.node_for("default/p") == "n1"


def test_terminating_victim_on_the_status_nominated_node_blocks_preemption() -> None:
    sched = scheduler([make_node("n1", cpu="2")])
    sched.on_pod_add(terminating(make_pod("v1", cpu="1", node="n1", priority=0)))
    sched.on_pod_add(make_pod("v2", cpu="1", node="n1", priority=0))
    res = sched.schedule_one(nominated("p", "n1", cpu="2", priority=100))
    assert res.victims == () and res.message.endswith(f"preemption: {NOT_ELIGIBLE}")


def test_victims_are_chosen_with_nominated_pods_counted() -> None:
    # n1: 3 cpu, v1 and v2 use 1 each; n (priority 100, 1 cpu) is nominated there.
    # r (priority 100, 2 cpu) must yield to n: n + r = 3 leaves no room for either
    # victim, so both go (counting only v1 + r = 3, one victim would seem enough).
    sched = scheduler([make_node("n1", cpu="3")])
    for name in ("v1", "v2"):
        sched.on_pod_add(make_pod(name, cpu="1", node="n1", priority=0))
    sched.nominator.add(PodInfo(make_pod("n", cpu="1", priority=100)), "n1")
    res = sched.schedule_one(make_pod("r", cpu="2", priority=100))
    assert res.nominated_node_name == "n1"
    assert sorted(names(res.victims)) == ["v1", "v2"]


def test_preemptor_clears_lower_priority_nominations_on_its_node() -> None:
    sched = scheduler([make_node("n1", cpu="2")])
    for name in ("v1", "v2"):
        sched.on_pod_add(make_pod(name, cpu="1", node="n1", priority=0))
    # low waits for room on n1 without preempting (it may not), keeping its nomination
    low = nominated("low", "n1", cpu="1", priority=10, preemptionPolicy="Never")
    sched.on_pod_add(low)
    step = sched.schedule_next()
    assert step is not None and not step[1].scheduled and not step[1].nominating
    assert sched.queue.where("default/low") == "unschedulable"
    assert sched.nominator.node_for("default/low") == "n1"

    high = make_pod("high", cpu="2", priority=100)
    res = sched.schedule_one(high)
    # low (priority 10 < 100) does not hold room against high: both running pods go
    assert res.nominated_node_name == "n1" and sorted(names(res.victims)) == ["v1", "v2"]
    assert names(res.nominated_pods_to_clear) == ["low"]
    assert sched.nominator.node_for("default/low") == ""
    assert sched.nominator.node_for("default/high") == "n1"
    assert sched.queue.where("default/low") == "active"  # retries at once elsewhere

    binder = FakeBinder()
    asyncio.run(apply_result(binder, high, res))
    assert ("clear-nomination", "low") in binder.calls
    assert binder.calls[-1][0] == "condition" and binder.calls[-1][1][1] == "n1"


def test_nomination_is_written_only_when_the_attempt_decides_it() -> None:
    sched = scheduler([make_node("n1", cpu="1")])
    sched.on_pod_add(make_pod("big", cpu="1", node="n1", priority=10_000))
    pod = nominated("p", "n1", cpu="1", priority=100)
    sched.on_pod_add(pod)
    res = sched.schedule_one(pod)  # no victims anywhere: the nomination is cleared
    assert res.nominating and res.nominated_node_name == ""
    assert sched.nominator.node_for("default/p") == ""
    binder = FakeBinder()
    asyncio.run(apply_result(binder, pod, res))
    assert binder.calls[-1][1][1] == ""

    sched2 = scheduler([make_node("n1", cpu="1")], fast_path=False)
    sched2.on_pod_add(make_pod("big", cpu="1", node="n1", priority=10_000))
    never = make_pod("never", cpu="1", priority=100, preemptionPolicy="Never")
    res2 = sched2.schedule_one(never)  # preemption not even tried: nothing to write
    assert not res2.nominating
    binder2 = FakeBinder()
    asyncio.run(apply_result(binder2, never, res2))
    assert binder2.calls[-1][1][1] is None
