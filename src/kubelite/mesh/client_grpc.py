"""`mesh.grpc_channel("orders:50051")`: a gRPC channel to a Service's ready endpoints.

grpcio cannot load a Python name resolver, so the mesh resolves instead: the
channel target is the list of ready endpoints (`ipv4:a:p,b:p`) with gRPC's own
`round_robin` policy, and a new channel replaces the old one whenever discovery
publishes a new endpoint set (checked on each call, a version compare). The
old channel is closed once its calls had time to finish.

Per call the mesh adds what gRPC lacks natively here: the service breaker
(UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN and RESOURCE_EXHAUSTED count
as failures) and the ambient deadline, sent as `grpc-timeout` by grpc itself.
Only gRPC's balancers apply (round_robin, pick_first); the HTTP client has the rest.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubelite.mesh.upstream import CallPolicy, Upstream

__all__ = ["MeshChannel", "grpc_channel"]

_FAILURE_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN", "RESOURCE_EXHAUSTED"}
_CLOSE_OLD_AFTER_S = 30.0


class MeshChannel:
    """The subset of `grpc.aio.Channel` generated stubs use for unary calls."""

    def __init__(self, upstream: Upstream, eset: Any, discovery: Any, port: int) -> None:
        self.upstream = upstream
        self._eset = eset
        self._discovery = discovery
        self._port = port
        self._version = -1
        self._channel: Any = None
        self._old: set[asyncio.Task[None]] = set()

    def _current(self) -> Any:
        import grpc

        if self._eset.version != self._version or self._channel is None:
            endpoints = self._eset.ready()  # NoEndpointsError names the service
            target = "ipv4:" + ",".join(f"{e.address}:{e.port}" for e in endpoints)
            options = [("grpc.lb_policy_name", "round_robin")]
            old, self._channel = self._channel, grpc.aio.insecure_channel(target, options=options)
            self._version = self._eset.version
            if old is not None:
                task = asyncio.get_running_loop().create_task(_close_later(old))
                self._old.add(task)
                task.add_done_callback(self._old.discard)
        return self._channel

    def unary_unary(
        self,
        method: str,
        request_serializer: Any = None,
        response_deserializer: Any = None,
        **_: Any,
    ) -> Any:
        async def call(request: Any, *, timeout: float | None = None, **kwargs: Any) -> Any:
            await self._discovery.wait_synced(self._eset)
            deadline = self.upstream.deadline()
            if deadline is not None:
                left = deadline.remaining()
                timeout = left if timeout is None else min(timeout, left)
            breaker = self.upstream.breaker
            if breaker is not None:
                breaker.try_acquire()
            rpc = self._current().unary_unary(method, request_serializer, response_deserializer)
            start = time.monotonic()
            try:
                response = await rpc(request, timeout=timeout, **kwargs)
            except Exception as exc:
                code = getattr(getattr(exc, "code", lambda: None)(), "name", "UNKNOWN")
                if breaker is not None:
                    elapsed = time.monotonic() - start
                    (breaker.on_failure if code in _FAILURE_CODES else breaker.on_success)(elapsed)
                raise
            if breaker is not None:
                breaker.on_success(time.monotonic() - start)
            return response

        return call

    async def close(self) -> None:
        for task in list(self._old):
            task.cancel()
        if self._channel is not None:
            await self._channel.close()


async def _close_later(channel: Any) -> None:
    await asyncio.sleep(_CLOSE_OLD_AFTER_S)
    await channel.close()


def grpc_channel(
    target: str,
    *,
    namespace: str | None = None,
    policy: CallPolicy | None = None,
    discovery: Any | None = None,
) -> MeshChannel:
    """A channel to `service:port` (the port is the Service port or the target port)."""
    from kubelite.mesh.runtime import default_discovery, wire_upstream_events

    service, _, port_text = target.partition(":")
    port = int(port_text) if port_text else 50051
    disc = discovery if discovery is not None else default_discovery()
    ns = namespace or disc.namespace
    up = Upstream(service, ns, policy or CallPolicy(retry=None, outlier=None))
    wire_upstream_events(up)
    return MeshChannel(up, disc.endpoint_set(service, ns, port), disc, port)
