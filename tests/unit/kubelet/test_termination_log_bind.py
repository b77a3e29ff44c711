"""Which file a container start binds at its terminationMessagePath, and the event when none."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kubelite.kubelet.envvars import Sources
from kubelite.kubelet.pod import PodRunner
from kubelite.kubelet.prepare import Context, _mounts
from kubelite.kubelet.status import ContainerRecord

CID = "kubelite://0123456789abcdef"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    async def emit(self, pod: Any, type_: str, reason: str, message: str, path: str) -> None:
        self.events.append((type_, reason, message, path))


def runner(tmp_path: Path, problem: str | None) -> tuple[PodRunner, Recorder]:
    recorder = Recorder()
    agent: Any = SimpleNamespace(
        pods_dir=tmp_path,
        allocatable={},
        client=None,
        clock=SimpleNamespace(wall=lambda: 0.0),
        next_order=lambda: 0,
        private_dev_error=problem,
        recorder=recorder,
    )
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"containers": [{"name": "app", "image": "img"}]},
    }
    return PodRunner(agent, pod), recorder


def test_a_file_of_its_own_is_bound_where_the_private_dev_works(tmp_path: Path) -> None:
    pod, recorder = runner(tmp_path, None)
    rec = ContainerRecord("app", "img")
    path = asyncio.run(pod._termination_log({"name": "app"}, rec, CID))
    assert path == tmp_path / "ns_p_u1" / "containers" / "app" / "01234567"
    assert recorder.events == []
    none = asyncio.run(
        pod._termination_log({"name": "app", "terminationMessagePath": ""}, rec, CID)
    )
    assert none is None


def test_without_a_private_dev_nothing_is_bound_and_an_event_says_why(tmp_path: Path) -> None:
    pod, recorder = runner(tmp_path, "mount tmpfs on /dev: operation not permitted")
    rec = ContainerRecord("app", "img")
    for _ in range(2):  # a restart: said once
        assert asyncio.run(pod._termination_log({"name": "app"}, rec, CID)) is None
    assert recorder.events == [
        (
            "Warning",
            "TerminationMessageNotCollected",
            "Termination message of container app is not collected: mount tmpfs on /dev: "
            "operation not permitted; the container sees the host's /dev",
            "spec.containers{app}",
        )
    ]
    assert not (tmp_path / "ns_p_u1" / "containers").exists()


def mounts_for(container: dict[str, Any], log: Path | None) -> list[Any]:
    ctx = Context(
        pod={},
        pod_dir=Path("/pods/p"),
        pod_ip="",
        host_ip="",
        volumes={"data": "/vols/data"},
        sources=Sources(),
        data_dir=Path("/data"),
        isolate=True,
        termination_log=log,
    )
    return [(m.source, m.target, m.create) for m in _mounts(ctx, container)]


def test_the_file_is_bound_last_at_the_containers_path() -> None:
    log = Path("/pods/p/containers/app/01234567")
    mounts = [{"name": "data", "mountPath": "/dev/shm"}]
    assert mounts_for({"name": "app", "volumeMounts": mounts}, log) == [
        ("/vols/data", "/dev/shm", False),
        (str(log), "/dev/termination-log", True),  # the container's child makes it
    ]
    own = {"name": "app", "terminationMessagePath": "/var/why"}
    assert mounts_for(own, log) == [(str(log), "/var/why", True)]
    assert mounts_for({"name": "app"}, None) == []
