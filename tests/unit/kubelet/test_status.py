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


# ---- sidecars (init containers with restartPolicy Always) --------------------------------


def sidecar(
    name: str = "s", *, started: bool = True, ready: bool = True, state: str = "running"
) -> ContainerRecord:
    rec = ContainerRecord(name, "img", init=True, sidecar=True)
    if state == "running":
        rec.state = {"running": {"startedAt": "t"}}
        rec.started, rec.ready = started, ready and started
    elif state == "terminated":
        rec.state = {"terminated": {"exitCode": 143}}
    elif state == "crashloop":
        rec.last_state = {"terminated": {"exitCode": 1}}
        rec.waiting("CrashLoopBackOff")
    return rec


@pytest.mark.parametrize(
    ("policy", "inits", "containers", "expected"),
    [
        # started: the app may start; until it does, the pod is Pending
        pytest.param("Always", [sidecar()], [waiting()], "Pending", id="app-not-yet-started"),
        pytest.param("Always", [sidecar()], [running()], "Running", id="both-run"),
        pytest.param(
            "Always", [sidecar(started=False)], [waiting()], "Pending", id="sidecar-starting"
        ),
        # a sidecar restarting after the app ran does not send the pod back to Pending
        pytest.param(
            "Always", [sidecar(started=False)], [running()], "Running", id="sidecar-restarting"
        ),
        pytest.param(
            "Always", [sidecar(state="crashloop")], [running()], "Running", id="crashloop"
        ),
        # a Job's pod: the app is done, the sidecar still runs until it is stopped
        pytest.param("Never", [sidecar()], [terminated(0)], "Running", id="stopping-sidecars"),
        # then the regular containers alone decide: a sidecar's exit code counts for nothing
        pytest.param(
            "Never", [sidecar(state="terminated")], [terminated(0)], "Succeeded", id="job-done"
        ),
        pytest.param(
            "OnFailure", [sidecar(state="crashloop")], [terminated(0)], "Succeeded", id="onfailure"
        ),
        pytest.param(
            "Never", [sidecar(state="terminated")], [terminated(2)], "Failed", id="job-failed"
        ),
        # never ran at all (an image problem): Pending
        pytest.param("Always", [sidecar(state="waiting")], [waiting()], "Pending", id="waiting"),
    ],
)
def test_phase_with_sidecars(policy: str, inits: list, containers: list, expected: str) -> None:
    assert phase(policy, inits, containers) == expected


def test_a_sidecars_readiness_is_part_of_containers_ready() -> None:
    conds = by_type(
        conditions(
            "Running",
            [terminated(0, "setup", init=True), sidecar("proxy", ready=False)],
            [running("app", ready=False)],
            sandbox_ready=True,
        )
    )
    # upstream lists the sidecars first
    assert conds["ContainersReady"]["message"] == "containers with unready status: [proxy app]"
    assert conds["Ready"]["status"] == "False"
    ready = by_type(conditions("Running", [sidecar("proxy")], [running()], sandbox_ready=True))
    assert ready["Ready"]["status"] == "True"


@pytest.mark.parametrize(
    ("inits", "status", "message"),
    [
        pytest.param([sidecar()], "True", None, id="sidecar-started"),
        pytest.param(
            [sidecar(started=False)],
            "False",
            "containers with incomplete status: [s]",
            id="sidecar-not-started",
        ),
        pytest.param([sidecar(), terminated(0, "i", init=True)], "True", None, id="then-init-done"),
    ],
)
def test_initialized_with_sidecars(inits: list, status: str, message: str | None) -> None:
    cond = by_type(conditions("Pending", inits, [waiting()], sandbox_ready=True))["Initialized"]
    assert (cond["status"], cond.get("message")) == (status, message)


@pytest.mark.parametrize(
    ("rec", "ready"),
    [
        # upstream's prober manager: an init container that exited 0 is ready
        pytest.param(terminated(0, "i", init=True), True, id="init-completed"),
        pytest.param(terminated(1, "i", init=True), False, id="init-failed"),
        pytest.param(ContainerRecord("i", "img", init=True), False, id="init-waiting"),
        # a sidecar is ready as its probes say, whatever its exit
        pytest.param(sidecar(ready=False), False, id="sidecar-unready"),
        pytest.param(sidecar(), True, id="sidecar-ready"),
        pytest.param(
            ContainerRecord(
                "s", "img", init=True, sidecar=True, state={"terminated": {"exitCode": 0}}
            ),
            False,
            id="sidecar-exited-0",
        ),
        # ephemeral containers never are
        pytest.param(
            ContainerRecord("e", "img", ephemeral=True, state={"terminated": {"exitCode": 0}}),
            False,
            id="ephemeral",
        ),
    ],
)
def test_reported_readiness(rec: ContainerRecord, ready: bool) -> None:
    assert rec.to_status()["ready"] is ready
