"""Node-level plugins: taints, node affinity, cordon, node name, host ports, images."""

from __future__ import annotations

import pytest
from sched_builders import filter_all, make_node, make_pod, plugin_for, score_all, taint

from kubelite.scheduler.framework.images import normalized_image_name
from kubelite.scheduler.plugins import (
    image_locality,
    node_affinity,
    node_name,
    node_ports,
    node_unschedulable,
    taint_toleration,
)

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("taints", "tolerations", "want"),
    [
        ([taint("dedicated", "gpu")], [], ("node(s) had untolerated taint {dedicated: gpu}",)),
        (
            [taint("node-role.kubernetes.io/control-plane")],
            [],
            ("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",),
        ),
        (
            [taint("dedicated", "gpu")],
            [{"key": "dedicated", "operator": "Equal", "value": "gpu"}],
            None,
        ),
        (
            [taint("dedicated", "gpu")],
            [{"key": "dedicated", "operator": "Equal", "value": "cpu"}],
            ("node(s) had untolerated taint {dedicated: gpu}",),
        ),
        ([taint("dedicated", "gpu", "NoExecute")], [{"operator": "Exists"}], None),
        (
            [taint("dedicated", "gpu", "NoExecute")],
            [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            ("node(s) had untolerated taint {dedicated: gpu}",),
        ),
        ([taint("soft", "x", "PreferNoSchedule")], [], None),
    ],
    ids=[
        "untolerated",
        "empty-value",
        "equal",
        "equal-other-value",
        "exists-all",
        "effect-mismatch",
        "prefer-ignored",
    ],
)
def test_taint_filter(taints: list, tolerations: list, want: tuple | None) -> None:
    pl, cache = plugin_for(taint_toleration, [make_node("n", taints=taints)])
    assert filter_all(pl, cache, make_pod("p", tolerations=tolerations))["n"] == want


def test_taint_score_prefers_fewer_prefer_no_schedule_taints() -> None:
    soft = [taint("a", "", "PreferNoSchedule"), taint("b", "", "PreferNoSchedule")]
    nodes = [make_node("zero"), make_node("one", taints=soft[:1]), make_node("two", taints=soft)]
    pl, cache = plugin_for(taint_toleration, nodes)
    # raw = untolerated PreferNoSchedule count; normalized reversed: 100 - 100*c/max(2)
    assert score_all(pl, cache, make_pod("p")) == {"zero": (0, 100), "one": (1, 50), "two": (2, 0)}
    # tolerating "a" leaves one untolerated taint on "two": max 1 -> 100, 100, 0
    tol = [{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}]
    assert score_all(pl, cache, make_pod("p", tolerations=tol)) == {
        "zero": (0, 100),
        "one": (0, 100),
        "two": (1, 0),
    }


def _req(*exprs: dict, fields: list | None = None) -> dict:
    term: dict = {"matchExpressions": list(exprs)}
    if fields:
        term["matchFields"] = fields
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


AFFINITY_NODES = [
    make_node("small", labels={"zone": "a", "cores": "4"}),
    make_node("big", labels={"zone": "b", "cores": "64", "gpu": "yes"}),
]


@pytest.mark.parametrize(
    ("spec", "fits"),
    [
        ({"nodeSelector": {"zone": "b"}}, {"big"}),
        ({"affinity": _req({"key": "zone", "operator": "In", "values": ["a", "c"]})}, {"small"}),
        ({"affinity": _req({"key": "zone", "operator": "NotIn", "values": ["a"]})}, {"big"}),
        ({"affinity": _req({"key": "gpu", "operator": "Exists"})}, {"big"}),
        ({"affinity": _req({"key": "gpu", "operator": "DoesNotExist"})}, {"small"}),
        ({"affinity": _req({"key": "cores", "operator": "Gt", "values": ["8"]})}, {"big"}),
        ({"affinity": _req({"key": "cores", "operator": "Lt", "values": ["8"]})}, {"small"}),
        (
            {
                "affinity": _req(
                    fields=[{"key": "metadata.name", "operator": "In", "values": ["small"]}]
                )
            },
            {"small"},
        ),
        # nodeSelector and affinity must both hold
        (
            {"nodeSelector": {"zone": "a"}, "affinity": _req({"key": "gpu", "operator": "Exists"})},
            set(),
        ),
        # an empty term matches nothing
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{}]
                        }
                    }
                }
            },
            set(),
        ),
    ],
    ids=[
        "selector",
        "in",
        "notin",
        "exists",
        "doesnotexist",
        "gt",
        "lt",
        "matchfields",
        "both",
        "empty-term",
    ],
)
def test_node_affinity_filter(spec: dict, fits: set) -> None:
    pl, cache = plugin_for(node_affinity, AFFINITY_NODES)
    got = filter_all(pl, cache, make_pod("p", **spec))
    assert {n for n, v in got.items() if v is None} == fits
    reason = ("node(s) didn't match Pod's node affinity/selector",)
    assert all(v == reason for v in got.values() if v is not None)


def test_node_affinity_preferred_score() -> None:
    pref = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 2,
                    "preference": {
                        "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]
                    },
                },
                {
                    "weight": 5,
                    "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
                },
            ]
        }
    }
    pl, cache = plugin_for(node_affinity, AFFINITY_NODES)
    # raw: small 2, big 5 -> normalized by max 5: 100*2/5 = 40, 100
    assert score_all(pl, cache, make_pod("p", affinity=pref)) == {"small": (2, 40), "big": (5, 100)}
    assert score_all(pl, cache, make_pod("p")) is None  # no preferred terms: PreScore skips


@pytest.mark.parametrize(
    ("unschedulable", "tolerations", "want"),
    [
        (False, [], None),
        (True, [], ("node(s) were unschedulable",)),
        (
            True,
            [
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ],
            None,
        ),
    ],
    ids=["schedulable", "cordoned", "tolerates-cordon"],
)
def test_node_unschedulable(unschedulable: bool, tolerations: list, want: tuple | None) -> None:
    pl, cache = plugin_for(node_unschedulable, [make_node("n", unschedulable=unschedulable)])
    assert filter_all(pl, cache, make_pod("p", tolerations=tolerations))["n"] == want


def test_node_name() -> None:
    pl, cache = plugin_for(node_name, [make_node("a"), make_node("b")])
    pod = make_pod("p", node="b")
    assert filter_all(pl, cache, pod) == {
        "a": ("node(s) didn't match the requested node name",),
        "b": None,
    }


def _port_pod(
    name: str, port: int, ip: str = "", node: str | None = None, proto: str = "TCP"
) -> dict:
    p = {"containerPort": 80, "hostPort": port, "protocol": proto}
    if ip:
        p["hostIP"] = ip
    pod = make_pod(name, node=node)
    pod["spec"]["containers"][0]["ports"] = [p]
    return pod


@pytest.mark.parametrize(
    ("existing", "pod", "fits"),
    [
        (_port_pod("e", 8080, node="n"), _port_pod("p", 8080), False),
        (_port_pod("e", 8080, node="n"), _port_pod("p", 8081), True),
        (_port_pod("e", 8080, node="n"), _port_pod("p", 8080, proto="UDP"), True),
        (_port_pod("e", 8080, "10.0.0.1", node="n"), _port_pod("p", 8080, "10.0.0.2"), True),
        (
            _port_pod("e", 8080, "10.0.0.1", node="n"),
            _port_pod("p", 8080),
            False,
        ),  # 0.0.0.0 covers all
        (_port_pod("e", 8080, node="n"), _port_pod("p", 8080, "10.0.0.2"), False),
    ],
    ids=[
        "same-port",
        "other-port",
        "other-proto",
        "distinct-ips",
        "wildcard-new",
        "wildcard-existing",
    ],
)
def test_node_ports(existing: dict, pod: dict, fits: bool) -> None:
    pl, cache = plugin_for(node_ports, [make_node("n")], [existing])
    want = None if fits else ("node(s) didn't have free ports for the requested pod ports",)
    assert filter_all(pl, cache, pod)["n"] == want


def test_image_locality() -> None:
    nodes = [
        make_node("a", images=[(["nginx:latest"], 300 * MB), (["big:1"], 3000 * MB)]),
        make_node("b", images=[(["nginx:latest"], 300 * MB)]),
        make_node("c"),
    ]
    pl, cache = plugin_for(image_locality, nodes)
    # nginx on 2 of 3 nodes: int(300MB * 2/3) = 200MB
    # score = 100 * (200MB - 23MB) / (1000MB - 23MB) = 18 (integer division)
    assert score_all(pl, cache, make_pod("p", image="nginx")) == {
        "a": (18, 18),
        "b": (18, 18),
        "c": (0, 0),
    }
    # big:1 on 1 of 3: int(3000MB / 3) = 1000MB, clamped to 1000MB -> 100 on a
    assert score_all(pl, cache, make_pod("p", image="big:1"))["a"] == (100, 100)


@pytest.mark.parametrize(
    ("name", "qualified"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
        ("docker.io/library/nginx:latest", "docker.io/library/nginx:latest"),
        ("me/app", "docker.io/me/app:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
        ("nginx@sha256:abcd", "docker.io/library/nginx@sha256:abcd"),
    ],
)
def test_image_names_are_compared_fully_qualified(name: str, qualified: str) -> None:
    assert normalized_image_name(name) == qualified


def _kubelet_node(name: str, images: list[tuple[list[str], int]]) -> dict:
    """A Node as kubelet reports it: status.images with names (digest + tags) and sizeBytes."""
    node = make_node(name)
    node["status"]["images"] = [{"names": n, "sizeBytes": size} for n, size in images]
    return node


def test_image_locality_from_node_status_images() -> None:
    nodes = [
        _kubelet_node(
            "a",
            [
                (["docker.io/library/nginx@sha256:1111", "docker.io/library/nginx:1.25"], 500 * MB),
                (["registry.k8s.io/pause:3.9"], 1 * MB),
            ],
        ),
        _kubelet_node("b", [(["nginx:1.25"], 500 * MB), (["redis:7"], 200 * MB)]),
        _kubelet_node("c", [(["redis:7"], 200 * MB)]),
        _kubelet_node("d", []),
    ]
    pl, cache = plugin_for(image_locality, nodes)
    # the pod says nginx:1.25; a and b report it in other spellings: 2 of 4 nodes
    # scaled = int(500MB * 2/4) = 250MB; 1 container: max threshold 1000MB
    # score = 100 * (250MB - 23MB) // (1000MB - 23MB) = 100 * 227 // 977 = 23
    assert score_all(pl, cache, make_pod("p", image="nginx:1.25")) == {
        "a": (23, 23),
        "b": (23, 23),
        "c": (0, 0),
        "d": (0, 0),
    }
    # two containers (nginx:1.25, redis:7): max threshold 2 * 1000MB = 2000MB
    # b: 250MB + int(200MB * 2/4) = 350MB -> 100 * (350 - 23) // (2000 - 23) = 32700 // 1977 = 16
    # a: 250MB -> 100 * 227 // 1977 = 11 ; c: 100MB -> 100 * 77 // 1977 = 3 ; d: 0
    two = make_pod("q", image="nginx:1.25")
    two["spec"]["containers"].append({"name": "cache", "image": "docker.io/library/redis:7"})
    assert score_all(pl, cache, two) == {"a": (11, 11), "b": (16, 16), "c": (3, 3), "d": (0, 0)}
    # a small image everywhere it is stays below the 23MB floor: 0
    assert score_all(pl, cache, make_pod("r", image="registry.k8s.io/pause:3.9"))["a"] == (0, 0)


def test_image_locality_init_containers_count() -> None:
    nodes = [_kubelet_node("a", [(["tools:1"], 1200 * MB)]), _kubelet_node("b", [])]
    pl, cache = plugin_for(image_locality, nodes)
    pod = make_pod("p", image="app:1")
    pod["spec"]["initContainers"] = [{"name": "init", "image": "tools:1"}]
    # 2 containers (init + app): max 2000MB; tools on 1 of 2: int(1200MB / 2) = 600MB
    # 100 * (600 - 23) // (2000 - 23) = 57700 // 1977 = 29
    assert score_all(pl, cache, pod) == {"a": (29, 29), "b": (0, 0)}
