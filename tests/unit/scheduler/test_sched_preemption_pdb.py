"""DefaultPreemption with PodDisruptionBudgets: violating victims are a last resort."""

from __future__ import annotations

from typing import Any

from sched_builders import make_node, make_pod, make_scheduler

from kubelite.scheduler.framework.types import PodInfo
from kubelite.scheduler.plugins.default_preemption import filter_pods_with_pdb_violation


def pdb(
    name: str,
    labels: dict[str, str],
    allowed: int,
    *,
    disrupted: tuple[str, ...] = (),
    namespace: str = "default",
) -> dict[str, Any]:
    status: dict[str, Any] = {"disruptionsAllowed": allowed}
    if disrupted:
        status["disruptedPods"] = {p: "2026-01-01T00:00:00Z" for p in disrupted}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": labels}},
        "status": status,
    }


def _names(pods: list[PodInfo]) -> list[str]:
    return [p.name for p in pods]


def test_each_matching_pod_spends_one_allowed_disruption() -> None:
    db = {"app": "db"}
    pods = [PodInfo(make_pod(n, labels=db, node="n1")) for n in ("a", "b", "c")]
    pods.append(PodInfo(make_pod("web", labels={"app": "web"}, node="n1")))
    # disruptionsAllowed 1: a takes it (1 -> 0, fine), b (0 -> -1) and c (-1 -> -2) violate
    violating, ok = filter_pods_with_pdb_violation(pods, [pdb("db", db, 1)])
    assert (_names(violating), _names(ok)) == (["b", "c"], ["a", "web"])


def test_already_disrupted_pods_and_other_namespaces_do_not_count() -> None:
    db = {"app": "db"}
    pods = [PodInfo(make_pod(n, labels=db, node="n1")) for n in ("a", "b")]
    budgets = [
        # a is in disruptedPods: not charged; b takes the one allowed disruption (1 -> 0)
        pdb("db", db, 1, disrupted=("a",)),
        pdb("other", db, 0, namespace="elsewhere"),  # another namespace: never matches
    ]
    violating, ok = filter_pods_with_pdb_violation(pods, budgets)
    assert (_names(violating), _names(ok)) == ([], ["a", "b"])


def test_empty_selector_and_unlabelled_pods_match_nothing() -> None:
    empty = pdb("all", {}, 0)
    pods = [
        PodInfo(make_pod("a", labels={"app": "db"}, node="n1")),
        PodInfo(make_pod("b", node="n1")),
    ]
    violating, ok = filter_pods_with_pdb_violation(pods, [empty, pdb("any", {"x": "y"}, 0)])
    assert (_names(violating), _names(ok)) == ([], ["a", "b"])


def test_candidate_with_fewer_pdb_violations_wins() -> None:
    nodes = [make_node("n1", cpu="2"), make_node("n2", cpu="2")]
    existing = [
        make_pod("guarded", cpu="2", node="n1", priority=1, labels={"app": "db"}),
        make_pod("free", cpu="2", node="n2", priority=5),
    ]
    pod = make_pod("p", cpu="2", priority=10)
    # without budgets n1 wins: its only victim has the lower priority (1 < 5)
    plain = make_scheduler(nodes, existing).schedule_one(pod)
    assert plain.nominated_node_name == "n1"
    # with a budget allowing 0 disruptions of app=db: n1 has 1 violation, n2 has 0 -> n2
    budgets = [pdb("db", {"app": "db"}, 0)]
    res = make_scheduler(nodes, existing, pdbs=lambda: budgets).schedule_one(pod)
    assert res.nominated_node_name == "n2"
    assert [v["metadata"]["name"] for v in res.victims] == ["free"]


def test_violating_pods_are_reprieved_first_on_a_node() -> None:
    nodes = [make_node("n1", cpu="2")]
    existing = [
        make_pod("guarded", cpu="1", node="n1", priority=1, labels={"app": "db"}),
        make_pod("other", cpu="1", node="n1", priority=2),
    ]
    pod = make_pod("p", cpu="1", priority=10)
    # without budgets: reprieve by importance - other (2) fits back, guarded (1) is the victim
    plain = make_scheduler(nodes, existing).schedule_one(pod)
    assert [v["metadata"]["name"] for v in plain.victims] == ["guarded"]
    # with the budget exhausted, guarded is reprieved first and other goes instead
    budgets = [pdb("db", {"app": "db"}, 0)]
    res = make_scheduler(nodes, existing, pdbs=lambda: budgets).schedule_one(pod)
    assert (res.nominated_node_name, [v["metadata"]["name"] for v in res.victims]) == (
        "n1",
        ["other"],
    )


def test_a_budget_is_broken_when_nothing_else_makes_room() -> None:
    nodes = [make_node("n1", cpu="2")]
    existing = [make_pod("guarded", cpu="2", node="n1", priority=1, labels={"app": "db"})]
    budgets = [pdb("db", {"app": "db"}, 0)]
    res = make_scheduler(nodes, existing, pdbs=lambda: budgets).schedule_one(
        make_pod("p", cpu="2", priority=10)
    )
    # the only candidate violates the budget (1 violation) but is still chosen, as upstream
    assert (res.nominated_node_name, [v["metadata"]["name"] for v in res.victims]) == (
        "n1",
        ["guarded"],
    )
