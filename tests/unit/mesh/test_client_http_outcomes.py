"""How each way a try can end reaches the breaker, outlier detection and the balancer.

A caller's cancellation is no verdict on the upstream (gobreaker/Envoy count
only answers and timeouts), a try that timed out is a failure, and an
unexpected error still ends the admitted call so a half-open breaker is not
left holding a permit nobody returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import CircuitBreakerConfig, OutlierConfig, State
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.errors import DeadlineExceededError
from kubelite.mesh.resiliency import parse_trip
from kubelite.mesh.retry import RetryPolicy
from kubelite.mesh.upstream import CallPolicy

A, B, C = (Endpoint(f"10.0.0.{i}", 8080, name=f"pod-{i}") for i in (1, 2, 3))

TRIP_AFTER_2 = CircuitBreakerConfig(
    trip=parse_trip("consecutiveFailures > 1"),
    wait_duration_in_open_state=10.0,
    permitted_number_of_calls_in_half_open_state=1,
)
EJECT_AT_ONCE = OutlierConfig(
    consecutive_5xx=1,
    consecutive_gateway_failure=1,
    enforcing_consecutive_gateway_failure=100,
    max_ejection_percent=100,
)


def make_client(
    handler: Callable[[httpx.Request], Any], policy: CallPolicy, clock: FakeClock | None = None
) -> tuple[httpx.AsyncClient, MeshTransport, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        result = handler(request)
        return await result if asyncio.iscoroutine(result) else result

    clock = clock or FakeClock()
    transport = MeshTransport(
        discovery=StaticDiscovery({"orders": (A, B, C)}, namespace="shop"),
        policy=policy,
        inner=httpx.MockTransport(record),
        clock=clock,
        sleep=clock.sleep,
    )
    return httpx.AsyncClient(base_url="http://orders", transport=transport), transport, sent


def test_unexpected_error_in_half_open_reopens_instead_of_wedging() -> None:
    clock = FakeClock()
    mode = {"answer": "500"}

    def handler(request: httpx.Request) -> httpx.Response:
        if mode["answer"] == "boom":
            raise RuntimeError("boom")
        return httpx.Response(int(mode["answer"]))

    policy = CallPolicy(retry=None, outlier=None, breaker=TRIP_AFTER_2)
    client, transport, _ = make_client(handler, policy, clock=clock)

    async def main() -> None:
        for _ in range(2):
            await client.get("/")
        breaker = transport.upstreams[("orders", "shop")].breaker
        assert breaker is not None and breaker.state is State.OPEN  # type: ignore[attr-defined]
        clock.advance(10.0)
        mode["answer"] = "boom"
        with pytest.raises(RuntimeError, match="boom"):
            await client.get("/")  # the half-open trial call
        assert breaker.state is State.OPEN  # type: ignore[attr-defined]
        mode["answer"] = "200"
        clock.advance(10.0)
        assert (await client.get("/")).status_code == 200
        assert breaker.state is State.CLOSED  # type: ignore[attr-defined]

    asyncio.run(main())


def test_caller_cancel_is_no_failure_and_frees_everything() -> None:
    clock = FakeClock()
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    policy = CallPolicy(
        retry=None, outlier=EJECT_AT_ONCE, breaker=TRIP_AFTER_2, balancer="least_request"
    )
    client, transport, _ = make_client(hang, policy, clock=clock)

    async def main() -> None:
        up = transport.upstream("orders", "shop")
        breaker: Any = up.breaker
        # Open, then move to half-open: the cancelled call is the single trial.
        for _ in range(2):
            breaker.try_acquire()
            breaker.on_failure(0.0)
        clock.advance(10.0)
        task = asyncio.create_task(client.get("/"))
        await started.wait()
        assert breaker.state is State.HALF_OPEN
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert up.balancer.active == {}  # type: ignore[attr-defined]
        assert up.outlier is not None and up.outlier.ejected_count() == 0
        assert breaker.state is State.HALF_OPEN
        breaker.try_acquire()  # the trial permit came back

    asyncio.run(main())


def test_per_try_timeout_is_a_failure_and_is_retried_elsewhere() -> None:
    async def slow_on_a(request: httpx.Request) -> httpx.Response:
        if request.url.host == A.address:
            await asyncio.Event().wait()
        return httpx.Response(200)

    policy = CallPolicy(
        retry=RetryPolicy(max_attempts=2, per_try_timeout=0.01),
        outlier=EJECT_AT_ONCE,
        breaker=None,
    )
    client, transport, sent = make_client(slow_on_a, policy)

    async def main() -> None:
        assert (await client.get("/")).status_code == 200
        up = transport.upstream("orders", "shop")
        assert up.outlier is not None and up.outlier.is_ejected(A)

    asyncio.run(main())
    assert [r.url.host for r in sent][0] == A.address
    assert len(sent) == 2 and sent[1].url.host != A.address


def test_deadline_bound_timeout_raises_deadline_exceeded() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    clock = FakeClock()  # never moves: only the try's own timer can fire
    policy = CallPolicy(retry=RetryPolicy(max_attempts=3), outlier=None, breaker=None, timeout=0.01)
    client, _, sent = make_client(hang, policy, clock=clock)

    async def main() -> None:
        with pytest.raises(DeadlineExceededError):
            await client.get("/")

    asyncio.run(main())
    assert len(sent) == 1  # the deadline is the caller's: no retry after it


def test_running_out_of_per_try_timeouts_says_what_timed_out() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    policy = CallPolicy(
        retry=RetryPolicy(max_attempts=2, per_try_timeout=0.01), outlier=None, breaker=None
    )
    client, _, sent = make_client(hang, policy)

    async def main() -> None:
        with pytest.raises(TimeoutError) as caught:
            await client.get("/sleep/1")
        assert not isinstance(caught.value, DeadlineExceededError)  # no deadline ran out
        assert str(caught.value) == "per-try timeout (0.01 s) of GET http://orders/sleep/1, try 2"

    asyncio.run(main())
    assert len(sent) == 2
