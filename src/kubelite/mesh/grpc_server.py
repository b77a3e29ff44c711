"""`mesh.grpc_server(...)`: a grpc.aio server that behaves like a mesh service.

Every server gets what a platform expects of a gRPC service: the standard
`grpc.health.v1.Health` service (what Kubernetes' gRPC probes and grpc-health-probe
call; SERVING for "" and each named service, NOT_SERVING once draining),
server reflection (so `grpcurl` and Postman list methods without .proto files),
and interceptors: tracing (OpenTelemetry's gRPC instrumentation), the caller's
deadline made ambient for outbound mesh calls (`context.time_remaining()`,
which grpc-core reads from `grpc-timeout`), and per-method metrics.

Streaming methods pass through the interceptors untouched except for tracing;
deadlines and metrics are applied to unary-unary methods, the common case.

Graceful drain follows the order `serve.py` documents for HTTP (and grpc-go's
health `Shutdown()` + `GracefulStop`): at SIGTERM (while `wait()` runs) health
turns NOT_SERVING for every service, the server keeps accepting RPCs for
`drain_delay` seconds while the endpoint update spreads, then `stop(grace)`
refuses new RPCs and lets in-flight ones finish for at most `drain_timeout`.
The defaults and the `KUBELITE_DRAIN_DELAY`/`KUBELITE_DRAIN_TIMEOUT` variables
are the ones `mesh.serve` uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kubelite.mesh.deadline import Deadline
from kubelite.mesh.upstream import deadline_scope

__all__ = ["MeshGrpcServer", "grpc_server"]

log = logging.getLogger(__name__)

HEALTH_SERVICE = "grpc.health.v1.Health"


def _mesh_interceptor(metrics: Any) -> Any:
    import grpc

    class MeshInterceptor(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            handler = await continuation(details)
            if handler is None or handler.unary_unary is None:
                return handler
            inner, method = handler.unary_unary, details.method

            async def unary(request: Any, context: Any) -> Any:
                left = context.time_remaining()
                deadline = None if left is None else Deadline.after(left)
                start, code = time.perf_counter(), "OK"
                try:
                    with deadline_scope(deadline):
                        return await inner(request, context)
                except Exception:
                    code = "UNKNOWN"
                    raise
                finally:
                    status = context.code() if hasattr(context, "code") else None
                    if status is not None and hasattr(status, "name"):
                        code = status.name
                    metrics.grpc_requests.labels(method, code).inc()
                    metrics.grpc_latency.labels(method).observe(time.perf_counter() - start)

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

    return MeshInterceptor()


class MeshGrpcServer:
    """A started-on-demand grpc.aio server with health, reflection and graceful drain."""

    def __init__(self, server: Any, health: Any, port: int, services: Sequence[str]) -> None:
        from kubelite.mesh.serve import DEFAULT_DRAIN_DELAY, DEFAULT_DRAIN_TIMEOUT

        self.server = server
        self.health = health
        self.port = port
        self.services = list(services)
        self.drain_delay = _env_seconds("KUBELITE_DRAIN_DELAY", DEFAULT_DRAIN_DELAY)
        self.drain_timeout = _env_seconds("KUBELITE_DRAIN_TIMEOUT", DEFAULT_DRAIN_TIMEOUT)
        self.draining = False
        self._sleep = asyncio.sleep  # the seam tests use to hold the drain delay open
        self._drain_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.start()

    async def begin_drain(self) -> None:
        """NOT_SERVING for every service; RPCs (health checks too) are still accepted."""
        if not self.draining:
            self.draining = True
            log.info("grpc server :%d draining: health NOT_SERVING", self.port)
            await self.health.enter_graceful_shutdown()

    async def drain(self, grace: float | None = None, *, delay: float | None = None) -> None:
        """NOT_SERVING, keep serving `delay` seconds, then stop with `grace` for in-flight calls.

        `delay` defaults to `drain_delay`, `grace` to `drain_timeout`.
        """
        await self.begin_drain()
        await self._sleep(self.drain_delay if delay is None else delay)
        await self.server.stop(self.drain_timeout if grace is None else grace)

    async def wait(self, *, handle_sigterm: bool = True) -> None:
        """Serve until the server stops; SIGTERM (as the kubelet sends it) drains it first."""
        loop = asyncio.get_running_loop()
        installed = False
        if handle_sigterm:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
                installed = True
        try:
            await self.server.wait_for_termination()
            if self._drain_task is not None:
                await self._drain_task
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGTERM)

    def _on_sigterm(self) -> None:
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self.drain())


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def grpc_server(
    adders: Iterable[Callable[[Any], None]] = (),
    *,
    services: Sequence[str] = (),
    host: str | None = None,
    port: int | None = None,
    tracing: bool = True,
    interceptors: Sequence[Any] = (),
) -> MeshGrpcServer:
    """Build a server: `adders` are `add_XServicer_to_server`-style callables taking the server.

    `services` are the full service names (`shop.Orders`) to mark SERVING and
    to list in reflection. Port 0 picks a free one (see `.port`).
    """
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    from kubelite.mesh.metrics import METRICS

    chain = [_mesh_interceptor(METRICS()), *interceptors]
    if tracing:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        from kubelite.mesh.tracing import setup_tracing

        setup_tracing()
        chain.insert(0, aio_server_interceptor())
    server = grpc.aio.server(interceptors=chain)
    for add in adders:
        add(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [HEALTH_SERVICE, *services, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    host = host or os.environ.get("POD_IP") or "127.0.0.1"
    port = int(os.environ.get("GRPC_PORT", "50051")) if port is None else port
    bound = server.add_insecure_port(f"{host}:{port}")
    mesh_server = MeshGrpcServer(server, health_servicer, bound, services)
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ["", *services]:
        _set_now(health_servicer, name, serving)
    return mesh_server


def _set_now(servicer: Any, name: str, status: Any) -> None:
    # The aio servicer's `set` is a coroutine only because it notifies watchers;
    # before the server starts there are none, so the status map is set directly.
    servicer._server_status[name] = status
