"""Which container an attach goes to, and upstream's words when there is none running."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from kubelite.apiserver.errors import BadRequest, InternalError
from kubelite.kubelet.attach import NotRunning
from kubelite.kubelet.exec import ExecRouter

POD = {"metadata": {"name": "web", "namespace": "shop", "uid": "u1"}, "spec": {"nodeName": "n1"}}


class FakeProcess:
    def __init__(self, running: bool) -> None:
        self.running = running
        self.asked: list[tuple[bool, bool, bool]] = []

    async def open_streams(self, *, stdin: bool, stdout: bool, stderr: bool) -> str:
        self.asked.append((stdin, stdout, stderr))
        if not self.running:
            raise NotRunning("container is not running")
        return "session"


def router(targets: dict[str, Any]) -> ExecRouter:
    runner = SimpleNamespace(exec_target=lambda name: targets.get(name))
    return ExecRouter([SimpleNamespace(name="n1", runners={"u1": runner})])  # type: ignore[list-item]


def test_a_running_container_gets_a_session_with_the_streams_asked_for() -> None:
    proc = FakeProcess(running=True)
    routes = router({"main": (proc, "/root", "/")})
    routes.check_attach(POD, "main")
    session = asyncio.run(routes.attach(POD, "main", stdin=True, stdout=True, stderr=False))
    assert session == "session" and proc.asked == [(True, True, False)]


@pytest.mark.parametrize("pod", [POD, {**POD, "spec": {"nodeName": "elsewhere"}}])
def test_no_running_container_is_refused_in_the_kubelets_words(pod: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="^container main not found in pod web_shop$"):
        router({}).check_attach(pod, "main")


def test_a_container_that_ended_since_the_check_is_an_attach_error() -> None:
    routes = router({"main": (FakeProcess(running=False), "/root", "/")})
    with pytest.raises(InternalError, match="error attaching to container: container is not"):
        asyncio.run(routes.attach(POD, "main", stdin=False, stdout=True, stderr=True))
