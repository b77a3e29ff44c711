"""The grpc probe: one `grpc.health.v1.Health/Check` call over plain HTTP/2.

The call is made with the `h2` protocol library on an asyncio connection,
not with grpcio: grpcio starts threads of its own in the process that runs
it, and the node agent's process forks (exec commands, exec probes), which a
process with gRPC threads must not do (their children could crash inside
gRPC's code). One unary call needs little: the request is a gRPC frame of a
protobuf `HealthCheckRequest` (field 1, the service name), the answer's
`grpc-status` trailer and `HealthCheckResponse` (field 1, the status).

Results and messages are upstream's (`pkg/probe/grpc`): SERVING passes;
anything else fails with "service unhealthy (responded with ...)", an
unimplemented health service, a deadline or a failed call with their texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from kubelite.api.protobuf import ProtobufError, encode_varint, fields

PATH = "/grpc.health.v1.Health/Check"
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
# grpc-go's codes.Code names, as its errors print them
CODE_NAMES = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
]
UNIMPLEMENTED, DEADLINE_EXCEEDED = 12, 4


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message

    def __str__(self) -> str:
        name = CODE_NAMES[self.code] if 0 <= self.code < len(CODE_NAMES) else f"Code({self.code})"
        return f"rpc error: code = {name} desc = {self.message}"


def _duration(seconds: float) -> str:
    """A timeout as Go prints a time.Duration (1s, 1.5s, 500ms)."""
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def request_message(service: str) -> bytes:
    """A gRPC frame (uncompressed, length-prefixed) of a HealthCheckRequest."""
    raw = service.encode()
    body = b"\x0a" + encode_varint(len(raw)) + raw if raw else b""
    return b"\x00" + len(body).to_bytes(4, "big") + body


def response_status(frames: bytes) -> int:
    """The `status` field of the HealthCheckResponse in these gRPC frames (0 if absent)."""
    if len(frames) < 5:
        raise RpcError(13, "server closed the stream without sending a response")
    if frames[0] != 0:
        raise RpcError(13, "grpc: compressed response messages are not supported")
    size = int.from_bytes(frames[1:5], "big")
    try:
        found = fields(frames[5 : 5 + size])
    except ProtobufError:
        raise RpcError(13, "grpc: failed to unmarshal the received message") from None
    status = 0
    for number, wire, value in found:  # the last one wins, as protobuf decodes
        if number == 1 and wire == 0 and isinstance(value, int):
            status = value
    return status


async def check(host: str, port: int, service: str, user_agent: str) -> int:
    """One Health/Check call on a new connection: the serving status, or RpcError."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        return await _call(reader, writer, f"{host}:{port}", service, user_agent)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _call(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    authority: str,
    service: str,
    user_agent: str,
) -> int:
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(
        stream,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("user-agent", user_agent),
        ],
    )
    conn.send_data(stream, request_message(service), end_stream=True)
    writer.write(conn.data_to_send())
    body = bytearray()
    headers: dict[str, str] = {}
    while True:
        data = await reader.read(65536)
        if not data:
            raise RpcError(14, "connection closed before the server sent a response")
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            raise RpcError(14, f"connection error: {exc}") from exc
        for event in events:
            if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                headers.update((str(k), str(v)) for k, v in event.headers or [])
            elif isinstance(event, h2.events.DataReceived):
                body += event.data or b""
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamReset):
                raise RpcError(
                    14, f"stream terminated by RST_STREAM with error code: {event.error_code}"
                )
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise RpcError(14, "connection closed by the server")
            elif isinstance(event, h2.events.StreamEnded):
                return _result(headers, bytes(body))
        writer.write(conn.data_to_send())


def _result(headers: dict[str, str], body: bytes) -> int:
    status = headers.get(":status", "")
    if status != "200":
        raise RpcError(
            12 if status == "404" else 2,
            f"unexpected HTTP status code received from server: {status}",
        )
    code = headers.get("grpc-status")
    if code is None:
        raise RpcError(13, "server closed the stream without sending trailers")
    if code != "0":
        message = urllib.parse.unquote(headers.get("grpc-message", ""))
        raise RpcError(int(code) if code.isdigit() else 2, message)
    return response_status(body)


async def probe(
    host: str, port: int, service: str, timeout: float, user_agent: str
) -> tuple[bool, str]:
    """Upstream's grpc probe: (passed, the message its event carries)."""
    addr = f"{host}:{port}"
    try:
        status = await asyncio.wait_for(check(host, port, service, user_agent), timeout)
    except TimeoutError:
        return False, f"timeout: health rpc did not complete within {_duration(timeout)}"
    except OSError:
        # grpc-go dials blocking until the deadline: an unreachable port ends so
        return False, (
            f'timeout: failed to connect service "{addr}" within {_duration(timeout)}: '
            "context deadline exceeded"
        )
    except RpcError as exc:
        if exc.code == UNIMPLEMENTED:
            return False, (
                "error: this server does not implement the grpc health protocol "
                f"(grpc.health.v1.Health): {exc.message}"
            )
        if exc.code == DEADLINE_EXCEEDED:
            return False, f"timeout: health rpc did not complete within {_duration(timeout)}"
        return False, f"error: health rpc probe failed: {exc}"
    if status != 1:
        return (
            False,
            f'service unhealthy (responded with "{STATUS_NAMES.get(status, str(status))}")',
        )
    return True, ""
