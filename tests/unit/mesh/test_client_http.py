from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import CircuitBreakerConfig, OutlierConfig
from kubelite.mesh.client_http import MeshTransport, split_service_host
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.deadline import Deadline
from kubelite.mesh.discovery import ExternalNameLoopError, ServiceNotFoundError, StaticDiscovery
from kubelite.mesh.errors import BulkheadFullError, CircuitOpenError, NoEndpointsError
from kubelite.mesh.metrics import MeshMetrics
from kubelite.mesh.retry import RetryPolicy
from kubelite.mesh.upstream import CallPolicy, deadline_scope

A, B, C = (Endpoint(f"10.0.0.{i}", 8080, name=f"pod-{i}") for i in (1, 2, 3))
NO_RETRY = CallPolicy(retry=None, breaker=None, outlier=None)


def make_client(
    handler: Callable[[httpx.Request], Any],
    policy: CallPolicy = NO_RETRY,
    endpoints: tuple[Endpoint, ...] = (A, B, C),
    clock: FakeClock | None = None,
) -> tuple[httpx.AsyncClient, MeshTransport, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        result = handler(request)
        return await result if asyncio.iscoroutine(result) else result

    clock = clock or FakeClock()
    transport = MeshTransport(
        discovery=StaticDiscovery({"orders": endpoints}, namespace="shop"),
        policy=policy,
        inner=httpx.MockTransport(record),
        clock=clock,
        sleep=clock.sleep,
        metrics=MeshMetrics(),
    )
    return httpx.AsyncClient(base_url="http://orders", transport=transport), transport, sent


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("orders", ("orders", "shop")),
        ("orders.pay", ("orders", "pay")),
        ("orders.pay.svc.cluster.local", ("orders", "pay")),
        ("127.0.0.1", None),
        ("localhost", None),
        ("example.com.au", None),
    ],
)
def test_host_names(host: str, expected: tuple[str, str] | None) -> None:
    assert split_service_host(host, "shop") == expected


def test_round_robin_rewrites_url_and_keeps_host_header() -> None:
    client, _, sent = make_client(lambda r: httpx.Response(200))

    async def main() -> None:
        for _ in range(6):
            assert (await client.get("/items?x=1")).status_code == 200

    run(main())
    assert [r.url.host for r in sent] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"] * 2
    assert {str(r.url) for r in sent[:1]} == {"http://10.0.0.1:8080/items?x=1"}
    assert {r.headers["host"] for r in sent} == {"orders"}


def test_ambient_deadline_travels_as_header() -> None:
    clock = FakeClock()
    client, _, sent = make_client(lambda r: httpx.Response(200), clock=clock)

    async def main() -> None:
        with deadline_scope(Deadline.after(2.5, clock)):
            await client.get("/")
        await client.get("/")

    run(main())
    assert sent[0].headers["x-kubelite-deadline-ms"] == "2500"
    assert "x-kubelite-deadline-ms" not in sent[1].headers


def test_policy_timeout_and_ambient_deadline_earliest_wins() -> None:
    clock = FakeClock()
    policy = CallPolicy(retry=None, breaker=None, outlier=None, timeout=1.0)
    client, transport, sent = make_client(lambda r: httpx.Response(200), policy, clock=clock)
    transport._clock = clock

    async def main() -> None:
        with deadline_scope(Deadline.after(5.0, clock)):
            await client.get("/")

    run(main())
    assert sent[0].headers["x-kubelite-deadline-ms"] == "1000"


def test_retries_idempotent_503_on_another_endpoint() -> None:
    answers = iter([503, 200])
    policy = CallPolicy(retry=RetryPolicy(max_attempts=3), breaker=None, outlier=None)
    client, _, sent = make_client(lambda r: httpx.Response(next(answers)), policy)
    assert run(client.get("/")).status_code == 200
    assert [r.url.host for r in sent] == ["10.0.0.1", "10.0.0.2"]


def test_post_is_not_retried() -> None:
    policy = CallPolicy(retry=RetryPolicy(max_attempts=3), breaker=None, outlier=None)
    client, _, sent = make_client(lambda r: httpx.Response(503), policy)
    assert run(client.post("/", content=b"x")).status_code == 503
    assert len(sent) == 1


def test_connect_errors_are_retried_then_surface_as_httpx_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    policy = CallPolicy(retry=RetryPolicy(max_attempts=3), breaker=None, outlier=None)
    client, _, sent = make_client(refuse, policy)
    with pytest.raises(httpx.ConnectError):
        run(client.get("/"))
    assert len(sent) == 3


@pytest.mark.parametrize(
    ("error", "tries"),
    [
        (httpx.ConnectError, 2),  # refused: the POST never left, another endpoint gets it
        (httpx.ReadError, 1),  # the POST may have been processed: not repeated
    ],
    ids=["refused", "read-error"],
)
def test_post_is_retried_only_when_it_never_left(
    error: type[httpx.TransportError], tries: int
) -> None:
    answers = iter([error, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, type):
            raise answer("boom", request=request)
        return httpx.Response(answer)

    policy = CallPolicy(retry=RetryPolicy(max_attempts=3), breaker=None, outlier=None)
    client, _, sent = make_client(handler, policy)
    if tries == 2:
        assert run(client.post("/", content=b"x")).status_code == 200
    else:
        with pytest.raises(error):
            run(client.post("/", content=b"x"))
    assert len(sent) == tries


def test_body_is_resent_on_retry() -> None:
    answers = iter([503, 200])
    policy = CallPolicy(retry=RetryPolicy(max_attempts=2), breaker=None, outlier=None)
    client, _, sent = make_client(lambda r: httpx.Response(next(answers)), policy)
    run(client.put("/", content=b"payload"))
    assert [r.content for r in sent] == [b"payload", b"payload"]


def test_breaker_opens_then_fails_fast_without_sending() -> None:
    # count window of 4 calls, opens at 50 % failures: 4 failures open it.
    breaker = CircuitBreakerConfig(sliding_window_size=4, minimum_number_of_calls=4)
    policy = CallPolicy(retry=None, breaker=breaker, outlier=None)
    client, transport, sent = make_client(lambda r: httpx.Response(500), policy)

    async def main() -> None:
        for _ in range(4):
            assert (await client.get("/")).status_code == 500
        with pytest.raises(CircuitOpenError, match="shop/orders"):
            await client.get("/")

    run(main())
    assert len(sent) == 4


def test_retry_budget_caps_amplification() -> None:
    # ratio 0.2 and no reserve: 100 requests deposit 20 retries, no more.
    policy = CallPolicy(
        retry=RetryPolicy(max_attempts=5),
        breaker=None,
        outlier=None,
        retry_budget_ratio=0.2,
        retry_budget_min_per_s=0,
    )
    client, _, sent = make_client(lambda r: httpx.Response(503), policy)

    async def main() -> None:
        for _ in range(100):
            await client.get("/")

    run(main())
    assert len(sent) - 100 == 20


def test_outlier_detection_ejects_the_failing_endpoint() -> None:
    outlier = OutlierConfig(consecutive_5xx=3, max_ejection_percent=50)
    policy = CallPolicy(retry=None, breaker=None, outlier=outlier)
    client, _, sent = make_client(
        lambda r: httpx.Response(500 if r.url.host == "10.0.0.1" else 200), policy, (A, B)
    )

    async def main() -> None:
        for _ in range(6):  # A fails 3 times in a row -> ejected
            await client.get("/")
        sent.clear()
        for _ in range(10):
            await client.get("/")

    run(main())
    assert Counter(r.url.host for r in sent) == {"10.0.0.2": 10}


def test_no_endpoints_and_unknown_service_fail_fast() -> None:
    client, _, _ = make_client(lambda r: httpx.Response(200), endpoints=())
    with pytest.raises(NoEndpointsError, match='"orders" in namespace "shop"'):
        run(client.get("/"))
    with pytest.raises(ServiceNotFoundError, match='"billing" not found in namespace "shop"'):
        run(client.get("http://billing/"))


def test_bulkhead_refuses_past_its_limit() -> None:
    gate = asyncio.Event

    policy = CallPolicy(retry=None, breaker=None, outlier=None, max_concurrent=1)

    async def main() -> None:
        release = gate()

        async def slow(request: httpx.Request) -> httpx.Response:
            await release.wait()
            return httpx.Response(200)

        client, _, _ = make_client(slow, policy)
        first = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.01)
        with pytest.raises(BulkheadFullError):
            await client.get("/")
        release.set()
        assert (await first).status_code == 200

    run(main())


def test_direct_hosts_bypass_the_mesh() -> None:
    client, _, sent = make_client(lambda r: httpx.Response(200))
    run(client.get("http://127.0.0.1:9/x"))
    assert str(sent[0].url) == "http://127.0.0.1:9/x"


def test_ring_hash_keeps_a_key_on_one_endpoint() -> None:
    policy = CallPolicy(retry=None, breaker=None, outlier=None, balancer="ring_hash",
                        hash_header="x-user")  # fmt: skip
    client, _, sent = make_client(lambda r: httpx.Response(200), policy)

    async def main() -> None:
        for user in ("ann", "bob", "ann", "bob", "ann"):
            await client.get("/", headers={"x-user": user})

    run(main())
    by_user: dict[str, set[str]] = {}
    for r in sent:
        by_user.setdefault(r.headers["x-user"], set()).add(r.url.host)
    assert all(len(hosts) == 1 for hosts in by_user.values())


def test_metrics_count_outcomes_and_rejections() -> None:
    breaker = CircuitBreakerConfig(sliding_window_size=2, minimum_number_of_calls=2)
    policy = CallPolicy(retry=None, breaker=breaker, outlier=None)
    client, transport, _ = make_client(lambda r: httpx.Response(500), policy)

    async def main() -> None:
        await client.get("/")
        await client.get("/")
        with pytest.raises(CircuitOpenError):
            await client.get("/")

    run(main())
    text = transport._metrics.exposition()[0].decode()
    assert 'kubelite_upstream_requests_total{code="500",upstream="orders"} 2.0' in text
    assert 'kubelite_upstream_rejected_total{reason="circuit_open",upstream="orders"} 1.0' in text
    assert 'kubelite_circuit_breaker_state{breaker="shop/orders",state="open"} 1.0' in text


def test_a_two_label_name_no_service_has_is_an_outside_host() -> None:
    """`example.com` as cluster DNS resolves it: the Service `example` in namespace
    `com` if there is one, else the outside name."""
    client, _, sent = make_client(lambda r: httpx.Response(200))
    assert run(client.get("http://example.com/x")).status_code == 200
    assert [str(r.url) for r in sent] == ["http://example.com/x"]
    assert run(client.get("http://orders.shop/y")).status_code == 200
    assert sent[-1].url.host == "10.0.0.1"  # a Service by that name: the mesh's


def test_a_port_in_the_url_chooses_the_service_port() -> None:
    asked: list[Any] = []

    class Recording(StaticDiscovery):
        def endpoint_set(self, service: str, namespace: str | None = None, port: Any = None) -> Any:
            asked.append(port)
            return super().endpoint_set(service, namespace, port)

    transport = MeshTransport(
        discovery=Recording({"orders": (A,)}, namespace="shop"),
        policy=NO_RETRY,
        inner=httpx.MockTransport(lambda r: httpx.Response(200)),
        port="http",
    )
    client = httpx.AsyncClient(transport=transport)
    run(client.get("http://orders:9090/x"))
    run(client.get("http://orders/y"))
    assert asked == [9090, "http"]


def test_an_external_name_service_is_called_at_its_name_as_a_cname_leaves_the_host() -> None:
    client, transport, sent = make_client(lambda r: httpx.Response(200))
    transport._discovery.set("legacy", ()).external_name = "api.example.net"
    assert run(client.get("http://legacy:8443/v1?q=1")).status_code == 200
    [request] = sent
    assert str(request.url) == "http://api.example.net:8443/v1?q=1"
    assert request.headers["host"] == "legacy:8443"


def test_an_external_name_naming_a_service_goes_through_the_mesh() -> None:
    client, transport, sent = make_client(lambda r: httpx.Response(200))
    alias = transport._discovery.set("alias", ())
    alias.external_name = "orders.shop.svc.cluster.local"
    assert run(client.post("http://alias/pay", content=b"1")).status_code == 200
    assert sent[0].url.host == "10.0.0.1" and sent[0].content == b"1"


def test_external_names_in_a_loop_end_in_a_clear_error() -> None:
    client, transport, sent = make_client(lambda r: httpx.Response(200))
    transport._discovery.set("ping", ()).external_name = "pong.shop.svc.cluster.local"
    transport._discovery.set("pong", ()).external_name = "ping.shop.svc.cluster.local"
    with pytest.raises(ExternalNameLoopError, match="more than 8 ExternalName Services"):
        run(client.get("http://ping/"))
    assert sent == []


def test_explicit_host_header_is_kept() -> None:
    client, _, sent = make_client(lambda r: httpx.Response(200))
    run(client.get("/", headers={"Host": "custom.example"}))
    assert sent[0].url.host == "10.0.0.1"
    assert sent[0].headers.get_list("host") == ["custom.example"]


def test_streamed_body_is_sent_with_content_length_only() -> None:
    client, _, sent = make_client(lambda r: httpx.Response(200))

    async def chunks() -> Any:
        yield b"chunk1-"
        yield b"chunk2"

    run(client.post("/upload", content=chunks()))
    headers = sent[0].headers
    assert "transfer-encoding" not in headers
    assert headers.get_list("content-length") == ["13"]
    assert sent[0].content == b"chunk1-chunk2"
