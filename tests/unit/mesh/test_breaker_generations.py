"""Outcomes are judged by the state that admitted the call (gobreaker's generations).

A slow call admitted while the breaker was closed may answer after the breaker
opened and moved to half-open; that answer says nothing about the trial, so it
must neither close nor reopen the breaker, nor return a trial permit.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import CircuitBreaker, CircuitBreakerConfig, State
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.errors import CircuitOpenError
from kubelite.mesh.resiliency import parse_trip
from kubelite.mesh.upstream import CallPolicy

CONFIG = CircuitBreakerConfig(
    trip=parse_trip("consecutiveFailures > 1"),
    wait_duration_in_open_state=10.0,
    permitted_number_of_calls_in_half_open_state=1,
)


def open_then_half_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(2):
        breaker.on_failure(0.0, breaker.try_acquire())
    assert breaker.state is State.OPEN
    clock.advance(10.0)


@pytest.mark.parametrize("late_ok", [True, False])
def test_late_outcome_from_closed_state_does_not_judge_half_open(late_ok: bool) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("orders", CONFIG, clock=clock)
    slow = breaker.try_acquire()  # admitted while closed, answers much later
    open_then_half_open(breaker, clock)
    trial = breaker.try_acquire()
    assert breaker.state is State.HALF_OPEN
    (breaker.on_success if late_ok else breaker.on_failure)(30.0, slow)
    assert breaker.state is State.HALF_OPEN  # only the trial decides
    breaker.on_cancel(slow)  # nor does a stale cancel hand out a second trial
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire()
    breaker.on_success(0.0, trial)
    assert breaker.state is State.CLOSED


def test_outcome_without_permit_still_counts() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("orders", CONFIG, clock=clock)
    breaker.try_acquire()
    breaker.on_failure(0.0)
    breaker.on_failure(0.0)
    assert breaker.state is State.OPEN


def test_http_client_reports_with_the_permit_it_was_admitted_with() -> None:
    clock = FakeClock()
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            started.set()
            await release.wait()
            return httpx.Response(200)
        return httpx.Response(500)

    endpoint = Endpoint("10.0.0.1", 8080)
    transport = MeshTransport(
        discovery=StaticDiscovery({"orders": (endpoint,)}, namespace="shop"),
        policy=CallPolicy(retry=None, outlier=None, breaker=CONFIG),
        inner=httpx.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
    )
    client = httpx.AsyncClient(base_url="http://orders", transport=transport)

    async def main() -> None:
        slow = asyncio.create_task(client.get("/slow"))
        await started.wait()
        for _ in range(2):
            await client.get("/fail")
        breaker = transport.upstream("orders", "shop").breaker
        assert isinstance(breaker, CircuitBreaker) and breaker.state is State.OPEN
        clock.advance(10.0)
        breaker.try_acquire()  # a trial is under way elsewhere
        release.set()
        assert (await slow).status_code == 200
        assert breaker.state is State.HALF_OPEN

    asyncio.run(main())
