"""`pods/proxy` and `services/proxy`: targets, paths and headers as upstream's proxy treats them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors, proxy
from kubelite.apiserver.paths import ResourcePath, parse


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("web", ("", "web", "")),
        ("web:8080", ("", "web", "8080")),
        ("https:web:443", ("https", "web", "443")),
        ("web:http", ("", "web", "http")),
    ],
)
def test_scheme_name_port(text: str, want: tuple[str, str, str]) -> None:
    assert proxy.split_scheme_name_port(text) == want


def test_a_malformed_name_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest):
        proxy.split_scheme_name_port("ftp:web:21")


def test_paths_keep_everything_after_proxy() -> None:
    target = parse("/api/v1/namespaces/default/pods/web:8080/proxy/a/b")
    assert isinstance(target, ResourcePath)
    assert (target.name, target.subresource, target.proxy_path) == ("web:8080", "proxy", "/a/b")
    svc = parse("/api/v1/namespaces/default/services/web/proxy")
    assert isinstance(svc, ResourcePath) and svc.proxy_path == "/"


class Seen:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []


async def _server(seen: Seen) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        line, *fields = head.strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        seen.requests.append((line, headers))
        body = b"pong"
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-App: yes\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _request(raw_path: bytes, query: bytes = b"") -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = {
        "authorization": "Bearer cluster-secret",
        "accept": "text/plain",
        "connection": "keep-alive",
    }
    scope = {"raw_path": raw_path, "query_string": query}
    return SimpleNamespace(
        method="GET", path=raw_path.decode(), scope=scope, headers=headers, receive=receive
    )


def test_a_pod_is_reached_without_the_callers_credentials() -> None:
    async def run() -> tuple[list[dict[str, Any]], Seen, int]:
        seen = Seen()
        server, port = await _server(seen)
        pod = {
            "metadata": {"name": "web"},
            "spec": {
                "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]
            },
            "status": {"podIP": "127.0.0.1"},
        }
        storage = SimpleNamespace(get=lambda rt, ns, name: SimpleNamespace(obj=lambda: pod))
        app: Any = SimpleNamespace(storage=storage)
        target = ResourcePath(REGISTRY.by_kind("v1", "Pod"), "default", "web:http", "proxy")  # type: ignore[arg-type]
        req = _request(b"/api/v1/namespaces/default/pods/web:http/proxy/a%20b/c/", b"x=1&y=2")
        streamed = await proxy.handle(app, req, target)
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await streamed.send(send)
        server.close()
        return sent, seen, port

    sent, seen, port = asyncio.run(run())
    line, headers = seen.requests[0]
    assert line == "GET /a%20b/c/?x=1&y=2 HTTP/1.1"  # the path as written, trailing slash kept
    assert "authorization" not in headers  # the cluster's token never reaches an app
    assert headers["accept"] == "text/plain"
    assert headers["host"] == f"127.0.0.1:{port}"
    assert sent[0]["status"] == 201
    assert (b"x-app", b"yes") in sent[0]["headers"]
    assert not any(k in (b"connection", b"content-length") for k, _ in sent[0]["headers"])
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"pong"


def test_a_service_without_ready_endpoints_is_unavailable() -> None:
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
    not_ready = {
        "metadata": {"labels": {"kubernetes.io/service-name": "web"}},
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [{"addresses": ["127.0.0.9"], "conditions": {"ready": False}}],
    }

    def get(rt: Any, ns: Any, name: Any) -> Any:
        return SimpleNamespace(obj=lambda: svc)

    def list_(rt: Any, ns: Any) -> Any:
        return SimpleNamespace(items=[SimpleNamespace(obj=lambda: not_ready)])

    app: Any = SimpleNamespace(storage=SimpleNamespace(get=get, list=list_))
    target = ResourcePath(REGISTRY.by_kind("v1", "Service"), "default", "web", "proxy")  # type: ignore[arg-type]
    with pytest.raises(errors.ServiceUnavailable) as err:
        asyncio.run(proxy.handle(app, _request(b"/x/proxy/"), target))
    assert err.value.status()["message"] == 'no endpoints available for service "web"'
