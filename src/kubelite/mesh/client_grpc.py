"""`mesh.grpc_channel("orders:50051")`: gRPC calls under the same per-call policies as HTTP.

grpcio cannot load a Python name resolver or balancer, so the mesh does both:
it keeps one plain grpc.aio channel per ready endpoint (target `ip:port`, so
gRPC itself neither resolves nor balances) and runs every unary call through
the service's `Upstream`, the policy objects the HTTP client uses:

1. the deadline is the earliest of the policy's timeout, the ambient deadline
   of the request being served, and the stub's own `timeout=`;
2. per try: an endpoint is picked by the balancer among those outlier
   detection has not ejected, the breaker and the bulkhead admit the call, and
   it is sent with `timeout` = min(per-try timeout, deadline left), which
   grpc-core sends on as `grpc-timeout`;
3. the status feeds outlier detection mapped to HTTP as Envoy maps it
   (UNAVAILABLE 503, DEADLINE_EXCEEDED 504, INTERNAL 500, ...), and the
   breaker, for which UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN,
   DATA_LOSS and RESOURCE_EXHAUSTED are failures;
4. a try that ended with a retryable code (`RetryPolicy.retry_on_grpc_codes`,
   UNAVAILABLE by default) or a per-try timeout is retried with full-jitter
   backoff, within the retry budget and the deadline, when the method is
   idempotent. gRPC methods carry no verb, so `idempotent=` says which are
   (every method by default, as an Envoy route's retry policy applies to all
   its methods). A call that never reached a server (connection refused) is
   retried whatever the method.

Errors: the server's answer surfaces as the usual `grpc.aio.AioRpcError`;
local refusals raise the mesh's typed errors (`CircuitOpenError`,
`BulkheadFullError`, `NoEndpointsError`), and a call whose overall deadline
passed raises `DeadlineExceededError` (a `TimeoutError`), as the HTTP client does.

A unary call returns a `MeshUnaryCall`, which behaves as grpc.aio's
`UnaryUnaryCall` does: awaiting it gives the response, and it answers
`initial_metadata()`, `trailing_metadata()`, `code()`, `details()`,
`cancel()`, `done()` and `add_done_callback()`. The metadata are the last
try's (the one whose answer counts) and are available once the call is over.

Streaming methods are balanced (and refused by an open breaker) but not
retried: their outcome is known only at the stream's end.
When an endpoint leaves, its channel is closed after a grace period that lets
its calls finish.

Tracing: each endpoint's channel carries OpenTelemetry's grpc.aio client
interceptors, so every try is a CLIENT span (named by `peer.service`) whose
context travels in the call's metadata (`traceparent`, `b3`: what
`OTEL_PROPAGATORS` says, as for HTTP); `mesh.grpc_server` joins it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import Permit
from kubelite.mesh.clock import SYSTEM_CLOCK, Clock, Sleep
from kubelite.mesh.deadline import Deadline
from kubelite.mesh.errors import DeadlineExceededError
from kubelite.mesh.retry import NotSentError, RetryPolicy, call_with_retries
from kubelite.mesh.upstream import CallPolicy, Upstream

__all__ = ["GRPC_TO_HTTP", "MeshChannel", "MeshUnaryCall", "grpc_channel"]

# Envoy's mapping of gRPC status codes to HTTP statuses (grpc-status -> :status).
GRPC_TO_HTTP = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400,
    "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500,
    "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}  # fmt: skip
_BREAKER_FAILURES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN", "DATA_LOSS", "RESOURCE_EXHAUSTED"}
)
# What grpc-core says when no connection could be made: the request was never sent.
_NOT_SENT_HINTS = ("failed to connect", "connection refused", "connections to all backends failing")
_CLOSE_GRACE_S = 30.0
_NO_RETRY = RetryPolicy(max_attempts=1)


class _RetryableRpcError(ConnectionError):
    """Carries a retryable RPC error through the retry loop, which retries ConnectionError."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def _code_name(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    value = code() if callable(code) else None
    return str(getattr(value, "name", "UNKNOWN"))


def _never_sent(exc: BaseException, code: str) -> bool:
    if code != "UNAVAILABLE":
        return False
    details = getattr(exc, "details", None)
    text = str(details() if callable(details) else exc).lower()
    return any(hint in text for hint in _NOT_SENT_HINTS)


Interceptors = Callable[[Endpoint], Sequence[Any]]


class _Channels:
    """One grpc.aio channel per endpoint; channels of departed endpoints close after a grace."""

    def __init__(
        self, options: list[tuple[str, Any]], interceptors: Interceptors | None = None
    ) -> None:
        self._options = options
        self._interceptors = interceptors
        self._open: dict[tuple[str, int], Any] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, endpoint: Endpoint) -> Any:
        key = (endpoint.address, endpoint.port)
        channel = self._open.get(key)
        if channel is None:
            import grpc

            target = f"{endpoint.address}:{endpoint.port}"
            chain = list(self._interceptors(endpoint)) if self._interceptors else None
            channel = self._open[key] = grpc.aio.insecure_channel(
                target, options=self._options, interceptors=chain
            )
        return channel

    def keep_only(self, endpoints: Collection[Endpoint]) -> None:
        keep = {(e.address, e.port) for e in endpoints}
        for key in [k for k in self._open if k not in keep]:
            task = asyncio.get_running_loop().create_task(self._open.pop(key).close(_CLOSE_GRACE_S))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        channels, self._open = list(self._open.values()), {}
        for channel in channels:
            await channel.close()
        for task in list(self._closing):
            task.cancel()


class MeshChannel:
    """The part of `grpc.aio.Channel` that generated stubs use, with the mesh's policies."""

    def __init__(
        self,
        upstream: Upstream,
        eset: Any,
        discovery: Any,
        *,
        idempotent: bool | Collection[str] = True,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Sleep = asyncio.sleep,
        metrics: Any | None = None,
        options: list[tuple[str, Any]] | None = None,
        interceptors: Interceptors | None = None,
    ) -> None:
        self.upstream = upstream
        self._eset = eset
        self._discovery = discovery
        self._idempotent = idempotent
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics
        self._channels = _Channels(list(options or []), interceptors)
        self._version = -1
        self._policy_loaded: threading.Event | None = None

    def set_policy(self, policy: CallPolicy) -> None:
        """Hot reload (see `resiliency_watch`): the upstream takes the new policy."""
        self.upstream.set_policy(policy)

    def wait_for_policy(self, loaded: threading.Event) -> None:
        """Hold the first calls until `loaded` is set (a policy ConfigMap's first read).

        Without this the first calls would run under the code's policy and a
        breaker declared in the ConfigMap would start counting late.
        """
        self._policy_loaded = loaded

    def _policy_ready_blocking(self) -> None:
        loaded = self._policy_loaded
        if loaded is not None and not loaded.is_set():
            from kubelite.mesh.resiliency_watch import POLICY_WAIT_S

            loaded.wait(POLICY_WAIT_S)

    def is_idempotent(self, method: str) -> bool:
        if isinstance(self._idempotent, bool):
            return self._idempotent
        return method in self._idempotent

    def _ready(self) -> tuple[Endpoint, ...]:
        endpoints = self._eset.ready()  # NoEndpointsError names the service
        if self._eset.version != self._version:
            self._version = self._eset.version
            self._channels.keep_only(endpoints)
        return endpoints  # type: ignore[no-any-return]

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> Callable[..., Any]:
        def call(request: Any, *, timeout: float | None = None, **kwargs: Any) -> MeshUnaryCall:
            rpc = _UnaryCall(self, method, request_serializer, response_deserializer)
            return MeshUnaryCall(rpc, self._run_unary(rpc, request, timeout, kwargs))

        return call

    async def _run_unary(
        self, rpc: _UnaryCall, request: Any, timeout: float | None, kwargs: dict[str, Any]
    ) -> Any:
        if self._policy_loaded is not None:
            from kubelite.mesh.resiliency_watch import wait_for_first_read

            await wait_for_first_read(self._policy_loaded)
        await self._discovery.wait_synced(self._eset)
        extra = None if timeout is None else Deadline.after(timeout, self._clock)
        return await rpc.run(request, self.upstream.deadline(extra), kwargs)

    def unary_stream(self, method: str, request_serializer: Any = None,
                     response_deserializer: Any = None, **_: Any) -> Callable[..., Any]:  # fmt: skip
        return self._streaming("unary_stream", method, request_serializer, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Any = None,
                     response_deserializer: Any = None, **_: Any) -> Callable[..., Any]:  # fmt: skip
        return self._streaming("stream_unary", method, request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Any = None,
                      response_deserializer: Any = None, **_: Any) -> Callable[..., Any]:  # fmt: skip
        return self._streaming("stream_stream", method, request_serializer, response_deserializer)

    def _streaming(
        self, kind: str, method: str, serializer: Any, deserializer: Any
    ) -> Callable[..., Any]:
        def call(request: Any = None, *, timeout: float | None = None, **kwargs: Any) -> Any:
            self._policy_ready_blocking()  # a stream is opened synchronously
            up = self.upstream
            if not self._eset.synced.is_set():
                # a stream is opened synchronously: the first one may wait for the first list
                self._eset.synced.wait(getattr(self._discovery, "sync_timeout", 5.0))
            endpoint = up.choose(self._ready())
            if up.breaker is not None:
                up.breaker.try_acquire()  # an open breaker refuses the stream...
                up.breaker.on_cancel()  # ...whose outcome it never learns: no trial used up
            extra = None if timeout is None else Deadline.after(timeout, self._clock)
            deadline = up.deadline(extra)
            if deadline is not None:
                timeout = max(0.0, deadline.remaining(self._clock))
            factory = getattr(self._channels.get(endpoint), kind)
            return factory(method, serializer, deserializer)(request, timeout=timeout, **kwargs)

        return call

    async def close(self) -> None:
        await self._channels.close()

    async def __aenter__(self) -> MeshChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _UnaryCall:
    """One logical unary call: its tries and what each told the policies."""

    def __init__(
        self, channel: MeshChannel, method: str, serializer: Any, deserializer: Any
    ) -> None:
        self.ch = channel
        self.up = channel.upstream
        self.method = method
        self.serializer = serializer
        self.deserializer = deserializer
        self.idempotent = channel.is_idempotent(method)
        self.deadline_bound = False
        self.last_call: Any = None  # the latest try's grpc.aio call: its metadata are ours

    async def run(self, request: Any, deadline: Deadline | None, kwargs: dict[str, Any]) -> Any:
        self.request, self.deadline, self.kwargs = request, deadline, kwargs
        metrics, start = self.ch._metrics, self.ch._clock.now()
        code = "OK"
        try:
            return await call_with_retries(
                self.attempt, self.up.retry or _NO_RETRY, deadline, self.ch._clock,
                self.ch._sleep, idempotent=True,  # `attempt` lets only retryable errors through
                local_timeouts=False,  # grpc-core enforces each try's timeout
            )  # fmt: skip
        except (_RetryableRpcError, NotSentError) as exc:
            code = _code_name(exc.original)
            raise exc.original from None
        except BaseException as exc:
            code = type(exc).__name__ if not hasattr(exc, "code") else _code_name(exc)
            raise
        finally:
            if metrics is not None:
                metrics.upstream_requests.labels(self.up.service, code).inc()
                metrics.upstream_latency.labels(self.up.service).observe(
                    self.ch._clock.now() - start
                )

    def _try_timeout(self) -> float | None:
        """min(per-try timeout, deadline left); notes which of the two bounds this try."""
        timeout = (self.up.retry or _NO_RETRY).per_try_timeout
        self.deadline_bound = False
        if self.deadline is not None:
            left = max(0.0, self.deadline.remaining(self.ch._clock))
            if timeout is None or left <= timeout:
                timeout, self.deadline_bound = left, True
        return timeout

    def _hash_key(self) -> str | None:
        """ring_hash keys on the metadata entry named by the policy's `hash_header`."""
        header = self.up.policy.hash_header
        if header is None:
            return None
        for key, value in self.kwargs.get("metadata") or ():
            if key == header:
                return str(value)
        return None

    async def attempt(self, n: int) -> Any:
        up = self.up
        if n and self.ch._metrics is not None:
            self.ch._metrics.retries.labels(up.service).inc()
        endpoint = up.choose(self.ch._ready(), self._hash_key())
        permit, bulkhead = await up.admit()
        try:
            return await self._send(endpoint, permit)
        finally:
            if bulkhead is not None:
                bulkhead.release()

    async def _send(self, endpoint: Endpoint, permit: Permit | None) -> Any:
        up, breaker, balancer = self.up, self.up.breaker, self.up.balancer
        rpc = self.ch._channels.get(endpoint).unary_unary(
            self.method, self.serializer, self.deserializer
        )
        balancer.on_start(endpoint)
        now = self.ch._clock.now  # the clock the policies use, fake in tests
        start = now()
        try:
            self.last_call = rpc(self.request, timeout=self._try_timeout(), **self.kwargs)
            response = await self.last_call
        except asyncio.CancelledError:
            if breaker is not None:
                breaker.on_cancel(permit)
            raise
        except Exception as exc:
            self._failed(endpoint, exc, now() - start, permit)
            raise self._classify(exc) from exc
        finally:
            balancer.on_done(endpoint)  # the balancer that counted the start (reloads swap it)
        up.record(endpoint, 200)
        if breaker is not None:
            breaker.on_success(now() - start, permit)
        return response

    def _failed(
        self, endpoint: Endpoint, exc: Exception, elapsed: float, permit: Permit | None
    ) -> None:
        code = _code_name(exc)
        up = self.up
        if _never_sent(exc, code) and up.outlier is not None:
            up.outlier.on_local_failure(endpoint)
        else:
            up.record(endpoint, GRPC_TO_HTTP.get(code, 500))
        if up.breaker is not None:
            failed = code in _BREAKER_FAILURES
            (up.breaker.on_failure if failed else up.breaker.on_success)(elapsed, permit)

    def _classify(self, exc: Exception) -> BaseException:
        """The error to raise into the retry loop: retryable ones wrapped, the rest as they are."""
        code = _code_name(exc)
        if code == "DEADLINE_EXCEEDED":
            if self.deadline_bound:  # the overall deadline, not a per-try timeout, ran out
                return DeadlineExceededError(f"gRPC call {self.method}")
            if self.idempotent:
                return TimeoutError(f"per-try timeout of {self.method}")  # retryable
            return exc
        if _never_sent(exc, code):
            return NotSentError(exc)
        codes = (self.up.retry or _NO_RETRY).retry_on_grpc_codes
        value = getattr(getattr(exc, "code", lambda: None)(), "value", None)
        number = value[0] if isinstance(value, tuple) else value
        if self.idempotent and number in codes:
            return _RetryableRpcError(exc)
        return exc


class MeshUnaryCall:
    """A unary mesh call, shaped as grpc.aio's `UnaryUnaryCall` (see the module docstring)."""

    def __init__(self, rpc: _UnaryCall, run: Any) -> None:
        self._rpc = rpc
        self._task: asyncio.Task[Any] = asyncio.ensure_future(run)

    def __await__(self) -> Any:
        return self._task.__await__()

    async def _outcome(self) -> BaseException | None:
        """Wait for the end of the call; its error (None when it succeeded)."""
        await asyncio.wait([self._task])
        if self._task.cancelled():
            return asyncio.CancelledError()
        return self._task.exception()

    async def _metadata(self, which: str) -> Any:
        import grpc

        error = await self._outcome()
        if isinstance(error, grpc.aio.AioRpcError):
            return getattr(error, which)()
        last = self._rpc.last_call
        if last is not None and error is None:
            return await getattr(last, which)()
        return grpc.aio.Metadata()

    async def initial_metadata(self) -> Any:
        return await self._metadata("initial_metadata")

    async def trailing_metadata(self) -> Any:
        return await self._metadata("trailing_metadata")

    async def code(self) -> Any:
        import grpc

        error = await self._outcome()
        if error is None:
            return grpc.StatusCode.OK
        if isinstance(error, grpc.aio.AioRpcError):
            return error.code()
        if isinstance(error, asyncio.CancelledError):
            return grpc.StatusCode.CANCELLED
        if isinstance(error, TimeoutError):
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.UNAVAILABLE  # refused locally (breaker, bulkhead, no endpoints)

    async def details(self) -> str:
        import grpc

        error = await self._outcome()
        if isinstance(error, grpc.aio.AioRpcError):
            return error.details() or ""
        return "" if error is None or isinstance(error, asyncio.CancelledError) else str(error)

    async def wait_for_connection(self) -> None:
        await asyncio.wait([self._task])

    def cancel(self) -> bool:
        return self._task.cancel()

    def cancelled(self) -> bool:
        return self._task.cancelled()

    def done(self) -> bool:
        return self._task.done()

    def add_done_callback(self, callback: Callable[[MeshUnaryCall], None]) -> None:
        self._task.add_done_callback(lambda _: callback(self))

    def time_remaining(self) -> float | None:
        deadline = getattr(self._rpc, "deadline", None)
        return None if deadline is None else max(0.0, deadline.remaining(self._rpc.ch._clock))


def _traced(service: str, endpoint: Endpoint) -> list[Any]:
    from kubelite.mesh.tracing import grpc_client_interceptors

    return grpc_client_interceptors(service, endpoint.address, endpoint.port)


def parse_target(target: str, namespace: str) -> tuple[str, str, int]:
    """(service, namespace, port) of `service[.namespace[.svc[.cluster.local]]][:port]`,
    the names cluster DNS resolves (`dns:///` accepted, as gRPC's naming allows)."""
    from kubelite.mesh.client_http import split_service_host

    text = target.removeprefix("dns:///")
    host, _, port_text = text.partition(":")
    if not host or "/" in host or (port_text and not port_text.isdigit()):
        raise ValueError(
            f"cannot call {target!r}: expected a Service as service[.namespace][:port]"
        )
    found = split_service_host(host, namespace)
    if found is None:
        raise ValueError(f"cannot call {target!r}: {host!r} is not a Service name")
    port = int(port_text) if port_text else 50051
    if not 1 <= port <= 65535:
        raise ValueError(f"cannot call {target!r}: port {port} is out of range (1-65535)")
    return found[0], found[1], port


def grpc_channel(
    target: str,
    *,
    namespace: str | None = None,
    policy: CallPolicy | None = None,
    resiliency: str | None = None,
    discovery: Any | None = None,
    idempotent: bool | Collection[str] = True,
    options: list[tuple[str, Any]] | None = None,
    tracing: bool = True,
) -> MeshChannel:
    """A channel to `service:port` (the Service port or the target port; 50051 when omitted).

    Use it as a grpc.aio channel: `OrdersStub(mesh.grpc_channel("orders:50051"))`.
    `idempotent` is True (every method may be retried), False, or the full
    method names ("/shop.Orders/Get") that may be. `resiliency` names a
    ConfigMap with a Dapr Resiliency spec whose target for this service is laid
    over `policy`, now and on every change. With `tracing`, each try is a client
    span (OpenTelemetry's gRPC interceptors) and carries the trace context in
    its metadata, as `mesh.http` does in its headers.
    """
    from kubelite.mesh.metrics import METRICS
    from kubelite.mesh.runtime import default_discovery, wire_upstream_events

    disc = discovery if discovery is not None else default_discovery()
    service, named_ns, port = parse_target(target, namespace or disc.namespace)
    ns = named_ns
    metrics = METRICS()
    up = Upstream(
        service, ns, policy or CallPolicy(), on_breaker_change=[metrics.on_breaker_change],
        on_ejection=[metrics.on_ejection(service)],
    )  # fmt: skip
    metrics.breaker_created(up.name)
    wire_upstream_events(up)
    interceptors = functools.partial(_traced, service) if tracing else None
    channel = MeshChannel(
        up, disc.endpoint_set(service, ns, port), disc, idempotent=idempotent, metrics=metrics,
        options=options, interceptors=interceptors,
    )  # fmt: skip
    if resiliency is not None:
        from kubelite.mesh.resiliency_watch import bind_resiliency

        config = bind_resiliency(channel, resiliency, service, namespace=ns, base=policy)
        channel.wait_for_policy(config.loaded)
    return channel
