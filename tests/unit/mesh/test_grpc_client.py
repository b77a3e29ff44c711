"""`mesh.grpc_channel` against real in-process gRPC servers: the HTTP client's policies, per call.

Each backend is a grpc.aio server on 127.0.0.1 with one raw-bytes method whose
behaviour the test scripts (answer, fail with a code, stall). Policy clocks are
fake where a policy waits (outlier ejection times, retry budget windows) and
retry sleeps return at once; only per-try timeouts use real, short waits.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.breaker import CircuitBreakerConfig, OutlierConfig
from kubelite.mesh.client_grpc import GRPC_TO_HTTP, MeshChannel
from kubelite.mesh.clock import SYSTEM_CLOCK, Clock, FakeClock
from kubelite.mesh.deadline import Deadline
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.errors import CircuitOpenError, DeadlineExceededError, NoEndpointsError
from kubelite.mesh.retry import RetryPolicy
from kubelite.mesh.upstream import CallPolicy, Upstream, deadline_scope

METHOD = "/test.Echo/Call"
NO_POLICIES = CallPolicy(breaker=None, outlier=None, retry=None)


class Backend:
    """A gRPC server whose one method answers with its name unless told otherwise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.fail: grpc.StatusCode | None = None
        self.stall = 0.0  # seconds to wait before answering (the first `stalls` calls)
        self.stalls = 0
        self.seen_timeouts: list[float | None] = []
        self.server: Any = None
        self.port = 0

    async def handle(self, request: bytes, context: Any) -> bytes:
        self.hits += 1
        self.seen_timeouts.append(context.time_remaining())
        if self.stalls > 0:
            self.stalls -= 1
            await asyncio.sleep(self.stall)
        if self.fail is not None:
            await context.abort(self.fail, f"{self.name} fails")
        return self.name.encode()

    async def stream(self, request: bytes, context: Any) -> Any:
        self.hits += 1
        for _ in range(2):
            yield self.name.encode()

    async def start(self) -> Backend:
        handler = grpc.method_handlers_generic_handler(
            "test.Echo",
            {
                "Call": grpc.unary_unary_rpc_method_handler(self.handle),
                "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
            },
        )
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.port, name=self.name)


def run(n: int, body: Callable[[list[Backend]], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        backends = [await Backend(f"b{i}").start() for i in range(n)]
        try:
            return await body(backends)
        finally:
            for b in backends:
                await b.server.stop(None)

    return asyncio.run(main())


async def no_sleep(_: float) -> None:
    return None


def channel_for(
    endpoints: list[Endpoint],
    policy: CallPolicy,
    *,
    clock: Clock | None = None,
    idempotent: bool | set[str] = True,
) -> tuple[MeshChannel, StaticDiscovery]:
    disc = StaticDiscovery({"echo": endpoints})
    clock = clock or FakeClock()
    up = Upstream("echo", "default", policy, clock=clock)
    channel = MeshChannel(
        up, disc.endpoint_set("echo"), disc, idempotent=idempotent, clock=clock, sleep=no_sleep
    )
    return channel, disc


async def calls(channel: MeshChannel, n: int, **kwargs: Any) -> list[str]:
    rpc = channel.unary_unary(METHOD)
    return [(await rpc(b"hi", **kwargs)).decode() for _ in range(n)]


def code_of(exc: BaseException) -> grpc.StatusCode:
    assert isinstance(exc, grpc.aio.AioRpcError), exc
    return exc.code()


@pytest.mark.parametrize("balancer", ["round_robin", "random", "least_request"])
def test_calls_are_balanced_across_endpoints(balancer: str) -> None:
    async def body(backends: list[Backend]) -> dict[str, int]:
        policy = CallPolicy(balancer=balancer, breaker=None, outlier=None, retry=None)
        channel, _ = channel_for([b.endpoint for b in backends], policy)
        await calls(channel, 12)
        await channel.close()
        return {b.name: b.hits for b in backends}

    found = run(3, body)
    assert sum(found.values()) == 12
    if balancer == "round_robin":
        assert found == {"b0": 4, "b1": 4, "b2": 4}  # one turn each, in order
    else:  # the distributions themselves are checked in test_balancers
        assert len([hits for hits in found.values() if hits]) >= 2, found


def test_ring_hash_keeps_a_metadata_key_on_one_endpoint() -> None:
    async def body(backends: list[Backend]) -> dict[str, set[str]]:
        policy = CallPolicy(balancer="ring_hash", hash_header="x-user", breaker=None,
                            outlier=None, retry=None)  # fmt: skip
        channel, _ = channel_for([b.endpoint for b in backends], policy)
        rpc = channel.unary_unary(METHOD)
        seen: dict[str, set[str]] = {}
        for i in range(48):
            user = f"user-{i % 16}"  # all 16 keys on one of 3 endpoints: p ~ 1e-7
            reply = await rpc(b"", metadata=(("x-user", user),))
            seen.setdefault(user, set()).add(reply.decode())
        await channel.close()
        return seen

    seen = run(3, body)
    assert all(len(pods) == 1 for pods in seen.values()), seen  # each key sticks to one
    assert len(set().union(*seen.values())) >= 2  # and the keys spread


def test_endpoints_that_leave_get_no_more_calls() -> None:
    async def body(backends: list[Backend]) -> tuple[set[str], list[str]]:
        channel, disc = channel_for([b.endpoint for b in backends], NO_POLICIES)
        answered = set(await calls(channel, 6))
        disc.set("echo", [backends[2].endpoint])  # scale down to one
        after = await calls(channel, 3)
        await channel.close()
        return answered, after

    answered, after = run(3, body)
    assert answered == {"b0", "b1", "b2"}
    assert after == ["b2", "b2", "b2"]


def test_unavailable_is_retried_on_another_endpoint() -> None:
    async def body(backends: list[Backend]) -> tuple[list[str], int]:
        backends[0].fail = grpc.StatusCode.UNAVAILABLE
        policy = CallPolicy(breaker=None, outlier=None, retry=RetryPolicy(max_attempts=3))
        channel, _ = channel_for([b.endpoint for b in backends], policy)
        answers = await calls(channel, 4)
        await channel.close()
        return answers, backends[0].hits

    answers, failed_hits = run(2, body)
    assert answers == ["b1"] * 4
    # round robin alternates b0, b1: each call's first try met b0, its retry b1
    assert failed_hits == 4


def test_non_idempotent_method_is_not_retried_after_the_server_answered() -> None:
    async def body(backends: list[Backend]) -> tuple[grpc.StatusCode, int]:
        backends[0].fail = grpc.StatusCode.UNAVAILABLE
        policy = CallPolicy(breaker=None, outlier=None, retry=RetryPolicy(max_attempts=3))
        channel, _ = channel_for([b.endpoint for b in backends], policy, idempotent={"/other/M"})
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await calls(channel, 1)
        await channel.close()
        return code_of(caught.value), backends[0].hits + backends[1].hits

    assert run(2, body) == (grpc.StatusCode.UNAVAILABLE, 1)


def test_a_call_that_never_connected_is_retried_even_when_not_idempotent() -> None:
    async def body(backends: list[Backend]) -> list[str]:
        dead = Endpoint("127.0.0.1", backends[0].port)
        await backends[0].server.stop(None)  # nothing listens there any more
        policy = CallPolicy(breaker=None, outlier=None, retry=RetryPolicy(max_attempts=2))
        channel, _ = channel_for([dead, backends[1].endpoint], policy, idempotent=False)
        answers = await calls(channel, 4)
        await channel.close()
        return answers

    assert run(2, body) == ["b1"] * 4


def test_retry_budget_caps_amplification() -> None:
    # Every try fails. The budget gets 0.2 retries per request and no reserve:
    # one retry per five requests, 50 requests -> 10 retries, 60 tries in all,
    # although max_attempts would allow 5 tries (250) per request.
    async def body(backends: list[Backend]) -> tuple[int, int]:
        backends[0].fail = grpc.StatusCode.UNAVAILABLE
        policy = CallPolicy(
            breaker=None, outlier=None, retry=RetryPolicy(max_attempts=5),
            retry_budget_ratio=0.2, retry_budget_min_per_s=0,
        )  # fmt: skip
        channel, _ = channel_for([backends[0].endpoint], policy)
        failures = 0
        for _ in range(50):
            with pytest.raises(grpc.aio.AioRpcError):
                await calls(channel, 1)
            failures += 1
        await channel.close()
        return failures, backends[0].hits

    assert run(1, body) == (50, 60)


def test_deadline_reaches_the_server_as_grpc_timeout() -> None:
    async def body(backends: list[Backend]) -> list[float | None]:
        channel, _ = channel_for([backends[0].endpoint], NO_POLICIES, clock=SYSTEM_CLOCK)
        await calls(channel, 1)  # no deadline anywhere: none sent
        await calls(channel, 1, timeout=5.0)  # the stub's timeout
        with deadline_scope(Deadline.after(3.0)):  # the request being served had 3 s left
            await calls(channel, 1, timeout=5.0)
        await channel.close()
        return backends[0].seen_timeouts

    none, stub, ambient = run(1, body)
    assert none is None
    # grpc-timeout is rounded up to its unit, so allow a little over
    assert stub is not None and 4.0 < stub <= 5.1
    assert ambient is not None and 2.0 < ambient <= 3.1  # the earlier deadline wins


def test_per_try_timeout_retries_and_the_overall_deadline_is_typed() -> None:
    async def body(backends: list[Backend]) -> tuple[list[str], type[BaseException]]:
        slow, fast = backends
        slow.stall, slow.stalls = 5.0, 1  # the first try stalls past its per-try timeout
        retry = RetryPolicy(max_attempts=2, per_try_timeout=0.2)
        policy = CallPolicy(breaker=None, outlier=None, retry=retry)
        # real time: grpc-core times the tries, so the deadline must use its clock
        channel, _ = channel_for([slow.endpoint, fast.endpoint], policy, clock=SYSTEM_CLOCK)
        answers = await calls(channel, 1)
        slow.stall, slow.stalls = 5.0, 10
        fast.stall, fast.stalls = 5.0, 10
        try:
            await calls(channel, 1, timeout=0.3)  # both stall: the deadline passes
        except BaseException as exc:  # noqa: BLE001 - the type is the assertion
            error: type[BaseException] = type(exc)
        await channel.close()
        return answers, error

    answers, error = run(2, body)
    assert answers == ["b1"]
    assert error is DeadlineExceededError


def test_breaker_opens_and_then_fails_fast_without_sending() -> None:
    async def body(backends: list[Backend]) -> tuple[int, str]:
        backends[0].fail = grpc.StatusCode.INTERNAL
        breaker = CircuitBreakerConfig(sliding_window_size=5, minimum_number_of_calls=5)
        channel, _ = channel_for(
            [backends[0].endpoint], CallPolicy(breaker=breaker, outlier=None, retry=RetryPolicy())
        )
        for _ in range(5):
            with pytest.raises(grpc.aio.AioRpcError):
                await calls(channel, 1)  # INTERNAL is not retried: one try each
        with pytest.raises(CircuitOpenError) as caught:
            await calls(channel, 1)
        await channel.close()
        return backends[0].hits, caught.value.state

    assert run(1, body) == (5, "open")


def test_outlier_ejection_grows_with_each_ejection_and_respects_max_percent() -> None:
    clock = FakeClock()
    outlier = OutlierConfig(consecutive_5xx=3, base_ejection_time=30, interval=10,
                            max_ejection_percent=50)  # fmt: skip

    async def body(backends: list[Backend]) -> list[tuple[str, ...]]:
        sick, healthy = backends
        sick.fail = grpc.StatusCode.INTERNAL  # 500: counts toward consecutive 5xx
        policy = CallPolicy(breaker=None, outlier=outlier, retry=None)
        channel, _ = channel_for([sick.endpoint, healthy.endpoint], policy, clock=clock)
        rpc = channel.unary_unary(METHOD)

        async def answers(n: int) -> tuple[str, ...]:
            out = []
            for _ in range(n):
                try:
                    out.append((await rpc(b"x")).decode())
                except grpc.aio.AioRpcError:
                    out.append("error")
            return tuple(out)

        seen = [await answers(6)]  # b0 fails 3 times in a row: ejected
        seen.append(await answers(4))  # only b1 now
        clock.advance(30)  # ejected for 30 s x 1 ejection: back at the next sweep
        seen.append(await answers(6))  # b0 again; 3 more failures eject it a second time
        clock.advance(30)  # the second ejection lasts 30 s x 2: still out
        seen.append(await answers(4))
        clock.advance(30)  # 60 s served: back
        seen.append(await answers(2))
        healthy.fail = grpc.StatusCode.INTERNAL  # now both are sick
        seen.append(await answers(8))
        ejected = channel.upstream.outlier.ejected_count()  # type: ignore[union-attr]
        await channel.close()
        return [*seen, (str(ejected),)]

    seen = [Counter(phase) for phase in run(2, body)]
    assert seen[0] == {"error": 3, "b1": 3}
    assert seen[1] == {"b1": 4}
    assert seen[2] == {"error": 3, "b1": 3}
    assert seen[3] == {"b1": 4}
    assert seen[4] == {"error": 1, "b1": 1}
    assert seen[5] == {"error": 8}  # b0 is ejected again after 3; b1 must stay
    assert seen[6] == {"1": 1}  # ejecting both of two would pass max_ejection_percent (50)


def test_no_endpoints_is_a_typed_error() -> None:
    async def body(_: list[Backend]) -> str:
        channel, _ = channel_for([], NO_POLICIES)
        with pytest.raises(NoEndpointsError) as caught:
            await calls(channel, 1)
        await channel.close()
        return str(caught.value)

    assert run(0, body) == 'no ready endpoints for service "echo" in namespace "default"'


def test_grpc_codes_map_to_http_statuses_as_envoy_does() -> None:
    assert GRPC_TO_HTTP["UNAVAILABLE"] == 503
    assert GRPC_TO_HTTP["DEADLINE_EXCEEDED"] == 504
    assert GRPC_TO_HTTP["RESOURCE_EXHAUSTED"] == 429
    assert {code.name for code in grpc.StatusCode} == set(GRPC_TO_HTTP)


def test_streams_are_balanced_and_refused_by_an_open_breaker() -> None:
    async def body(backends: list[Backend]) -> tuple[list[list[bytes]], str]:
        breaker = CircuitBreakerConfig(sliding_window_size=2, minimum_number_of_calls=2)
        policy = CallPolicy(breaker=breaker, outlier=None, retry=None)
        channel, _ = channel_for([b.endpoint for b in backends], policy)
        stream = channel.unary_stream("/test.Echo/Stream")
        got = [[m async for m in stream(b"")] for _ in range(2)]
        backends[0].fail = backends[1].fail = grpc.StatusCode.INTERNAL
        for _ in range(2):  # two unary failures open the service breaker
            with pytest.raises(grpc.aio.AioRpcError):
                await calls(channel, 1)
        with pytest.raises(CircuitOpenError) as caught:
            stream(b"")
        await channel.close()
        return got, caught.value.state

    got, state = run(2, body)
    assert got == [[b"b0", b"b0"], [b"b1", b"b1"]]
    assert state == "open"


def test_first_calls_wait_for_the_resiliency_configmap_and_run_under_its_policy() -> None:
    import threading

    async def body(backends: list[Backend]) -> tuple[bool, list[str]]:
        backends[0].fail = grpc.StatusCode.UNAVAILABLE
        # the code's policy would retry onto the healthy backend; the ConfigMap's does not
        policy = CallPolicy(breaker=None, outlier=None, retry=RetryPolicy(max_attempts=4))
        channel, _ = channel_for([b.endpoint for b in backends], policy)
        loaded = threading.Event()
        channel.wait_for_policy(loaded)
        pending = asyncio.ensure_future(calls(channel, 1))
        await asyncio.sleep(0.2)
        held = not pending.done() and backends[0].hits + backends[1].hits == 0
        channel.set_policy(NO_POLICIES)
        loaded.set()
        with pytest.raises(grpc.aio.AioRpcError):
            await pending  # round robin starts on the failing backend, and nothing retries
        await channel.close()
        return held, [b.name for b in backends if b.hits]

    held, hit = run(2, body)
    assert held
    assert hit == ["b0"]


def test_a_late_answer_from_before_the_breaker_opened_does_not_judge_half_open() -> None:
    from kubelite.mesh.breaker import CircuitBreaker, State
    from kubelite.mesh.resiliency import parse_trip

    async def body(backends: list[Backend]) -> State:
        slow, failing = backends
        slow.stall, slow.stalls = 0.2, 1
        failing.fail = grpc.StatusCode.INTERNAL
        clock = FakeClock()
        config = CircuitBreakerConfig(
            trip=parse_trip("consecutiveFailures > 0"), wait_duration_in_open_state=10.0,
            permitted_number_of_calls_in_half_open_state=1,
        )  # fmt: skip
        channel, _ = channel_for(
            [slow.endpoint, failing.endpoint],
            CallPolicy(breaker=config, outlier=None, retry=None),
            clock=clock,
        )
        late = asyncio.create_task(calls(channel, 1))  # round robin: the slow one, admitted closed
        while not slow.hits:
            await asyncio.sleep(0.01)
        with pytest.raises(grpc.aio.AioRpcError):
            await calls(channel, 1)  # the failing one: the breaker opens
        breaker = channel.upstream.breaker
        assert isinstance(breaker, CircuitBreaker) and breaker.state is State.OPEN
        clock.advance(10.0)
        breaker.try_acquire()  # half-open; the one trial is taken elsewhere
        assert await late == ["b0"]
        await channel.close()
        return breaker.state

    assert run(2, body) is State.HALF_OPEN


def test_channel_targets_take_the_names_cluster_dns_resolves() -> None:
    from kubelite.mesh.client_grpc import parse_target

    assert parse_target("orders", "shop") == ("orders", "shop", 50051)
    assert parse_target("orders:80", "shop") == ("orders", "shop", 80)
    assert parse_target("orders.pay:80", "shop") == ("orders", "pay", 80)
    assert parse_target("orders.pay.svc.cluster.local:80", "shop") == ("orders", "pay", 80)
    assert parse_target("dns:///orders:80", "shop") == ("orders", "shop", 80)
    with pytest.raises(ValueError, match="expected a Service"):
        parse_target("orders:http", "shop")


@pytest.mark.parametrize("target", ["orders:99999", "orders:0"])
def test_a_port_out_of_range_is_refused_by_name(target: str) -> None:
    from kubelite.mesh.client_grpc import parse_target

    with pytest.raises(ValueError, match=r"port \d+ is out of range \(1-65535\)"):
        parse_target(target, "shop")


class MetadataBackend(Backend):
    """Answers with initial and trailing metadata, or aborts with them."""

    async def handle(self, request: bytes, context: Any) -> bytes:
        await context.send_initial_metadata((("x-init", "1"),))
        context.set_trailing_metadata((("x-trail", "2"),))
        if request == b"fail":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
        return b"ok"


def test_a_unary_call_is_a_grpc_aio_call_with_metadata_code_and_details() -> None:
    async def main() -> list[Any]:
        backend = await MetadataBackend("m").start()
        try:
            channel, _ = channel_for([backend.endpoint], NO_POLICIES)
            rpc = channel.unary_unary(METHOD)
            call = rpc(b"hi")
            reply = await call
            ok = [reply, await call.code(), await call.details(),
                  dict(await call.initial_metadata())["x-init"],
                  dict(await call.trailing_metadata())["x-trail"], call.done()]  # fmt: skip
            failing = rpc(b"fail")
            with pytest.raises(grpc.aio.AioRpcError):
                await failing
            failed = [await failing.code(), await failing.details(),
                      dict(await failing.trailing_metadata())["x-trail"]]  # fmt: skip
            await channel.close()
            return ok + failed
        finally:
            await backend.server.stop(None)

    assert asyncio.run(main()) == [
        b"ok", grpc.StatusCode.OK, "", "1", "2", True,
        grpc.StatusCode.NOT_FOUND, "no such order", "2",
    ]  # fmt: skip


def test_a_unary_call_can_be_cancelled() -> None:
    async def body(backends: list[Backend]) -> list[Any]:
        backends[0].stall, backends[0].stalls = 30.0, 1
        channel, _ = channel_for([backends[0].endpoint], NO_POLICIES)
        call = channel.unary_unary(METHOD)(b"hi")
        seen: list[Any] = []
        call.add_done_callback(seen.append)
        while backends[0].hits == 0:  # the call reached the server
            await asyncio.sleep(0.01)
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        code = await call.code()
        await channel.close()
        return [call.cancelled(), code, seen == [call]]

    assert run(1, body) == [True, grpc.StatusCode.CANCELLED, True]
