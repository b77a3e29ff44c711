"""A pod the agent stopped and removed is never run again by a late watch event."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet import agent as agent_mod
from kubelite.kubelet.agent import NodeAgent


class FakeRunner:
    started: list[str] = []

    def __init__(self, agent: Any, pod: dict[str, Any]) -> None:
        self.uid = pod["metadata"]["uid"]
        self.ns, self.name = "default", pod["metadata"]["name"]
        self.terminating = asyncio.Event()

    def update(self, pod: dict[str, Any]) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self.terminating.set()

    async def run(self, *, shutdown: asyncio.Event) -> None:
        FakeRunner.started.append(self.uid)
        await self.terminating.wait()  # stopped, then removed from the API


def pod(uid: str, deleting: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": "web", "namespace": "default", "uid": uid}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": md, "spec": {}, "status": {"phase": "Running"}}


def test_a_late_event_for_a_removed_pod_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_mod, "PodRunner", FakeRunner)
    FakeRunner.started = []
    node = NodeAgent("n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24")

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            node._tg = tg
            node._upsert(pod("u1"))
            await asyncio.sleep(0)
            node._upsert(pod("u1", deleting=True))  # deleted: the runner stops and removes it
            for _ in range(5):
                await asyncio.sleep(0)
            assert "u1" not in node.runners
            node._upsert(pod("u1", deleting=True))  # the watch's late MODIFIED
            node._upsert(pod("u2"))  # another pod still runs
            await asyncio.sleep(0)
            node._upsert(pod("u2", deleting=True))

    asyncio.run(main())
    assert FakeRunner.started == ["u1", "u2"]
