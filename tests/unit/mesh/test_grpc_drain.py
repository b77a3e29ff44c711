"""`mesh.grpc_server` graceful drain: NOT_SERVING first, new RPCs accepted during
the drain delay, in-flight RPCs finish; SIGTERM starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kubelite.mesh.grpc_server import grpc_server

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_drain_reports_not_serving_keeps_accepting_then_lets_in_flight_finish() -> None:
    async def main() -> tuple[Any, bytes, bytes]:
        release, delay_started, delay_over = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def slow(request: bytes, context: Any) -> bytes:
            await release.wait()
            return b"done"

        async def fast(request: bytes, context: Any) -> bytes:
            return b"fast"

        handler = grpc.method_handlers_generic_handler(
            "t.S", {"M": grpc.unary_unary_rpc_method_handler(slow),
                    "Fast": grpc.unary_unary_rpc_method_handler(fast)}
        )  # fmt: skip
        server = grpc_server([lambda s: s.add_generic_rpc_handlers((handler,))],
                             host="127.0.0.1", port=0, tracing=False)  # fmt: skip

        async def held_delay(seconds: float) -> None:
            delay_started.set()
            await delay_over.wait()

        server._sleep = held_delay
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            in_flight = asyncio.ensure_future(channel.unary_unary("/t.S/M")(b"", timeout=30))
            await channel.unary_unary("/t.S/Fast")(b"")  # the slow call is on the wire
            drain = asyncio.ensure_future(server.drain(grace=30))
            await delay_started.wait()
            health = health_pb2_grpc.HealthStub(channel)
            during = await health.Check(health_pb2.HealthCheckRequest(service=""))
            fast = await channel.unary_unary("/t.S/Fast")(b"")
            delay_over.set()
            await asyncio.sleep(0)
            release.set()
            reply = await in_flight
            await drain
        return during.status, fast, reply

    async def guarded() -> tuple[Any, bytes, bytes]:
        async with asyncio.timeout(20):  # a guard against a hang, not a timing assertion
            return await main()

    status, fast, reply = asyncio.run(guarded())
    assert status == NOT_SERVING
    assert fast == b"fast"
    assert reply == b"done"


SERVER = textwrap.dedent(
    """
    import asyncio, sys, grpc
    from kubelite.mesh.grpc_server import grpc_server

    async def slow(request, context):
        print("started", flush=True)
        await asyncio.sleep(1)
        return b"done"

    async def main():
        h = grpc.method_handlers_generic_handler("t.S", {"M": grpc.unary_unary_rpc_method_handler(slow)})
        srv = grpc_server([lambda s: s.add_generic_rpc_handlers((h,))], host="127.0.0.1", port=0,
                          tracing=False)
        await srv.start()
        print(srv.port, flush=True)
        await srv.wait()
        print("stopped", flush=True)

    asyncio.run(main())
    """
)


def test_sigterm_drains_and_the_in_flight_rpc_completes() -> None:
    env = {**os.environ, "KUBELITE_DRAIN_DELAY": "0", "KUBELITE_DRAIN_TIMEOUT": "20",
           "OTEL_TRACES_EXPORTER": "none"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, env=env,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    try:
        port = int(proc.stdout.readline())

        async def main() -> bytes:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = asyncio.ensure_future(channel.unary_unary("/t.S/M")(b"", timeout=30))
                started = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
                assert started.strip() == "started"
                proc.send_signal(signal.SIGTERM)
                return await call

        assert asyncio.run(main()) == b"done"
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read().strip() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
