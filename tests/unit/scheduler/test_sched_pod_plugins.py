"""InterPodAffinity and PodTopologySpread, with the arithmetic."""

from __future__ import annotations

import pytest
from sched_builders import (
    affinity,
    anti_affinity,
    filter_all,
    make_node,
    make_pod,
    plugin_for,
    score_all,
    taint,
)

from kubelite.scheduler.plugins import inter_pod_affinity as ipa
from kubelite.scheduler.plugins import pod_topology_spread as pts

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
AFF = "node(s) didn't match pod affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"

NODES = [
    make_node("n1", labels={ZONE: "a"}),
    make_node("n2", labels={ZONE: "a"}),
    make_node("n3", labels={ZONE: "b"}),
]
DB = make_pod("db", node="n1", labels={"app": "db"})


def _fits(result: dict) -> set[str]:
    return {n for n, v in result.items() if v is None}


@pytest.mark.parametrize(
    ("existing", "pod", "fits", "reason"),
    [
        ([DB], make_pod("p", affinity=affinity({"app": "db"})), {"n1"}, AFF),
        ([DB], make_pod("p", affinity=affinity({"app": "db"}, ZONE)), {"n1", "n2"}, AFF),
        ([DB], make_pod("p", affinity=anti_affinity({"app": "db"})), {"n2", "n3"}, ANTI),
        ([DB], make_pod("p", affinity=anti_affinity({"app": "db"}, ZONE)), {"n3"}, ANTI),
        # symmetry: db refuses web pods in its zone
        (
            [
                make_pod(
                    "db",
                    node="n1",
                    labels={"app": "db"},
                    affinity=anti_affinity({"app": "web"}, ZONE),
                )
            ],
            make_pod("p", labels={"app": "web"}),
            {"n3"},
            EXISTING,
        ),
        # first pod of a self-affine group may go anywhere
        (
            [],
            make_pod("p", labels={"app": "web"}, affinity=affinity({"app": "web"})),
            {"n1", "n2", "n3"},
            AFF,
        ),
        # affinity to pods that do not exist, not self-matching: nowhere
        ([], make_pod("p", affinity=affinity({"app": "cache"})), set(), AFF),
        # the term's namespace defaults to the pod's own: db in "other" is not seen
        (
            [make_pod("db", node="n1", namespace="other", labels={"app": "db"})],
            make_pod("p", affinity=affinity({"app": "db"})),
            set(),
            AFF,
        ),
    ],
    ids=[
        "affinity-host",
        "affinity-zone",
        "anti-host",
        "anti-zone",
        "existing-anti",
        "self-affinity",
        "no-match",
        "other-namespace",
    ],
)
def test_inter_pod_affinity_filter(existing: list, pod: dict, fits: set, reason: str) -> None:
    pl, cache = plugin_for(ipa, NODES, existing)
    got = filter_all(pl, cache, pod)
    assert _fits(got) == fits
    assert all(v == (reason,) for v in got.values() if v is not None)


@pytest.mark.parametrize(
    ("term_extra", "fits"),
    [
        ({"namespaces": ["other"]}, {"n1"}),
        ({"namespaceSelector": {"matchLabels": {"team": "x"}}}, {"n1"}),
        ({"namespaceSelector": {"matchLabels": {"team": "y"}}}, set()),
        ({"namespaceSelector": {}}, {"n1"}),  # empty selector: every namespace
    ],
    ids=["namespaces", "ns-selector", "ns-selector-miss", "ns-selector-all"],
)
def test_inter_pod_affinity_namespaces(term_extra: dict, fits: set) -> None:
    labels = {"other": {"team": "x"}, "default": {}}
    existing = [make_pod("db", node="n1", namespace="other", labels={"app": "db"})]
    aff = affinity({"app": "db"})
    aff["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0].update(term_extra)
    pl, cache = plugin_for(ipa, NODES, existing, namespace_labels=labels.get)
    assert _fits(filter_all(pl, cache, make_pod("p", affinity=aff))) == fits


def test_inter_pod_affinity_missing_topology_key_fails() -> None:
    pl, cache = plugin_for(ipa, [*NODES, make_node("bare")], [DB])
    got = filter_all(pl, cache, make_pod("p", affinity=affinity({"app": "db"}, ZONE)))
    assert got["bare"] == (AFF,)


def test_inter_pod_affinity_score() -> None:
    pref = {
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app": "db"}},
                        "topologyKey": ZONE,
                    },
                }
            ]
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 5,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app": "db"}},
                        "topologyKey": HOST,
                    },
                }
            ]
        },
    }
    pl, cache = plugin_for(ipa, NODES, [DB])
    # n1: zone a +10, host n1 -5 = 5 ; n2: zone a +10 = 10 ; n3: 0
    # normalized (s - min) / (max - min) * 100: 50, 100, 0
    assert score_all(pl, cache, make_pod("p", affinity=pref)) == {
        "n1": (5, 50),
        "n2": (10, 100),
        "n3": (0, 0),
    }


def test_inter_pod_affinity_score_symmetry_and_skip() -> None:
    pl, cache = plugin_for(
        ipa,
        NODES,
        [make_pod("db", node="n2", labels={"app": "db"}, affinity=affinity({"app": "web"}))],
    )
    # db's required affinity to web counts hardPodAffinityWeight 1 on db's host n2
    assert score_all(pl, cache, make_pod("p", labels={"app": "web"})) == {
        "n1": (0, 0),
        "n2": (1, 100),
        "n3": (0, 0),
    }
    pl, cache = plugin_for(ipa, NODES, [DB])
    assert score_all(pl, cache, make_pod("p")) is None  # nobody has affinity: PreScore skips


def _spread(
    max_skew: int = 1, key: str = ZONE, when: str = "DoNotSchedule", **extra: object
) -> list[dict]:
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}},
            **extra,
        }
    ]


def _web(name: str, node: str) -> dict:
    return make_pod(name, node=node, labels={"app": "web"})


SPREAD_NODES = [
    make_node("a1", labels={ZONE: "a"}),
    make_node("a2", labels={ZONE: "a"}),
    make_node("b1", labels={ZONE: "b"}),
]
NOT_MATCH = "node(s) didn't match pod topology spread constraints"


@pytest.mark.parametrize(
    ("nodes", "existing", "constraints", "fits"),
    [
        # zone a has 2, b has 0: a -> 2+1-0 = 3 > 1 ; b -> 0+1-0 = 1
        (SPREAD_NODES, [_web("w1", "a1"), _web("w2", "a2")], _spread(), {"b1"}),
        # maxSkew 3 tolerates it
        (SPREAD_NODES, [_web("w1", "a1"), _web("w2", "a2")], _spread(3), {"a1", "a2", "b1"}),
        # one each: 1+1-1 = 1 everywhere
        (SPREAD_NODES, [_web("w1", "a1"), _web("w2", "b1")], _spread(), {"a1", "a2", "b1"}),
        # minDomains 3 but only 2 zones: min counts as 0 -> 1+1-0 = 2 > 1 everywhere
        (SPREAD_NODES, [_web("w1", "a1"), _web("w2", "b1")], _spread(minDomains=3), set()),
        # hostname spreading: a1 has 1, others 0 -> a1: 1+1-0 = 2 > 1
        (SPREAD_NODES, [_web("w1", "a1")], _spread(key=HOST), {"a2", "b1"}),
    ],
    ids=["skew", "max-skew-3", "balanced", "min-domains", "hostname"],
)
def test_spread_filter(nodes: list, existing: list, constraints: list, fits: set) -> None:
    pl, cache = plugin_for(pts, nodes, existing)
    got = filter_all(
        pl, cache, make_pod("p", labels={"app": "web"}, topologySpreadConstraints=constraints)
    )
    assert _fits(got) == fits
    assert all(v == (NOT_MATCH,) for v in got.values() if v is not None)


def test_spread_missing_label_is_unresolvable() -> None:
    pl, cache = plugin_for(pts, [*SPREAD_NODES, make_node("bare")])
    got = filter_all(
        pl, cache, make_pod("p", labels={"app": "web"}, topologySpreadConstraints=_spread())
    )
    assert got["bare"] == (NOT_MATCH + " (missing required label)",)


@pytest.mark.parametrize(
    ("policy", "a1_fits"),
    [
        # Honor: b1 fails the pod's nodeSelector, so only zone a counts: 2+1-2 = 1
        ({}, True),
        # Ignore: zone b (0) counts too: 2+1-0 = 3 > 1
        ({"nodeAffinityPolicy": "Ignore"}, False),
    ],
    ids=["affinity-honor", "affinity-ignore"],
)
def test_spread_node_affinity_policy(policy: dict, a1_fits: bool) -> None:
    nodes = [make_node("a1", labels={ZONE: "a", "type": "x"}), make_node("b1", labels={ZONE: "b"})]
    pl, cache = plugin_for(pts, nodes, [_web("w1", "a1"), _web("w2", "a1")])
    pod = make_pod(
        "p",
        labels={"app": "web"},
        nodeSelector={"type": "x"},
        topologySpreadConstraints=_spread(**policy),
    )
    assert (filter_all(pl, cache, pod)["a1"] is None) == a1_fits


@pytest.mark.parametrize(
    ("policy", "a1_fits"),
    [
        # Ignore (default): tainted zone b (0 pods) counts: 1+1-0 = 2 > 1
        ({}, False),
        # Honor: b1's taint is not tolerated, zone b drops out: 1+1-1 = 1
        ({"nodeTaintsPolicy": "Honor"}, True),
    ],
    ids=["taints-ignore", "taints-honor"],
)
def test_spread_node_taints_policy(policy: dict, a1_fits: bool) -> None:
    nodes = [
        make_node("a1", labels={ZONE: "a"}),
        make_node("b1", labels={ZONE: "b"}, taints=[taint("x")]),
    ]
    pl, cache = plugin_for(pts, nodes, [_web("w1", "a1")])
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=_spread(**policy))
    assert (filter_all(pl, cache, pod)["a1"] is None) == a1_fits


def test_spread_score_schedule_anyway() -> None:
    nodes = [
        make_node("a1", labels={ZONE: "a"}),
        make_node("b1", labels={ZONE: "b"}),
        make_node("c1", labels={ZONE: "c"}),
    ]
    pl, cache = plugin_for(pts, nodes, [_web("w1", "a1"), _web("w2", "a1"), _web("w3", "c1")])
    pod = make_pod(
        "p", labels={"app": "web"}, topologySpreadConstraints=_spread(when="ScheduleAnyway")
    )
    # 3 zones -> weight log(3+2) = 1.609; score = count*1.609 + (maxSkew-1)
    # a1: 2*1.609 = 3.22 -> 3 ; b1: 0 ; c1: 1.609 -> 2
    # normalized 100*(max+min-s)/max with max 3, min 0: a1 0, b1 100, c1 33
    assert score_all(pl, cache, pod) == {"a1": (3, 0), "b1": (0, 100), "c1": (2, 33)}


def test_spread_system_default_constraints_use_the_lister() -> None:
    nodes = [make_node("a1", labels={ZONE: "a"}), make_node("b1", labels={ZONE: "b"})]
    existing = [_web("w1", "a1"), _web("w2", "a1")]
    selector = {"matchLabels": {"app": "web"}}
    pl, cache = plugin_for(pts, nodes, existing, spread_selector=lambda pod: selector)
    # hostname (maxSkew 3) weight log(2+2) = 1.386, zone (maxSkew 5) 2 zones -> log(4) = 1.386
    # a1: 2*1.386 + 2 + 2*1.386 + 4 = 11.55 -> 12 ; b1: 0 + 2 + 0 + 4 = 6
    # normalized 100*(12+6-s)/12: a1 50, b1 100
    assert score_all(pl, cache, make_pod("p", labels={"app": "web"})) == {
        "a1": (12, 50),
        "b1": (6, 100),
    }
    pl, cache = plugin_for(pts, nodes, existing)
    assert score_all(pl, cache, make_pod("p", labels={"app": "web"})) is None  # nothing selects it
