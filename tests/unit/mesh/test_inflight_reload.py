"""In-flight counts stay with the balancer that counted the start.

A hot reload may swap an upstream's balancer while calls are in flight; the
end of such a call must not be subtracted from the new balancer, whose count
for the same endpoint belongs to calls it saw start (p2c would then send more
to an endpoint it believes idle).
"""

from __future__ import annotations

import asyncio
import dataclasses

import httpx

from kubelite.mesh.balancers import Endpoint, LeastRequest
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.upstream import CallPolicy

ENDPOINT = Endpoint("10.0.0.1", 8080)


def test_reload_mid_flight_keeps_the_new_balancers_counts() -> None:
    clock = FakeClock()
    gates = {"/one": asyncio.Event(), "/two": asyncio.Event()}
    started: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        started.append(request.url.path)
        await gates[request.url.path].wait()
        return httpx.Response(200)

    policy = CallPolicy(retry=None, outlier=None, breaker=None, balancer="least_request")
    transport = MeshTransport(
        discovery=StaticDiscovery({"orders": (ENDPOINT,)}, namespace="shop"),
        policy=policy,
        inner=httpx.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
    )
    client = httpx.AsyncClient(base_url="http://orders", transport=transport)

    async def until_started(path: str) -> None:
        while path not in started:
            await asyncio.sleep(0)

    async def main() -> None:
        one = asyncio.create_task(client.get("/one"))
        await until_started("/one")
        old = transport.upstream("orders", "shop").balancer
        reloaded = dataclasses.replace(policy, balancer_options=(("choice_count", 3),))
        transport.set_policy(reloaded)
        new = transport.upstream("orders", "shop").balancer
        assert isinstance(new, LeastRequest) and new is not old
        two = asyncio.create_task(client.get("/two"))
        await until_started("/two")
        gates["/one"].set()
        await one
        assert new.active == {ENDPOINT: 1}  # call two is still in flight
        gates["/two"].set()
        await two
        assert new.active == {}
        assert isinstance(old, LeastRequest) and old.active == {}

    asyncio.run(main())
