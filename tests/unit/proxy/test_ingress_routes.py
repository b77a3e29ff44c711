"""The ingress routing table, endpoint choice, status and headers: pure, no processes."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.proxy.ingress.endpoints import Endpoints
from kubelite.proxy.ingress.forwarding import (
    forwarded_headers,
    response_headers,
    strip_hop_by_hop,
)
from kubelite.proxy.ingress.routes import (
    Backend,
    RouteTable,
    is_served,
    normalize_path,
    request_host,
    served_classes,
)
from kubelite.proxy.ingress.status import status_change
from kubelite.proxy.servicemap import Endpoint, service_ports


def path(p: str, svc: str, *, kind: str = "Prefix", port: int | str = 80) -> dict[str, Any]:
    key = "name" if isinstance(port, str) else "number"
    return {
        "path": p,
        "pathType": kind,
        "backend": {"service": {"name": svc, "port": {key: port}}},
    }


def ingress(
    name: str,
    *rules: tuple[str, list[dict[str, Any]]],
    created: str = "2025-01-01T00:00:00Z",
    default: str | None = None,
    namespace: str = "default",
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "rules": [{**({"host": h} if h else {}), "http": {"paths": ps}} for h, ps in rules],
        **spec,
    }
    if default:
        body["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": body,
    }


def routed(table: RouteTable, host: str, url_path: str) -> str | None:
    backend = table.backend_for(host, url_path)
    return backend.service if backend is not None else None


# ---- host and path precedence ------------------------------------------------------------

TABLE = RouteTable(
    [
        ingress(
            "site",
            (
                "foo.com",
                [path("/", "root"), path("/api", "api"), path("/api", "api-exact", kind="Exact")],
            ),
            ("foo.com", [path("/api/v2", "v2"), path("/static/", "static")]),
            ("*.bar.com", [path("/", "wild")]),
            ("", [path("/any", "anyhost"), path("/img", "img", kind="ImplementationSpecific")]),
        ),
    ]
)


@pytest.mark.parametrize(
    ("host", "url_path", "expected"),
    [
        ("foo.com", "/", "root"),
        ("foo.com", "/api", "api-exact"),  # Exact beats Prefix of the same length
        ("foo.com", "/api/", "api"),  # ... but only the exact string
        ("foo.com", "/api/users", "api"),
        ("foo.com", "/api/v2/x", "v2"),  # the longest matching path wins
        ("foo.com", "/apix", "root"),  # Prefix matches whole elements only
        ("foo.com", "/static", "static"),  # a trailing / on the rule is ignored
        ("foo.com", "/staticfiles", "root"),
        ("FOO.com:8080", "/api/users", "api"),  # host case and port do not matter
        ("a.bar.com", "/x", "wild"),  # a wildcard covers one label
        ("a.b.bar.com", "/any", "anyhost"),  # ... not two
        ("bar.com", "/any", "anyhost"),  # ... and not the bare domain
        ("other.org", "/img/1.png", "img"),  # ImplementationSpecific reads as Prefix
        ("other.org", "/", None),  # nothing matches and no default backend
        ("foo.com", "/any", "root"),  # a host's own rules come first
    ],
)
def test_host_and_path_precedence(host: str, url_path: str, expected: str | None) -> None:
    assert routed(TABLE, host, url_path) == expected


def test_host_group_without_a_matching_path_falls_through_to_hostless_rules() -> None:
    table = RouteTable(
        [ingress("x", ("foo.com", [path("/a", "only-a")]), ("", [path("/", "catch")]))]
    )
    assert routed(table, "foo.com", "/a/1") == "only-a"
    assert routed(table, "foo.com", "/b") == "catch"


def test_the_oldest_ingress_wins_a_tie_and_gives_the_default_backend() -> None:
    newer = ingress(
        "newer", ("foo.com", [path("/", "new")]), created="2025-02-01T00:00:00Z", default="d-new"
    )
    older = ingress(
        "older", ("foo.com", [path("/", "old")]), created="2025-01-01T00:00:00Z", default="d-old"
    )
    table = RouteTable([newer, older])
    assert routed(table, "foo.com", "/x") == "old"
    assert routed(table, "nomatch.org", "/x") == "d-old"


def test_default_backend_alone() -> None:
    table = RouteTable([ingress("d", default="fallback")])
    assert table.backend_for("anything", "/deep/path") == Backend("default", "fallback", 80)


def test_backends_are_namespaced_and_keep_port_names() -> None:
    table = RouteTable(
        [ingress("n", ("", [path("/", "web", port="http")]), namespace="shop", default="d")]
    )
    assert table.backends() == {Backend("shop", "web", "http"), Backend("shop", "d", 80)}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Foo.COM", "foo.com"),
        ("foo.com:80", "foo.com"),
        ("[::1]:8080", "[::1]"),
        ("", ""),
        ("foo.com.", "foo.com"),  # nginx drops the trailing dot of a fully qualified name
        ("foo.com.:8080", "foo.com"),
    ],
)
def test_request_host(header: str, expected: str) -> None:
    assert request_host(header) == expected


# ---- which Ingresses are ours ------------------------------------------------------------


def test_served_by_class_name_or_deprecated_annotation() -> None:
    classes = served_classes(
        [
            {"metadata": {"name": "kubelite"}, "spec": {"controller": "kubelite.io/ingress"}},
            {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}},
        ],
        "kubelite.io/ingress",
    )
    assert classes == {"kubelite"}
    assert is_served(ingress("a", ingressClassName="kubelite"), classes)
    assert not is_served(ingress("b", ingressClassName="nginx"), classes)
    annotated = ingress("c")
    annotated["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "kubelite"}
    assert is_served(annotated, classes)
    assert not is_served(ingress("d"), classes)  # no class at all: not ours


# ---- endpoints ---------------------------------------------------------------------------


def service(name: str, *ports: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": "127.96.0.10", "ports": list(ports)},
    }


def endpoint_slice(name: str, port_name: str, port: int, *ips: tuple[str, bool]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{name}-abc",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in ips],
    }


def test_backend_port_by_number_or_name_resolves_ready_endpoints_round_robin() -> None:
    ports = service_ports(
        [service("web", {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"})],
        [
            endpoint_slice(
                "web",
                "http",
                8080,
                ("127.244.0.2", True),
                ("127.244.0.3", True),
                ("127.244.0.4", False),
            )
        ],
    )
    endpoints = Endpoints()
    by_number, by_name = Backend("default", "web", 80), Backend("default", "web", "http")
    endpoints.update([by_number, by_name], ports)
    picks = [endpoints.pick(by_number) for _ in range(4)]
    # the not-ready pod is never chosen; the two ready ones alternate
    assert picks == [
        Endpoint("127.244.0.2", 8080),
        Endpoint("127.244.0.3", 8080),
        Endpoint("127.244.0.2", 8080),
        Endpoint("127.244.0.3", 8080),
    ]
    assert endpoints.of(by_name) == (Endpoint("127.244.0.2", 8080), Endpoint("127.244.0.3", 8080))


def test_no_ready_endpoint_wrong_port_or_missing_service_picks_nothing() -> None:
    ports = service_ports(
        [service("web", {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"})],
        [endpoint_slice("web", "http", 8080, ("127.244.0.2", False))],
    )
    endpoints = Endpoints()
    backends = [
        Backend("default", "web", 80),
        Backend("default", "web", 81),
        Backend("default", "gone", 80),
        Backend("other", "web", 80),
    ]
    endpoints.update(backends, ports)
    assert [endpoints.pick(b) for b in backends] == [None, None, None, None]


@pytest.mark.parametrize("cluster_ip", ["None", None], ids=["clusterIP-None", "no-clusterIP"])
def test_a_headless_service_is_a_backend(cluster_ip: str | None) -> None:
    # ingress-nginx routes to a Service's endpoints, never through its ClusterIP.
    svc = service("web", {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"})
    svc["spec"]["clusterIP"] = cluster_ip
    slices = [endpoint_slice("web", "http", 8080, ("127.244.0.2", True))]
    endpoints = Endpoints()
    backends = [Backend("default", "web", 80), Backend("default", "web", "http")]
    endpoints.update(backends, service_ports([svc], slices, headless=True))
    assert [endpoints.pick(b) for b in backends] == [Endpoint("127.244.0.2", 8080)] * 2
    assert service_ports([svc], slices) == []  # kube-proxy has no frontend for it


def test_rotation_survives_a_rebuild() -> None:
    svc = [service("web", {"name": "", "port": 80, "targetPort": 80, "protocol": "TCP"})]
    slices = [endpoint_slice("web", "", 80, ("127.244.0.2", True), ("127.244.0.3", True))]
    endpoints, backend = Endpoints(), Backend("default", "web", 80)
    endpoints.update([backend], service_ports(svc, slices))
    first = endpoints.pick(backend)
    endpoints.update([backend], service_ports(svc, slices))
    assert endpoints.pick(backend) != first


# ---- status ------------------------------------------------------------------------------


def test_status_written_once_with_port_when_not_80_and_cleared_when_not_ours() -> None:
    obj = ingress("s")
    want = status_change(obj, served=True, address="127.0.0.1", port=8080)
    assert want == {"ingress": [{"ip": "127.0.0.1", "ports": [{"port": 8080, "protocol": "TCP"}]}]}
    obj["status"] = {"loadBalancer": want}
    assert status_change(obj, served=True, address="127.0.0.1", port=8080) is None
    assert status_change(obj, served=False, address="127.0.0.1", port=8080) == {}
    assert status_change(ingress("t"), served=False, address="127.0.0.1", port=8080) is None
    assert status_change(ingress("u"), served=True, address="127.0.0.1", port=80) == {
        "ingress": [{"ip": "127.0.0.1"}]
    }


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/", "/"),
        ("/foo/bar", "/foo/bar"),
        ("//foo///bar", "/foo/bar"),
        ("/foo/./bar/", "/foo/bar/"),
        ("/foo/../exact", "/exact"),
        ("/a///b/../../c", "/c"),  # slashes merged first, as nginx
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/.hidden/..x/...", "/.hidden/..x/..."),  # only whole segments are dots
        ("/..", None),
        ("/a/../..", None),
    ],
)
def test_normalize_path(path: str, normal: str | None) -> None:
    assert normalize_path(path) == normal


# ---- headers -----------------------------------------------------------------------------


def test_forwarded_headers_keep_host_and_tracing_and_drop_hop_by_hop() -> None:
    headers = [
        (b"host", b"foo.com"),
        (b"connection", b"keep-alive, x-private"),
        (b"x-private", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"te", b"trailers"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (b"x-b3-traceid", b"80f198ee56343ba864fe8b2a57d3eff7"),
    ]
    out = forwarded_headers(headers, client_ip="127.0.0.9", scheme="http")
    assert out == [
        (b"host", b"foo.com"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (b"x-b3-traceid", b"80f198ee56343ba864fe8b2a57d3eff7"),
        (b"x-forwarded-for", b"127.0.0.9"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"foo.com"),
        (b"x-real-ip", b"127.0.0.9"),
    ]


def test_forwarded_headers_replace_what_the_client_claims() -> None:
    # ingress-nginx's default use-forwarded-headers: false: the client's X-Forwarded-*
    # and X-Real-IP are not trusted; the pod sees the peer and the connection's scheme.
    headers = [
        (b"host", b"foo.com"),
        (b"x-forwarded-for", b"10.9.9.9"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"evil.com"),
        (b"X-Real-IP", b"10.9.9.9"),
    ]
    out = forwarded_headers(headers, client_ip="127.0.0.1", scheme="http")
    assert out == [
        (b"host", b"foo.com"),
        (b"x-forwarded-for", b"127.0.0.1"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"foo.com"),
        (b"x-real-ip", b"127.0.0.1"),
    ]


def test_response_headers_drop_hop_by_hop_and_the_pods_date_and_server() -> None:
    headers = [
        (b"Content-Length", b"3"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Server", b"BaseHTTP"),
        (b"Date", b"Mon"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]
    assert response_headers(headers) == [
        (b"Content-Length", b"3"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]
    assert strip_hop_by_hop([(b"Upgrade", b"h2c"), (b"Accept", b"*/*")]) == [(b"Accept", b"*/*")]
