"""NodeResourcesFit and NodeResourcesBalancedAllocation, with the arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from sched_builders import GI, filter_all, make_node, make_pod, plugin_for, score_all

from kubelite.scheduler.framework.resources import pod_requests
from kubelite.scheduler.plugins import node_resources_balanced_allocation as balanced
from kubelite.scheduler.plugins import node_resources_fit as fit

MI = 1024**2


def _container(cpu: str | None = None, memory: str | None = None, **extra: object) -> dict:
    reqs = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"name": "c", "image": "x", "resources": {"requests": reqs}, **extra}


@pytest.mark.parametrize(
    ("spec", "non_zero", "want_cpu", "want_mem"),
    [
        # 1 + 2 cores of regular containers
        ({"containers": [_container("1"), _container("2")]}, False, Fraction(3), None),
        # max(sum(containers)=1, init 3) = 3
        (
            {"containers": [_container("1")], "initContainers": [_container("3")]},
            False,
            Fraction(3),
            None,
        ),
        # sidecar 1 runs with the app (1 + 1 = 2); init after it needs 1.5 + 1 = 2.5 -> 2.5
        (
            {
                "containers": [_container("1")],
                "initContainers": [_container("1", restartPolicy="Always"), _container("1500m")],
            },
            False,
            Fraction(5, 2),
            None,
        ),
        # overhead 250m added on top of 500m
        (
            {"containers": [_container("500m")], "overhead": {"cpu": "250m"}},
            False,
            Fraction(3, 4),
            None,
        ),
        # non-zero defaults: a container with no requests counts 100m and 200Mi
        ({"containers": [_container()]}, True, Fraction(1, 10), Fraction(200 * MI)),
        # ...but only fills what is missing: memory 1Gi kept, cpu defaulted
        ({"containers": [_container(memory="1Gi")]}, True, Fraction(1, 10), Fraction(GI)),
    ],
    ids=["sum", "init-max", "sidecar", "overhead", "non-zero-empty", "non-zero-partial"],
)
def test_pod_requests(
    spec: dict, non_zero: bool, want_cpu: Fraction, want_mem: Fraction | None
) -> None:
    reqs = pod_requests({"spec": spec}, non_zero=non_zero)
    assert reqs.get("cpu") == want_cpu
    assert reqs.get("memory") == want_mem


@pytest.mark.parametrize(
    ("node", "existing", "pod", "want"),
    [
        (make_node("n", cpu="2"), [], make_pod("p", cpu="1"), None),
        # 2000m - 1500m used = 500m free < 1000m
        (
            make_node("n", cpu="2"),
            [make_pod("e", cpu="1500m", node="n")],
            make_pod("p", cpu="1"),
            ("Insufficient cpu",),
        ),
        # both resources short: every reason is kept
        (
            make_node("n", cpu="1", memory="1Gi"),
            [],
            make_pod("p", cpu="2", memory="2Gi"),
            ("Insufficient cpu", "Insufficient memory"),
        ),
        # pods: 1 allowed, 1 present
        (make_node("n", pods=1), [make_pod("e", node="n")], make_pod("p"), ("Too many pods",)),
        # extended resource: 2 GPUs, asks for 3
        (
            make_node("n", extra={"example.com/gpu": "2"}),
            [],
            {
                **make_pod("p"),
                "spec": {
                    "containers": [
                        {"name": "c", "resources": {"requests": {"example.com/gpu": "3"}}}
                    ]
                },
            },
            ("Insufficient example.com/gpu",),
        ),
        # best-effort pod only checks the pod count
        (make_node("n", cpu="0"), [], make_pod("p"), None),
    ],
    ids=["fits", "cpu-short", "cpu-and-memory", "too-many-pods", "extended", "best-effort"],
)
def test_fit_filter(node: dict, existing: list, pod: dict, want: tuple | None) -> None:
    pl, cache = plugin_for(fit, [node], existing)
    assert filter_all(pl, cache, pod)["n"] == want


FOUR_CPU_NODES = [make_node("a", cpu="4", memory="8Gi"), make_node("b", cpu="4", memory="8Gi")]
B_BUSY = [make_pod("e", cpu="2", memory="4Gi", node="b")]


@pytest.mark.parametrize(
    ("args", "pod", "want"),
    [
        # LeastAllocated, pod 1 cpu / 2Gi:
        # a: cpu (4000-1000)*100/4000=75, mem (8-2)*100/8=75 -> 75
        # b: cpu (4000-3000)*100/4000=25, mem (8-6)*100/8=25 -> 25
        ({}, make_pod("p", cpu="1", memory="2Gi"), {"a": 75, "b": 25}),
        # MostAllocated: a: 1000*100/4000=25 ; b: 3000*100/4000=75
        (
            {"scoringStrategy": {"type": "MostAllocated"}},
            make_pod("p", cpu="1", memory="2Gi"),
            {"a": 25, "b": 75},
        ),
        # LeastAllocated with cpu weight 3, memory 1, pod 1 cpu / 0 memory (non-zero 200Mi):
        # a: cpu 75, mem (8192-200)*100//8192=97 -> (75*3+97)/4 = 80
        # b: cpu 25, mem (8192-4296)*100//8192=47 -> (25*3+47)/4 = 30
        (
            {
                "scoringStrategy": {
                    "type": "LeastAllocated",
                    "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}],
                }
            },
            make_pod("p", cpu="1"),
            {"a": 80, "b": 30},
        ),
        # RequestedToCapacityRatio shape (0,0)->(100,10) scaled x10: score = utilization
        # a: 25% -> 25 both -> 25 ; b: 75% -> 75
        (
            {
                "scoringStrategy": {
                    "type": "RequestedToCapacityRatio",
                    "requestedToCapacityRatio": {
                        "shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
                    },
                }
            },
            make_pod("p", cpu="1", memory="2Gi"),
            {"a": 25, "b": 75},
        ),
        # best-effort pod counts as 100m / 200Mi for scoring:
        # a: cpu (4000-100)*100//4000=97, mem (8192-200)*100//8192=97 -> 97
        # b: cpu (4000-2100)*100//4000=47, mem (8192-4296)*100//8192=47 -> 47
        ({}, make_pod("p"), {"a": 97, "b": 47}),
    ],
    ids=["least", "most", "weighted", "rtcr", "non-zero-defaults"],
)
def test_fit_score(args: dict, pod: dict, want: dict) -> None:
    pl, cache = plugin_for(fit, FOUR_CPU_NODES, B_BUSY, args)
    scores = score_all(pl, cache, pod)
    assert {n: s for n, (_, s) in scores.items()} == want


def test_broken_linear_truncates_like_go() -> None:
    fn = fit.broken_linear([(0, 100), (100, 0)])
    # 100 + (0-100)*(33-0)/(100-0) = 100 - 33 = 67 (Go truncates -33.0 toward zero)
    assert fn(33) == 67
    # (0-100)*(1)/100 = -1 -> 99
    assert fn(1) == 99
    assert fn(150) == 0


@pytest.mark.parametrize(
    ("pod", "want"),
    [
        # a: cpu 1000/4000=.25, mem 2/8=.25 -> std 0 -> 100
        # b: cpu 3000/4000=.75, mem 6/8=.75 -> 100
        (make_pod("p", cpu="1", memory="2Gi"), {"a": 100, "b": 100}),
        # a: cpu .5, mem 0 -> std .25 -> 75 ; b: cpu 4000/4000=1, mem 4/8=.5 -> std .25 -> 75
        (make_pod("p", cpu="2"), {"a": 75, "b": 75}),
        # a: cpu .25, mem 4/8=.5 -> std .125 -> 87 ; b: cpu .75, mem 8/8=1 -> std .125 -> 87
        (make_pod("p", cpu="1", memory="4Gi"), {"a": 87, "b": 87}),
        # best-effort: no defaults here. a: 0,0 -> 100 ; b: .5,.5 -> 100
        (make_pod("p"), {"a": 100, "b": 100}),
    ],
    ids=["even", "cpu-only", "skewed", "best-effort"],
)
def test_balanced_allocation(pod: dict, want: dict) -> None:
    pl, cache = plugin_for(balanced, FOUR_CPU_NODES, B_BUSY)
    assert {n: s for n, (_, s) in score_all(pl, cache, pod).items()} == want


def test_balanced_three_resources_uses_std() -> None:
    node = make_node("a", cpu="4", memory="8Gi", extra={"example.com/gpu": "4"})
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "resources": {
                        "requests": {"cpu": "1", "memory": "4Gi", "example.com/gpu": "3"}
                    },
                }
            ]
        },
    }
    args = {
        "resources": [
            {"name": "cpu", "weight": 1},
            {"name": "memory", "weight": 1},
            {"name": "example.com/gpu", "weight": 1},
        ]
    }
    pl, cache = plugin_for(balanced, [node], [], args)
    # fractions .25, .5, .75: mean .5, variance (.0625+0+.0625)/3, std .2041 -> int(79.58) = 79
    assert score_all(pl, cache, pod)["a"] == (79, 79)
