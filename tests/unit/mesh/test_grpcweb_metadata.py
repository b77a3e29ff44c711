"""gRPC-web metadata: `-bin` and non-ASCII request headers, response headers and trailers."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import grpc
import httpx
import pytest

from kubelite.mesh.grpc_server import grpc_server
from kubelite.mesh.grpcweb import GrpcWebApp, decode_frames, encode_frame

WEB = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}


async def _echo_metadata(request: bytes, context: Any) -> bytes:
    seen = dict(context.invocation_metadata())
    await context.send_initial_metadata((("x-init", "1"), ("x-init-bin", b"\x00\xff")))
    context.set_trailing_metadata((("x-trail", "2"), ("x-trail-bin", b"\x01\x02")))
    return repr(seen.get("x-id-bin")).encode()


def _post(headers: dict[str, Any]) -> httpx.Response:
    async def main() -> httpx.Response:
        handler = grpc.method_handlers_generic_handler(
            "t.S", {"M": grpc.unary_unary_rpc_method_handler(_echo_metadata)}
        )
        server = grpc_server(
            [lambda s: s.add_generic_rpc_handlers((handler,))],
            host="127.0.0.1", port=0, tracing=False,
        )  # fmt: skip
        await server.start()
        app = GrpcWebApp(f"127.0.0.1:{server.port}")
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                return await client.post(
                    "/t.S/M", content=encode_frame(b"abc"), headers={**WEB, **headers}
                )
        finally:
            await app.aclose()
            await server.server.stop(None)

    return asyncio.run(main())


def test_bin_request_header_reaches_the_server_as_bytes() -> None:
    reply = _post({"x-id-bin": base64.b64encode(b"\x00\x01\x02").decode()})
    frames = decode_frames(reply.content)
    assert reply.status_code == 200 and reply.headers["grpc-status"] == "0"
    assert frames[0] == (0, b"b'\\x00\\x01\\x02'")


def test_unpadded_bin_request_header_is_accepted() -> None:
    reply = _post({"x-id-bin": "AAEC"[:3]})  # "AAE" + "=" is b"\x00\x01"
    assert reply.headers["grpc-status"] == "0"
    assert decode_frames(reply.content)[0] == (0, b"b'\\x00\\x01'")


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"x-name": "ÄÖ".encode()}, b"x-name: value is not printable ASCII"),
        ({"x-id-bin": "not base64!"}, b"x-id-bin: not base64"),
    ],
    ids=["non-ascii", "bad-base64"],
)
def test_header_grpc_cannot_carry_is_invalid_argument(
    headers: dict[str, Any], words: bytes
) -> None:
    reply = _post(headers)
    trailer = decode_frames(reply.content)[-1]
    assert reply.status_code == 200 and reply.headers["grpc-status"] == "3"
    assert trailer[0] == 0x80 and b"grpc-status:3\r\n" in trailer[1] and words in trailer[1]


def test_initial_metadata_become_headers_and_trailing_metadata_the_trailer_frame() -> None:
    reply = _post({})
    trailer = decode_frames(reply.content)[-1][1].decode()
    assert reply.headers["x-init"] == "1"
    assert reply.headers["x-init-bin"] == base64.b64encode(b"\x00\xff").decode()
    assert "x-init" in reply.headers["access-control-expose-headers"].split(",")
    assert trailer.startswith("grpc-status:0\r\ngrpc-message:\r\n")
    assert "x-trail:2\r\n" in trailer
    assert "x-trail-bin:" + base64.b64encode(b"\x01\x02").decode() + "\r\n" in trailer
