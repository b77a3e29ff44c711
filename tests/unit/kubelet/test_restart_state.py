"""What a pod keeps across a restart of kubelite: its IP, restart counts, current DNS.

The pod runner checkpoints the pod IP and every container's instance, restart
count and state before it publishes them, so a pod whose containers never
started (a start error backing off, a volume that does not mount) is
re-adopted with the IP and counts it had; a container whose instance had
ended is restarted as the next instance. The pod's resolv.conf and hosts
file name what holds now (the cluster DNS address of this kubelite), and are
rewritten on their own inode, which running containers have bound.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.unit.kubelet.test_sidecars import (
    Runner,
    World,
    container,
    make_pod,
    make_runner,
    until,
)

from kubelite.kubelet import checkpoint
from kubelite.kubelet.dns import DNSConfig, write_pod_resolv_conf
from kubelite.kubelet.status import ContainerRecord

Obj = dict[str, Any]
START_ERROR = 'exec: "/nonexistent": stat /nonexistent: no such file or directory'


class FailingRunner(Runner):
    """Every start fails as a missing command does (StartError), until `failures`
    have happened; the next start then waits (a test looks meanwhile)."""

    failures: int
    starts: list[tuple[int, Obj]]  # (restart count, lastState) at each start
    hold: asyncio.Event

    async def _start(self, c: Obj, rec: ContainerRecord) -> Any:
        self.starts.append((rec.restart_count, dict(rec.last_state)))
        if len(self.starts) > self.failures:
            await self.hold.wait()
        rec.container_id = f"kubelite://{rec.name}-{rec.restart_count}"
        rec.state = {
            "terminated": {
                "exitCode": 128,
                "reason": "StartError",
                "message": START_ERROR,
                "startedAt": "1970-01-01T00:00:00Z",
                "finishedAt": "2026-01-01T00:00:00Z",
                "containerID": rec.container_id,
            }
        }
        self.mark(settled=True)
        return None


def failing_runner(tmp: Path, failures: int, pod: Obj | None = None) -> FailingRunner:
    pod = pod or make_pod(inits=[], containers=[container("app")])
    base = make_runner(tmp, pod)
    runner = FailingRunner(base.agent, pod)
    runner.world = World()
    runner.holds_term = set()
    runner.failures, runner.starts, runner.hold = failures, [], asyncio.Event()
    runner.update(pod)
    return runner


def test_a_container_that_never_started_is_checkpointed_with_ip_and_count(
    tmp_path: Path,
) -> None:
    runner = failing_runner(tmp_path, failures=3)

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: len(runner.starts) > 3, "three failed starts, then a fourth")

        def published() -> Obj:
            return runner.agent.client.pod.get("status") or {}

        await until(
            lambda: (published().get("containerStatuses") or [{}])[0].get("restartCount") == 3,
            "the fourth start published",
        )
        saved = checkpoint.load(runner.dir)
        assert saved is not None, "no checkpoint for a pod whose container never ran"
        assert saved["podIP"] == runner.ip == published()["podIP"]
        entry = saved["containers"][0]
        assert entry["restartCount"] == 3
        assert entry["lastState"]["terminated"]["reason"] == "StartError"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_a_readopted_container_that_had_ended_restarts_as_the_next_instance(
    tmp_path: Path,
) -> None:
    """Restored from a checkpoint at restart count 3 (its 4th instance failed to
    start): the next start is instance 4, with that end as its lastState, and the
    pod keeps the IP the checkpoint names."""
    runner = failing_runner(tmp_path, failures=0)
    ended = {"terminated": {"exitCode": 128, "reason": "StartError", "message": START_ERROR}}
    saved = {
        "uid": runner.uid,
        "podIP": "127.244.9.77",
        "startTime": "2026-01-01T00:00:00Z",
        "containers": [
            {"name": "app", "containerID": "kubelite://app-3", "restartCount": 3, "state": ended}
        ],
    }
    runner.agent.ipam.reserve(runner.uid, "127.244.9.77")
    runner.restore(saved, {})

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(shutdown=asyncio.Event()))
        await until(lambda: runner.starts, "a start")
        assert runner.ip == "127.244.9.77"
        count, last = runner.starts[0]
        assert count == 4  # not instance 3 again: that one ended before the restart
        assert last == ended
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_a_container_backing_off_at_the_restart_restarts_as_the_next_instance(
    tmp_path: Path,
) -> None:
    runner = failing_runner(tmp_path, failures=0)
    last = {"terminated": {"exitCode": 1, "reason": "Error"}}
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}
    saved = {
        "uid": runner.uid,
        "podIP": "127.244.9.78",
        "containers": [
            {"name": "app", "restartCount": 2, "state": waiting, "lastState": last},
        ],
    }
    runner.restore(saved, {})

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(shutdown=asyncio.Event()))
        await until(lambda: runner.starts, "a start")
        assert runner.starts[0] == (3, last)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_a_restored_container_that_ended_under_restart_policy_never_stays_ended(
    tmp_path: Path,
) -> None:
    pod = make_pod(inits=[], containers=[container("app"), container("b")], policy="Never")
    runner = failing_runner(tmp_path, failures=5, pod=pod)
    ended = {"terminated": {"exitCode": 1, "reason": "Error"}}
    saved = {
        "uid": runner.uid,
        "podIP": "127.244.9.79",
        "containers": [{"name": "app", "restartCount": 0, "state": ended}],
    }
    runner.restore(saved, {})

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(shutdown=asyncio.Event()))
        await until(lambda: runner.starts, "b starts")
        await asyncio.sleep(0.05)
        assert [s[0] for s in runner.starts] == [0]  # b's start only: app is not run again
        assert runner.record("app").state == ended  # type: ignore[union-attr]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def _resolv(tmp_path: Path, dns: str) -> DNSConfig:
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 10.0.0.2\nsearch example.org\n")
    return DNSConfig(cluster_dns=(dns,), host_resolv_conf=str(host))


def test_resolv_conf_follows_the_cluster_dns_address_on_its_own_inode(tmp_path: Path) -> None:
    pod = make_pod(inits=[], containers=[container("app")])
    pod_dir = tmp_path / "pod"
    path, _ = write_pod_resolv_conf(pod, pod_dir, _resolv(tmp_path, "127.96.0.10"))
    assert "nameserver 127.96.0.10\n" in path.read_text()
    with open(path) as bound:  # what a container's bind mount holds: the inode
        path2, warnings = write_pod_resolv_conf(pod, pod_dir, _resolv(tmp_path, "127.53.1.2"))
        assert path2 == path and warnings == []
        text = bound.read()
    assert "nameserver 127.53.1.2\n" in text and "127.96.0.10" not in text
    assert path.read_text() == text


def test_a_readopted_pod_gets_its_files_rewritten(tmp_path: Path) -> None:
    """Re-attached containers are not started again: the runner brings their
    resolv.conf up to date when it takes the pod up."""
    runner = failing_runner(tmp_path, failures=0)
    runner.agent.isolate = True
    runner.agent.dns = _resolv(tmp_path, "127.53.1.2")
    runner.dir.mkdir(parents=True, exist_ok=True)
    (runner.dir / "resolv.conf").write_text("nameserver 127.96.0.10\n")
    inode = (runner.dir / "resolv.conf").stat().st_ino
    world = runner.world

    class Held:  # a running container the shim still parents
        pid, start_time, exited = 4242, 1, False

        async def wait(self) -> Any:
            await asyncio.Event().wait()

        def signal_group(self, sig: int) -> None:
            pass

        def release(self) -> None:
            pass

    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    saved = {
        "uid": runner.uid,
        "podIP": "127.244.9.80",
        "containers": [{"name": "app", "restartCount": 0, "state": running, "started": True}],
    }
    runner.restore(saved, {"app": Held()})  # type: ignore[dict-item]
    del world

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(shutdown=asyncio.Event()))
        await until(lambda: "127.53.1.2" in (runner.dir / "resolv.conf").read_text(), "rewritten")
        assert (runner.dir / "resolv.conf").stat().st_ino == inode
        assert runner.starts == []  # re-attached, not started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
