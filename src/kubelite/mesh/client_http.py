"""`mesh.http("orders")`: an httpx client whose transport is the mesh.

httpx was picked over aiohttp because its transport seam is one method
(`handle_async_request`): the whole call path (resolve, balance, breaker,
bulkhead, retry with budget, deadline) is a transport that wraps the real one,
tests pass a fake inner transport instead of a network, and users keep the
httpx API they know (`await client.get("/orders/1")`).

Per request the transport
1. reads the host as a service name: `orders`, `orders.shop` (namespace shop)
   or `orders.shop.svc.cluster.local`; IP literals and `localhost` go direct;
   an ExternalName Service is followed to its name, as its DNS CNAME is;
2. computes the deadline: the policy's timeout, the deadline of the request
   being served (see `deadline_scope`), and `extensions["kubelite.deadline"]`;
3. per try: takes ready endpoints (typed `NoEndpointsError` when none), skips
   ejected outliers, picks one with the balancer, asks the breaker and the
   bulkhead, sends with the remaining deadline in `x-kubelite-deadline-ms`,
   and records the outcome (5xx and transport errors are failures);
4. retries per `RetryPolicy` within the retry budget and the deadline:
   idempotent methods on retryable statuses and transport errors, any
   method when the connection was refused (the request never left), so an
   endpoint that vanished mid-rollout costs a retry, not an error.

Local refusals raise the mesh's typed errors (`CircuitOpenError`,
`BulkheadFullError`, `DeadlineExceededError`, `NoEndpointsError`); transport
failures surface as the original httpx exception.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Callable
from typing import Any

import httpx

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import Permit
from kubelite.mesh.clock import SYSTEM_CLOCK, Clock, Sleep
from kubelite.mesh.deadline import DEADLINE_HEADER, Deadline, deadline_to_headers
from kubelite.mesh.discovery import ExternalNameLoopError
from kubelite.mesh.errors import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceededError,
    MeshError,
    NoEndpointsError,
)
from kubelite.mesh.retry import NotSentError, RetryPolicy, call_with_retries
from kubelite.mesh.upstream import CallPolicy, Upstream

__all__ = ["MeshTransport", "http", "split_service_host"]

HASH_KEY_EXTENSION = "kubelite.hash_key"
DEADLINE_EXTENSION = "kubelite.deadline"
_NO_RETRY = RetryPolicy(max_attempts=1)
_CNAME_HOPS_EXTENSION = "kubelite.cname_hops"
_MAX_CNAME_HOPS = 8  # ExternalName Services naming each other in a loop end here
_REJECT_REASONS: tuple[tuple[type[MeshError], str], ...] = (
    (CircuitOpenError, "circuit_open"),  # ThrottledError included
    (BulkheadFullError, "bulkhead_full"),
    (DeadlineExceededError, "deadline_exceeded"),
    (NoEndpointsError, "no_endpoints"),
)


class _RetryableTransportError(ConnectionError):
    """Carries an httpx transport error through the retry loop, which retries ConnectionError."""

    def __init__(self, original: httpx.TransportError) -> None:
        super().__init__(str(original))
        self.original = original


def split_service_host(host: str, default_namespace: str) -> tuple[str, str] | None:
    """(service, namespace) for a mesh host name, None for a host to call directly."""
    if host == "localhost":
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    parts = host.split(".")
    if len(parts) == 1:
        return parts[0], default_namespace
    if len(parts) == 2 or host.endswith(".svc") or ".svc." in host:
        return parts[0], parts[1]
    return None  # an outside name: example.com


class MeshTransport(httpx.AsyncBaseTransport):
    """An httpx transport that resolves service names and applies the call policies."""

    def __init__(
        self,
        *,
        discovery: Any,
        policy: CallPolicy | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
        namespace: str | None = None,
        port: int | str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Sleep = asyncio.sleep,
        metrics: Any | None = None,
        on_upstream: Callable[[Upstream], None] | None = None,
    ) -> None:
        self._discovery = discovery
        self._policy = policy or CallPolicy()
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._namespace = namespace
        self._port = port
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics
        self._on_upstream = on_upstream
        self._policy_loaded: threading.Event | None = None
        self.upstreams: dict[tuple[str, str], Upstream] = {}

    def upstream(self, service: str, namespace: str) -> Upstream:
        key = (service, namespace)
        up = self.upstreams.get(key)
        if up is None:
            metrics = self._metrics
            up = self.upstreams[key] = Upstream(
                service, namespace, self._policy, clock=self._clock,
                on_breaker_change=[] if metrics is None else [metrics.on_breaker_change],
                on_ejection=[] if metrics is None else [metrics.on_ejection(service)],
            )  # fmt: skip
            if self._metrics is not None:
                self._metrics.breaker_created(up.name)
            if self._on_upstream is not None:
                self._on_upstream(up)
        return up

    def set_policy(self, policy: CallPolicy) -> None:
        """Hot reload: every upstream of this transport takes the new policy."""
        self._policy = policy
        for up in self.upstreams.values():
            up.set_policy(policy)

    def wait_for_policy(self, loaded: threading.Event) -> None:
        """Hold the first calls until `loaded` is set (a policy ConfigMap's first read).

        Without this the first calls would run under the code's policy and a
        breaker declared in the ConfigMap would start counting late.
        """
        self._policy_loaded = loaded

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        namespace = self._namespace or self._discovery.namespace
        target = split_service_host(request.url.host, namespace)
        if target is None:
            return await self._inner.handle_async_request(request)
        if self._policy_loaded is not None:
            from kubelite.mesh.resiliency_watch import wait_for_first_read

            await wait_for_first_read(self._policy_loaded)
        up = self.upstream(*target)
        # A port in the URL is the Service port to call, as through its ClusterIP.
        port = request.url.port if request.url.port is not None else self._port
        eset = self._discovery.endpoint_set(target[0], target[1], port)
        await self._discovery.wait_synced(eset)
        if eset.service_exists is False and request.url.host.count(".") == 1:
            # `example.com`: cluster DNS tries the Service `example` in namespace `com`
            # first, and with none there resolves the outside name.
            return await self._inner.handle_async_request(request)
        if eset.external_name is not None:
            return await self._follow_external_name(request, target, eset.external_name)
        await request.aread()  # a retry must be able to send the body again
        extra = request.extensions.get(DEADLINE_EXTENSION)
        call = _Call(self, up, eset, request, up.deadline(extra))
        return await call.run()

    async def _follow_external_name(
        self, request: httpx.Request, target: tuple[str, str], name: str
    ) -> httpx.Response:
        """An ExternalName Service is a CNAME: the call goes to its name, resolved
        again (a Service's name goes through the mesh, an outside name directly),
        with the Host header the caller sent, as a CNAME leaves it."""
        hops = int(request.extensions.get(_CNAME_HOPS_EXTENSION, 0)) + 1
        if hops > _MAX_CNAME_HOPS:
            raise ExternalNameLoopError(*target, _MAX_CNAME_HOPS)
        followed = httpx.Request(
            request.method,
            request.url.copy_with(host=name),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, _CNAME_HOPS_EXTENSION: hops},
        )
        return await self.handle_async_request(followed)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Call:
    """One logical request: its tries, their outcomes, the response returned."""

    def __init__(
        self,
        transport: MeshTransport,
        up: Upstream,
        eset: Any,
        request: httpx.Request,
        deadline: Deadline | None,
    ) -> None:
        self.t = transport
        self.up = up
        self.eset = eset
        self.request = request
        self.deadline = deadline
        self.last: httpx.Response | None = None
        self.timer = asyncio.timeout(None)  # the current try's; expired() tells a timeout
        header = up.policy.hash_header
        self.key = request.extensions.get(HASH_KEY_EXTENSION) or (
            request.headers.get(header) if header else None
        )

    async def run(self) -> httpx.Response:
        metrics, name = self.t._metrics, self.up.service
        start = self.t._clock.now()
        try:
            response = await call_with_retries(
                self.attempt, self.up.retry or _NO_RETRY, self.deadline, self.t._clock,
                self.t._sleep, method=self.request.method,
                local_timeouts=False,  # `attempt` times its try, to tell a timeout from a cancel
            )  # fmt: skip
        except (_RetryableTransportError, NotSentError) as exc:
            self._count("error")
            raise exc.original from None
        except MeshError as exc:
            self._reject(exc)
            raise
        if metrics is not None:
            metrics.upstream_latency.labels(name).observe(self.t._clock.now() - start)
        self._count(str(response.status_code))
        return response

    def _count(self, code: str) -> None:
        if self.t._metrics is not None:
            self.t._metrics.upstream_requests.labels(self.up.service, code).inc()

    def _reject(self, exc: MeshError) -> None:
        if self.t._metrics is None:
            return
        reason = "other"
        for kind, label in _REJECT_REASONS:
            if isinstance(exc, kind):
                reason = label
                break
        self.t._metrics.rejected.labels(self.up.service, reason).inc()

    async def attempt(self, n: int) -> httpx.Response:
        if self.last is not None:
            await self.last.aclose()  # a retried answer is dropped: free its connection
            self.last = None
        if n and self.t._metrics is not None:
            self.t._metrics.retries.labels(self.up.service).inc()
        up = self.up
        timeout, deadline_bound = self._try_timeout()
        try:
            async with asyncio.timeout(timeout) as self.timer:
                endpoint = up.choose(self.eset.ready(), self.key)
                permit, bulkhead = await up.admit()
                try:
                    self.last = await self._send(endpoint, permit)
                finally:
                    if bulkhead is not None:
                        bulkhead.release()
        except TimeoutError as exc:
            what = f"{self.request.method} {self.request.url}"
            if isinstance(exc, DeadlineExceededError) or not self.timer.expired():
                raise  # the deadline seen beneath, or the transport's own timeout
            if deadline_bound:
                raise DeadlineExceededError(what) from exc
            # a per-try timeout: retryable, and named like the gRPC client's
            raise TimeoutError(f"per-try timeout ({timeout:g} s) of {what}, try {n + 1}") from exc
        return self.last

    def _try_timeout(self) -> tuple[float | None, bool]:
        """min(per-try timeout, deadline left), and whether the deadline is the bound."""
        timeout = (self.up.retry or _NO_RETRY).per_try_timeout
        if self.deadline is not None:
            left = max(0.0, self.deadline.remaining(self.t._clock))
            if timeout is None or left <= timeout:
                return left, True
        return timeout, False

    async def _send(self, endpoint: Endpoint, permit: Permit | None) -> httpx.Response:
        up, clock, breaker, balancer = self.up, self.t._clock, self.up.breaker, self.up.balancer
        request = self._request_for(endpoint)
        balancer.on_start(endpoint)
        start = clock.now()
        try:
            response = await self.t._inner.handle_async_request(request)
        except asyncio.CancelledError:
            if self.timer.expired():  # our try timed out: the endpoint was too slow
                self._failed(endpoint, start, permit, timed_out=True)
            elif breaker is not None:  # the caller gave up: no verdict on the upstream
                breaker.on_cancel(permit)
            raise
        except (httpx.TransportError, TimeoutError) as exc:
            self._failed(endpoint, start, permit, timed_out=not isinstance(exc, httpx.ConnectError))
            if isinstance(exc, httpx.ConnectError):
                raise NotSentError(exc) from exc  # refused: the request never left
            if isinstance(exc, httpx.TransportError):
                raise _RetryableTransportError(exc) from exc
            raise
        except Exception:
            # Any other error still ends the admitted call: a failure, so that
            # a half-open breaker gets its verdict instead of a lost permit.
            if breaker is not None:
                breaker.on_failure(clock.now() - start, permit)
            raise
        finally:
            balancer.on_done(endpoint)  # the balancer that counted the start
        elapsed = clock.now() - start
        up.record(endpoint, response.status_code)
        if breaker is not None:
            if response.status_code >= 500:
                breaker.on_failure(elapsed, permit)
            else:
                breaker.on_success(elapsed, permit)
        return response

    def _failed(
        self, endpoint: Endpoint, start: float, permit: Permit | None, *, timed_out: bool
    ) -> None:
        """A local failure (refused, reset, timed out) as outlier detection and the breaker see it."""
        if self.up.outlier is not None:
            self.up.outlier.on_local_failure(endpoint, timeout=timed_out)
        if self.up.breaker is not None:
            self.up.breaker.on_failure(self.t._clock.now() - start, permit)

    def _request_for(self, endpoint: Endpoint) -> httpx.Request:
        original = self.request
        url = original.url.copy_with(host=endpoint.address, port=endpoint.port)
        headers = original.headers.copy()
        # httpx put the caller's Host there, or the URL's authority when none was given.
        if "host" not in headers:
            headers["host"] = original.url.netloc.decode("ascii")
        # The body was read whole (for retries) and goes with a Content-Length;
        # a message must not carry both framings (RFC 9112 section 6.1).
        if "transfer-encoding" in headers:
            del headers["transfer-encoding"]
            headers["content-length"] = str(len(original.content))
        if self.deadline is not None:
            headers.update(deadline_to_headers(self.deadline))
        else:
            headers.pop(DEADLINE_HEADER, None)
        return httpx.Request(
            original.method,
            url,
            headers=headers,
            content=original.content,
            extensions=original.extensions,
        )


def http(
    service: str,
    *,
    namespace: str | None = None,
    port: int | str | None = None,
    policy: CallPolicy | None = None,
    resiliency: str | None = None,
    discovery: Any | None = None,
    inner: httpx.AsyncBaseTransport | None = None,
    tracing: bool = True,
    **client_options: Any,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for `service`: `await mesh.http("orders").get("/items")`.

    `resiliency` names a ConfigMap holding a Dapr-style Resiliency spec; its
    target for this service replaces `policy` now and on every change.
    `discovery` defaults to the process-wide API-backed discovery; pass a
    `StaticDiscovery` in tests. With `tracing`, calls make client spans and
    carry trace context when `kubelite.mesh.tracing` has been set up.
    """
    from kubelite.mesh.metrics import METRICS
    from kubelite.mesh.runtime import default_discovery, wire_upstream_events

    disc = discovery if discovery is not None else default_discovery()
    ns = namespace or disc.namespace
    mesh_transport = MeshTransport(
        discovery=disc, policy=policy, inner=inner, namespace=ns, port=port,
        metrics=METRICS(), on_upstream=wire_upstream_events,
    )  # fmt: skip
    transport: httpx.AsyncBaseTransport = mesh_transport
    if resiliency is not None:
        from kubelite.mesh.resiliency_watch import bind_resiliency

        config = bind_resiliency(mesh_transport, resiliency, service, namespace=ns, base=policy)
        mesh_transport.wait_for_policy(config.loaded)
    if tracing:
        from kubelite.mesh.tracing import traced_transport

        transport = traced_transport(transport)
    host = service if port is None or isinstance(port, str) else f"{service}:{port}"
    return httpx.AsyncClient(base_url=f"http://{host}", transport=transport, **client_options)
