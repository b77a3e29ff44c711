"""httpGet probes and hooks against a real local server: headers, redirects, results."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kubelite.kubelet import probes

Routes = dict[str, tuple[int, dict[str, str], bytes]]


class _Server:
    def __init__(self, routes: Routes) -> None:
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                server.requests.append((self.path, list(self.headers.items())))
                code, headers, body = routes.get(self.path, (404, {}, b"nothing here"))
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value.replace("PORT", str(server.port)))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[_Server] = []

    def start(routes: Routes) -> _Server:
        servers.append(_Server(routes))
        return servers[-1]

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def _probe(port: int, path: str = "/", **extra: Any) -> tuple[str, str]:
    action = {"port": port, "path": path, **extra}
    return asyncio.run(probes.http_get(action, {}, "127.0.0.1", 2))


def test_same_host_redirects_are_followed_to_the_failing_page(serve: Any) -> None:
    srv = serve({"/": (302, {"Location": "/broken"}, b""), "/broken": (503, {}, b"down")})
    assert _probe(srv.port) == (probes.FAILURE, "HTTP probe failed with statuscode: 503")
    assert [path for path, _ in srv.requests] == ["/", "/broken"]


def test_an_absolute_redirect_to_the_same_host_is_followed(serve: Any) -> None:
    srv = serve(
        {"/": (301, {"Location": "http://127.0.0.1:PORT/ok?x=1"}, b""), "/ok?x=1": (200, {}, b"")}
    )
    assert _probe(srv.port) == (probes.SUCCESS, "")
    assert srv.requests[1][0] == "/ok?x=1"


def test_a_redirect_to_another_host_is_a_warning_with_the_body(serve: Any) -> None:
    srv = serve({"/": (302, {"Location": "http://example.invalid/"}, b"moved away")})
    assert _probe(srv.port) == (
        probes.WARNING,
        "Probe terminated redirects, Response body: moved away",
    )
    assert len(srv.requests) == 1


def test_a_redirect_status_without_location_is_a_warning(serve: Any) -> None:
    srv = serve({"/": (304, {}, b"")})
    assert _probe(srv.port)[0] == probes.WARNING


def test_ten_requests_at_most(serve: Any) -> None:
    srv = serve({"/": (302, {"Location": "/"}, b"")})
    outcome, message = _probe(srv.port)
    assert outcome == probes.FAILURE
    assert message == 'Get "/": stopped after 10 redirects'
    assert len(srv.requests) == 10


def test_headers_are_canonical_and_replace_the_defaults(serve: Any) -> None:
    srv = serve({"/b": (200, {}, b"")})
    headers = [
        {"name": "host", "value": "lower.example.com"},
        {"name": "user-agent", "value": "myua"},
        {"name": "x-multi", "value": "1"},
        {"name": "X-Multi", "value": "2"},
        {"name": "accept", "value": ""},
    ]
    assert _probe(srv.port, "/b", httpHeaders=headers) == (probes.SUCCESS, "")
    sent = srv.requests[0][1]
    names = [name for name, _ in sent]
    assert [v for n, v in sent if n == "Host"] == ["lower.example.com"]
    assert [v for n, v in sent if n == "User-Agent"] == ["myua"]
    assert [v for n, v in sent if n == "X-Multi"] == ["1", "2"]
    assert "Accept" not in names
    assert "host" not in names and "user-agent" not in names


def test_default_headers(serve: Any) -> None:
    srv = serve({"/": (200, {}, b"")})
    _probe(srv.port)
    sent = dict(srv.requests[0][1])
    assert sent["Host"] == f"127.0.0.1:{srv.port}"
    assert sent["User-Agent"] == "kube-probe/1.32"
    assert sent["Accept"] == "*/*"


def test_a_custom_host_survives_a_relative_redirect_only(serve: Any) -> None:
    srv = serve(
        {
            "/": (302, {"Location": "/next"}, b""),
            "/next": (302, {"Location": "http://127.0.0.1:PORT/last"}, b""),
            "/last": (200, {}, b""),
        }
    )
    host = [{"name": "Host", "value": "app.example"}]
    assert _probe(srv.port, httpHeaders=host) == (probes.SUCCESS, "")
    hosts = [dict(headers)["Host"] for _, headers in srv.requests]
    assert hosts == ["app.example", "app.example", f"127.0.0.1:{srv.port}"]


def test_hooks_send_their_own_agent_and_ignore_the_status(serve: Any) -> None:
    srv = serve({"/stop": (500, {}, b"boom")})
    action = {"port": srv.port, "path": "/stop"}
    assert asyncio.run(probes.http_hook(action, {}, "127.0.0.1", 2)) == ("", "")
    assert dict(srv.requests[0][1])["User-Agent"] == "kube-lifecycle/1.32"


def test_a_hook_that_cannot_connect_fails(serve: Any) -> None:
    srv = serve({})
    port = srv.port
    srv.httpd.shutdown()
    srv.httpd.server_close()
    failure, _ = asyncio.run(probes.http_hook({"port": port}, {}, "127.0.0.1", 2))
    assert (
        failure
        == f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused'
    )


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("user-agent", "User-Agent"), ("X-MULTI", "X-Multi"), ("host", "Host"), ("a b", "a b")],
)
def test_canonical_key(name: str, canonical: str) -> None:
    assert probes.canonical_key(name) == canonical


def test_an_https_probe_answered_in_plain_http_reads_as_gos_error(serve: Any) -> None:
    srv = serve({"/": (200, {}, b"")})
    outcome, message = _probe(srv.port, scheme="HTTPS")
    assert outcome == probes.FAILURE
    assert message == (
        f'Get "https://127.0.0.1:{srv.port}/": http: server gave HTTP response to HTTPS client'
    )


def test_an_https_hook_answered_in_plain_http_falls_back(serve: Any) -> None:
    srv = serve({"/stop": (200, {}, b"")})
    action = {
        "port": srv.port,
        "path": "/stop",
        "scheme": "HTTPS",
        "httpHeaders": [
            {"name": "authorization", "value": "Bearer x"},
            {"name": "X", "value": "y"},
        ],
    }
    failure, fell_back = asyncio.run(probes.http_hook(action, {}, "127.0.0.1", 2))
    assert (failure, fell_back) == ("", f"127.0.0.1:{srv.port}")
    sent = dict(srv.requests[-1][1])
    assert sent["X"] == "y" and "Authorization" not in sent
