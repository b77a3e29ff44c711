"""Serving: `mesh.App` wraps any ASGI app, `mesh.serve(app)` runs it like a good pod.

`App` answers three paths itself and passes the rest to the wrapped app:

- `/healthz`: 200 while the process runs (liveness);
- `/readyz`: 200 until shutdown starts, then 503 (readiness), plus any
  readiness checks the service registers;
- `/metrics`: Prometheus text format (see `metrics.py`).

Around every other request it counts in-flight requests, records per-route
count and latency, makes a server span (when tracing is on), and honours the
caller's deadline (`grpc-timeout` or `x-kubelite-deadline-ms`): the deadline
becomes ambient for outbound mesh calls, and work still running when it
passes is abandoned with 504.

Graceful drain, the order a rollout needs to drop nothing: on SIGTERM `/readyz`
turns 503 at once, so the endpoints controller and clients stop choosing this
pod; the server keeps serving for `drain_delay` seconds while that news
travels; then it waits for in-flight requests to finish (at most
`drain_timeout`), and only then closes its listener and exits. The decisions
live in `Lifecycle`, a sync state machine with an injectable clock.

The pod's `terminationGracePeriodSeconds` bounds all of it: the node agent
runs any preStop hook, then sends SIGTERM, and kills the process when the
grace period (counted from the start of preStop) runs out. A container does
not see that number, so keep preStop + `drain_delay` + `drain_timeout` below
it: the defaults (2 s + at most 25 s) fit Kubernetes' default 30 s; a pod with
a shorter grace period sets `KUBELITE_DRAIN_TIMEOUT` (and `KUBELITE_DRAIN_DELAY`)
in its environment. A preStop `sleep` is not needed: readiness turns false at
SIGTERM and the drain delay keeps serving while the endpoint update spreads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubelite.mesh.clock import SYSTEM_CLOCK, Clock
from kubelite.mesh.deadline import deadline_from_headers
from kubelite.mesh.errors import DeadlineExceededError, InvalidTimeoutError
from kubelite.mesh.upstream import deadline_scope

__all__ = ["App", "Lifecycle", "MeshServer", "serve"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_DRAIN_DELAY = 2.0
DEFAULT_DRAIN_TIMEOUT = 25.0  # inside Kubernetes' default 30 s grace period
# A timer may fire a hair before its instant: a DeadlineExceededError this close
# to the request's deadline is that deadline passing.
_SLACK_S = 0.001


class Lifecycle:
    """Readiness and drain state: ready -> draining -> done."""

    def __init__(
        self,
        *,
        drain_delay: float = DEFAULT_DRAIN_DELAY,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.drain_delay = drain_delay
        self.drain_timeout = drain_timeout
        self._now = clock.now
        self.in_flight = 0
        self.draining_since: float | None = None
        self.checks: list[Callable[[], bool]] = []

    @property
    def ready(self) -> bool:
        if self.draining_since is not None:
            return False
        return all(check() for check in self.checks)

    def begin_drain(self) -> None:
        if self.draining_since is None:
            self.draining_since = self._now()
            log.info("draining: readiness off, %d requests in flight", self.in_flight)

    def should_exit(self) -> bool:
        """True once the drain delay passed and nothing is in flight (or time ran out)."""
        if self.draining_since is None:
            return False
        waited = self._now() - self.draining_since
        if waited >= self.drain_timeout:
            if self.in_flight:
                log.warning("drain timeout: exiting with %d requests in flight", self.in_flight)
            return True
        return waited >= self.drain_delay and self.in_flight == 0


async def _plain(send: Send, status: int, body: bytes, content_type: str = "text/plain") -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return str(path) if path else "<unmatched>"  # raw paths would explode cardinality


class App:
    """An ASGI app with health, readiness, metrics, deadlines and tracing around it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracing: bool = True,
        lifecycle: Lifecycle | None = None,
        metrics: Any | None = None,
    ) -> None:
        from kubelite.mesh.metrics import METRICS

        self.inner = app
        self.lifecycle = lifecycle or Lifecycle()
        self.metrics = metrics or METRICS()
        self._handler: ASGIApp = app
        if tracing:
            from kubelite.mesh.logs import remember_request_ids
            from kubelite.mesh.tracing import asgi_middleware, setup_tracing

            setup_tracing()
            self._handler = asgi_middleware(remember_request_ids(app))

    def readiness_check(self, check: Callable[[], bool]) -> Callable[[], bool]:
        """Register a check `/readyz` must pass (usable as a decorator)."""
        self.lifecycle.checks.append(check)
        return check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._handler(scope, receive, send)
            return
        path = scope["path"]
        if path == "/healthz":
            await _plain(send, 200, b"ok")
        elif path == "/readyz":
            ready = self.lifecycle.ready
            await _plain(send, 200 if ready else 503, b"ok" if ready else b"shutting down")
        elif path == "/metrics":
            body, content_type = self.metrics.exposition()
            await _plain(send, 200, body, content_type)
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            deadline = deadline_from_headers(headers)
        except InvalidTimeoutError as exc:
            await _plain(send, 400, str(exc).encode())
            return
        reply = _Reply(send, hold_errors=deadline is not None)
        life, m = self.lifecycle, self.metrics
        life.in_flight += 1
        m.server_in_flight.inc()
        start = time.perf_counter()
        try:
            with deadline_scope(deadline):
                await self._run(scope, receive, reply, deadline)
        finally:
            life.in_flight -= 1
            m.server_in_flight.dec()
            route, method = _route_of(scope), scope.get("method", "")
            m.server_requests.labels(method, route, str(reply.status or 500)).inc()
            m.server_latency.labels(method, route).observe(time.perf_counter() - start)

    async def _run(self, scope: Scope, receive: Receive, reply: _Reply, deadline: Any) -> None:
        if deadline is None:
            await self._handler(scope, receive, reply)
            return
        timeout = asyncio.timeout(max(0.0, deadline.remaining()))
        try:
            async with timeout:
                await self._handler(scope, receive, reply)
        except TimeoutError as exc:
            # Ours when our timer fired, or when an outbound mesh call saw this
            # request's deadline pass first (its DeadlineExceededError wins the race).
            passed = isinstance(exc, DeadlineExceededError) and deadline.remaining() <= _SLACK_S
            if not (timeout.expired() or passed):
                raise  # the handler's own timeout, not ours: its error like any other
            log.info("deadline passed: abandoned %s %s", scope.get("method"), scope["path"])
            if reply.status in (0, 500):  # nothing sent, or only the app's held-back 500
                await reply.replace(504, b"deadline exceeded")
        finally:
            await reply.release()


class _Reply:
    """The ASGI `send` the app gets: notes the status, and can hold back a 500.

    An app answers an unhandled error with a 500 and then re-raises it (Starlette's
    ServerErrorMiddleware does). When that error is the request's deadline passing,
    `_run` replaces the held 500 with the 504 the caller should see; otherwise
    `release` sends it on as it was.
    """

    def __init__(self, send: Send, *, hold_errors: bool) -> None:
        self._send = send
        self._hold_errors = hold_errors
        self._held: list[dict[str, Any]] | None = None
        self.status = 0  # 0 until the response starts

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self.status == 500 and self._hold_errors:
                self._held = []
        if self._held is not None:
            self._held.append(message)
            return
        await self._send(message)

    async def release(self) -> None:
        held, self._held = self._held, None
        for message in held or ():
            await self._send(message)

    async def replace(self, status: int, body: bytes) -> None:
        self._held, self.status = None, status
        await _plain(self._send, status, body)


def _server_class() -> type:
    import uvicorn

    class MeshServer(uvicorn.Server):
        """uvicorn, with SIGTERM meaning "drain first" rather than "stop accepting now"."""

        lifecycle: Lifecycle

        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig == signal.SIGTERM and self.lifecycle.draining_since is None:
                self.lifecycle.begin_drain()
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.lifecycle.should_exit():
                self.should_exit = True
            return await super().on_tick(counter)

    return MeshServer


def MeshServer(
    app: Any, *, host: str | None = None, port: int | None = None, **options: Any
) -> Any:
    """A uvicorn server for `app` (wrapped in `App` unless it is one) that drains on SIGTERM."""
    import uvicorn

    mesh_app = app if isinstance(app, App) else App(app)
    host = host or os.environ.get("POD_IP") or "127.0.0.1"
    port = port if port is not None else int(os.environ.get("PORT", "8080"))
    options.setdefault("log_config", None)  # keep the service's logging setup
    options.setdefault("lifespan", "auto")
    config = uvicorn.Config(mesh_app, host=host, port=port, **options)
    server = _server_class()(config)
    server.lifecycle = mesh_app.lifecycle
    return server


def serve(
    app: Any,
    *,
    host: str | None = None,
    port: int | None = None,
    drain_delay: float | None = None,
    drain_timeout: float | None = None,
    json_logs: bool = True,
    **options: Any,
) -> None:
    """Run `app` on `$POD_IP:$PORT` (default 127.0.0.1:8080) until SIGTERM has drained it."""
    from kubelite.mesh.logs import configure_logging
    from kubelite.mesh.tracing import shutdown_tracing

    if json_logs:
        configure_logging()
    server = MeshServer(app, host=host, port=port, **options)
    life = server.lifecycle
    env_delay = os.environ.get("KUBELITE_DRAIN_DELAY")
    env_timeout = os.environ.get("KUBELITE_DRAIN_TIMEOUT")
    if drain_delay is not None:
        life.drain_delay = drain_delay
    elif env_delay:
        life.drain_delay = float(env_delay)
    if drain_timeout is not None:
        life.drain_timeout = drain_timeout
    elif env_timeout:
        life.drain_timeout = float(env_timeout)
    try:
        server.run()
    finally:
        shutdown_tracing()
