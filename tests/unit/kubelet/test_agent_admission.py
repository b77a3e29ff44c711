"""A pod given a nodeName is admitted by the node as the kubelet admits it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from kubelite.kubelet.admission import Admitted
from kubelite.kubelet.agent import NodeAgent


def pod(uid: str, cpu: str | None = None, memory: str | None = None) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: dict[str, Any] = {"name": "app", "image": "app"}
    if requests:
        container["resources"] = {"requests": requests}
    return {"metadata": {"name": uid, "uid": uid}, "spec": {"containers": [container]}}


def node(tmp_path: Path) -> NodeAgent:
    capacity = {"cpu": "666m", "memory": "1Gi", "pods": "3", "ephemeral-storage": "10Gi"}
    return NodeAgent("n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24", capacity=capacity)


def test_requests_beyond_what_is_left_are_refused_with_upstreams_reason(tmp_path: Path) -> None:
    n = node(tmp_path)
    assert n._admit(pod("a", cpu="500m")) is None
    n._admitted["a"] = Admitted({"cpu": Fraction(1, 2)})
    n.runners["a"] = type("R", (), {"pod": {"status": {"phase": "Running"}}})()  # type: ignore[assignment]
    assert n._admit(pod("b", cpu="2")) == (
        "OutOfcpu",
        "Node didn't have enough resource: cpu, requested: 2000, used: 500, capacity: 666",
    )
    assert n._admit(pod("c", cpu="166m")) is None  # exactly what is left
    assert n._admit(pod("d", memory="2Gi")) == (
        "OutOfmemory",
        "Node didn't have enough resource: memory, requested: 2147483648, used: 0, "
        "capacity: 1073741824",
    )


def test_the_pod_count_is_checked_first_and_finished_pods_do_not_count(tmp_path: Path) -> None:
    n = node(tmp_path)
    for uid, phase in (("a", "Running"), ("b", "Running"), ("c", "Succeeded")):
        n._admitted[uid] = Admitted({})
        n.runners[uid] = type("R", (), {"pod": {"status": {"phase": phase}}})()  # type: ignore[assignment]
    assert n._admit(pod("d")) is None  # two active of three
    n.runners["c"].pod["status"]["phase"] = "Running"
    assert n._admit(pod("d", cpu="5")) == (
        "OutOfpods",
        "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
    )
