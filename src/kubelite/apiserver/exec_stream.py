"""`pods/exec`: a command in a running container, over the WebSocket channel protocol.

kubectl (1.30 and later) and the official client upgrade the request to a
WebSocket and speak `v5.channel.k8s.io` (kubectl) or `v4.channel.k8s.io`
(the Python client): every binary message starts with a channel byte, 0
stdin, 1 stdout, 2 stderr, 3 the error channel, 4 terminal resizes
(`{"Width": w, "Height": h}`); v5 adds 255, by which the client says it
closed one of its streams (`[255, 0]`: no more stdin). When the command
ends, the error channel carries a `Status`: Success, or Failure with reason
`NonZeroExitCode` and the code as the `ExitCode` cause, from which kubectl
takes its own exit code. Then the server closes the connection normally.

The other subprotocols the kubelet accepts are served too (`ChannelProtocol`):
no subprotocol at all, `channel.k8s.io`, and the `base64.` variants, whose
messages are text, the channel an ASCII digit and the data base64. Before
v4 the error channel carries only a failure's message, nothing on success.
As upstream, the first message after the upgrade is an empty one on the
lowest channel the server writes (stdout, else stderr, else the error
channel), which tells the client the connection is up.

The request is checked before the upgrade, as upstream checks it before
proxying to the kubelet: a bad request gets an HTTP error (`Status` body),
on which kubectl gives up the WebSocket and retries over SPDY; that plain
request gets the same error, and when nothing is wrong, upstream's
"Upgrade request required". The node agent that runs the pod starts the
process (`ExecSource`). `pods/attach` (`attach_stream`) relays a session on
a running container's own streams the same way (`relay`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qsl

import orjson

from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Receive, Send
    from kubelite.apiserver.paths import ResourcePath

log = logging.getLogger(__name__)

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


@dataclass(frozen=True)
class ChannelProtocol:
    """One subprotocol of the channel family, as wsstream's `ChannelProtocolConfig`."""

    name: str  # "" when the client offered none
    # False: `base64.channel.k8s.io` framing, text messages `<digit><base64 data>`.
    binary: bool = True
    # v4 and later: the error channel carries the final Status as JSON; before,
    # only a failure's message, and nothing on success.
    status: bool = True

    def wrap(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """`receive` and `send` in binary framing: a base64 protocol's messages are
        decoded on the way in and encoded on the way out, so relays speak one framing."""
        if self.binary:
            return receive, send

        async def decoded() -> dict[str, Any]:
            while True:
                message = await receive()
                data = message.get("bytes") or (message.get("text") or "").encode()
                if message["type"] != "websocket.receive" or not data:
                    return message
                try:
                    payload = base64.b64decode(data[1:].translate(None, b"\r\n"), validate=True)
                except (binascii.Error, ValueError):
                    log.debug("websocket: dropped a frame that is not base64")
                    continue  # as upstream: logged, the connection goes on
                channel = (data[0] - ord("0")) % 256
                return {"type": "websocket.receive", "bytes": bytes([channel]) + payload}

        async def encoded(message: dict[str, Any]) -> None:
            data = message.get("bytes") if message["type"] == "websocket.send" else None
            if data:
                text = chr(ord("0") + data[0]) + base64.b64encode(data[1:]).decode()
                message = {"type": "websocket.send", "text": text}
            await send(message)

        return decoded, encoded

    def error_payload(self, status: bytes) -> bytes | None:
        """What the error channel carries for the final `Status` (JSON); None: nothing."""
        if self.status:
            return status
        parsed = orjson.loads(status)
        if parsed.get("status") == "Success":
            return None
        return str(parsed.get("message", "")).encode()


# What the kubelet's exec and attach WebSockets accept (`remotecommand/websocket.go`);
# `v5.channel.k8s.io`, when offered, the API server serves itself (its stream translator).
EXEC_PROTOCOLS: dict[str, ChannelProtocol] = {
    p.name: p
    for p in (
        ChannelProtocol(V5),
        ChannelProtocol(V4),
        ChannelProtocol(V4_BASE64, binary=False),
        ChannelProtocol(V1, status=False),
        ChannelProtocol(V1_BASE64, binary=False, status=False),
        ChannelProtocol("", status=False),
    )
}
TRANSLATED = (V5,)


class ExecSession(Protocol):
    """A started command: its output as (channel, bytes), its input, its end."""

    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...

    async def write(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


class Wanted(Protocol):
    """Which streams the client asked for."""

    @property
    def stdin(self) -> bool: ...

    @property
    def stdout(self) -> bool: ...

    @property
    def stderr(self) -> bool: ...

    @property
    def tty(self) -> bool: ...


class ExecSource(Protocol):
    """Where `pods/exec` runs and `pods/attach` attaches: the node agent that runs the pod."""

    def check(self, pod: dict[str, Any], container: str) -> None:
        """Raise ApiError when the container does not run (refused before the upgrade)."""
        ...

    async def start(
        self,
        pod: dict[str, Any],
        container: str,
        command: list[str],
        *,
        stdin: bool,
        tty: bool,
        size: tuple[int, int] | None = None,
    ) -> ExecSession:
        """Start the command, or raise ApiError (sent on the error channel); `size`
        (width, height) is its terminal's from the start."""
        ...

    def check_attach(self, pod: dict[str, Any], container: str) -> None:
        """Raise ApiError when the container does not run (refused before the upgrade)."""
        ...

    async def attach(
        self, pod: dict[str, Any], container: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> ExecSession:
        """A session on the container's streams, or raise ApiError (on the error channel)."""
        ...


@dataclass(frozen=True)
class ExecRequest:
    pod: dict[str, Any]
    container: str
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def pod_container(
    app: ApiApp, target: ResourcePath, query_string: bytes
) -> tuple[dict[str, Any], str, dict[str, str], list[str]]:
    """The pod and container an exec or attach names, checked as upstream checks both,
    with the query's parameters and its command."""
    from kubelite.apiserver.subresources import container_of

    if target.resource.kind != "Pod" or not target.name:
        raise errors.NotFound("the server could not find the requested resource")
    query, command = split_query(query_string)
    pod = app.storage.get(target.resource, target.namespace, target.name).obj()
    container = container_of(pod, target.name, query.get("container"))
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.BadRequest(f"pod {target.name} does not have a host assigned")
    return pod, container, query, command


def parse(app: ApiApp, target: ResourcePath, query_string: bytes) -> ExecRequest:
    """The checked request, or the ApiError upstream answers with."""
    pod, container, query, command = pod_container(app, target, query_string)
    if not command:
        raise errors.BadRequest("you must specify at least one command for the container")
    stdin, stdout, stderr, tty = stream_flags(query)
    request = ExecRequest(pod, container, command, stdin, stdout, stderr, tty)
    if app.execs is None:
        raise errors.BadRequest(f'container not found ("{container}")')
    app.execs.check(pod, container)
    return request


def split_query(query_string: bytes) -> tuple[dict[str, str], list[str]]:
    """The query's parameters, and its `command` ones (repeated) in order."""
    query: dict[str, str] = {}
    command = []
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "command":
            command.append(value)
        else:
            query[key] = value
    return query, command


def stream_flags(query: dict[str, str]) -> tuple[bool, bool, bool, bool]:
    """(stdin, stdout, stderr, tty), checked as the kubelet checks them."""

    def flag(name: str) -> bool:
        return query.get(name, "").lower() in ("true", "1")

    stdin, stdout, stderr, tty = flag("stdin"), flag("stdout"), flag("stderr"), flag("tty")
    if not (stdin or stdout or stderr):
        raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return stdin, stdout, stderr and not tty, tty  # a terminal has no stderr of its own


async def serve(
    app: ApiApp, target: ResourcePath, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """One WebSocket connection, from the upgrade to the close."""

    def checked() -> ExecRequest:
        if target.subresource != "exec":
            raise errors.NotFound("the server could not find the requested resource")
        return parse(app, target, scope.get("query_string", b""))

    async def start(request: ExecRequest, size: tuple[int, int] | None) -> ExecSession:
        assert app.execs is not None
        return await app.execs.start(
            request.pod,
            request.container,
            request.command,
            stdin=request.stdin,
            tty=request.tty,
            size=size,
        )

    await serve_session(scope, receive, send, checked, start, _exit_status)


R = TypeVar("R", bound="Wanted")
# With a terminal, how long the session waits for the client's first resize
# (kubectl sends the terminal's size as soon as the connection is up), so the
# command starts with its size rather than 0x0 until the resize comes.
INITIAL_SIZE_WAIT_S = 0.5


async def serve_session(
    scope: dict[str, Any],
    receive: Receive,
    send: Send,
    checked: Callable[[], R],
    start: Callable[[R, tuple[int, int] | None], Awaitable[ExecSession]],
    final: Callable[[int, R], bytes],
) -> None:
    """The connection of an exec or an attach: the request checked before the upgrade
    (refused as a plain HTTP Status), the session opened after it (refused on the error
    channel, as upstream), then relayed until it ends. With a terminal, the session
    opens once the client's first message is in (or after INITIAL_SIZE_WAIT_S), with
    the size it gives."""
    if (await receive())["type"] != "websocket.connect":
        return
    try:
        request = checked()
        name = negotiate(scope, TRANSLATED, EXEC_PROTOCOLS)
    except errors.ApiError as err:
        await deny(send, err)
        return
    protocol = EXEC_PROTOCOLS[name]
    await send({"type": "websocket.accept", "subprotocol": name or None})
    receive, send = protocol.wrap(receive, send)
    first = STDOUT if request.stdout else STDERR if request.stderr else ERROR
    await send({"type": "websocket.send", "bytes": bytes([first])})  # the connection is up
    size, receive = await _initial_size(receive) if request.tty else (None, receive)
    try:
        session = await start(request, size)
    except errors.ApiError as err:
        payload = protocol.error_payload(orjson.dumps(err.status()))
        if payload is not None:
            await send({"type": "websocket.send", "bytes": bytes([ERROR]) + payload})
        await send({"type": "websocket.close", "code": 1000})
        return
    await relay(
        session,
        request,
        receive,
        send,
        lambda code: protocol.error_payload(final(code, request)),
    )


async def _initial_size(receive: Receive) -> tuple[tuple[int, int] | None, Receive]:
    """The terminal size of the client's first message if it is a resize, and a
    `receive` that gives that message again (the relay still acts on it)."""
    try:
        first = await asyncio.wait_for(receive(), INITIAL_SIZE_WAIT_S)
    except TimeoutError:
        return None, receive
    size = None
    data = first.get("bytes") or b""
    if data[:1] == bytes([RESIZE]):
        size = _resize(data[1:])
        if size is not None and min(size) <= 0:
            size = None
    pending = [first]

    async def again() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return size, again


def _resize(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of a resize message's `{"Width", "Height"}`; None if unreadable."""
    try:
        size = orjson.loads(payload)
        return int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return None


def negotiate(scope: dict[str, Any], translated: tuple[str, ...], served: Mapping[str, Any]) -> str:
    """The subprotocol to accept, chosen as upstream chooses it: one of `translated`
    (those the API server handles itself) whenever the client offers it; otherwise,
    as wsstream's handshake, the first the client offered that is `served` ("" when
    it offered none)."""
    offered = [str(p) for p in scope.get("subprotocols") or []]
    for protocol in translated:
        if protocol in offered:
            return protocol
    for protocol in offered or [""]:
        if protocol in served:
            return protocol
    raise errors.BadRequest(
        f"none of the offered subprotocols {offered} is one of {[p for p in served if p]}"
    )


async def deny(send: Send, err: errors.ApiError) -> None:
    body = orjson.dumps(err.status())
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "websocket.http.response.start", "status": err.code, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


async def relay(
    session: ExecSession,
    request: Wanted,
    receive: Receive,
    send: Send,
    final: Callable[[int], bytes | None],
) -> None:
    """Frames both ways until the session ends, then `final(code)` on the error channel
    (if not None).

    If the client goes away first, the session is ended (`kill`).
    """
    lock = asyncio.Lock()
    closed = asyncio.Event()

    async def emit(message: dict[str, Any]) -> None:
        async with lock:
            if not closed.is_set():
                await send(message)

    async def outputs() -> None:
        async for channel, data in session.output():
            if (channel == STDOUT and request.stdout) or (channel == STDERR and request.stderr):
                await emit({"type": "websocket.send", "bytes": bytes([channel]) + data})

    async def inputs() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                closed.set()
                session.kill()  # the client went away (Ctrl-C): the session ends too
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and request.stdin:
                await session.write(payload)
            elif channel == RESIZE:
                size = _resize(payload)
                if size is not None:
                    session.resize(*size)
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                session.close_stdin()

    reader = asyncio.create_task(inputs())
    try:
        await outputs()
        code = await session.wait()
        payload = final(code)
        if payload is not None:
            await emit({"type": "websocket.send", "bytes": bytes([ERROR]) + payload})
        await emit({"type": "websocket.close", "code": 1000})
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        session.kill()


def _exit_status(code: int, request: ExecRequest) -> bytes:
    if code == 0:
        return orjson.dumps({"metadata": {}, "status": "Success"})
    return orjson.dumps(
        {
            "metadata": {},
            "status": "Failure",
            "message": (
                f"command terminated with non-zero exit code: error executing command "
                f"[{' '.join(request.command)}], exit code {code}"
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    )
