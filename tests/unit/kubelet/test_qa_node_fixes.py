"""The node agent as upstream's kubelet answers: readiness gates, which run
`kubectl logs` reads (also of a pod that ended before kubelite restarted),
the pod's /etc/hostname, runc's words for a failed exec, and the image
puller's back-off (ErrImagePull, then ImagePullBackOff)."""

from __future__ import annotations

import asyncio
import errno
import os
import re
from pathlib import Path
from typing import Any

import pytest
from tests.unit.kubelet.test_sidecars import container, make_pod, make_runner

from kubelite.apiserver.errors import BadRequest
from kubelite.kubelet import checkpoint
from kubelite.kubelet.agent import NodeAgent
from kubelite.kubelet.backoff import Backoff
from kubelite.kubelet.envvars import Sources
from kubelite.kubelet.etchosts import write_pod_hostname
from kubelite.kubelet.exec import runc_exec_failed
from kubelite.kubelet.logs import NodeLogs, log_instance, waiting_error
from kubelite.kubelet.pod import _failure_events
from kubelite.kubelet.prepare import Context, PrepareError, _mounts
from kubelite.kubelet.process import error_text
from kubelite.kubelet.status import ContainerRecord, gates_not_ready, pod_status

Obj = dict[str, Any]
GATE = "example.com/lb-ready"

# ---- readiness gates -------------------------------------------------------------


def gated_pod(*conditions: Obj) -> Obj:
    return {
        "metadata": {"name": "gated", "namespace": "default", "uid": "u1"},
        "spec": {"readinessGates": [{"conditionType": GATE}], "containers": [{"name": "c"}]},
        "status": {"conditions": list(conditions)},
    }


def ready_of(pod: Obj) -> Obj:
    rec = ContainerRecord("c", "img", state={"running": {"startedAt": "x"}}, ready=True)
    status = pod_status(
        pod,
        [],
        [rec],
        pod_ip="10.0.0.1",
        host_ip="127.0.0.1",
        start_time="t0",
        now="t1",
        sandbox_ready=True,
    )
    return next(c for c in status["conditions"] if c["type"] == "Ready")


@pytest.mark.parametrize(
    ("conditions", "status", "message"),
    [
        pytest.param(
            [],
            "False",
            f'corresponding condition of pod readiness gate "{GATE}" does not exist.',
            id="missing",
        ),
        pytest.param(
            [{"type": GATE, "status": "False"}],
            "False",
            f'the status of pod readiness gate "{GATE}" is not "True", but False',
            id="false",
        ),
        pytest.param([{"type": GATE, "status": "True"}], "True", None, id="true"),
    ],
)
def test_ready_waits_for_every_readiness_gate(
    conditions: list[Obj], status: str, message: str | None
) -> None:
    ready = ready_of(gated_pod(*conditions))
    assert ready["status"] == status
    assert ready.get("message") == message
    assert ready.get("reason") == ("ReadinessGatesNotReady" if message else None)


def test_gate_messages_are_joined_in_spec_order() -> None:
    existing = [{"type": "b", "status": "Unknown"}]
    assert gates_not_ready(["a", "b", "c"], existing) == [
        'corresponding condition of pod readiness gate "a" does not exist.',
        'the status of pod readiness gate "b" is not "True", but Unknown',
        'corresponding condition of pod readiness gate "c" does not exist.',
    ]


def test_unready_containers_decide_before_the_gates() -> None:
    pod = gated_pod()
    rec = ContainerRecord("c", "img", state={"running": {"startedAt": "x"}}, ready=False)
    status = pod_status(
        pod, [], [rec], pod_ip="", host_ip="h", start_time="t", now="t", sandbox_ready=True
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"


def test_the_gate_condition_a_controller_wrote_is_kept() -> None:
    pod = gated_pod({"type": GATE, "status": "True", "lastTransitionTime": "t0"})
    rec = ContainerRecord("c", "img", state={"running": {"startedAt": "x"}}, ready=True)
    status = pod_status(
        pod, [], [rec], pod_ip="", host_ip="h", start_time="t", now="t1", sandbox_ready=True
    )
    assert {"type": GATE, "status": "True", "lastTransitionTime": "t0"} in status["conditions"]


def test_a_gate_condition_written_by_others_triggers_a_status_write(tmp_path: Path) -> None:
    pod = make_pod(inits=[], containers=[container("c")])
    pod["spec"]["readinessGates"] = [{"conditionType": GATE}]

    async def main() -> None:
        runner = make_runner(tmp_path, pod)
        runner.sandbox_ready = True
        runner._dirty.clear()
        runner.update({**pod, "status": {"conditions": [{"type": "Other", "status": "True"}]}})
        assert not runner._dirty.is_set()  # not a gate: nothing of Ready changes
        runner.update({**pod, "status": {"conditions": [{"type": GATE, "status": "True"}]}})
        assert runner._dirty.is_set()

    asyncio.run(main())


# ---- which run `kubectl logs` reads ------------------------------------------------


def record(state: Obj, restarts: int, last: bool = True) -> ContainerRecord:
    rec = ContainerRecord("c", "img", state=state, restart_count=restarts)
    if last:
        rec.last_state = {"terminated": {"exitCode": 3}}
    return rec


RUNNING = {"running": {"startedAt": "t"}}
BACKING_OFF = {"waiting": {"reason": "CrashLoopBackOff"}}
CONFIG_ERROR = {"waiting": {"reason": "CreateContainerConfigError"}}
ENDED = {"terminated": {"exitCode": 0}}


@pytest.mark.parametrize(
    ("rec", "previous", "instance"),
    [
        # restart count 2 while backing off: runs 0, 1 and 2 ended, 2 is lastState
        pytest.param(record(BACKING_OFF, 2), True, 2, id="crashloop-previous-is-the-crashed-run"),
        pytest.param(record(BACKING_OFF, 2), False, 2, id="crashloop-current-is-the-crashed-run"),
        # running as run 3: run 2 is lastState
        pytest.param(record(RUNNING, 3), True, 2, id="running-previous"),
        pytest.param(record(RUNNING, 3), False, 3, id="running-current"),
        # the back-off ended (count 3) but run 3 could not be created: run 2 is lastState
        pytest.param(record(CONFIG_ERROR, 3), True, 2, id="not-created-previous"),
        pytest.param(record(CONFIG_ERROR, 3), False, 2, id="not-created-current"),
        pytest.param(record(ENDED, 1), False, 1, id="terminated"),
        pytest.param(record(ENDED, 1), True, 0, id="terminated-previous"),
        pytest.param(record(CONFIG_ERROR, 0, last=False), False, None, id="never-ran"),
    ],
)
def test_log_instance(rec: ContainerRecord, previous: bool, instance: int | None) -> None:
    assert log_instance(rec, previous=previous, pod="p") == instance


def test_previous_without_a_last_state_is_not_found() -> None:
    with pytest.raises(BadRequest, match='previous terminated container "c" in pod "p" not found'):
        log_instance(record(RUNNING, 0, last=False), previous=True, pod="p")


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("ErrImagePull", "image can't be pulled"),
        ("ImagePullBackOff", "trying and failing to pull image"),
        ("CreateContainerConfigError", "CreateContainerConfigError"),
    ],
)
def test_waiting_error_words(reason: str, why: str) -> None:
    rec = record({"waiting": {"reason": reason}}, 0, last=False)
    assert str(waiting_error(rec, "p")) == f'container "c" in pod "p" is waiting to start: {why}'


def ended_pod(state: Obj, restarts: int = 0) -> Obj:
    return {
        "metadata": {"name": "fail1", "namespace": "default", "uid": "u9"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "c", "image": "img", "state": state, "restartCount": restarts}
            ],
        },
    }


async def collect(chunks: Any) -> bytes:
    return b"".join([c async for c in chunks])


def test_an_ended_pod_without_a_runner_is_read_from_its_directory(tmp_path: Path) -> None:
    node = NodeAgent("n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24")
    logs = node.pods_dir / "default_fail1_u9" / "logs" / "c"
    logs.mkdir(parents=True)
    (logs / "0.log").write_bytes(b"2026-11-28T10:00:00.000000000Z stdout F boom: bad config\n")
    pod = ended_pod({"terminated": {"exitCode": 2, "reason": "Error"}})
    out = asyncio.run(collect(NodeLogs(node).stream(pod, {"container": "c"})))
    assert out == b"boom: bad config\n"


def test_a_pod_not_taken_up_yet_is_waiting(tmp_path: Path) -> None:
    node = NodeAgent("n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24")
    pod = ended_pod({"waiting": {"reason": "ContainerCreating"}})
    with pytest.raises(BadRequest, match="is waiting to start: ContainerCreating"):
        NodeLogs(node).stream(pod, {"container": "c"})


def test_a_finished_pod_keeps_its_directory_over_a_restart(tmp_path: Path) -> None:
    node = NodeAgent("n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24")
    pod_dir = node.pods_dir / "default_fail1_u9"
    (pod_dir / "logs" / "c").mkdir(parents=True)
    checkpoint.save(pod_dir, {"uid": "u9", "containers": []})  # as a killed kubelite left it
    node._saved = checkpoint.load_all(node.pods_dir)
    node._upsert(ended_pod({"terminated": {"exitCode": 2}}))
    node._stop_leftovers()
    assert (pod_dir / "logs" / "c").is_dir() and checkpoint.load(pod_dir) is None
    node._forget_ended(ended_pod({"terminated": {"exitCode": 2}}))  # the pod is deleted
    assert not pod_dir.exists()


# ---- /etc/hostname -----------------------------------------------------------------


def test_the_pod_hostname_file(tmp_path: Path) -> None:
    pod = {"metadata": {"name": "hn"}, "spec": {}}
    path = write_pod_hostname(pod, tmp_path, "hn")
    assert path.read_text() == "hn\n"
    host_network = {"metadata": {"name": "hn"}, "spec": {"hostNetwork": True}}
    assert write_pod_hostname(host_network, tmp_path, "hn").read_text() == (
        os.uname().nodename + "\n"
    )


def context(tmp: Path, **extra: Any) -> Context:
    return Context(
        pod={"metadata": {"name": "hn"}, "spec": {}},
        pod_dir=tmp,
        pod_ip="",
        host_ip="",
        volumes={"data": str(tmp)},
        sources=Sources(),
        data_dir=tmp,
        isolate=True,
        **extra,
    )


def test_etc_hostname_is_bound_unless_a_volume_is_there(tmp_path: Path) -> None:
    ctx = context(tmp_path, hostname=tmp_path / "hostname")
    c: Obj = {"name": "c", "securityContext": {"readOnlyRootFilesystem": True}}
    mounts = {m.target: m for m in _mounts(ctx, c, {})}
    assert mounts["/etc/hostname"].source == str(tmp_path / "hostname")
    assert mounts["/etc/hostname"].read_only  # containerd: read-only with a read-only root
    own = {"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/etc/hostname"}]}
    [mount] = [m for m in _mounts(ctx, own, {}) if m.target == "/etc/hostname"]
    assert mount.source == str(tmp_path)


# ---- exec errors as runc words them ----------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "argv0", "text"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied"),
            "/etc/passwd",
            'exec: "/etc/passwd": permission denied',
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory"),
            "/no/such/bin",
            'exec: "/no/such/bin": stat /no/such/bin: no such file or directory',
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory"),
            "nosuchcmd",
            'exec: "nosuchcmd": executable file not found in $PATH',
        ),
        (
            OSError(errno.ENOEXEC, "Exec format error"),
            "/bin/x",
            'exec: "/bin/x": exec format error',
        ),
    ],
)
def test_exec_error_text(exc: OSError, argv0: str, text: str) -> None:
    assert error_text(exc, argv0) == text


def test_runc_exec_failed_wording() -> None:
    text = runc_exec_failed('exec: "/etc/passwd": permission denied')
    assert re.fullmatch(
        r'failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: '
        r'unable to start container process: exec: "/etc/passwd": permission denied: unknown',
        text,
    )


# ---- the image puller's back-off ---------------------------------------------------


def test_back_off_since_update_doubles_to_its_cap() -> None:
    b = Backoff(10.0, 300.0)
    assert b.since_update("img", 0.0) == 0.0
    b.restarted("img", 0.0)  # 1st failed pull: 10 s
    assert b.since_update("img", 4.0) == 6.0
    assert b.since_update("img", 10.0) == 0.0
    b.restarted("img", 10.0)  # 2nd: 20 s
    assert b.since_update("img", 10.0) == 20.0
    for t in range(20, 200, 10):
        b.restarted("img", float(t))
    assert b.current("img") == 300.0


def test_a_missing_image_is_pulled_then_backed_off(tmp_path: Path) -> None:
    pod = make_pod(inits=[], containers=[container("c", image="nosuch:1")])

    async def main() -> None:
        runner = make_runner(tmp_path, pod)
        rec = runner.record("c")
        assert rec is not None
        c = pod["spec"]["containers"][0]
        events = runner.agent.recorder.events  # type: ignore[attr-defined]
        clock = runner.agent.clock
        reasons = []
        for step in (0, 0, 10, 0, 10, 10):  # seconds passed before each try
            clock.advance(step)  # type: ignore[attr-defined]
            with pytest.raises(PrepareError) as failed:
                await runner._ensure_image(c, rec)
            reasons.append(failed.value.reason)
        # 10 s after the first failure, then 20 s after the second
        assert reasons == [
            "ErrImagePull",
            "ImagePullBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
            "ImagePullBackOff",
            "ErrImagePull",
        ]
        assert events[:2] == [
            ("Normal", "Pulling", 'Pulling image "nosuch:1"'),
            (
                "Warning",
                "Failed",
                'Failed to pull image "nosuch:1": kubelite runs only local images; '
                "build it with: kubelite build -t nosuch:1 DIR",
            ),
        ]

    asyncio.run(main())


def test_failure_events() -> None:
    back_off = PrepareError("ImagePullBackOff", 'Back-off pulling image "nosuch:1"')
    assert _failure_events(back_off) == [
        ("Normal", "BackOff", 'Back-off pulling image "nosuch:1"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
    ]
    assert _failure_events(PrepareError("ErrImagePull", "x")) == [
        ("Warning", "Failed", "Error: ErrImagePull")
    ]
    assert _failure_events(PrepareError("CreateContainerConfigError", "no key")) == [
        ("Warning", "Failed", "Error: no key")
    ]
