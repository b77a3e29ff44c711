"""The scheduling queue with a fake clock: order, backoff, requeue on events, flush."""

from __future__ import annotations

import pytest
from sched_builders import make_node, make_pod, make_scheduler

from kubelite.scheduler.framework.queue import SchedulingQueue
from kubelite.scheduler.plugins import events
from kubelite.scheduler.plugins.priority_sort import PrioritySort
from kubelite.scheduler.registry import EVENTS


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_queue() -> tuple[SchedulingQueue, FakeClock]:
    clock = FakeClock()
    return SchedulingQueue(PrioritySort().less, clock=clock, plugin_events=EVENTS), clock


def test_active_queue_orders_by_priority_then_time() -> None:
    q, clock = make_queue()
    q.add(make_pod("old-low", priority=1))
    clock.advance(1)
    q.add(make_pod("high", priority=100))
    clock.advance(1)
    q.add(make_pod("new-low", priority=1))
    assert [q.pop().key for _ in range(3)] == ["default/high", "default/old-low", "default/new-low"]
    assert q.pop() is None


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)],
    ids=["1st", "2nd", "3rd", "4th", "capped", "still-capped"],
)
def test_backoff_doubles_to_ten_seconds(attempts: int, seconds: float) -> None:
    q, _ = make_queue()
    q.add(make_pod("p"))
    qpi = q.pop()
    qpi.attempts = attempts
    assert q.backoff_duration(qpi) == seconds


def test_error_goes_to_backoff_then_active() -> None:
    q, clock = make_queue()
    q.add(make_pod("p"))
    qpi = q.pop()  # attempt 1 -> 1 s backoff
    q.add_unschedulable(qpi, pod_scheduling_cycle=q.scheduling_cycle, error=True)
    assert q.where("default/p") == "backoff"
    clock.advance(0.5)
    assert q.pop() is None
    clock.advance(0.6)
    assert q.pop().key == "default/p"


def test_unschedulable_pod_waits_for_an_event_its_plugins_care_about() -> None:
    q, clock = make_queue()
    q.add(make_pod("p"))
    qpi = q.pop()
    q.add_unschedulable(
        qpi, pod_scheduling_cycle=q.scheduling_cycle, unschedulable_plugins={"NodeResourcesFit"}
    )
    assert q.where("default/p") == "unschedulable"
    clock.advance(30)
    assert q.move_all_to_active_or_backoff(events.PVC_ADD) == 0  # Fit does not care about PVCs
    assert q.move_all_to_active_or_backoff(events.NODE_ADD) == 1
    assert q.where("default/p") == "active"


def test_event_during_backoff_window_lands_in_backoff() -> None:
    q, clock = make_queue()
    q.add(make_pod("p"))
    qpi = q.pop()
    q.add_unschedulable(
        qpi, pod_scheduling_cycle=q.scheduling_cycle, unschedulable_plugins={"TaintToleration"}
    )
    clock.advance(0.2)  # still inside the 1 s backoff
    q.move_all_to_active_or_backoff(events.NODE_UPDATE)
    assert q.where("default/p") == "backoff"
    clock.advance(1)
    assert q.pop().key == "default/p"


def test_event_while_in_flight_sends_pod_to_backoff() -> None:
    q, _ = make_queue()
    q.add(make_pod("p"))
    qpi = q.pop()
    cycle = q.scheduling_cycle
    q.move_all_to_active_or_backoff(events.NODE_ADD)  # arrives while the pod is being scheduled
    q.add_unschedulable(qpi, pod_scheduling_cycle=cycle, unschedulable_plugins={"NodeResourcesFit"})
    assert q.where("default/p") == "backoff"


def test_unschedulable_pods_are_flushed_after_five_minutes() -> None:
    q, clock = make_queue()
    q.add(make_pod("p"))
    qpi = q.pop()
    q.add_unschedulable(
        qpi, pod_scheduling_cycle=q.scheduling_cycle, unschedulable_plugins={"NodeAffinity"}
    )
    clock.advance(300)
    q.flush_unschedulable_leftover()
    assert q.where("default/p") == "unschedulable"  # exactly 5 minutes: not yet
    clock.advance(1)
    q.flush_unschedulable_leftover()
    assert q.where("default/p") == "active"


def test_scheduler_requeues_on_node_add_and_then_places_the_pod() -> None:
    clock = FakeClock()
    sched = make_scheduler([make_node("small", cpu="1")], clock=clock)
    sched.on_pod_add(make_pod("p", cpu="2"))
    qpi, res = sched.schedule_next()
    assert res.message.startswith("0/1 nodes are available: 1 Insufficient cpu.")
    assert sched.queue.where("default/p") == "unschedulable"
    clock.advance(5)
    sched.on_node_add(make_node("big", cpu="8"))
    assert sched.queue.where("default/p") == "active"
    qpi, res = sched.schedule_next()
    assert res.node_name == "big"
    assert sched.queue.where("default/p") is None


def test_deleting_an_assigned_pod_frees_room() -> None:
    clock = FakeClock()
    sched = make_scheduler(
        [make_node("n", cpu="2")], [make_pod("hog", cpu="2", node="n")], clock=clock
    )
    sched.on_pod_add(make_pod("p", cpu="1"))
    sched.schedule_next()
    assert sched.queue.where("default/p") == "unschedulable"
    clock.advance(2)
    sched.on_pod_delete(make_pod("hog", cpu="2", node="n"))
    _, res = sched.schedule_next()
    assert res.node_name == "n"


def test_only_a_real_change_moves_an_unschedulable_pod() -> None:
    q, _ = make_queue()
    q.add(make_pod("p", cpu="8"))
    qpi = q.pop()
    q.add_unschedulable(
        qpi, pod_scheduling_cycle=q.scheduling_cycle, unschedulable_plugins={"NodeResourcesFit"}
    )
    # The scheduler's own PodScheduled=False write: status and resourceVersion only.
    written = make_pod("p", cpu="8")
    written["metadata"]["resourceVersion"] = "42"
    written["status"] = {"conditions": [{"type": "PodScheduled", "status": "False"}]}
    q.update(written)
    assert q.where("default/p") == "unschedulable"
    relabelled = make_pod("p", cpu="8", labels={"tier": "web"})
    q.update(relabelled)
    assert q.where("default/p") in ("active", "backoff")
