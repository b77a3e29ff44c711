"""VolumeBinding and DefaultPreemption, through schedule_one."""

from __future__ import annotations

from typing import Any

import pytest
from sched_builders import make_node, make_pod, make_scheduler, taint

ZONE = "topology.kubernetes.io/zone"


class FakeVolumes:
    def __init__(self, pvcs: list[dict], pvs: list[dict], classes: list[dict]) -> None:
        self._pvcs = {
            (c["metadata"].get("namespace", "default"), c["metadata"]["name"]): c for c in pvcs
        }
        self._pvs = {p["metadata"]["name"]: p for p in pvs}
        self._classes = {c["metadata"]["name"]: c for c in classes}

    def pvc(self, namespace: str, name: str) -> dict | None:
        return self._pvcs.get((namespace, name))

    def pv(self, name: str) -> dict | None:
        return self._pvs.get(name)

    def pvs(self) -> list[dict]:
        return list(self._pvs.values())

    def storage_class(self, name: str) -> dict | None:
        return self._classes.get(name)


def pvc(name: str, sc: str = "local", volume: str = "", size: str = "1Gi") -> dict:
    spec: dict[str, Any] = {
        "storageClassName": sc,
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def pv(name: str, zone: str, size: str = "5Gi", sc: str = "local") -> dict:
    term = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}]}
    return {
        "metadata": {"name": name},
        "spec": {
            "storageClassName": sc,
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": size},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
        },
        "status": {"phase": "Available"},
    }


CLASSES = [
    {
        "metadata": {"name": "local"},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer",
    },
    {
        "metadata": {"name": "now"},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "Immediate",
    },
    {
        "metadata": {"name": "dynamic"},
        "provisioner": "kubelite.dev/hostpath",
        "volumeBindingMode": "WaitForFirstConsumer",
    },
]
ZONED = [make_node("a1", labels={ZONE: "a"}), make_node("b1", labels={ZONE: "b"})]


def _with_claim(name: str) -> dict:
    return make_pod("p", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": name}}])


@pytest.mark.parametrize(
    ("claims", "pvs", "node", "message", "bindings"),
    [
        # bound claim: follows its PV's zone
        ([pvc("c", volume="pv-b")], [pv("pv-b", "b")], "b1", "", {}),
        # WaitForFirstConsumer: a matching PV only in zone a
        ([pvc("c")], [pv("pv-a", "a")], "a1", "", {"c": "pv-a"}),
        # too small a PV does not count: nothing left -> unresolvable everywhere
        (
            [pvc("c", size="10Gi")],
            [pv("pv-a", "a")],
            "",
            "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            {},
        ),
        # Immediate class, still unbound
        (
            [pvc("c", sc="now")],
            [],
            "",
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            {},
        ),
        # bound claim whose PV is pinned to another zone than any node -> node affinity conflict
        (
            [pvc("c", volume="pv-z")],
            [pv("pv-z", "z")],
            "",
            "0/2 nodes are available: 2 node(s) had volume node affinity conflict. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            {},
        ),
        # missing claim
        (
            [],
            [],
            "",
            '0/2 nodes are available: persistentvolumeclaim "c" not found. '
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            {},
        ),
    ],
    ids=[
        "bound",
        "wffc-match",
        "wffc-too-small",
        "immediate-unbound",
        "pv-affinity-conflict",
        "missing-claim",
    ],
)
def test_volume_binding(claims: list, pvs: list, node: str, message: str, bindings: dict) -> None:
    sched = make_scheduler(ZONED, volumes=FakeVolumes(claims, pvs, CLASSES))
    res = sched.schedule_one(_with_claim("c"))
    assert res.node_name == node
    assert res.message == message
    assert res.volume_bindings == bindings


def test_volume_binding_dynamic_provisioning() -> None:
    sched = make_scheduler(ZONED, volumes=FakeVolumes([pvc("c", sc="dynamic")], [], CLASSES))
    res = sched.schedule_one(_with_claim("c"))
    assert res.scheduled and res.volume_provisions == ["c"]


def _node2(name: str) -> dict:
    return make_node(name, cpu="2")


@pytest.mark.parametrize(
    ("existing", "pod", "nominated", "victims"),
    [
        # n1 has one low pod using all cpu, n2 two mid pods: evicting on n1 costs the lowest priority
        (
            [
                make_pod("low", cpu="2", node="n1", priority=1),
                make_pod("mid1", cpu="1", node="n2", priority=5),
                make_pod("mid2", cpu="1", node="n2", priority=5),
            ],
            make_pod("p", cpu="2", priority=10),
            "n1",
            ["default/low"],
        ),
        # n1 would evict b (priority 1), n2 would evict d (priority 0): lowest highest-victim wins
        (
            [
                make_pod("a", cpu="1", node="n1", priority=1),
                make_pod("b", cpu="1", node="n1", priority=1),
                make_pod("c", cpu="1", node="n2", priority=1),
                make_pod("d", cpu="1", node="n2", priority=0),
            ],
            make_pod("p", cpu="1", priority=10),
            "n2",
            ["default/d"],
        ),
        # reprieve: only as many victims as needed, the least important first (b has lower priority)
        (
            [
                make_pod("a", cpu="1", node="n1", priority=3),
                make_pod("b", cpu="1", node="n1", priority=2),
                make_pod("z", cpu="2", node="n2", priority=50),
            ],
            make_pod("p", cpu="1", priority=10),
            "n1",
            ["default/b"],
        ),
        # both highest victims have priority 3; sums (each + 2^31): n1 two pods, n2 one -> n2
        (
            [
                make_pod("x", cpu="1", node="n1", priority=3),
                make_pod("y", cpu="1", node="n1", priority=3),
                make_pod("z", cpu="2", node="n2", priority=3),
            ],
            make_pod("p", cpu="2", priority=10),
            "n2",
            ["default/z"],
        ),
    ],
    ids=["lowest-priority", "lowest-highest-victim", "reprieve", "priority-sum"],
)
def test_preemption_picks_node_and_victims(
    existing: list, pod: dict, nominated: str, victims: list
) -> None:
    sched = make_scheduler([_node2("n1"), _node2("n2")], existing)
    res = sched.schedule_one(pod)
    assert not res.scheduled
    assert res.nominated_node_name == nominated
    assert [f"{v['metadata']['namespace']}/{v['metadata']['name']}" for v in res.victims] == victims
    assert res.message == "0/2 nodes are available: 2 Insufficient cpu."


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        (
            make_pod("p", cpu="2", priority=10, preemptionPolicy="Never"),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
        ),
        (
            make_pod("p", cpu="2", priority=0),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
            "2 No preemption victims found for incoming pod.",
        ),
    ],
    ids=["never", "no-victims"],
)
def test_preemption_failure_messages(pod: dict, message: str) -> None:
    nodes = [
        make_node("cp", taints=[taint("node-role.kubernetes.io/control-plane")]),
        _node2("n1"),
        _node2("n2"),
    ]
    existing = [
        make_pod("x", cpu="1", node="n1", priority=100),
        make_pod("y", cpu="1", node="n2", priority=100),
    ]
    res = make_scheduler(nodes, existing).schedule_one(pod)
    assert res.message == message
    assert res.nominated_node_name == "" and res.victims == ()
