"""The grpc probe speaks to real gRPC servers (grpcio's) without grpcio itself."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from kubelite.kubelet import grpcprobe

grpc = pytest.importorskip("grpc", reason="needs grpcio (the mesh extra) for a test server")
health = pytest.importorskip("grpc_health.v1.health", reason="needs grpcio-health-checking")
health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")

UA = "kube-probe/1.32"


async def serve(with_health: bool) -> tuple[object, int, object]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer() if with_health else None
    if servicer is not None:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port, servicer


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _probe(port: int, service: str = "", timeout: float = 2) -> tuple[bool, str]:
    return await grpcprobe.probe("127.0.0.1", port, service, timeout, UA)


def test_serving_passes_and_every_other_status_fails() -> None:
    async def main() -> list[tuple[bool, str]]:
        server, port, servicer = await serve(True)
        try:
            out = [await _probe(port)]
            await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
            out.append(await _probe(port))
            await servicer.set("orders", health_pb2.HealthCheckResponse.SERVING)
            out.append(await _probe(port, "orders"))
            out.append(await _probe(port, "payments"))
            return out
        finally:
            await server.stop(None)

    serving, not_serving, named, unknown = run(main())
    assert serving == (True, "")
    assert not_serving == (False, 'service unhealthy (responded with "NOT_SERVING")')
    assert named == (True, "")
    assert unknown == (
        False,
        # grpcio's servicer sets the code without details
        "error: health rpc probe failed: rpc error: code = NotFound desc = ",
    )


def test_a_server_without_the_health_service() -> None:
    async def main() -> tuple[bool, str]:
        server, port, _ = await serve(False)
        try:
            return await _probe(port)
        finally:
            await server.stop(None)

    ok, message = run(main())
    assert not ok
    assert message.startswith(
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
    )


def test_nothing_listening_and_a_server_that_never_answers() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run(_probe(port, timeout=1)) == (
        False,
        f'timeout: failed to connect service "127.0.0.1:{port}" within 1s: '
        "context deadline exceeded",
    )
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        port = mute.getsockname()[1]
        assert run(_probe(port, timeout=0.3)) == (
            False,
            "timeout: health rpc did not complete within 300ms",
        )


def test_messages_encode_and_decode_as_protobuf() -> None:
    request = health_pb2.HealthCheckRequest(service="a" * 200)
    frame = grpcprobe.request_message("a" * 200)
    assert frame[5:] == request.SerializeToString()
    assert int.from_bytes(frame[1:5], "big") == len(frame) - 5
    assert grpcprobe.request_message("") == b"\x00\x00\x00\x00\x00"
    for status in (0, 1, 2, 3):
        body = health_pb2.HealthCheckResponse(status=status).SerializeToString()
        assert grpcprobe.response_status(b"\x00" + len(body).to_bytes(4, "big") + body) == status


def test_the_node_agent_never_loads_grpcio_for_a_probe() -> None:
    """grpcio's threads in the agent's process would make its forks unsafe."""
    code = (
        "import asyncio, sys\n"
        "from kubelite.kubelet import probes\n"
        "asyncio.run(probes.run_probe({'grpc': {'port': 1}}, {}, '127.0.0.1', None))\n"
        "print('grpc' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
