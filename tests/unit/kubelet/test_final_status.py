"""The status a deleted pod ends with: what its kubelet writes before removing it.

Upstream's kubelet computes a terminating pod's phase as terminal once its
containers have stopped (whatever the restart policy), its status manager
gives every container without an end `ContainerStatusUnknown`, and only a
pod whose API status shows a terminal phase is deleted.
"""

from __future__ import annotations

import pytest

from kubelite.kubelet.status import (
    UNKNOWN_END,
    ContainerRecord,
    conditions,
    final_phase,
    finish,
    initialized,
    pod_status,
)


def ended(code: int, name: str = "c", *, init: bool = False) -> ContainerRecord:
    state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}
    return ContainerRecord(name, "img", init=init, state=state)


def running(name: str = "c") -> ContainerRecord:
    return ContainerRecord(
        name, "img", state={"running": {"startedAt": "t"}}, ready=True, started=True
    )


def crashlooping(code: int, name: str = "c", *, init: bool = False) -> ContainerRecord:
    rec = ContainerRecord(name, "img", init=init)
    rec.last_state = {"terminated": {"exitCode": code, "reason": "Error"}}
    rec.waiting("CrashLoopBackOff", "back-off 10s")
    return rec


def waiting(name: str = "c", *, init: bool = False) -> ContainerRecord:
    return ContainerRecord(name, "img", init=init)


def states(recs: list[ContainerRecord]) -> list[str]:
    return [next(iter(r.state)) + ":" + str((r.terminated or {}).get("exitCode", "")) for r in recs]


@pytest.mark.parametrize(
    ("policy", "inits", "containers", "expected"),
    [
        # SIGTERM handled, exit 0: the pod succeeded, even with restartPolicy Always
        pytest.param("Always", [], [ended(0)], "Succeeded", id="always-clean-exit"),
        # killed by SIGTERM (128 + 15) or SIGKILL (128 + 9): Failed
        pytest.param("Always", [], [ended(143)], "Failed", id="always-sigterm"),
        pytest.param("Always", [], [ended(0), ended(137, "d")], "Failed", id="one-of-two-failed"),
        pytest.param("OnFailure", [], [ended(1)], "Failed", id="onfailure-would-restart"),
        pytest.param("Never", [], [ended(0)], "Succeeded", id="never-ok"),
        # deleted while initializing: nothing will ever run, so Failed, not Pending
        pytest.param(
            "Always", [ended(143, "i", init=True)], [waiting()], "Failed", id="during-init"
        ),
        # deleted before anything started
        pytest.param("Always", [], [waiting()], "Failed", id="never-started"),
    ],
)
def test_final_phase_is_terminal(
    policy: str, inits: list[ContainerRecord], containers: list[ContainerRecord], expected: str
) -> None:
    finish(inits, containers)
    assert final_phase(policy, inits, containers) == expected


def test_a_crashlooping_container_shows_its_last_end() -> None:
    # the restart it waited for will not come: its last run is its state
    inits: list[ContainerRecord] = []
    containers = [crashlooping(2)]
    finish(inits, containers)
    assert containers[0].state == {"terminated": {"exitCode": 2, "reason": "Error"}}
    assert containers[0].last_state == {}
    assert final_phase("Always", inits, containers) == "Failed"


def test_a_container_that_never_ran_is_status_unknown() -> None:
    inits: list[ContainerRecord] = []
    containers = [ended(0, "a"), waiting("b")]
    finish(inits, containers)
    assert containers[1].terminated == UNKNOWN_END
    assert final_phase("Always", inits, containers) == "Failed"


def test_a_container_keeps_the_end_the_api_already_shows() -> None:
    # a restarted agent knows nothing of the run: the stored status does
    stored = {"containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0}}}]}
    containers = [waiting()]
    finish([], containers, stored=stored)
    assert containers[0].terminated == {"exitCode": 0}


def test_containers_after_an_unfinished_init_stay_waiting() -> None:
    # upstream's TerminatePod: regular containers of a pod that never got past its
    # init containers are not made up; init containers after the last started one neither
    inits = [ended(0, "i1", init=True), ended(143, "i2", init=True), waiting("i3", init=True)]
    containers = [ContainerRecord("c", "img")]
    containers[0].waiting("PodInitializing")
    finish(inits, containers)
    assert states(inits) == ["terminated:0", "terminated:143", "waiting:"]
    assert states(containers) == ["waiting:"]


def test_the_first_init_container_is_unknown_when_none_started() -> None:
    inits = [waiting("i1", init=True), waiting("i2", init=True)]
    containers = [waiting()]
    finish(inits, containers)
    assert states(inits) == ["terminated:137", "waiting:"]
    assert final_phase("Always", inits, containers) == "Failed"


def test_every_container_is_unready_and_not_started() -> None:
    containers = [running()]
    containers[0].state = {"terminated": {"exitCode": 0}}  # stopped, ready not yet cleared
    finish([], containers)
    assert containers[0].ready is False
    assert containers[0].started is False


@pytest.mark.parametrize(
    ("phase", "reason"),
    [
        pytest.param("Succeeded", "PodCompleted", id="succeeded"),
        pytest.param("Failed", "PodFailed", id="failed"),
    ],
)
def test_ready_conditions_of_an_ended_pod(phase: str, reason: str) -> None:
    conds = {c["type"]: c for c in conditions(phase, [], [ended(0)], sandbox_ready=True)}
    for type_ in ("Ready", "ContainersReady"):
        assert conds[type_]["status"] == "False"
        assert conds[type_]["reason"] == reason
    assert conds["PodReadyToStartContainers"]["status"] == "False"


def test_the_final_status_of_a_deleted_running_pod() -> None:
    pod = {
        "metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:30Z"},
        "spec": {"restartPolicy": "Always", "containers": [{"name": "c"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "then"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "then"},
            ],
        },
    }
    containers = [ended(143)]
    finish([], containers, stored=pod["status"])
    status = pod_status(
        pod,
        [],
        containers,
        pod_ip="127.244.0.5",
        host_ip="127.0.0.1",
        start_time="then",
        now="now",
        sandbox_ready=True,
        phase_override=final_phase("Always", [], containers),
    )
    assert status["phase"] == "Failed"
    assert status["podIP"] == "127.244.0.5"  # kept, as upstream keeps a stopped pod's IPs
    [cs] = status["containerStatuses"]
    assert cs["ready"] is False
    assert cs["state"]["terminated"]["exitCode"] == 143
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready == {
        "type": "Ready",
        "status": "False",
        "lastProbeTime": None,
        "reason": "PodFailed",
        "lastTransitionTime": "now",
    }


NOT_INITIALIZED = "ContainersNotInitialized"


@pytest.mark.parametrize(
    ("phase", "inits", "containers", "status", "reason", "message"),
    [
        # an init container failed (restartPolicy Never), the app never ran: not initialized
        pytest.param(
            "Failed",
            [ended(1, "i", init=True)],
            [waiting()],
            "False",
            NOT_INITIALIZED,
            "containers with incomplete status: [i]",
            id="failed-in-init",
        ),
        # deleted while its second init container ran: both the unfinished ones are named
        pytest.param(
            "Failed",
            [ended(0, "i", init=True), ended(137, "j", init=True), waiting("k", init=True)],
            [waiting()],
            "False",
            NOT_INITIALIZED,
            "containers with incomplete status: [j k]",
            id="deleted-while-initializing",
        ),
        pytest.param(
            "Pending",
            [running("i")],
            [waiting()],
            "False",
            NOT_INITIALIZED,
            "containers with incomplete status: [i]",
            id="initializing",
        ),
        # the init containers finished and the app ran, then failed
        pytest.param(
            "Failed", [ended(0, "i", init=True)], [ended(2)], "True", None, None, id="failed-app"
        ),
        # a regular container that ever ran means the pod was initialized
        pytest.param(
            "Failed", [waiting("i", init=True)], [ended(143)], "True", None, None, id="app-ran"
        ),
        pytest.param("Failed", [], [ended(143)], "True", None, None, id="no-inits"),
        # a pod that succeeded is initialized, with upstream's reason
        pytest.param(
            "Succeeded",
            [ended(0, "i", init=True)],
            [ended(0)],
            "True",
            "PodCompleted",
            None,
            id="succeeded",
        ),
    ],
)
def test_the_initialized_condition(
    phase: str,
    inits: list[ContainerRecord],
    containers: list[ContainerRecord],
    status: str,
    reason: str | None,
    message: str | None,
) -> None:
    cond = initialized(phase, inits, containers)
    assert (cond["status"], cond.get("reason"), cond.get("message")) == (status, reason, message)


def test_the_final_status_of_a_pod_deleted_while_initializing() -> None:
    pod = {
        "metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:30Z"},
        "spec": {
            "restartPolicy": "Always",
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "c"}],
        },
        "status": {"phase": "Pending"},
    }
    inits, containers = [ended(143, "i", init=True)], [waiting()]
    finish(inits, containers, stored=pod["status"])
    ph = final_phase("Always", inits, containers)
    status = pod_status(
        pod,
        inits,
        containers,
        pod_ip="127.244.0.5",
        host_ip="127.0.0.1",
        start_time="then",
        now="now",
        sandbox_ready=True,
        phase_override=ph,
    )
    assert status["phase"] == "Failed"
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Initialized"]["status"] == "False"
    assert conds["Initialized"]["reason"] == NOT_INITIALIZED
    assert [s["state"] for s in status["containerStatuses"]] == [
        {"waiting": {"reason": "ContainerCreating"}}
    ]


def test_a_deleted_pod_keeps_its_completed_init_container_ready() -> None:
    inits = [ended(0, "setup", init=True)]
    sidecar = ended(143, "proxy", init=True)
    sidecar.sidecar = True
    inits.append(sidecar)
    containers = [ended(0, "app")]
    finish(inits, containers)
    assert [r.to_status()["ready"] for r in inits] == [True, False]
    # the sidecar's SIGTERM exit does not fail the pod: the app's end decides
    assert final_phase("Always", inits, containers) == "Succeeded"


def test_a_pod_deleted_after_its_last_sidecar_started_was_initialized() -> None:
    # upstream's hasPodInitialized: a last init container that is a sidecar running
    # and started; the app, not yet started, then ends ContainerStatusUnknown
    sidecar = running("proxy")
    sidecar.init = sidecar.sidecar = True
    containers = [waiting("app")]
    finish([sidecar], containers)
    assert containers[0].terminated == UNKNOWN_END
