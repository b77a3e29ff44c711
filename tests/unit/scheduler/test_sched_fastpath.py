"""The vectorized path must agree exactly with the plugin-by-plugin path."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sched_builders import make_node, make_pod, taint

from kubelite.scheduler import Cache, Scheduler


def _cluster(n: int) -> list[dict[str, Any]]:
    nodes = []
    for i in range(n):
        kw: dict[str, Any] = {
            "labels": {"zone": f"z{i % 3}", "disk": "ssd" if i % 4 == 0 else "hdd"}
        }
        if i % 7 == 0:
            kw["taints"] = [taint("dedicated", "infra")]
        if i % 5 == 0:
            kw["taints"] = [*kw.get("taints", []), taint("soft", "", "PreferNoSchedule")]
        if i % 11 == 0:
            kw["unschedulable"] = True
        cpu = "1" if i % 6 == 0 else "4"
        nodes.append(
            make_node(f"node-{i:03d}", cpu=cpu, memory="8Gi", pods=20 if i % 9 else 3, **kw)
        )
    return nodes


TOLERATE_INFRA = [
    {"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}
]
TOLERATE_SOFT = [{"key": "soft", "operator": "Exists", "effect": "PreferNoSchedule"}]


def _pods(kind: str, count: int) -> list[dict[str, Any]]:
    makers = {
        "requests": lambda i: make_pod(
            f"p{i}", cpu=f"{100 + 50 * (i % 7)}m", memory=f"{128 * (1 + i % 5)}Mi"
        ),
        "best-effort": lambda i: make_pod(f"p{i}"),
        "selector": lambda i: make_pod(f"p{i}", cpu="500m", nodeSelector={"disk": "ssd"}),
        "tolerations": lambda i: make_pod(
            f"p{i}", cpu="250m", tolerations=TOLERATE_INFRA + (TOLERATE_SOFT if i % 2 else [])
        ),
        "big": lambda i: make_pod(f"p{i}", cpu="3", memory="6Gi"),
        "cpu-only": lambda i: make_pod(f"p{i}", cpu="1"),
    }
    return [makers[kind](i) for i in range(count)]


def _run(
    fast: bool, nodes: list[dict[str, Any]], pods: list[dict[str, Any]], pct: int
) -> list[tuple[Any, ...]]:
    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    sched = Scheduler(cache, rng=random.Random(7), percentage_of_nodes_to_score=pct, fast_path=fast)
    out = []
    for pod in pods:
        r = sched.schedule_one(pod)
        verdicts = {
            n: (None if s is None else (s.code, s.reasons, s.plugin))
            for n, s in r.filter_verdicts.items()
        }
        out.append(
            (
                r.node_name,
                r.message,
                r.evaluated_nodes,
                r.feasible_nodes,
                verdicts,
                {k: dict(v) for k, v in r.scores.items()},
                r.total_scores,
                r.fast_path,
            )
        )
    return out


@pytest.mark.parametrize(
    ("kind", "nodes", "pods", "pct"),
    [
        ("requests", 30, 60, 0),
        ("requests", 250, 120, 0),  # > 100 nodes: the window and rotating start index matter
        ("requests", 250, 40, 100),
        ("best-effort", 40, 50, 0),
        ("selector", 60, 40, 0),
        ("tolerations", 40, 40, 0),
        ("big", 30, 40, 0),  # fills nodes until nothing fits
        ("cpu-only", 150, 200, 30),
    ],
    ids=[
        "requests",
        "window",
        "exhaustive",
        "best-effort",
        "selector",
        "tolerations",
        "until-full",
        "cpu-only-30pct",
    ],
)
def test_fast_path_matches_reference(kind: str, nodes: int, pods: int, pct: int) -> None:
    cluster, batch = _cluster(nodes), _pods(kind, pods)
    fast = _run(True, cluster, batch, pct)
    ref = _run(False, cluster, batch, pct)
    assert [f[:-1] for f in fast] == [r[:-1] for r in ref]
    assert any(f[-1] for f in fast), "the fast path was never taken"
    assert not any(r[-1] for r in ref)


MB = 1024 * 1024


def _cluster_with_images(n: int) -> list[dict[str, Any]]:
    """Nodes as the node agent reports them: some hold the app images, in mixed spellings."""
    nodes = _cluster(n)
    for i, node in enumerate(nodes):
        images = []
        if i % 3 == 0:
            images.append({"names": ["docker.io/library/web:1"], "sizeBytes": 600 * MB})
        if i % 4 == 1:
            images.append({"names": ["web:1", "sidecar:2"], "sizeBytes": 300 * MB})
        if i % 5 == 2:
            images.append({"names": ["docker.io/library/sidecar:2"], "sizeBytes": 80 * MB})
        node["status"]["images"] = images
    return nodes


def test_fast_path_scores_image_locality_like_the_plugin() -> None:
    def pod(i: int) -> dict[str, Any]:
        p = make_pod(f"p{i}", cpu="200m", memory="256Mi", image="web:1" if i % 2 else "other:1")
        if i % 3 == 0:
            p["spec"]["containers"].append({"name": "side", "image": "sidecar:2"})
        return p

    cluster, batch = _cluster_with_images(120), [pod(i) for i in range(80)]
    fast = _run(True, cluster, batch, 0)
    ref = _run(False, cluster, batch, 0)
    assert [f[:-1] for f in fast] == [r[:-1] for r in ref]
    assert all(f[-1] for f in fast), "image-holding pods should stay on the fast path"
    scored = [s["ImageLocality"].score for f in fast for s in f[5].values()]
    assert max(scored) > 0, "some node must have scored for its images"


def test_fast_path_steps_aside_for_affinity() -> None:
    cluster = _cluster(10)
    pod = make_pod(
        "p",
        cpu="100m",
        affinity={
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": "zone"}
                ]
            }
        },
    )
    assert _run(True, cluster, [pod], 0)[0][-1] is False


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_a_node_of_absurd_capacity_does_not_stop_scheduling(fast: bool) -> None:
    """Quantities are held to int64 as upstream's MilliValue is (a 1e400 cpu node made
    every pod fail with an OverflowError)."""
    nodes = [make_node("huge", cpu="1e400", memory="8Gi"), make_node("plain", cpu="4")]
    [(node, message, *_)] = _run(fast, nodes, [make_pod("p", cpu="1")], 0)
    assert node in ("huge", "plain") and not message
