from __future__ import annotations

import pytest

from kubelite.kubelet.status import ContainerRecord, conditions, merge_conditions, phase, pod_status


def running(name: str = "c", ready: bool = True) -> ContainerRecord:
    r = ContainerRecord(
        name, "img", state={"running": {"startedAt": "t"}}, ready=ready, started=True
    )
    return r


def terminated(code: int, name: str = "c", init: bool = False) -> ContainerRecord:
    return ContainerRecord(name, "img", init=init, state={"terminated": {"exitCode": code}})


def waiting(name: str = "c", restarted: bool = False) -> ContainerRecord:
    r = ContainerRecord(name, "img")
    if restarted:
        r.last_state = {"terminated": {"exitCode": 1}}
        r.waiting("CrashLoopBackOff")
    return r


@pytest.mark.parametrize(
    ("policy", "inits", "containers", "expected"),
    [
        pytest.param("Always", [], [waiting()], "Pending", id="creating"),
        pytest.param("Always", [], [running()], "Running", id="running"),
        pytest.param("Always", [], [waiting(restarted=True)], "Running", id="crashloop-is-running"),
        pytest.param("Always", [], [terminated(0)], "Running", id="always-restarts"),
        pytest.param("OnFailure", [], [terminated(0)], "Succeeded", id="onfailure-ok"),
        pytest.param("OnFailure", [], [terminated(1)], "Running", id="onfailure-restarting"),
        pytest.param("Never", [], [terminated(1)], "Failed", id="never-failed"),
        pytest.param(
            "Never", [], [terminated(0), terminated(0, "d")], "Succeeded", id="never-all-ok"
        ),
        pytest.param("Never", [], [terminated(0), running("d")], "Running", id="one-still-running"),
        pytest.param("Always", [waiting("i")], [waiting()], "Pending", id="init-pending"),
        pytest.param(
            "Never", [terminated(1, "i", True)], [waiting()], "Failed", id="init-failed-never"
        ),
        pytest.param(
            "Always", [terminated(1, "i", True)], [waiting()], "Pending", id="init-failed-retries"
        ),
        pytest.param("Always", [terminated(0, "i", True)], [running()], "Running", id="init-done"),
    ],
)
def test_phase(policy: str, inits: list, containers: list, expected: str) -> None:
    assert phase(policy, inits, containers) == expected


def by_type(conds: list[dict]) -> dict[str, dict]:
    return {c["type"]: c for c in conds}


def test_conditions_name_unready_containers() -> None:
    conds = by_type(
        conditions(
            "Running",
            [terminated(0, "i", init=True)],
            [running("a"), running("b", ready=False)],
            sandbox_ready=True,
        )
    )
    assert conds["Initialized"]["status"] == "True"
    assert conds["Ready"]["reason"] == "ContainersNotReady"
    assert conds["Ready"]["message"] == "containers with unready status: [b]"
    assert conds["PodReadyToStartContainers"]["status"] == "True"


def test_completed_pod_conditions() -> None:
    conds = by_type(conditions("Succeeded", [], [terminated(0)], sandbox_ready=True))
    assert conds["Ready"] == {
        "type": "Ready",
        "status": "False",
        "lastProbeTime": None,
        "reason": "PodCompleted",
    }


def test_merge_keeps_transition_time_when_status_unchanged() -> None:
    old = [
        {"type": "Ready", "status": "True", "lastTransitionTime": "t0"},
        {"type": "Custom", "status": "True"},
    ]
    new = [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]
    merged = by_type(merge_conditions(old, new, "t1"))
    assert merged["Ready"]["lastTransitionTime"] == "t0"
    assert merged["Initialized"]["lastTransitionTime"] == "t1"
    assert "Custom" in merged


def test_pod_status_has_every_field_clients_require() -> None:
    rec = running()
    rec.image_id = "sha256:abc"
    rec.container_id = "kubelite://x"
    rec.state["running"]["_private"] = 1
    pod = {
        "metadata": {"name": "p"},
        "spec": {"restartPolicy": "Always"},
        "status": {"qosClass": "BestEffort"},
    }
    status = pod_status(
        pod,
        [],
        [rec],
        pod_ip="127.244.0.2",
        host_ip="127.0.0.1",
        start_time="s",
        now="n",
        sandbox_ready=True,
    )
    assert status["qosClass"] == "BestEffort"
    assert status["podIPs"] == [{"ip": "127.244.0.2"}] and status["hostIPs"] == [
        {"ip": "127.0.0.1"}
    ]
    cs = status["containerStatuses"][0]
    assert {
        "name",
        "image",
        "imageID",
        "ready",
        "restartCount",
        "containerID",
        "started",
        "state",
        "lastState",
    } <= set(cs)
    assert cs["state"] == {"running": {"startedAt": "t"}}
