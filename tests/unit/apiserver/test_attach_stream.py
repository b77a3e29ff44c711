"""`pods/attach` over WebSocket: checked as upstream checks it, relayed as exec is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import attach_stream, errors
from kubelite.apiserver.paths import ResourcePath

POD = {
    "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
    "spec": {"nodeName": "n1", "containers": [{"name": "main"}, {"name": "side"}]},
}
TARGET = ResourcePath(REGISTRY.by_kind("v1", "Pod"), "default", "web", "attach")
V5 = ["v5.channel.k8s.io", "v4.channel.k8s.io"]


class FakeSession:
    """An attach session: output until the container ends or the client detaches."""

    def __init__(self, out: list[tuple[int, bytes]]) -> None:
        self.out = out
        self.stdin: list[bytes] = []
        self.sizes: list[tuple[int, int]] = []
        self.stdin_closed = False
        self.detached = asyncio.Event()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        for item in self.out:
            yield item
        await self.detached.wait()

    async def write(self, data: bytes) -> None:
        self.stdin.append(data)

    def close_stdin(self) -> None:
        self.stdin_closed = True
        self.detached.set()  # a plain session detaches when the client's stdin ends

    def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))

    async def wait(self) -> int:
        return 0

    def kill(self) -> None:
        self.detached.set()


class FakeSource:
    def __init__(self, session: FakeSession | None = None, fail: str = "") -> None:
        self.session, self.fail = session, fail
        self.attached: list[tuple[str, bool, bool, bool]] = []

    def check_attach(self, pod: dict[str, Any], container: str) -> None:
        if container == "side":
            raise errors.BadRequest(f"container {container} not found in pod web_default")

    async def attach(
        self, pod: dict[str, Any], container: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> FakeSession:
        self.attached.append((container, stdin, stdout, stderr))
        if self.fail:
            raise errors.InternalError(self.fail)
        assert self.session is not None
        return self.session


def _app(source: FakeSource, pod: dict[str, Any] = POD) -> Any:
    storage = SimpleNamespace(get=lambda rt, ns, name: SimpleNamespace(obj=lambda: pod))
    return SimpleNamespace(storage=storage, execs=source)


async def _run(
    app: Any, query: str, incoming: list[dict[str, Any]], protocols: list[str]
) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in [{"type": "websocket.connect"}, *incoming]:
        inbox.put_nowait(message)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"query_string": query.encode(), "subprotocols": protocols}
    await asyncio.wait_for(attach_stream.serve(app, TARGET, scope, inbox.get, send), 5)
    return sent


def _frames(sent: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    return [(m["bytes"][0], m["bytes"][1:]) for m in sent if m["type"] == "websocket.send"]


SUCCESS = (3, b'{"metadata":{},"status":"Success"}')
OPENED = (1, b"")  # the empty message on stdout that says the connection is up


def test_input_and_output_flow_and_a_detach_ends_in_success() -> None:
    session = FakeSession([(1, b"prompt> "), (2, b"warn\n")])
    source = FakeSource(session)
    incoming = [
        {"type": "websocket.receive", "bytes": b"\x00ls\n"},
        {"type": "websocket.receive", "bytes": b'\x04{"Width":120,"Height":40}'},
        {"type": "websocket.receive", "bytes": b"\xff\x00"},
    ]
    query = "container=main&stdin=true&stdout=true&stderr=true"
    sent = asyncio.run(_run(_app(source), query, incoming, V5))
    assert sent[0] == {"type": "websocket.accept", "subprotocol": "v5.channel.k8s.io"}
    assert source.attached == [("main", True, True, True)]
    assert _frames(sent) == [OPENED, (1, b"prompt> "), (2, b"warn\n"), SUCCESS]
    assert session.stdin == [b"ls\n"] and session.sizes == [(120, 40)] and session.stdin_closed
    assert sent[-1] == {"type": "websocket.close", "code": 1000}


def test_a_terminal_request_has_no_stderr_and_the_only_container_is_the_default() -> None:
    pod = {**POD, "spec": {"nodeName": "n1", "containers": [{"name": "main"}]}}
    session = FakeSession([(1, b"$ ")])
    session.detached.set()
    source = FakeSource(session)
    sent = asyncio.run(_run(_app(source, pod), "stdout=true&stderr=true&tty=true", [], V5[1:]))
    assert sent[0]["subprotocol"] == "v4.channel.k8s.io"
    assert source.attached == [("main", False, True, False)]
    assert _frames(sent) == [OPENED, (1, b"$ "), SUCCESS]


def test_a_client_that_goes_away_detaches() -> None:
    session = FakeSession([])
    incoming = [{"type": "websocket.disconnect", "code": 1006}]
    sent = asyncio.run(_run(_app(FakeSource(session)), "container=main&stdout=true", incoming, V5))
    assert session.detached.is_set()
    assert _frames(sent) == [OPENED]  # nothing after the client went away


@pytest.mark.parametrize(
    ("query", "pod", "message"),
    [
        ("container=main", POD, "you must specify at least 1 of stdin, stdout, stderr"),
        ("stdout=true", POD, "a container name must be specified for pod web"),
        ("container=nope&stdout=true", POD, "container nope is not valid for pod web"),
        (
            "container=side&stdout=true",
            POD,
            "container side not found in pod web_default",
        ),
        (
            "container=main&stdout=true",
            {**POD, "spec": {"containers": [{"name": "main"}]}},
            "pod web does not have a host assigned",
        ),
    ],
    ids=["no-stream", "no-container", "unknown", "not-running", "unscheduled"],
)
def test_bad_requests_are_refused_before_the_upgrade(
    query: str, pod: dict[str, Any], message: str
) -> None:
    source = FakeSource(FakeSession([]))
    sent = asyncio.run(_run(_app(source, pod), query, [], V5))
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
    body = orjson.loads(sent[1]["body"])
    assert body["kind"] == "Status" and message in body["message"]
    assert not source.attached


def test_a_container_that_ended_meanwhile_is_told_on_the_error_channel() -> None:
    text = "error attaching to container: container is not running"
    source = FakeSource(fail=text)
    sent = asyncio.run(_run(_app(source), "container=main&stdout=true", [], V5))
    assert sent[0]["type"] == "websocket.accept"
    assert _frames(sent)[0] == OPENED
    channel, status = _frames(sent)[1]
    assert channel == 3 and orjson.loads(status)["message"] == text
    assert sent[-1] == {"type": "websocket.close", "code": 1000}
