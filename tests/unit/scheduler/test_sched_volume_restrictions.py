"""VolumeRestrictions (ReadWriteOncePod) and VolumeBinding's generic ephemeral volumes."""

from __future__ import annotations

from typing import Any

from sched_builders import make_node, make_pod, make_scheduler

from kubelite.scheduler.profile import DEFAULT_MULTI_POINT

RWOP_CONFLICT = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)
NOT_HELPFUL = "Preemption is not helpful for scheduling"


class FakeVolumes:
    def __init__(self, pvcs: list[dict]) -> None:
        self._pvcs = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in pvcs}

    def pvc(self, namespace: str, name: str) -> dict | None:
        return self._pvcs.get((namespace, name))

    def pv(self, name: str) -> dict | None:
        return {"metadata": {"name": name}, "spec": {}}

    def pvs(self) -> list[dict]:
        return []

    def storage_class(self, name: str) -> dict | None:
        return None


def claim(name: str, *modes: str, ns: str = "default", owner_uid: str = "") -> dict:
    md: dict[str, Any] = {"name": name, "namespace": ns}
    if owner_uid:
        md["ownerReferences"] = [{"kind": "Pod", "uid": owner_uid, "controller": True}]
    return {
        "metadata": md,
        # bound, so VolumeBinding has nothing to object to
        "spec": {"accessModes": list(modes or ["ReadWriteOncePod"]), "volumeName": f"pv-{name}"},
    }


def user(name: str, claim_name: str = "data", *, node: str = "", **kw: Any) -> dict:
    vol = {"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}
    return make_pod(name, node=node or None, volumes=[vol], **kw)


def test_volume_restrictions_sits_between_fit_and_binding_in_the_default_profile() -> None:
    names = [n for n, _ in DEFAULT_MULTI_POINT]
    assert names.index("NodeResourcesFit") + 1 == names.index("VolumeRestrictions")
    assert names.index("VolumeRestrictions") + 1 == names.index("VolumeBinding")


def test_a_read_write_once_pod_claim_serves_one_pod() -> None:
    nodes = [make_node("n1"), make_node("n2")]

    def schedule(modes: list[str], holders: list[dict]) -> Any:
        sched = make_scheduler(nodes, holders, volumes=FakeVolumes([claim("data", *modes)]))
        return sched.schedule_one(user("b"))

    # Another pod holds the RWOP claim: every node says so; nothing of lower priority to preempt.
    res = schedule(["ReadWriteOncePod"], [user("a", node="n1")])
    assert not res.scheduled
    assert res.message == (
        f"0/2 nodes are available: 2 {RWOP_CONFLICT}. preemption: 0/2 nodes are available: "
        "2 No preemption victims found for incoming pod."
    )
    # Not restricted: a ReadWriteOnce claim (one node, any number of pods), a RWOP
    # claim nobody uses yet, a claim of the same name in another namespace.
    for modes, holders in (
        (["ReadWriteOnce"], [user("a", node="n1")]),
        (["ReadWriteOncePod"], []),
        (["ReadWriteOncePod"], [user("a", node="n1", namespace="other")]),
    ):
        res = schedule(modes, holders)
        assert res.scheduled and res.message == ""


def test_a_higher_priority_pod_preempts_the_rwop_holder() -> None:
    # The rejection is Unschedulable, not unresolvable: evicting the holder
    # (priority 1 < 10) frees the claim, so preemption nominates its node.
    sched = make_scheduler(
        [make_node("n1"), make_node("n2")],
        [user("holder", node="n2", priority=1), make_pod("bystander", node="n1", priority=0)],
        volumes=FakeVolumes([claim("data")]),
    )
    res = sched.schedule_one(user("important", priority=10))
    assert not res.scheduled
    assert res.message == f"0/2 nodes are available: 2 {RWOP_CONFLICT}."
    assert res.nominated_node_name == "n2"
    assert [v["metadata"]["name"] for v in res.victims] == ["holder"]


def _ephemeral_pod() -> dict:
    pod = make_pod(
        "web",
        volumes=[
            {
                "name": "scratch",
                "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}},
            }
        ],
    )
    pod["metadata"]["uid"] = "uid-web"
    return pod


def test_a_generic_ephemeral_volume_waits_for_its_own_claim() -> None:
    def schedule(claims: list[dict]) -> Any:
        sched = make_scheduler([make_node("n1")], volumes=FakeVolumes(claims))
        return sched.schedule_one(_ephemeral_pod())

    # The controller has not made web-scratch yet: the pod waits for it.
    res = schedule([])
    assert res.message == (
        "0/1 nodes are available: waiting for ephemeral volume controller to create the "
        f'persistentvolumeclaim "web-scratch". preemption: 0/1 nodes are available: 1 {NOT_HELPFUL}.'
    )
    # A claim of that name the pod does not control is not taken.
    res = schedule([claim("web-scratch", "ReadWriteOnce", owner_uid="someone-else")])
    assert res.message == (
        "0/1 nodes are available: PVC default/web-scratch was not created for pod "
        f"default/web (pod is not owner). preemption: 0/1 nodes are available: 1 {NOT_HELPFUL}."
    )
    # Made by the controller for this pod: an ordinary (here bound) claim.
    res = schedule([claim("web-scratch", "ReadWriteOnce", owner_uid="uid-web")])
    assert res.scheduled and res.message == ""
