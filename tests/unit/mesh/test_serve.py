from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.errors import DeadlineExceededError
from kubelite.mesh.metrics import MeshMetrics
from kubelite.mesh.serve import App, Lifecycle
from kubelite.mesh.upstream import CallPolicy, current_deadline


def test_lifecycle_drains_after_delay_and_in_flight() -> None:
    clock = FakeClock()
    life = Lifecycle(drain_delay=2.0, drain_timeout=10.0, clock=clock)
    assert life.ready and not life.should_exit()
    life.in_flight = 1
    life.begin_drain()
    assert not life.ready
    clock.advance(2.0)
    assert not life.should_exit()  # delay over, one request still running
    life.in_flight = 0
    assert life.should_exit()


def test_lifecycle_gives_up_at_drain_timeout() -> None:
    clock = FakeClock()
    life = Lifecycle(drain_delay=1.0, drain_timeout=5.0, clock=clock)
    life.in_flight = 3
    life.begin_drain()
    clock.advance(5.0)
    assert life.should_exit()


def test_readiness_checks() -> None:
    life = Lifecycle()
    ok = [True]
    life.checks.append(lambda: ok[0])
    assert life.ready
    ok[0] = False
    assert not life.ready


async def remaining(request: Request) -> JSONResponse:
    deadline = current_deadline.get()
    return JSONResponse({"left": None if deadline is None else round(deadline.remaining(), 1)})


async def slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(5)
    return PlainTextResponse("late")


async def own_timeout(request: Request) -> PlainTextResponse:
    raise TimeoutError("the handler's own wait ran out")


ORDERS = httpx.AsyncClient(
    base_url="http://orders",
    transport=MeshTransport(
        discovery=StaticDiscovery({"orders": [Endpoint("10.0.0.1", 8080)]}),
        policy=CallPolicy(retry=None, breaker=None, outlier=None),
        inner=httpx.MockTransport(lambda request: httpx.Response(200)),
    ),
)


async def calls_orders(request: Request) -> PlainTextResponse:
    await ORDERS.get("/orders")  # under the request's deadline, which it checks first
    return PlainTextResponse("ok")


async def policy_timeout(request: Request) -> PlainTextResponse:
    raise DeadlineExceededError("GET http://orders/orders")  # a call's own, shorter timeout


async def fails(request: Request) -> PlainTextResponse:
    return PlainTextResponse("broken", status_code=500)


def make_app() -> App:
    inner = Starlette(
        routes=[
            Route("/items/{id}", remaining),
            Route("/slow", slow),
            Route("/own-timeout", own_timeout),
            Route("/calls-orders", calls_orders),
            Route("/policy-timeout", policy_timeout),
            Route("/fails", fails),
        ]
    )
    return App(inner, tracing=False, metrics=MeshMetrics())


def call(app: App, *requests: tuple[str, dict[str, str]]) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            return [await client.get(path, headers=headers) for path, headers in requests]

    return asyncio.run(main())


def test_health_readiness_and_drain() -> None:
    app = make_app()
    health, ready = call(app, ("/healthz", {}), ("/readyz", {}))
    assert (health.status_code, ready.status_code) == (200, 200)
    app.lifecycle.begin_drain()
    health, ready = call(app, ("/healthz", {}), ("/readyz", {}))
    assert (health.status_code, ready.status_code) == (200, 503)


def test_inbound_deadline_is_ambient_and_expiry_abandons_work() -> None:
    app = make_app()
    with_deadline, without, expired, bad = call(
        app,
        ("/items/1", {"x-kubelite-deadline-ms": "3000"}),
        ("/items/1", {}),
        ("/slow", {"grpc-timeout": "1m"}),
        ("/items/1", {"grpc-timeout": "soon"}),
    )
    assert 0 < with_deadline.json()["left"] <= 3.0
    assert without.json() == {"left": None}
    assert expired.status_code == 504
    assert bad.status_code == 400 and "grpc-timeout" in bad.text


def test_metrics_label_route_templates() -> None:
    app = make_app()
    call(app, ("/items/1", {}), ("/items/2", {}), ("/nope", {}))
    (metrics,) = call(app, ("/metrics", {}))
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'kubelite_http_server_requests_total{code="200",method="GET",route="/items/{id}"} 2.0'
        in text
    )
    assert 'route="<unmatched>"' in text
    assert "process_cpu_seconds_total" in text or "kubelite_http_server" in text


@pytest.mark.parametrize(
    "headers",
    [pytest.param({"grpc-timeout": "1m"}, id="deadline"), pytest.param({}, id="no-deadline")],
)
def test_handler_timeout_error_is_not_the_deadline(headers: dict[str, str]) -> None:
    # The deadline has a minute left: the TimeoutError is the handler's own failure,
    # so it surfaces as any unhandled handler error does, not as a 504.
    with pytest.raises(TimeoutError, match="own wait"):
        call(make_app(), ("/own-timeout", headers))


def test_outbound_call_that_sees_the_deadline_pass_gives_504() -> None:
    # The outbound mesh call raises DeadlineExceededError before the server's own
    # timer fires, and Starlette has already answered it with a 500: the caller
    # gets the 504 instead (and the ASGI server no traceback: nothing is raised here).
    (reply,) = call(make_app(), ("/calls-orders", {"x-kubelite-deadline-ms": "0"}))
    assert (reply.status_code, reply.text) == (504, "deadline exceeded")


def test_a_calls_own_timeout_is_not_the_request_deadline() -> None:
    # The request has a minute left: a shorter per-call timeout is the handler's error.
    with pytest.raises(DeadlineExceededError):
        call(make_app(), ("/policy-timeout", {"grpc-timeout": "1M"}))


def test_an_apps_own_500_passes_through_under_a_deadline() -> None:
    (reply,) = call(make_app(), ("/fails", {"x-kubelite-deadline-ms": "60000"}))
    assert (reply.status_code, reply.text) == (500, "broken")
