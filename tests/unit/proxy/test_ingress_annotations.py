"""ingress-nginx annotations: parsing, their effect on routing, and on requests (in process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.proxy.ingress.annotations import PREFIX, parse, problems_of
from kubelite.proxy.ingress.endpoints import Endpoints
from kubelite.proxy.ingress.forwarding import IngressApp
from kubelite.proxy.ingress.policy import https_location, rewritten, wants_canary
from kubelite.proxy.ingress.routes import Backend, RegexRoute, RouteTable
from kubelite.proxy.servicemap import Endpoint, ServicePort


def ingress(
    name: str,
    *paths: tuple[str, str, str],
    host: str = "foo.com",
    created: str = "2025-01-01T00:00:00Z",
    **annotations: str,
) -> dict[str, Any]:
    """An Ingress with one rule; `paths` are (path, pathType, service); annotations by
    their short name with `_` for `-`."""
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": created,
            "annotations": {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()},
        },
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": p,
                                "pathType": kind,
                                "backend": {"service": {"name": svc, "port": {"number": 80}}},
                            }
                            for p, kind, svc in paths
                        ]
                    },
                }
            ]
        },
    }


# ---- parsing -----------------------------------------------------------------------------


def test_no_known_annotation_means_no_policy() -> None:
    plain = ingress("a", ("/", "Prefix", "web"))
    plain["metadata"]["annotations"]["example.com/other"] = "x"
    plain["metadata"]["annotations"][PREFIX + "configuration-snippet"] = "x"  # not ours: ignored
    assert parse(plain).policy is None
    assert problems_of(plain) == []


@pytest.mark.parametrize(
    ("annotations", "field", "value"),
    [
        ({"proxy_body_size": "8m"}, "body_limit", 8 * 1024 * 1024),
        ({"proxy_body_size": "512k"}, "body_limit", 512 * 1024),
        ({"proxy_body_size": "0"}, "body_limit", None),  # 0: unlimited
        ({"proxy_read_timeout": "3"}, "read_timeout", 3.0),
        ({"backend_protocol": "https"}, "protocol", "HTTPS"),
        ({"permanent_redirect": "https://a.example/"}, "redirect_code", 301),
        (
            {"permanent_redirect": "https://a.example/", "permanent_redirect_code": "308"},
            "redirect_code",
            308,
        ),
        ({"temporal_redirect": "https://a.example/"}, "redirect_code", 302),
        ({"whitelist_source_range": "10.0.0.0/8, 127.0.0.1"}, "allow", None),
    ],
    ids=["8m", "512k", "zero", "read-timeout", "https", "301", "308", "302", "allowlist"],
)
def test_values(annotations: dict[str, str], field: str, value: Any) -> None:
    policy = parse(ingress("a", ("/", "Prefix", "web"), **annotations)).policy
    assert policy is not None
    if field == "allow":
        assert [str(n) for n in policy.allow or ()] == ["10.0.0.0/8", "127.0.0.1/32"]
    else:
        assert getattr(policy, field) == value


@pytest.mark.parametrize(
    ("annotations", "name"),
    [
        ({"proxy_body_size": "lots"}, "proxy-body-size"),
        ({"proxy_read_timeout": "soon"}, "proxy-read-timeout"),
        ({"backend_protocol": "SPDY"}, "backend-protocol"),
        ({"enable_cors": "yes"}, "enable-cors"),
        ({"permanent_redirect": "ftp://x"}, "permanent-redirect"),
        ({"app_root": "app"}, "app-root"),
        ({"canary_weight": "10"}, "canary"),
    ],
)
def test_invalid_values_are_ignored_and_reported(annotations: dict[str, str], name: str) -> None:
    obj = ingress("a", ("/", "Prefix", "web"), **annotations)
    policy = parse(obj).policy
    assert policy is not None
    assert (policy.body_limit, policy.read_timeout, policy.protocol) == (None, None, "HTTP")
    assert (policy.cors, policy.redirect_url, policy.app_root, policy.canary) == (
        None,
        "",
        "",
        None,
    )
    assert [n for n, _ in problems_of(obj)] == [name]


def test_grpc_is_reported_unsupported() -> None:
    obj = ingress("a", ("/", "Prefix", "web"), backend_protocol="GRPC")
    assert [(n, "not supported" in why) for n, why in problems_of(obj)] == [
        ("backend-protocol", True)
    ]


def test_custom_http_errors_is_reported_unsupported() -> None:
    obj = ingress("a", ("/", "Prefix", "web"), custom_http_errors="404,503")
    assert parse(obj).policy is None  # nothing changes for its requests
    assert [n for n, _ in problems_of(obj)] == ["custom-http-errors"]


def test_an_unreadable_allowlist_denies_everything() -> None:
    obj = ingress("a", ("/", "Prefix", "web"), allowlist_source_range="10.0.0.0/8,nope")
    policy = parse(obj).policy
    assert policy is not None and policy.allow is None and "nope" in policy.denied


# ---- routing ------------------------------------------------------------------------------


def test_regex_paths_for_the_whole_host_and_longest_first() -> None:
    regex = ingress(
        "r",
        ("/api(/|$)(.*)", "ImplementationSpecific", "api"),
        use_regex="true",
        rewrite_target="/$2",
    )
    plain = ingress(
        "p", ("/exact", "Exact", "exact"), ("/", "Prefix", "web"), created="2025-01-02T00:00:00Z"
    )
    other = ingress("o", ("/exact", "Exact", "other"), host="bar.com")
    table = RouteTable([regex, plain, other])
    assert all(isinstance(r, RegexRoute) for r in table.exact["foo.com"])
    assert not any(isinstance(r, RegexRoute) for r in table.exact["bar.com"])
    assert table.backend_for("foo.com", "/API/v1") == Backend("default", "api", 80)  # any case
    assert table.backend_for("foo.com", "/exact/more") == Backend(
        "default", "exact", 80
    )  # prefix now
    assert table.backend_for("foo.com", "/apix") == Backend("default", "web", 80)  # (/|$) fails
    assert table.backend_for("foo.com", "/else") == Backend("default", "web", 80)
    assert table.backend_for("bar.com", "/exact/more") is None  # another host: Exact still


def test_app_root_reaches_every_route_of_the_host() -> None:
    table = RouteTable(
        [
            ingress("a", ("/", "Prefix", "web"), app_root="/app"),
            ingress("b", ("/x", "Prefix", "x")),
        ]
    )
    policies = [r.policy for r in table.exact["foo.com"]]
    assert [p.app_root if p else None for p in policies] == ["/app", "/app"]


def test_ssl_redirect_only_for_hosts_with_a_certificate() -> None:
    obj = ingress("a", ("/", "Prefix", "web"), ssl_redirect="true")
    with_tls = RouteTable([obj], tls_host=lambda h: h == "foo.com").exact["foo.com"][0].policy
    without = RouteTable([obj]).exact["foo.com"][0].policy
    forced = RouteTable([ingress("f", ("/", "Prefix", "web"), force_ssl_redirect="true")])
    assert with_tls is not None and with_tls.https_redirect
    assert without is not None and not without.https_redirect
    assert forced.exact["foo.com"][0].policy.https_redirect  # type: ignore[union-attr]


def test_a_canary_joins_the_route_of_the_same_host_and_path() -> None:
    main = ingress("main", ("/", "Prefix", "stable"))
    canary = ingress(
        "canary",
        ("/", "Prefix", "preview"),
        canary="true",
        canary_weight="30",
        created="2025-02-01T00:00:00Z",
    )
    table = RouteTable([main, canary])
    (route,) = table.exact["foo.com"]
    assert route.backend == Backend("default", "stable", 80)
    assert route.policy is not None
    ((alternative, config),) = route.policy.alternatives
    assert alternative == Backend("default", "preview", 80) and config.weight == 30
    assert Backend("default", "preview", 80) in table.backends()


@pytest.mark.parametrize(
    ("annotations", "headers", "expected"),
    [
        ({"canary_by_header": "X-Canary"}, [(b"x-canary", b"always")], True),
        ({"canary_by_header": "X-Canary"}, [(b"x-canary", b"never")], False),
        (
            {"canary_by_header": "X-Canary", "canary_weight": "100"},
            [(b"x-canary", b"never")],
            False,
        ),
        (
            {"canary_by_header": "X-Canary", "canary_by_header_value": "v2"},
            [(b"x-canary", b"v2")],
            True,
        ),
        (
            {"canary_by_header": "X-Canary", "canary_by_header_value": "v2"},
            [(b"x-canary", b"v1")],
            False,
        ),
        ({"canary_by_cookie": "beta"}, [(b"cookie", b"a=1; beta=always")], True),
        ({"canary_by_cookie": "beta", "canary_weight": "100"}, [(b"cookie", b"beta=never")], False),
        ({"canary_weight": "100"}, [], True),  # random(1..100) <= 100
        ({"canary_weight": "0"}, [], False),
    ],
)
def test_canary_choice(
    annotations: dict[str, str], headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    policy = parse(ingress("c", ("/", "Prefix", "x"), canary="true", **annotations)).policy
    assert policy is not None and policy.canary is not None
    assert wants_canary(policy.canary, headers) is expected


@pytest.mark.parametrize(
    ("path", "target", "request_path", "expected"),
    [
        ("/something(/|$)(.*)", "/$2", "/something/new", b"/new"),
        ("/something(/|$)(.*)", "/$2", "/something", b"/"),
        ("/foo", "/", "/foo/bar", b"/"),  # the whole path is replaced, as nginx's rewrite
        ("/foo", "/bar/$1", "/foo", b"/bar/"),  # a group that does not exist is empty
        ("/foo", "/foo", "/foo/x", None),  # target equals path: no rewrite
        ("/a(.*)", "/b$1", "/A%20x", b"/b%20x"),  # any case; decoded then escaped again
    ],
)
def test_rewrite(path: str, target: str, request_path: str, expected: bytes | None) -> None:
    table = RouteTable(
        [ingress("r", (path, "ImplementationSpecific", "web"), rewrite_target=target)]
    )
    route = table.exact["foo.com"][0]
    decoded = request_path.replace("%20", " ")
    assert rewritten(route, {"path": decoded, "query_string": b""}) == expected


def test_rewrite_keeps_the_query() -> None:
    table = RouteTable([ingress("r", ("/v1(/|$)(.*)", "Prefix", "web"), rewrite_target="/$2")])
    route = table.exact["foo.com"][0]
    assert rewritten(route, {"path": "/v1/items", "query_string": b"q=1"}) == b"/items?q=1"


@pytest.mark.parametrize(
    ("host", "path", "query", "port", "expected"),
    [
        ("foo.com", "/a/b", b"", 443, "https://foo.com/a/b"),
        ("foo.com:8080", "/a/", b"", 8443, "https://foo.com:8443/a"),  # no trailing slash
        ("foo.com", "/", b"x=1", 8443, "https://foo.com:8443/?x=1"),
    ],
)
def test_https_location(host: str, path: str, query: bytes, port: int, expected: str) -> None:
    scope = {"path": path, "raw_path": path.encode(), "query_string": query}
    assert https_location(scope, host, port) == expected


# ---- requests through the app ---------------------------------------------------------------


class Pod:
    """Answers each request with its request line, its headers and the body size."""

    def __init__(self, *, silent: bool = False) -> None:
        self.heads: list[bytes] = []
        self.silent = silent

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                lower = head.lower()
                if b"content-length:" in lower:
                    await reader.readexactly(
                        int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                    )
                if self.silent:
                    await asyncio.sleep(3600)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pod: 1\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def start(pod: Pod) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(pod.serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def app_with(
    objs: list[dict[str, Any]], ports: dict[str, int], *, tls_port: int | None = None
) -> IngressApp:
    app = IngressApp(tls_port=lambda: tls_port)
    app.table = RouteTable(objs, tls_host=lambda h: True)
    app.endpoints = Endpoints()
    app.endpoints.update(
        app.table.backends(),
        [
            ServicePort(
                "default",
                svc,
                "",
                "TCP",
                "127.96.0.9",
                80,
                endpoints=(Endpoint("127.0.0.1", port),),
            )
            for svc, port in ports.items()
        ],
    )
    return app


async def call(
    app: IngressApp,
    path: str,
    *,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    body: list[bytes] | None = None,
    client: str = "127.0.0.5",
    scheme: str = "http",
    query: bytes = b"",
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []
    parts = list(body or [b""])
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"foo.com"), *headers],
        "client": (client, 5555),
        "scheme": scheme,
    }
    await app(scope, receive, send)
    return (
        sent[0]["status"],
        {k.lower(): v for k, v in sent[0]["headers"]},
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


@pytest.fixture
async def pod() -> AsyncIterator[tuple[Pod, int]]:
    p = Pod()
    server, port = await start(p)
    yield p, port
    server.close()


@pytest.mark.anyio
async def test_plain_route_has_no_policy_and_forwards(pod: tuple[Pod, int]) -> None:
    p, port = pod
    app = app_with([ingress("a", ("/", "Prefix", "web"))], {"web": port})
    assert app.table.exact["foo.com"][0].policy is None
    assert (await call(app, "/x"))[0] == 200
    assert p.heads[0].startswith(b"GET /x HTTP/1.1")


@pytest.mark.anyio
async def test_rewrite_prefix_and_vhost_reach_the_pod(pod: tuple[Pod, int]) -> None:
    p, port = pod
    obj = ingress(
        "a",
        ("/api(/|$)(.*)", "ImplementationSpecific", "web"),
        rewrite_target="/$2",
        x_forwarded_prefix="/api",
        upstream_vhost="internal.svc",
    )
    app = app_with([obj], {"web": port})
    status, _, _ = await call(app, "/api/items", query=b"page=2")
    assert status == 200
    head = p.heads[0]
    assert head.startswith(b"GET /items?page=2 HTTP/1.1")
    assert b"host: internal.svc\r\n" in head and b"x-forwarded-host: foo.com\r\n" in head
    assert b"x-forwarded-prefix: /api\r\n" in head


@pytest.mark.anyio
async def test_redirects_and_refusals(pod: tuple[Pod, int]) -> None:
    _, port = pod
    root = app_with([ingress("a", ("/", "Prefix", "web"), app_root="/app")], {"web": port})
    status, headers, _ = await call(root, "/")
    assert (status, headers[b"location"]) == (302, b"http://foo.com/app")
    assert (await call(root, "/other"))[0] == 200

    moved = app_with(
        [
            ingress(
                "a",
                ("/", "Prefix", "web"),
                permanent_redirect="https://new.example/",
                permanent_redirect_code="308",
            )
        ],
        {"web": port},
    )
    status, headers, _ = await call(moved, "/x")
    assert (status, headers[b"location"]) == (308, b"https://new.example/")

    secure = app_with(
        [ingress("a", ("/", "Prefix", "web"), ssl_redirect="true")], {"web": port}, tls_port=8443
    )
    status, headers, _ = await call(secure, "/x/", query=b"a=1")
    assert (status, headers[b"location"]) == (308, b"https://foo.com:8443/x/?a=1")
    assert (await call(secure, "/x", scheme="https"))[0] == 200

    allow = app_with(
        [ingress("a", ("/", "Prefix", "web"), whitelist_source_range="10.0.0.0/8")], {"web": port}
    )
    assert (await call(allow, "/"))[0] == 403
    assert (await call(allow, "/", client="10.1.2.3"))[0] == 200


@pytest.mark.anyio
async def test_cors_preflight_and_headers(pod: tuple[Pod, int]) -> None:
    p, port = pod
    obj = ingress(
        "a",
        ("/", "Prefix", "web"),
        enable_cors="true",
        cors_allow_origin="https://*.example.com, http://localhost:3000",
        cors_allow_credentials="false",
        cors_max_age="60",
        cors_expose_headers="X-Total",
    )
    app = app_with([obj], {"web": port})
    origin = [(b"origin", b"https://app.example.com")]
    status, headers, _ = await call(app, "/", method="OPTIONS", headers=origin)
    assert status == 204 and not p.heads  # answered by the ingress
    assert headers[b"access-control-allow-origin"] == b"https://app.example.com"
    assert headers[b"access-control-max-age"] == b"60"
    assert headers[b"access-control-allow-methods"] == b"GET, PUT, POST, DELETE, PATCH, OPTIONS"
    assert b"access-control-allow-credentials" not in headers
    status, headers, _ = await call(app, "/", headers=origin)
    assert status == 200 and headers[b"access-control-expose-headers"] == b"X-Total"
    status, headers, _ = await call(
        app, "/", method="OPTIONS", headers=[(b"origin", b"https://evil.com")]
    )
    assert status == 200 and b"access-control-allow-origin" not in headers  # the pod answered


@pytest.mark.anyio
async def test_body_limit(pod: tuple[Pod, int]) -> None:
    p, port = pod
    app = app_with([ingress("a", ("/", "Prefix", "web"), proxy_body_size="1k")], {"web": port})
    big = [(b"content-length", b"2048")]
    assert (await call(app, "/", method="POST", headers=big, body=[b"x" * 2048]))[0] == 413
    chunked = [(b"transfer-encoding", b"chunked")]
    assert (await call(app, "/", method="POST", headers=chunked, body=[b"x" * 600, b"y" * 600]))[
        0
    ] == 413
    assert (await call(app, "/", method="POST", headers=chunked, body=[b"x" * 600, b"y" * 300]))[
        0
    ] == 200
    # the refused bodies never reached the pod (this pod reads no chunked body, so
    # the accepted one shows up as a second "head")
    assert [h[:6] for h in p.heads].count(b"POST /") == 1
    assert b"transfer-encoding: chunked" in p.heads[0]


@pytest.mark.anyio
async def test_read_timeout_answers_504() -> None:
    server, port = await start(Pod(silent=True))
    app = app_with([ingress("a", ("/", "Prefix", "web"), proxy_read_timeout="1")], {"web": port})
    status, _, body = await call(app, "/")
    assert status == 504 and b"did not answer in time" in body
    app.upstream.close()
    server.close()


@pytest.mark.anyio
async def test_canary_by_header_reaches_the_other_backend(pod: tuple[Pod, int]) -> None:
    p, port = pod
    other = Pod()
    server, other_port = await start(other)
    main = ingress("main", ("/", "Prefix", "web"))
    canary = ingress("c", ("/", "Prefix", "preview"), canary="true", canary_by_header="X-Canary")
    app = app_with([main, canary], {"web": port, "preview": other_port})
    assert (await call(app, "/", headers=[(b"x-canary", b"always")]))[0] == 200
    assert (await call(app, "/"))[0] == 200
    assert (len(other.heads), len(p.heads)) == (1, 1)
    server.close()


@pytest.mark.anyio
async def test_grpc_and_resource_backends_say_why() -> None:
    app = app_with([ingress("a", ("/", "Prefix", "web"), backend_protocol="GRPC")], {"web": 1})
    status, _, body = await call(app, "/")
    assert status == 502 and b"GRPC is not supported" in body
    obj = ingress("r", ("/", "Prefix", "web"))
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "assets"}
    }
    status, _, body = await call(app_with([obj], {}), "/")
    assert status == 503 and b"resource backend" in body and b"StorageBucket/assets" in body


def test_websocket_upgrades_take_the_rewrite_and_the_allowlist() -> None:
    from kubelite.proxy.ingress.policy import own_answer, websocket_upgrade
    from kubelite.proxy.ingress.websocket import upgrade_of

    obj = ingress(
        "ws",
        ("/ws(/|$)(.*)", "Prefix", "web"),
        rewrite_target="/$2",
        upstream_vhost="inner.svc",
        allowlist_source_range="10.0.0.0/8",
    )
    route = RouteTable([obj]).exact["foo.com"][0]
    assert route.policy is not None
    scope: dict[str, Any] = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/ws/chat",
        "raw_path": b"/ws/chat",
        "query_string": b"room=1",
        "headers": [(b"host", b"foo.com")],
        "client": ("10.0.0.1", 1234),
        "subprotocols": [],
    }
    upgrade = websocket_upgrade(route, scope, upgrade_of(scope))
    assert (upgrade.target, upgrade.host) == ("/chat?room=1", "inner.svc")
    assert own_answer(IngressApp(), route.policy, scope, scope["headers"]) is None
    scope["client"] = ("127.0.0.1", 1234)
    answer = own_answer(IngressApp(), route.policy, scope, scope["headers"])
    assert answer is not None and answer[0] == 403


@pytest.mark.anyio
async def test_backend_protocol_https_speaks_tls_without_verifying() -> None:
    from kubelite.proxy.ingress.tls import context_from_pem, self_signed_pem

    pod = Pod()
    server = await asyncio.start_server(
        pod.serve, "127.0.0.1", 0, ssl=context_from_pem(*self_signed_pem("pod"))
    )
    port = server.sockets[0].getsockname()[1]
    app = app_with([ingress("a", ("/", "Prefix", "web"), backend_protocol="HTTPS")], {"web": port})
    status, _, body = await call(app, "/secure")
    assert (status, body) == (200, b"ok")
    assert pod.heads[0].startswith(b"GET /secure HTTP/1.1")
    plain_app = app_with([ingress("a", ("/", "Prefix", "web"))], {"web": port})
    assert (await call(plain_app, "/"))[0] == 502  # plain HTTP to a TLS pod fails
    await app.aclose()
    server.close()
