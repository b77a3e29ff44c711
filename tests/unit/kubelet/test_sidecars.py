"""Native sidecars in the pod runner: start order, restarts, completion, stop order.

No real processes: the runner's `_start` seam hands out `FakeProc`s, which
record the signals they get and exit when a test (or SIGTERM) says so. Time
is a `FakeClock`, so CrashLoopBackOff waits pass at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver.errors import NotFound
from kubelite.kubelet.backoff import Backoff
from kubelite.kubelet.clock import FakeClock
from kubelite.kubelet.images import ImageStore
from kubelite.kubelet.ipam import IpPool
from kubelite.kubelet.pod import PodRunner
from kubelite.kubelet.process import Exit
from kubelite.kubelet.startlane import StartLane
from kubelite.kubelet.status import ContainerRecord, phase

Obj = dict[str, Any]
WAIT_S = 5.0  # a deadline for a stuck test, not a measurement


class World:
    """What happened to the pod's containers, in order."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.signals: list[str] = []  # "TERM app", "KILL shipper"
        self.procs: dict[str, list[FakeProc]] = {}
        self.probe_gate = asyncio.Event()  # exec probes answer once it is set

    def proc(self, name: str) -> FakeProc:
        """The container's latest instance."""
        return self.procs[name][-1]


class FakeProc:
    def __init__(self, world: World, name: str, *, exit_on_term: bool = True) -> None:
        self.pid = 4242
        self.start_time: int | None = 1
        self.world = world
        self.name = name
        self.exit_on_term = exit_on_term
        self._exit: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()

    def signal_group(self, sig: int) -> None:
        if self.exited:
            return
        self.world.signals.append(f"{signal.Signals(sig).name[3:]} {self.name}")
        if sig == signal.SIGKILL:
            self.exit(137)
        elif self.exit_on_term:
            self.exit(0)  # an app that handles SIGTERM and exits cleanly

    def exit(self, code: int) -> None:
        if not self._exit.done():
            self._exit.set_result(Exit(code=code))

    async def wait(self) -> Exit:
        return await asyncio.shield(self._exit)

    @property
    def exited(self) -> bool:
        return self._exit.done()

    def release(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def emit(self, pod: Obj, type_: str, reason: str, message: str, path: str) -> None:
        self.events.append((type_, reason, message))

    def forget(self, uid: str) -> None:
        pass


class Client:
    """The API as the runner uses it: the pod's status subresource, its removal."""

    def __init__(self, pod: Obj) -> None:
        self.pod = pod
        self.tokens_asked = 0

    async def mutate_only(self, api: str, kind: str, name: str, fn: Any, ns: str, **_: Any) -> Obj:
        self.pod = fn(dict(self.pod))
        return self.pod

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def create_token(self, ns: str, sa: str, request: Obj) -> Obj:
        self.tokens_asked += 1
        raise NotFound(f'pods "{request["spec"]["boundObjectRef"]["name"]}" not found')


class Agent:
    def __init__(self, tmp: Path, pod: Obj, world: World) -> None:
        self.pods_dir = tmp / "pods"
        self.allocatable: dict[str, str] = {}
        self.clock = FakeClock()
        self.private_dev_error = "no private /dev in unit tests"
        self.recorder = Recorder()
        self.lane = StartLane()
        self.ipam = IpPool("127.244.9.0/24")
        self.host_ip = "127.0.0.1"
        self.volume_sync_s = 1.0
        self.backoff = Backoff(10.0, 300.0)
        self.images = ImageStore(tmp / "images")
        self.isolate = False
        self.client = Client(pod)
        self.world = world

    def next_order(self) -> int:
        return 0

    async def lookup(self, kind: str, ns: str, name: str) -> Obj | None:
        return None

    async def exec_in(
        self, proc: Any, command: list[str], timeout: float | None, where: Any, pod_ip: str = ""
    ) -> tuple[int | None, bytes]:
        await self.world.probe_gate.wait()
        return 0, b""

    def cgroups_oom(self, *args: Any) -> bool:
        return False

    def cgroups_pids_limit(self, *args: Any) -> int | None:
        return None

    def cgroups_remove(self, *args: Any) -> None:
        pass


class Runner(PodRunner):
    """The pod runner, its container starts faked at the `_start` seam."""

    world: World
    holds_term: set[str]  # containers that ignore SIGTERM until a test ends them

    async def _start(self, c: Obj, rec: ContainerRecord) -> Any:
        proc = FakeProc(self.world, rec.name, exit_on_term=rec.name not in self.holds_term)
        self.world.started.append(rec.name)
        self.world.procs.setdefault(rec.name, []).append(proc)
        self.procs[rec.name] = proc
        rec.container_id = f"kubelite://{rec.name}-{rec.restart_count}"
        self._now_running(c, rec, "2026-01-01T00:00:00Z")
        return proc


def container(name: str, **extra: Any) -> Obj:
    return {"name": name, "image": "img", **extra}


def sidecar(name: str, **extra: Any) -> Obj:
    return container(name, restartPolicy="Always", **extra)


def make_pod(
    *,
    inits: list[Obj],
    containers: list[Obj],
    policy: str = "Always",
    volumes: list[Obj] | None = None,
    deleting: bool = False,
) -> Obj:
    md: Obj = {"name": "p", "namespace": "ns", "uid": "u1"}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    spec: Obj = {"restartPolicy": policy, "initContainers": inits, "containers": containers}
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": md, "spec": spec, "status": {}}


def make_runner(tmp: Path, pod: Obj, *, holds_term: tuple[str, ...] = ()) -> Runner:
    world = World()
    runner = Runner(Agent(tmp, pod, world), pod)  # type: ignore[arg-type]
    runner.world = world
    runner.holds_term = set(holds_term)
    runner.dir.mkdir(parents=True)
    runner.update(pod)
    return runner


async def until(test: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not test():
            await asyncio.sleep(0.001)
    assert test(), what


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(50):
        await asyncio.sleep(0)


def rec_of(runner: PodRunner, name: str) -> ContainerRecord:
    rec = runner.record(name)
    assert rec is not None
    return rec


def pod_phase(runner: PodRunner) -> str:
    policy = runner.pod["spec"]["restartPolicy"]
    return phase(policy, runner.inits, runner.containers)


# ---- start order ------------------------------------------------------------------------


def test_the_next_init_container_waits_for_the_sidecars_startup_probe(tmp_path: Path) -> None:
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    pod = make_pod(
        inits=[container("setup"), sidecar("shipper", startupProbe=probe), container("migrate")],
        containers=[container("app")],
    )
    runner = make_runner(tmp_path, pod)
    world = runner.world

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "setup" in world.started, "the first init container starts")
        await settle()
        assert world.started == ["setup"]  # a regular init container runs to completion
        world.proc("setup").exit(0)
        await until(lambda: "shipper" in world.started, "the sidecar starts next")
        await settle()
        assert world.started == ["setup", "shipper"]  # its startupProbe has not passed yet
        assert not rec_of(runner, "shipper").started
        world.probe_gate.set()
        await until(lambda: "migrate" in world.started, "the next init container starts")
        assert rec_of(runner, "shipper").started
        world.proc("migrate").exit(0)
        await until(lambda: "app" in world.started, "the app starts")
        assert world.started == ["setup", "shipper", "migrate", "app"]
        assert not world.proc("shipper").exited  # the sidecar runs beside the app
        assert pod_phase(runner) == "Running"
        shutdown.set()
        await task

    asyncio.run(scenario())


def test_completed_init_containers_are_ready_and_a_sidecar_is_as_probed(tmp_path: Path) -> None:
    pod = make_pod(inits=[container("setup"), sidecar("shipper")], containers=[container("app")])
    runner = make_runner(tmp_path, pod)
    world = runner.world

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "setup" in world.started, "setup starts")
        assert rec_of(runner, "setup").to_status()["ready"] is False  # running: not yet
        world.proc("setup").exit(0)
        await until(lambda: "app" in world.started, "the app starts")
        setup, shipper = (rec_of(runner, n).to_status() for n in ("setup", "shipper"))
        assert (setup["ready"], setup["started"]) == (True, False)
        assert (shipper["ready"], shipper["started"]) == (True, True)
        assert "running" in shipper["state"]
        shutdown.set()
        await task

    asyncio.run(scenario())


# ---- restarts ---------------------------------------------------------------------------


def test_a_sidecar_that_exits_is_restarted_whatever_the_pods_policy(tmp_path: Path) -> None:
    pod = make_pod(inits=[sidecar("shipper")], containers=[container("app")], policy="Never")
    runner = make_runner(tmp_path, pod)
    world = runner.world

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in world.started, "the app starts")
        app = world.proc("app")

        async def crash(restarts: int) -> None:
            world.proc("shipper").exit(1)
            await until(lambda: len(world.procs["shipper"]) == restarts + 1, "restarted")
            await until(lambda: rec_of(runner, "shipper").running, "running again")
            assert rec_of(runner, "shipper").restart_count == restarts

        await crash(1)
        await crash(2)  # after a CrashLoopBackOff wait (fake time)
        shipper = rec_of(runner, "shipper")
        assert shipper.last_state["terminated"]["exitCode"] == 1
        assert not app.exited and world.started.count("app") == 1  # the app never noticed
        assert pod_phase(runner) == "Running"
        assert ("Warning", "BackOff") in {e[:2] for e in runner.agent.recorder.events}
        shutdown.set()
        await task

    asyncio.run(scenario())


def test_a_sidecar_that_exits_during_init_is_restarted_before_the_app_starts(
    tmp_path: Path,
) -> None:
    pod = make_pod(inits=[sidecar("shipper")], containers=[container("app")], policy="OnFailure")
    runner = make_runner(tmp_path, pod)
    world = runner.world

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in world.started, "the app starts")
        world.proc("shipper").exit(0)  # a clean exit restarts a sidecar all the same
        await until(lambda: len(world.procs["shipper"]) == 2, "restarted")
        shutdown.set()
        await task

    asyncio.run(scenario())


# ---- completion (Job pods) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_exit", "expected"),
    [
        pytest.param(0, "Succeeded", id="succeeded"),
        pytest.param(3, "Failed", id="failed"),
    ],
)
def test_a_pod_whose_app_is_done_stops_its_sidecars_last_declared_first(
    tmp_path: Path, app_exit: int, expected: str
) -> None:
    pod = make_pod(
        inits=[sidecar("logs"), sidecar("proxy")], containers=[container("app")], policy="Never"
    )
    runner = make_runner(tmp_path, pod, holds_term=("proxy",))
    world = runner.world

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in world.started, "the app starts")
        world.proc("app").exit(app_exit)
        await until(lambda: "TERM proxy" in world.signals, "the last sidecar is stopped")
        await settle()
        assert world.signals == ["TERM proxy"]  # logs waits for proxy to exit
        assert pod_phase(runner) == "Running"  # sidecars still run
        world.proc("proxy").exit(0)
        await until(lambda: "TERM logs" in world.signals, "then the first")
        await until(lambda: pod_phase(runner) == expected, "the app's end decides")
        assert world.started == ["logs", "proxy", "app"]  # no sidecar restarted
        killing = [e[2] for e in runner.agent.recorder.events if e[1] == "Killing"]
        assert sorted(killing) == ["Stopping container logs", "Stopping container proxy"]
        await until(lambda: runner.agent.client.pod["status"].get("phase") == expected, "written")
        shutdown.set()
        await task

    asyncio.run(scenario())


def test_a_failed_init_container_of_a_never_pod_stops_the_sidecars(tmp_path: Path) -> None:
    pod = make_pod(
        inits=[sidecar("shipper"), container("migrate")],
        containers=[container("app")],
        policy="Never",
    )
    runner = make_runner(tmp_path, pod)
    world = runner.world

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "migrate" in world.started, "migrate starts")
        world.proc("migrate").exit(1)
        await until(lambda: "TERM shipper" in world.signals, "the sidecar is stopped")
        await until(lambda: pod_phase(runner) == "Failed", "the pod failed")
        assert "app" not in world.started
        shutdown.set()
        await task

    asyncio.run(scenario())


# ---- deletion ---------------------------------------------------------------------------


def test_deletion_stops_the_regular_containers_first_then_the_sidecars_in_reverse(
    tmp_path: Path,
) -> None:
    pod = make_pod(
        inits=[sidecar("logs"), container("setup"), sidecar("proxy")],
        containers=[container("app"), container("web")],
    )
    runner = make_runner(tmp_path, pod, holds_term=("app",))
    world = runner.world

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(shutdown=asyncio.Event()))
        await until(lambda: "setup" in world.started, "setup starts")
        world.proc("setup").exit(0)
        await until(lambda: "web" in world.started, "the app containers start")
        runner.request_termination(30)
        await until(lambda: "TERM web" in world.signals, "regular containers first")
        await settle()
        assert sorted(world.signals) == ["TERM app", "TERM web"]  # app still shuts down
        world.proc("app").exit(0)
        await task
        assert world.signals[2:] == ["TERM proxy", "TERM logs"]
        status = runner.agent.client.pod["status"]
        assert status["phase"] == "Succeeded"  # the regular containers exited 0
        assert {s["name"]: s["ready"] for s in status["initContainerStatuses"]} == {
            "logs": False,
            "setup": True,  # completed: ready, as upstream reports it
            "proxy": False,
        }

    asyncio.run(scenario())


def test_a_sidecar_waits_for_its_turn_no_longer_than_the_grace_period(tmp_path: Path) -> None:
    pod = make_pod(inits=[sidecar("logs")], containers=[container("app")])
    runner = make_runner(tmp_path, pod, holds_term=("app",))
    world = runner.world

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(shutdown=asyncio.Event()))
        await until(lambda: "app" in world.started, "the app starts")
        runner.request_termination(0.05)  # the app ignores SIGTERM: killed at the deadline
        await asyncio.wait_for(task, WAIT_S)  # and the sidecar's turn comes by then too
        assert world.signals[0] == "TERM app"
        assert sorted(world.signals[1:]) == ["KILL app", "TERM logs"]

    asyncio.run(scenario())


def test_a_pod_deleted_before_it_was_set_up_mounts_nothing(tmp_path: Path) -> None:
    token = {"projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
    pod = make_pod(
        inits=[],
        containers=[container("app")],
        volumes=[{"name": "kube-api-access-x", **token}],
        deleting=True,
    )
    runner = make_runner(tmp_path, pod)

    async def scenario() -> None:
        await asyncio.wait_for(runner.run(shutdown=asyncio.Event()), WAIT_S)

    asyncio.run(scenario())
    agent = runner.agent
    assert agent.client.tokens_asked == 0  # type: ignore[attr-defined]
    assert [e for e in agent.recorder.events if e[1] == "FailedMount"] == []  # type: ignore[attr-defined]
    assert runner.world.started == []
