"""The eviction manager's emptyDir check: a pod whose emptyDir outgrows its sizeLimit is
evicted as upstream's kubelet evicts it (eviction_manager.go, emptyDirLimitEviction).

What a user reads afterwards: the pod `Failed`, reason `Evicted`, message
`Usage of EmptyDir volume "NAME" exceeds the limit "LIMIT". ` (upstream's
format, trailing space included), a Warning `Evicted` event with the same
message, its containers stopped, and the pod object left for its controller.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.unit.kubelet.test_sidecars import container, make_pod, make_runner, until

from kubelite.kubelet import eviction

Obj = dict[str, Any]
MIB = 1 << 20


def _fill(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * size)  # real blocks, not a sparse file


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        # a disk-backed emptyDir with a limit: measured, the limit printed as the API does
        pytest.param({"emptyDir": {"sizeLimit": "1Mi"}}, [(MIB, "1Mi")], id="1Mi"),
        pytest.param({"emptyDir": {"sizeLimit": "1024Ki"}}, [(MIB, "1Mi")], id="canonical"),
        pytest.param({"emptyDir": {"sizeLimit": "2M"}}, [(2_000_000, "2M")], id="decimal"),
        # none, zero, or a tmpfs the kernel caps already: nothing to measure
        pytest.param({"emptyDir": {}}, [], id="no-limit"),
        pytest.param({"emptyDir": {"sizeLimit": "0"}}, [], id="zero"),
        pytest.param({"emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}, [], id="memory"),
        pytest.param({"hostPath": {"path": "/srv"}}, [], id="not-emptyDir"),
    ],
)
def test_which_volumes_are_measured(volume: Obj, expected: list[tuple[int, str]]) -> None:
    pod = {"spec": {"volumes": [{"name": "v", **volume}]}}
    found = eviction.limited_empty_dirs(pod, {"v": "/somewhere"})
    assert [(v.limit, v.shown) for v in found] == expected


def test_the_message_is_upstreams() -> None:
    vol = eviction.Limited("scratch", "/x", MIB, "1Mi")
    assert vol.message() == 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '


def test_disk_usage_counts_every_block_once(tmp_path: Path) -> None:
    _fill(tmp_path / "v" / "a", 2 * MIB)
    _fill(tmp_path / "v" / "d" / "b", MIB)
    (tmp_path / "v" / "hard").hardlink_to(tmp_path / "v" / "a")  # the same blocks
    (tmp_path / "v" / "link").symlink_to("/usr")  # not followed
    used = eviction.disk_usage(str(tmp_path / "v"))
    assert 3 * MIB <= used < 3 * MIB + 64 * 1024


def _pod_with_limit(limit: str) -> Obj:
    pod = make_pod(
        inits=[],
        containers=[container("app")],
        volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": limit}}],
    )
    return pod


def test_a_pod_over_its_emptydir_limit_is_evicted_and_left_failed(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, _pod_with_limit("1Mi"))
    agent: Any = runner.agent
    agent.runners = {runner.uid: runner}
    deleted: list[Any] = []

    async def delete(*args: Any, **kwargs: Any) -> None:
        deleted.append(args)

    agent.client.delete = delete

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in runner.world.started, "the app starts")
        assert await eviction.check(agent) == []  # within its limit: stays
        _fill(Path(runner.volumes.paths["scratch"]) / "big", 2 * MIB)
        assert await eviction.check(agent) == [runner.uid]
        await asyncio.wait_for(task, 5)  # its runner ends: containers stopped
        status = agent.client.pod["status"]
        message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '
        assert (status["phase"], status["reason"], status["message"]) == (
            "Failed",
            "Evicted",
            message,
        )
        assert ("Warning", "Evicted", message) in agent.recorder.events
        assert runner.world.proc("app").exited
        assert deleted == []  # the object stays, for its controller to replace

    asyncio.run(scenario())


def test_checks_run_every_housekeeping_period_off_the_loop(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, _pod_with_limit("1Mi"))
    agent: Any = runner.agent
    agent.runners = {runner.uid: runner}
    agent.name = "n"

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in runner.world.started, "the app starts")
        _fill(Path(runner.volumes.paths["scratch"]) / "big", 2 * MIB)
        checks = asyncio.create_task(eviction.run(agent, period=0.01))
        await asyncio.wait_for(task, 5)
        checks.cancel()
        assert agent.client.pod["status"]["reason"] == "Evicted"

    asyncio.run(scenario())
