"""WebSockets through the built-in ingress controller, end to end.

Each test has a cluster of its own (`fresh_cluster`: `--port 0`, a temp data
dir). The backend is a small WebSocket echo server (the `websockets` package,
found by the pod's interpreter, the host's, through PYTHONPATH) behind a Service
and an Ingress; the client is the same package's sync client, connected to the
ingress listener and sending the rule's host as its Host (and SNI for wss).
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from tests.e2e.echo_app import served
from tests.e2e.polling import wait_for
from tests.e2e.test_ingress import _certificate, ingress, rule
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.e2e

HOST = "ws.local"
PORT = 8765
HANG_GUARD_S = 20  # timeouts only keep a broken run from hanging; nothing is timed

ECHO = """
import asyncio, json, os
from http import HTTPStatus
from websockets.asyncio.server import serve

closes = []

async def handler(ws):
    try:
        async for message in ws:
            if message == "seen":
                await ws.send(json.dumps({
                    "path": ws.request.path,
                    "subprotocol": ws.subprotocol,
                    "headers": {k.lower(): v for k, v in ws.request.headers.raw_items()},
                }))
            elif message == "closes":
                await ws.send(json.dumps(closes))
            elif isinstance(message, str) and message.startswith("close "):
                _, code, reason = message.split(" ", 2)
                await ws.close(int(code), reason)
            else:
                await ws.send(message)
    except Exception:
        pass
    await ws.wait_closed()
    closes.append([ws.close_code, ws.close_reason])

def select(ws, offered):
    return next((s for s in offered if s in ("chat.v1", "chat.v2")), None)

def refuse(ws, request):
    if request.path.startswith("/private"):
        return ws.respond(HTTPStatus.FORBIDDEN, "members only\\n")

async def main():
    async with serve(handler, os.environ["POD_IP"], int(os.environ["PORT"]),
                     select_subprotocol=select, process_request=refuse, ping_interval=None):
        await asyncio.Future()

asyncio.run(main())
"""


def echo_app(name: str = "echo") -> list[dict[str, Any]]:
    """A Deployment of the echo server and its Service (port 80)."""
    site_packages = str(Path(websockets.__file__).resolve().parents[1])
    container = {
        "name": "echo",
        "image": f"python:{sys.version_info.major}.{sys.version_info.minor}",  # the host's
        "command": ["python", "-c", ECHO],
        "env": [
            {"name": "PYTHONPATH", "value": site_packages},
            {"name": "PORT", "value": str(PORT)},
        ],
        "ports": [{"name": "ws", "containerPort": PORT}],
        "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1},
    }
    return served(name, container, {"name": "web", "port": 80, "targetPort": "ws"})


def deploy(cluster: Any, *objects: dict[str, Any]) -> None:
    for obj in objects:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


def deploy_echo(cluster: Any) -> None:
    """The echo app, ready, behind an Ingress for HOST."""
    deploy(cluster, *echo_app(), ingress("echo", rule(HOST, ("/", "echo", 80))))
    cluster.kubectl("rollout", "status", "deploy/echo", "--timeout=90s")


def open_ws(
    base: str,
    path: str = "/chat",
    *,
    context: ssl.SSLContext | None = None,
    subprotocols: list[str] | None = None,
) -> ClientConnection:
    """A WebSocket to the ingress listener at `base` with HOST as its Host (and SNI)."""
    address = base.split("://", 1)[1]
    ip, port = address.rsplit(":", 1)
    sock = socket.create_connection((ip, int(port)), timeout=HANG_GUARD_S)
    scheme = "wss" if context is not None else "ws"
    try:
        return connect(
            f"{scheme}://{HOST}{path}",
            sock=sock,
            ssl=context,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            proxy=None,
            open_timeout=HANG_GUARD_S,
            close_timeout=HANG_GUARD_S,
        )
    except BaseException:
        sock.close()
        raise


def routed(base: str, **options: Any) -> ClientConnection:
    """The first WebSocket the ingress routes to a ready pod (rules and endpoints settle)."""

    def attempt() -> ClientConnection | None:
        try:
            return open_ws(base, **options)
        except (OSError, WebSocketException, ssl.SSLError):
            return None

    return wait_for(attempt, f"a WebSocket to {HOST} through {base}")  # type: ignore[no-any-return]


def refusal(base: str, path: str) -> tuple[int, bytes] | None:
    """The HTTP answer to an upgrade the other side refused; None if it was accepted."""
    try:
        with open_ws(base, path):
            pass
    except InvalidStatus as exc:
        return exc.response.status_code, exc.response.body or b""
    return None


def test_messages_subprotocol_and_forwarded_headers(fresh_cluster) -> None:  # type: ignore[no-untyped-def]
    base = fresh_cluster.status["ingress"]
    deploy_echo(fresh_cluster)
    with routed(base, subprotocols=["chat.v9", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"  # the pod's choice, handed back
        ws.send("héllo")
        assert ws.recv(timeout=HANG_GUARD_S) == "héllo"
        blob = bytes(range(256)) * 512
        ws.send(blob)
        assert ws.recv(timeout=HANG_GUARD_S) == blob
        ws.send("seen")
        seen = json.loads(ws.recv(timeout=HANG_GUARD_S))
    assert seen["path"] == "/chat" and seen["subprotocol"] == "chat.v2"
    headers = seen["headers"]
    assert headers["host"] == HOST and headers["x-forwarded-host"] == HOST
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == headers["x-real-ip"] == "127.0.0.1"
    assert headers["sec-websocket-protocol"] == "chat.v9, chat.v2"


def test_close_codes_pass_both_ways(fresh_cluster) -> None:  # type: ignore[no-untyped-def]
    base = fresh_cluster.status["ingress"]
    deploy_echo(fresh_cluster)

    # the pod closes: the client sees its code and reason
    with routed(base) as ws:
        ws.send("close 4001 as asked")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=HANG_GUARD_S)
    assert ws.close_code == 4001 and ws.close_reason == "as asked"

    # the client closes: the pod sees its code and reason
    with routed(base) as ws:
        ws.close(4000, "bye")

    def closes() -> list[list[Any]]:
        with open_ws(base) as probe:
            probe.send("closes")
            return json.loads(probe.recv(timeout=HANG_GUARD_S))  # type: ignore[no-any-return]

    # each connection's close as the pod saw it: the client's, and every probe's own
    wait_for(lambda: [4000, "bye"] in closes(), "the pod to see the client's close")


def test_refusals_reach_the_client(fresh_cluster) -> None:  # type: ignore[no-untyped-def]
    base = fresh_cluster.status["ingress"]
    deploy_echo(fresh_cluster)
    with routed(base):
        pass  # the route and the pod are ready
    assert refusal(base, "/private") == (403, b"members only\n")  # the pod's own answer

    # a Service without ready endpoints: 503, as for HTTP
    fresh_cluster.kubectl("create", "service", "clusterip", "idle", "--tcp=80:8080")
    deploy(fresh_cluster, ingress("idle", rule(HOST, ("/idle", "idle", 80))))
    status = wait_for(lambda: (r := refusal(base, "/idle")) and r[0] != 403 and r, "the idle rule")
    assert status[0] == 503 and b"no ready endpoints" in status[1]


def test_wss_through_the_tls_listener(fresh_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = fresh_cluster.status["ingressHttps"]
    deploy(fresh_cluster, *echo_app())
    cert, key = _certificate(HOST, tmp_path)
    fresh_cluster.kubectl("create", "secret", "tls", "secure", f"--cert={cert}", f"--key={key}")
    fresh_cluster.kubectl("create", "ingress", "secure", f"--rule={HOST}/*=echo:80,tls=secure")
    fresh_cluster.kubectl("rollout", "status", "deploy/echo", "--timeout=90s")
    verify = ssl.create_default_context(cafile=str(cert))
    with routed(base, context=verify) as ws:  # verified: the Secret's certificate, by SNI
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=HANG_GUARD_S) == b"\x00\x01binary"
        ws.send("seen")
        seen = json.loads(ws.recv(timeout=HANG_GUARD_S))
        ws.close(4002, "done")
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert ws.close_code == 4002
