from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kubelite.mesh import tracing
from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.client_grpc import grpc_channel
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.grpc_server import MeshGrpcServer, grpc_server
from kubelite.mesh.grpcweb import GrpcWebApp, decode_frames, encode_frame
from kubelite.mesh.serve import App
from kubelite.mesh.tracing import MeshPropagator

CHECK = "/grpc.health.v1.Health/Check"


def with_server(body: Callable[[MeshGrpcServer], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        server = grpc_server(port=0, host="127.0.0.1", tracing=False, services=["shop.Orders"])
        await server.start()
        try:
            return await body(server)
        finally:
            await server.server.stop(None)

    return asyncio.run(main())


def test_health_serves_and_drain_turns_it_off() -> None:
    async def body(server: MeshGrpcServer) -> list[int]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            overall = await stub.Check(health_pb2.HealthCheckRequest(service=""))
            orders = await stub.Check(health_pb2.HealthCheckRequest(service="shop.Orders"))
            await server.health.enter_graceful_shutdown()
            after = await stub.Check(health_pb2.HealthCheckRequest(service=""))
            return [overall.status, orders.status, after.status]

    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    assert with_server(body) == [serving, serving, not_serving]


def test_reflection_lists_services() -> None:
    async def body(server: MeshGrpcServer) -> set[str]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for reply in stub.ServerReflectionInfo(iter([request])):
                return {s.name for s in reply.list_services_response.service}
        return set()

    assert {"grpc.health.v1.Health", "shop.Orders"} <= with_server(body)


def test_grpc_web_request_reaches_the_grpc_method() -> None:
    request = health_pb2.HealthCheckRequest(service="shop.Orders").SerializeToString()

    async def body(server: MeshGrpcServer) -> list[tuple[str, int, int | None]]:
        out = []
        for text in (False, True):
            app = App(GrpcWebApp(f"127.0.0.1:{server.port}"), tracing=False)
            frame = encode_frame(request)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                reply = await client.post(
                    CHECK,
                    content=base64.b64encode(frame) if text else frame,
                    headers={"content-type": "application/grpc-web-text" if text
                             else "application/grpc-web+proto"},
                )  # fmt: skip
            raw = base64.b64decode(reply.content) if text else reply.content
            frames = decode_frames(raw)
            status = None
            if frames[0][0] == 0:
                status = health_pb2.HealthCheckResponse.FromString(frames[0][1]).status
            assert frames[-1][0] == 0x80 and b"grpc-status:0" in frames[-1][1]
            out.append((reply.headers["content-type"], reply.status_code, status))
        return out

    serving = health_pb2.HealthCheckResponse.SERVING
    assert with_server(body) == [
        ("application/grpc-web+proto", 200, serving),
        ("application/grpc-web-text+proto", 200, serving),
    ]


def test_grpc_web_unknown_method_reports_unimplemented() -> None:
    async def body(server: MeshGrpcServer) -> bytes:
        app = GrpcWebApp(f"127.0.0.1:{server.port}")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            reply = await client.post("/shop.Orders/Nope", content=encode_frame(b""),
                                      headers={"content-type": "application/grpc-web+proto"})  # fmt: skip
        return decode_frames(reply.content)[-1][1]

    assert b"grpc-status:12" in with_server(body)


def test_mesh_channel_resolves_through_discovery() -> None:
    async def body(server: MeshGrpcServer) -> int:
        disc = StaticDiscovery({"orders": [Endpoint("127.0.0.1", server.port)]})
        channel = grpc_channel(f"orders:{server.port}", discovery=disc)
        check = channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply = await check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        await channel.close()
        return reply.status

    assert with_server(body) == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The mesh's gRPC instrumentation records here; context travels as W3C and B3 single."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setattr(tracing, "_state", {"provider": provider})  # setup_tracing: done
    monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", MeshPropagator(["tracecontext", "b3"]))
    return exporter


def test_grpc_call_joins_the_callers_trace(recorded: InMemorySpanExporter) -> None:
    async def main() -> tuple[int, int]:
        server = grpc_server(port=0, host="127.0.0.1", tracing=True)
        await server.start()
        disc = StaticDiscovery({"orders": [Endpoint("127.0.0.1", server.port)]})
        channel = grpc_channel(f"orders:{server.port}", discovery=disc)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            with trace.get_tracer("test").start_as_current_span("checkout") as root:
                await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            return root.get_span_context().trace_id, root.get_span_context().span_id
        finally:
            await channel.close()
            await server.server.stop(None)

    trace_id, root_id = asyncio.run(main())
    spans = {s.kind.name: s for s in recorded.get_finished_spans()}
    assert sorted(spans) == ["CLIENT", "INTERNAL", "SERVER"]
    client, served = spans["CLIENT"], spans["SERVER"]
    # One trace: checkout -> the client's try -> the server's span.
    assert {s.context.trace_id for s in spans.values()} == {trace_id}
    assert client.parent is not None and client.parent.span_id == root_id
    assert served.parent is not None and served.parent.span_id == client.context.span_id
    assert client.name == served.name == CHECK
    assert client.attributes is not None and client.attributes["peer.service"] == "orders"


def test_grpc_web_status_messages_are_percent_encoded() -> None:
    from kubelite.mesh.grpcweb import _trailers

    assert _trailers(13, "50% off\r\nnaïve") == (
        b"grpc-status:13\r\ngrpc-message:50%25 off%0D%0Ana%C3%AFve\r\n"
    )
