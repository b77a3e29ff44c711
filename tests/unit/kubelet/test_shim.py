"""The container shim and the agent's side of it: containers outlive the connection, exits wait."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from kubelite.kubelet import checkpoint, criolog, shim
from kubelite.kubelet.adopt import adopt
from kubelite.kubelet.process import Spec, StartError, spec_from_wire, spec_to_wire
from kubelite.kubelet.runtime import LOST, ShimRuntime
from kubelite.kubelet.sandbox import Op, Plan


def spec(tmp_path: Path, script: str, name: str = "c") -> Spec:
    return Spec(
        argv=["sh", "-c", script],
        env={"PATH": os.environ["PATH"]},
        cwd=str(tmp_path),
        log_path=tmp_path / "logs" / name / "0.log",
    )


def log_text(path: Path) -> str:
    return "".join(
        e.content.decode() + "\n" for e in criolog.read_entries(path, criolog.ReadOptions())
    )


def test_spec_survives_the_wire() -> None:
    ops = [
        Op("overlay", "/r/app", lowers=("/a", "/b"), upper="/u", work="/w"),
        Op("bind_ro", "/r/etc", source="/etc", read_only=True),
    ]
    plan = Plan(root="/r", scratch="/s", ops=ops, hostname="web-0", workdir="/app")
    original = Spec(
        ["a"],
        {"K": "V"},
        "/",
        Path("/l/0.log"),
        plan,
        cgroup_ops=[("mkdir", "/cg", ""), ("write", "/cg/pids.max", "4096")],
        cgroup_procs=["/cg/cgroup.procs"],
    )
    assert spec_from_wire(json.loads(json.dumps(spec_to_wire(original)))) == original


def test_an_op_missing_fields_on_the_wire_takes_their_defaults() -> None:
    wire = spec_to_wire(spec(Path("/t"), "true"))
    wire["plan"] = {
        "root": "/r",
        "scratch": "/s",
        "ops": [{"kind": "mkdir", "target": "/r/x"}],
        "hostname": "",
        "workdir": "/",
    }
    plan = spec_from_wire(wire).plan
    assert plan is not None and plan.ops == [Op("mkdir", "/r/x")]


def test_a_start_that_fails_leaves_an_empty_log(tmp_path: Path) -> None:
    """As a container runtime's: `kubectl logs` then shows nothing rather than "waiting"."""

    async def scenario() -> None:
        runtime = ShimRuntime(tmp_path / "node")
        await runtime.connect()
        pump = asyncio.create_task(runtime.run())
        failed = spec(tmp_path, "unused", "f")
        failed.argv = ["no-such-binary-here"]
        with pytest.raises(StartError) as info:
            await runtime.start("f", failed)
        assert 'exec: "no-such-binary-here": executable file not found in $PATH' in str(info.value)
        assert (tmp_path / "logs" / "f" / "0.log").read_bytes() == b""
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    asyncio.run(scenario())


def test_exit_code_and_log_come_through_the_shim(tmp_path: Path) -> None:
    async def scenario() -> None:
        runtime = ShimRuntime(tmp_path / "node")
        assert await runtime.connect() == {}
        pump = asyncio.create_task(runtime.run())
        proc = await runtime.start("id1", spec(tmp_path, "echo hello; echo oops >&2; exit 3"))
        exit_ = await asyncio.wait_for(proc.wait(), 20)
        assert (exit_.code, exit_.signal) == (3, 0)
        # the exit is reported only once the log is complete
        lines = log_text(tmp_path / "logs" / "c" / "0.log").splitlines()
        assert sorted(lines) == ["hello", "oops"]
        proc.release()
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    asyncio.run(scenario())


def test_a_new_agent_finds_running_and_ended_containers(tmp_path: Path) -> None:
    """As after a kubelite crash: the first connection goes away without a word."""
    node = tmp_path / "node"

    async def first() -> tuple[int, int]:
        runtime = ShimRuntime(node)
        await runtime.connect()
        pump = asyncio.create_task(runtime.run())
        sleeper = await runtime.start("run", spec(tmp_path, "sleep 30", "run"))
        quick = await runtime.start("end", spec(tmp_path, "exit 7", "end"))
        await asyncio.wait_for(quick.wait(), 20)  # seen, but not released: the shim keeps it

        async def crash() -> None:  # no goodbye: the connection just drops
            assert runtime._writer is not None
            runtime._writer.transport.abort()

        runtime._goodbye = crash  # type: ignore[method-assign]
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        return sleeper.pid, quick.pid

    async def second(sleeper_pid: int) -> None:
        runtime = ShimRuntime(node)
        held = await runtime.connect()
        started = checkpoint.proc_start_time(sleeper_pid)
        assert started is not None
        # the start time the child reported with `ready`, kept by the shim
        assert held["run"] == {"pid": sleeper_pid, "startTime": started, "exit": None}
        assert held["end"]["exit"] == {"code": 7, "signal": 0}
        pump = asyncio.create_task(runtime.run())
        running = runtime.attach("run", held["run"])
        assert running.start_time == started
        ended = runtime.attach("end", held["end"])
        assert ended.exited and (await ended.wait()).code == 7
        assert not running.exited
        running.signal_group(signal.SIGKILL)
        exit_ = await asyncio.wait_for(running.wait(), 20)
        assert exit_.signal == signal.SIGKILL
        running.release()
        ended.release()
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    sleeper_pid, _ = asyncio.run(first())
    assert checkpoint.proc_start_time(sleeper_pid) is not None  # outlived its agent
    asyncio.run(second(sleeper_pid))


def test_process_identity_is_pid_and_start_time() -> None:
    me = os.getpid()
    start = checkpoint.proc_start_time(me)
    assert start is not None
    assert checkpoint.same_process(me, start)
    assert not checkpoint.same_process(me, start + 1)  # a reused pid is someone else
    assert not checkpoint.same_process(0, start)


def test_container_the_shim_lost_is_reported_unknown() -> None:
    saved = {
        "containers": [
            {
                "name": "app",
                "containerID": "kubelite://gone",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                "pid": 0,
                "pidStartTime": None,
            },
            {"name": "done", "containerID": "x", "state": {"terminated": {"exitCode": 0}}},
        ]
    }

    async def scenario() -> None:
        procs = adopt(saved, {}, runtime=None)
        assert set(procs) == {"app"}  # a finished container is not re-attached
        exit_ = await procs["app"].wait()
        assert exit_ == LOST
        assert (exit_.code, exit_.reason) == (137, "ContainerStatusUnknown")

    asyncio.run(scenario())


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    checkpoint.save(tmp_path / "p1", {"uid": "u1", "podIP": "127.244.0.9"})
    (tmp_path / "junk").mkdir()
    assert checkpoint.load_all(tmp_path) == {
        "u1": (tmp_path / "p1", {"uid": "u1", "podIP": "127.244.0.9"})
    }
    checkpoint.remove(tmp_path / "p1")
    assert checkpoint.load_all(tmp_path) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs root (CAP_SYS_NICE)")
def test_the_shim_runs_ahead_of_its_containers_which_run_at_nice_0(tmp_path: Path) -> None:
    async def scenario() -> None:
        runtime = ShimRuntime(tmp_path / "node")
        await runtime.connect()
        pump = asyncio.create_task(runtime.run())
        assert runtime._child is not None
        shim_nice = int(
            Path(f"/proc/{runtime._child.pid}/stat").read_text().rsplit(")", 1)[1].split()[16]
        )
        proc = await runtime.start("n", spec(tmp_path, "cut -d' ' -f19 /proc/$$/stat", "n"))
        exit_ = await asyncio.wait_for(proc.wait(), 20)
        assert (shim_nice, exit_.code) == (shim.RUNTIME_NICE, 0)
        assert log_text(tmp_path / "logs" / "n" / "0.log").strip() == "0"
        proc.release()
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    asyncio.run(scenario())


def test_the_starter_makes_the_cgroups_and_the_child_joins_them_after_ready(
    tmp_path: Path,
) -> None:
    """Plain files stand in for a hierarchy: the dirs and limits are written before
    the fork, and the container's own process writes itself ("0") into `tasks`."""
    from kubelite.kubelet import process

    cg = tmp_path / "cg" / "pod1" / "c"
    tasks = cg / "tasks"
    s = spec(tmp_path, "exit 0")
    s.cgroup_ops = [("mkdir", str(cg), ""), ("write", str(cg / "pids.max"), "4096")]
    s.cgroup_procs = [str(tasks)]
    cg.mkdir(parents=True)
    tasks.write_bytes(b"")
    (cg / "pids.max").write_bytes(b"")

    async def scenario() -> None:
        proc = await process.start(s)
        assert (cg / "pids.max").read_text() == "4096"  # made before the child ran
        exit_ = await asyncio.wait_for(proc.wait(), 20)
        assert exit_.code == 0

    asyncio.run(scenario())
    assert tasks.read_bytes() == b"0"


def test_cgroups_that_cannot_be_made_leave_the_container_unplaced_but_running(
    tmp_path: Path,
) -> None:
    from kubelite.kubelet import process

    s = spec(tmp_path, "exit 0")
    blocker = tmp_path / "file"
    blocker.write_text("")
    s.cgroup_ops = [("mkdir", str(blocker / "pod1"), "")]  # a file where a dir must go
    s.cgroup_procs = [str(blocker / "pod1" / "tasks")]

    async def scenario() -> int:
        proc = await process.start(s)
        return (await asyncio.wait_for(proc.wait(), 20)).code

    assert asyncio.run(scenario()) == 0
