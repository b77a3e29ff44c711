"""DaemonSet decisions as values: node eligibility, pinning, rolling-update choices, status."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controllers.daemonset import rolling
from kubelite.controllers.daemonset import status as ds_status
from kubelite.controllers.daemonset.eligibility import node_should_run, pin_to_node, target_node

Obj = dict[str, Any]
NOW = 1_700_000_000.0
STAMP = "2023-11-14T22:00:00Z"  # well before NOW: available for any small minReadySeconds


def ds(template_spec: Obj | None = None, **rolling_update: Any) -> Obj:
    spec: Obj = {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}}, "spec": template_spec or {}},
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0, **rolling_update},
        },
    }
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "a"}, "spec": spec}


def node(name: str = "n1", *, labels: Obj | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def taint(key: str, effect: str, value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize(
    ("template_spec", "the_node", "expected"),
    [
        pytest.param({}, node(), (True, True), id="plain-node"),
        pytest.param({"nodeName": "n2"}, node(), (False, False), id="other-node-name"),
        pytest.param({"nodeSelector": {"disk": "ssd"}}, node(), (False, False), id="selector-miss"),
        pytest.param(
            {"nodeSelector": {"disk": "ssd"}},
            node(labels={"disk": "ssd"}),
            (True, True),
            id="selector-hit",
        ),
        pytest.param(
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "zone", "operator": "In", "values": ["a"]}
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            node(labels={"zone": "b"}),
            (False, False),
            id="affinity-miss",
        ),
        # NoSchedule keeps new pods away but lets a running one stay.
        pytest.param(
            {}, node(taints=[taint("gpu", "NoSchedule")]), (False, True), id="no-schedule"
        ),
        pytest.param({}, node(taints=[taint("gpu", "NoExecute")]), (False, False), id="no-execute"),
        pytest.param(
            {}, node(taints=[taint("gpu", "PreferNoSchedule")]), (True, True), id="prefer-ignored"
        ),
        pytest.param(
            {"tolerations": [{"key": "gpu", "operator": "Equal", "value": "y"}]},
            node(taints=[taint("gpu", "NoExecute", "y")]),
            (True, True),
            id="tolerated",
        ),
        # The daemon tolerations: node conditions never keep a daemon away.
        pytest.param(
            {},
            node(
                taints=[
                    taint("node.kubernetes.io/not-ready", "NoExecute"),
                    taint("node.kubernetes.io/unschedulable", "NoSchedule"),
                    taint("node.kubernetes.io/memory-pressure", "NoSchedule"),
                ]
            ),
            (True, True),
            id="condition-taints",
        ),
        pytest.param(
            {},
            node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
            (False, True),
            id="network-unavailable-without-host-network",
        ),
        pytest.param(
            {"hostNetwork": True},
            node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
            (True, True),
            id="network-unavailable-with-host-network",
        ),
    ],
)
def test_node_should_run(template_spec: Obj, the_node: Obj, expected: tuple[bool, bool]) -> None:
    assert node_should_run(the_node, ds(template_spec)) == expected


def test_pin_replaces_required_terms_and_keeps_the_rest() -> None:
    preferred = [{"weight": 1, "preference": {"matchExpressions": []}}]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": ["old"]}
                        ]
                    },
                    {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": preferred,
        },
        "podAntiAffinity": {"x": 1},
    }
    pinned = pin_to_node(affinity, "n7")
    required = pinned["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["nodeSelectorTerms"] == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}
    ]
    assert pinned["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert pinned["podAntiAffinity"] == {"x": 1}
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchFields"][0]["values"] == ["old"]  # the input is not changed
    assert target_node({"spec": {"affinity": pin_to_node(None, "n3")}}) == "n3"
    assert target_node({"spec": {"nodeName": "n4", "affinity": pin_to_node(None, "n3")}}) == "n4"


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [(1, 10, 1), ("10%", 10, 1), ("10%", 11, 2), ("50%", 3, 2), ("100%", 3, 3), ("0%", 5, 0)],
)
def test_percentages_round_up(value: Any, total: int, expected: int) -> None:
    assert rolling.scaled_value(value, total) == expected


def pod(name: str, *, new: bool, ready: bool = True, deleting: bool = False) -> Obj:
    md: Obj = {"name": name, "labels": {"v": "new" if new else "old"}, "creationTimestamp": STAMP}
    if deleting:
        md["deletionTimestamp"] = STAMP
    cond = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": STAMP}
    return {"metadata": md, "spec": {}, "status": {"phase": "Running", "conditions": [cond]}}


def is_new(p: Obj) -> bool:
    return bool(p["metadata"]["labels"]["v"] == "new")


def test_without_surge_deletes_up_to_max_unavailable() -> None:
    # 4 nodes, maxUnavailable 2: n1 already has an unavailable new pod (1 used),
    # n2's old pod is unavailable (always replaced, 2 used), so no healthy old pod goes.
    node_pods = {
        "n1": [pod("p1", new=True, ready=False)],
        "n2": [pod("p2", new=False, ready=False)],
        "n3": [pod("p3", new=False)],
        "n4": [pod("p4", new=False)],
    }
    wanted = dict.fromkeys(node_pods, True)
    out = rolling.plan(ds(maxUnavailable=2), node_pods, wanted, is_new, now=NOW)
    assert (out.delete, out.create_on, out.max_unavailable) == (["p2"], [], 2)
    # With n1's new pod available, one healthy old pod may go too.
    node_pods["n1"] = [pod("p1", new=True)]
    out = rolling.plan(ds(maxUnavailable=2), node_pods, wanted, is_new, now=NOW)
    assert out.delete == ["p2", "p3"]


def test_a_node_without_pods_counts_as_unavailable() -> None:
    node_pods = {"n1": [pod("p1", new=False)], "n2": [pod("p2", new=False)]}
    wanted = {"n1": True, "n2": True, "n3": True}  # n3 has no pod yet
    out = rolling.plan(ds(), node_pods, wanted, is_new, now=NOW)
    assert out.delete == []


def test_percent_max_unavailable_uses_desired_nodes() -> None:
    node_pods = {f"n{i}": [pod(f"p{i}", new=False)] for i in range(1, 5)}
    wanted = dict.fromkeys(node_pods, True)
    out = rolling.plan(ds(maxUnavailable="30%"), node_pods, wanted, is_new, now=NOW)
    assert (out.max_unavailable, out.delete) == (2, ["p1", "p2"])  # ceil(0.3 * 4) = 2


def test_surge_creates_beside_old_pods_then_deletes_them() -> None:
    node_pods = {"n1": [pod("p1", new=False)], "n2": [pod("p2", new=False)]}
    wanted = dict.fromkeys(node_pods, True)
    out = rolling.plan(ds(maxUnavailable=0, maxSurge=1), node_pods, wanted, is_new, now=NOW)
    assert (out.create_on, out.delete) == (["n1"], [])
    node_pods["n1"].append(pod("q1", new=True, ready=False))
    out = rolling.plan(ds(maxUnavailable=0, maxSurge=1), node_pods, wanted, is_new, now=NOW)
    assert (out.create_on, out.delete) == ([], [])  # waiting for q1
    node_pods["n1"][1] = pod("q1", new=True)
    out = rolling.plan(ds(maxUnavailable=0, maxSurge=1), node_pods, wanted, is_new, now=NOW)
    assert (out.create_on, out.delete) == (["n2"], ["p1"])


def test_status_counts_the_oldest_pod_per_node() -> None:
    node_pods = {
        "n1": [pod("p1", new=True)],
        "n2": [pod("p2", new=False, ready=False)],
        "n3": [],
        "n4": [pod("p4", new=False)],  # should not run there: misscheduled
    }
    wanted = {"n1": True, "n2": True, "n3": True, "n4": False}
    counts = ds_status.counts(ds(), wanted, node_pods, is_new, now=NOW)
    assert counts == {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 2,
        "numberMisscheduled": 1,
        "numberReady": 1,
        "updatedNumberScheduled": 1,
        "numberAvailable": 1,
        "numberUnavailable": 2,
    }
    wire = ds_status.wire_status({"collisionCount": 1, "numberAvailable": 9}, counts, 4)
    assert wire["collisionCount"] == 1 and wire["observedGeneration"] == 4
    zero = ds_status.wire_status({}, dict.fromkeys(ds_status.COUNTS, 0), None)
    assert zero == {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }
