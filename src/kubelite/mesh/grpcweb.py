"""gRPC-web on the ASGI side: browsers reach gRPC services through `mesh.App`.

Browsers cannot speak HTTP/2 trailers, so gRPC-web frames the same messages in
an HTTP/1.1 body and moves the trailers into a final frame (flag 0x80). The
bridge here does what Envoy's grpc_web filter does: it decodes the request
frame (binary `application/grpc-web+proto` or base64 `application/grpc-web-text`),
forwards the call to the gRPC server over a grpc.aio channel with opaque bytes
(no generated code needed), and encodes the reply and `grpc-status` trailers.

Custom metadata travels as in HTTP/2 gRPC (grpc/grpc doc/PROTOCOL-WEB.md):
request headers become call metadata, `-bin` values base64-decoded to the bytes
grpc.aio wants; the server's initial metadata become response headers and its
trailing metadata go into the trailer frame beside `grpc-status`, `-bin` values
base64-encoded again. A header gRPC cannot carry (a value that is not printable
ASCII, `-bin` that is not base64) is answered with INVALID_ARGUMENT, never a 500.

The `sonora` package was tried first: it pins `urllib3<2`, which breaks the
`kubernetes` client kubelite depends on, so this bridge is kubelite's own.
Unary methods only (what grpc-web clients mostly use); CORS preflight is answered.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from kubelite.mesh.deadline import parse_grpc_timeout

__all__ = ["GrpcWebApp", "decode_frames", "encode_frame"]

_TRAILER_FLAG = 0x80
_SKIP_HEADERS = {"content-type", "content-length", "host", "connection", "accept", "user-agent",
                 "origin", "referer", "x-grpc-web", "grpc-timeout", "accept-encoding", "te"}  # fmt: skip
_CORS_ORIGIN = (b"access-control-allow-origin", b"*")
_CORS = [_CORS_ORIGIN, (b"access-control-expose-headers", b"grpc-status,grpc-message")]
# Response headers the bridge itself sets; the server's metadata must not repeat them.
_OWN_RESPONSE_HEADERS = {"content-type", "content-length", "grpc-status", "grpc-message"}
Metadata = list[tuple[str, str | bytes]]


def encode_frame(payload: bytes, *, trailer: bool = False) -> bytes:
    return struct.pack(">BI", _TRAILER_FLAG if trailer else 0, len(payload)) + payload


def decode_frames(body: bytes) -> list[tuple[int, bytes]]:
    frames, pos = [], 0
    while pos + 5 <= len(body):
        flag, length = struct.unpack(">BI", body[pos : pos + 5])
        frames.append((flag, body[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    if pos != len(body):
        raise ValueError("truncated gRPC-web frame")
    return frames


def _trailers(code: int, message: str, metadata: Any = ()) -> bytes:
    lines = [f"grpc-status:{code}", f"grpc-message:{percent_encode(message)}"]
    lines += [f"{k}:{v}" for k, v in _wire_metadata(metadata) if k not in _OWN_RESPONSE_HEADERS]
    return "".join(line + "\r\n" for line in lines).encode()


def _wire_metadata(metadata: Any) -> list[tuple[str, str]]:
    """grpc.aio metadata as header text: `-bin` values base64-encoded, as on the HTTP/2 wire."""
    out = []
    for key, value in metadata or ():
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        out.append((str(key).lower(), str(value)))
    return out


def request_metadata(headers: dict[str, str]) -> Metadata:
    """The call metadata for the request headers; ValueError names a header gRPC cannot carry."""
    out: Metadata = []
    for key, value in headers.items():
        if key in _SKIP_HEADERS:
            continue
        if key.endswith("-bin"):
            try:  # gRPC senders may omit the padding (PROTOCOL-HTTP2.md)
                out.append((key, base64.b64decode(value + "=" * (-len(value) % 4), validate=True)))
            except (ValueError, TypeError):
                raise ValueError(f"metadata {key}: not base64") from None
        elif all(0x20 <= ord(c) <= 0x7E for c in value):
            out.append((key, value))
        else:
            raise ValueError(f"metadata {key}: value is not printable ASCII (use a -bin header)")
    return out


def percent_encode(message: str) -> str:
    """grpc-message as the gRPC protocol encodes it: the UTF-8 bytes, each outside
    printable ASCII (0x20-0x7E) and every `%` written `%XX` (upper-case hex)."""
    return "".join(
        chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in message.encode()
    )


class GrpcWebApp:
    """An ASGI app bridging gRPC-web requests to the gRPC server at `target`."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._channel: Any = None

    def _rpc(self, path: str) -> Any:
        if self._channel is None:
            import grpc

            self._channel = grpc.aio.insecure_channel(self.target)
        return self._channel.unary_unary(path)  # bytes in, bytes out

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "OPTIONS":
            allow = [(b"access-control-allow-methods", b"POST"),
                     (b"access-control-allow-headers", b"*")]  # fmt: skip
            await send({"type": "http.response.start", "status": 204, "headers": _CORS + allow})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type", "")
        text = content_type.startswith("application/grpc-web-text")
        body = await _read_body(receive)
        result = await self._call(scope["path"], headers, body, text)
        out = (encode_frame(result.reply) if result.reply is not None else b"") + encode_frame(
            _trailers(result.code, result.message, result.trailing), trailer=True
        )
        if text:
            out = base64.b64encode(out)
        reply_type = "application/grpc-web-text+proto" if text else "application/grpc-web+proto"
        custom = [(k, v) for k, v in _wire_metadata(result.initial)
                  if k not in _OWN_RESPONSE_HEADERS and not k.startswith("access-control-")]  # fmt: skip
        expose = ",".join(["grpc-status", "grpc-message", *dict.fromkeys(k for k, _ in custom)])
        response_headers = [(b"content-type", reply_type.encode()),
                            (b"grpc-status", str(result.code).encode()),
                            *((k.encode(), v.encode()) for k, v in custom),
                            _CORS_ORIGIN, (b"access-control-expose-headers", expose.encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": out})

    async def _call(self, path: str, headers: dict[str, str], body: bytes, text: bool) -> _Result:
        import grpc

        try:
            frames = decode_frames(base64.b64decode(body) if text else body)
            if len(frames) != 1 or frames[0][0] != 0:
                return _Result(grpc.StatusCode.INTERNAL.value[0], "want exactly one message frame")
            timeout = headers.get("grpc-timeout")
            seconds = parse_grpc_timeout(timeout) if timeout else None
            metadata = request_metadata(headers)
        except ValueError as exc:
            return _Result(grpc.StatusCode.INVALID_ARGUMENT.value[0], str(exc))
        try:
            call = self._rpc(path)(frames[0][1], timeout=seconds, metadata=metadata)
            reply = await call
        except grpc.aio.AioRpcError as exc:
            return _Result(exc.code().value[0], exc.details() or "", None,
                           exc.initial_metadata(), exc.trailing_metadata())  # fmt: skip
        except (TypeError, ValueError) as exc:  # metadata grpc-core refuses (reserved keys)
            return _Result(grpc.StatusCode.INVALID_ARGUMENT.value[0], f"bad metadata: {exc}")
        initial, trailing = await call.initial_metadata(), await call.trailing_metadata()
        return _Result(0, "", reply, initial, trailing)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()


@dataclass(frozen=True)
class _Result:
    code: int
    message: str
    reply: bytes | None = None
    initial: Any = ()
    trailing: Any = ()


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
