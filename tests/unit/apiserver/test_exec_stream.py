"""`pods/exec` over WebSocket: the channel protocol kubectl and the official client speak."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors, exec_stream
from kubelite.apiserver.paths import ResourcePath

POD = {
    "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
    "spec": {"nodeName": "n1", "containers": [{"name": "main"}, {"name": "side"}]},
}
TARGET = ResourcePath(REGISTRY.by_kind("v1", "Pod"), "default", "web", "exec")


class FakeSession:
    def __init__(self, out: list[tuple[int, bytes]], code: int) -> None:
        self.out, self.code = out, code
        self.stdin: list[bytes] = []
        self.stdin_closed = asyncio.Event()
        self.sizes: list[tuple[int, int]] = []
        self.killed = False

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        for item in self.out:
            yield item
        await self.stdin_closed.wait()  # the command reads its input to the end

    async def write(self, data: bytes) -> None:
        self.stdin.append(data)

    def close_stdin(self) -> None:
        self.stdin_closed.set()

    def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))

    async def wait(self) -> int:
        return self.code

    def kill(self) -> None:
        self.killed = True
        self.stdin_closed.set()


class FakeSource:
    def __init__(self, session: FakeSession | None = None, fail: str = "") -> None:
        self.session, self.fail = session, fail
        self.started: list[tuple[str, list[str], bool, bool]] = []
        self.sizes: list[tuple[int, int] | None] = []

    def check(self, pod: dict[str, Any], container: str) -> None:
        if container == "side":
            raise errors.BadRequest(f'container not found ("{container}")')

    async def start(
        self,
        pod: dict[str, Any],
        container: str,
        command: list[str],
        *,
        stdin: bool,
        tty: bool,
        size: tuple[int, int] | None = None,
    ) -> FakeSession:
        self.started.append((container, command, stdin, tty))
        self.sizes.append(size)
        if self.fail:
            raise errors.InternalError(self.fail)
        assert self.session is not None
        return self.session


def _app(source: FakeSource) -> Any:
    storage = SimpleNamespace(get=lambda rt, ns, name: SimpleNamespace(obj=lambda: POD))
    return SimpleNamespace(storage=storage, execs=source)


async def _run(
    source: FakeSource, query: str, incoming: list[dict[str, Any]], protocols: list[str]
) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in [{"type": "websocket.connect"}, *incoming]:
        inbox.put_nowait(message)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"query_string": query.encode(), "subprotocols": protocols}
    await asyncio.wait_for(exec_stream.serve(_app(source), TARGET, scope, inbox.get, send), 5)
    return sent


def _frames(sent: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    return [(m["bytes"][0], m["bytes"][1:]) for m in sent if m["type"] == "websocket.send"]


QUERY = "command=sh&command=-c&command=exit+3&container=main&stdin=true&stdout=true&stderr=true"
OPENED = (1, b"")  # the empty message on stdout that says the connection is up


def test_streams_input_output_and_the_exit_code_status() -> None:
    session = FakeSession([(1, b"out\n"), (2, b"err\n")], code=3)
    source = FakeSource(session)
    incoming = [
        {"type": "websocket.receive", "bytes": b"\x00hello"},
        {"type": "websocket.receive", "bytes": b'\x04{"Width":80,"Height":24}'},
        {"type": "websocket.receive", "bytes": b"\xff\x00"},  # v5: stdin is closed
    ]
    sent = asyncio.run(_run(source, QUERY, incoming, ["v5.channel.k8s.io", "v4.channel.k8s.io"]))
    assert sent[0] == {"type": "websocket.accept", "subprotocol": "v5.channel.k8s.io"}
    assert source.started == [("main", ["sh", "-c", "exit 3"], True, False)]
    frames = _frames(sent)
    assert frames[:3] == [OPENED, (1, b"out\n"), (2, b"err\n")]
    channel, status = frames[-1]
    assert channel == 3
    assert orjson.loads(status) == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
        "[sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert sent[-1] == {"type": "websocket.close", "code": 1000}
    assert session.stdin == [b"hello"] and session.sizes == [(80, 24)]


TTY_QUERY = "command=sh&container=main&stdin=true&stdout=true&tty=true"


def test_a_terminal_command_starts_with_the_size_of_the_clients_first_resize() -> None:
    session = FakeSession([(1, b"$ ")], code=0)
    source = FakeSource(session)
    incoming = [
        {"type": "websocket.receive", "bytes": b'\x04{"Width":91,"Height":17}'},
        {"type": "websocket.receive", "bytes": b"\xff\x00"},
    ]
    asyncio.run(_run(source, TTY_QUERY, incoming, ["v5.channel.k8s.io"]))
    assert source.sizes == [(91, 17)]
    assert session.sizes == [(91, 17)]  # the first message is still relayed


def test_a_terminal_command_starts_without_a_size_when_none_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exec_stream, "INITIAL_SIZE_WAIT_S", 0.01)
    session = FakeSession([(1, b"$ ")], code=0)
    session.stdin_closed.set()
    source = FakeSource(session)
    asyncio.run(_run(source, TTY_QUERY, [], ["v5.channel.k8s.io"]))
    assert source.sizes == [None]
    # input first: no size, and the input still reaches the command
    stdin_first = [
        {"type": "websocket.receive", "bytes": b"\x00ls\n"},
        {"type": "websocket.receive", "bytes": b"\xff\x00"},
    ]
    session = FakeSession([], code=0)
    source = FakeSource(session)
    asyncio.run(_run(source, TTY_QUERY, stdin_first, ["v5.channel.k8s.io"]))
    assert source.sizes == [None]
    assert session.stdin == [b"ls\n"]


def test_success_and_the_v4_protocol_of_the_python_client() -> None:
    session = FakeSession([(1, b"web\n")], code=0)
    session.stdin_closed.set()
    query = "command=hostname&stdout=true&stderr=true&container=main"
    sent = asyncio.run(_run(FakeSource(session), query, [], ["v4.channel.k8s.io"]))
    assert sent[0]["subprotocol"] == "v4.channel.k8s.io"
    assert _frames(sent) == [OPENED, (1, b"web\n"), (3, b'{"metadata":{},"status":"Success"}')]


def test_a_client_that_goes_away_ends_the_command() -> None:
    session = FakeSession([], code=137)
    incoming = [{"type": "websocket.disconnect", "code": 1006}]
    sent = asyncio.run(_run(FakeSource(session), QUERY, incoming, ["v5.channel.k8s.io"]))
    assert session.killed
    assert _frames(sent) == [OPENED]  # nothing is sent to a closed connection


@pytest.mark.parametrize(
    ("query", "protocols", "code", "message"),
    [
        (
            "stdout=true&container=main",
            ["v5.channel.k8s.io"],
            400,
            "you must specify at least one command for the container",
        ),
        (
            "command=ls&stdout=true",
            ["v5.channel.k8s.io"],
            400,
            "a container name must be specified for pod web, choose one of: [main side]",
        ),
        (
            "command=ls&stdout=true&container=nope",
            ["v5.channel.k8s.io"],
            400,
            "container nope is not valid for pod web",
        ),
        (
            "command=ls&stdout=true&container=side",
            ["v5.channel.k8s.io"],
            400,
            'container not found ("side")',
        ),
        (
            "command=ls&stdout=true&container=main",
            ["v3.channel.k8s.io", "v2.channel.k8s.io"],
            400,
            "none of the offered subprotocols",
        ),
    ],
)
def test_bad_requests_are_refused_before_the_upgrade(
    query: str, protocols: list[str], code: int, message: str
) -> None:
    source = FakeSource(FakeSession([], 0))
    sent = asyncio.run(_run(source, query, [], protocols))
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == code
    body = orjson.loads(sent[1]["body"])
    assert body["kind"] == "Status" and body["code"] == code
    assert message in body["message"]
    assert not source.started


def test_a_command_that_cannot_start_is_told_on_the_error_channel() -> None:
    text = "Internal error occurred: error executing command in container: failed to exec"
    sent = asyncio.run(_run(FakeSource(fail=text), QUERY, [], ["v5.channel.k8s.io"]))
    assert sent[0]["type"] == "websocket.accept"
    assert _frames(sent)[0] == OPENED
    channel, status = _frames(sent)[1]
    assert channel == 3
    assert orjson.loads(status)["reason"] == "InternalError"
    assert orjson.loads(status)["message"] == text
    assert sent[-1] == {"type": "websocket.close", "code": 1000}


@pytest.mark.parametrize(
    ("offered", "accepted"),
    [
        ([], None),  # no subprotocol: binary channels (kr8s, websocat)
        (["channel.k8s.io"], "channel.k8s.io"),
        (["base64.channel.k8s.io", "v4.channel.k8s.io"], "base64.channel.k8s.io"),
        (["v4.base64.channel.k8s.io", "v4.channel.k8s.io"], "v4.base64.channel.k8s.io"),
        (["v4.channel.k8s.io", "v5.channel.k8s.io"], "v5.channel.k8s.io"),  # the translator's
        (["v3.channel.k8s.io", "v4.channel.k8s.io"], "v4.channel.k8s.io"),
    ],
    ids=["none", "v1", "client-order", "v4-base64", "v5-wins", "skips-unknown"],
)
def test_the_subprotocols_the_kubelet_accepts(offered: list[str], accepted: str | None) -> None:
    session = FakeSession([], code=0)
    session.stdin_closed.set()
    query = "command=true&stdout=true&container=main"
    sent = asyncio.run(_run(FakeSource(session), query, [], offered))
    assert sent[0] == {"type": "websocket.accept", "subprotocol": accepted}


def test_without_a_subprotocol_the_error_channel_has_only_a_failures_message() -> None:
    session = FakeSession([(1, b"out\n")], code=0)
    session.stdin_closed.set()
    query = "command=true&stdout=true&container=main"
    assert _frames(asyncio.run(_run(FakeSource(session), query, [], []))) == [
        OPENED,
        (1, b"out\n"),
    ]  # success: nothing on the error channel
    session = EndsOnBye([], code=3)
    incoming = [{"type": "websocket.receive", "bytes": b"\x00bye"}]
    sent = asyncio.run(_run(FakeSource(session), QUERY, incoming, ["channel.k8s.io"]))
    assert _frames(sent)[-1] == (
        3,
        b"command terminated with non-zero exit code: error executing command "
        b"[sh -c exit 3], exit code 3",
    )
    assert session.stdin == [b"bye"]


class EndsOnBye(FakeSession):
    """A command that ends once it reads `bye` (base64 protocols cannot close stdin)."""

    async def write(self, data: bytes) -> None:
        await super().write(data)
        if data == b"bye":
            self.stdin_closed.set()


def test_base64_framing_both_ways() -> None:
    session = EndsOnBye([(1, b"out\n"), (2, b"err")], code=0)
    incoming = [
        {"type": "websocket.receive", "text": "0aGVsbG8="},  # "hello" on stdin
        {"type": "websocket.receive", "text": "0!!"},  # not base64: dropped, as upstream
        {"type": "websocket.receive", "text": "4eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9"},
        {"type": "websocket.receive", "bytes": b"0Ynll"},  # "bye"; binary frames are read too
    ]
    sent = asyncio.run(_run(FakeSource(session), QUERY, incoming, ["v4.base64.channel.k8s.io"]))
    texts = [m["text"] for m in sent if m["type"] == "websocket.send"]
    success = "3eyJtZXRhZGF0YSI6e30sInN0YXR1cyI6IlN1Y2Nlc3MifQ=="  # '{"metadata":{},...}'
    assert texts == ["1", "1b3V0Cg==", "2ZXJy", success]
    assert session.stdin == [b"hello", b"bye"] and session.sizes == [(80, 24)]
    assert sent[-1] == {"type": "websocket.close", "code": 1000}
