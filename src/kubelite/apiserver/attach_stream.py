"""`pods/attach`: a session on a running container's own stdin and output, over WebSocket.

The same upgrade, subprotocols and channels as `pods/exec` (`exec_stream`),
without a command: the client is joined to the container's main process.
As upstream, the request is checked before the upgrade (the container must
be one of the pod's, the pod bound to a node, and the container running
there: otherwise `container C not found in pod NAME_NAMESPACE`, the
kubelet's words). Whether the container has a terminal is the container's
own setting (`tty`), not the request's: with one, all its output comes on
stdout. When the session ends (the container exited, or the client's stdin
ended and the container was left running) the error channel carries
Success; the container's exit code is not the session's (`kubectl run`
reads it from the pod's status).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.apiserver import errors
from kubelite.apiserver.exec_stream import (
    ExecSession,
    pod_container,
    serve_session,
    stream_flags,
)

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Receive, Send
    from kubelite.apiserver.paths import ResourcePath

SUCCESS = orjson.dumps({"metadata": {}, "status": "Success"})


@dataclass(frozen=True)
class AttachRequest:
    pod: dict[str, Any]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def parse(app: ApiApp, target: ResourcePath, query_string: bytes) -> AttachRequest:
    """The checked request, or the ApiError upstream answers with."""
    pod, container, query, _ = pod_container(app, target, query_string)
    request = AttachRequest(pod, container, *stream_flags(query))
    if app.execs is None:
        raise errors.BadRequest(
            f"container {container} not found in pod {target.name}_{target.namespace}"
        )
    app.execs.check_attach(pod, container)
    return request


async def serve(
    app: ApiApp, target: ResourcePath, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """One WebSocket connection, from the upgrade to the close."""

    async def start(request: AttachRequest, _size: tuple[int, int] | None) -> ExecSession:
        # the running container's terminal takes the size as the relay's first resize
        assert app.execs is not None
        return await app.execs.attach(
            request.pod,
            request.container,
            stdin=request.stdin,
            stdout=request.stdout,
            stderr=request.stderr,
        )

    await serve_session(
        scope,
        receive,
        send,
        lambda: parse(app, target, scope.get("query_string", b"")),
        start,
        lambda _code, _request: SUCCESS,
    )
