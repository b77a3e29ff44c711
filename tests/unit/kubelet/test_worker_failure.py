"""A pod worker that fails (a bug, an error no step expected) says so in an event
and leaves none of the pod's mounts behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.unit.kubelet.test_sidecars import container, make_pod, make_runner


def test_a_failed_worker_reports_and_releases_the_pods_mounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = make_runner(tmp_path, make_pod(inits=[], containers=[container("app")]))
    released: list[Path] = []

    async def broken() -> None:
        raise RuntimeError("no such luck")

    monkeypatch.setattr(runner, "_setup_volumes", broken)
    monkeypatch.setattr(runner.volumes, "teardown", lambda: released.append(runner.dir))

    async def scenario() -> None:
        with pytest.raises(BaseExceptionGroup):
            await runner.run(shutdown=asyncio.Event())

    asyncio.run(scenario())
    assert ("Warning", "FailedSync", "error syncing pod: no such luck") in (
        runner.agent.recorder.events  # type: ignore[attr-defined]
    )
    assert released == [runner.dir]
