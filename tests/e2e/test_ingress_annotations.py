"""ingress-nginx annotations end to end: manifests written for ingress-nginx, served by kubelite.

Two echo pods (python:3.11 behind Services `stable` and `preview`) answer any
method with their name, the request line's target and the headers they saw
(a path under `/slow` answers only after a long pause); Ingresses carrying
`nginx.ingress.kubernetes.io/*` annotations are applied with the real
kubectl and requested through the ingress listener, redirects not followed.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any

import pytest
from tests.e2e.echo_app import echo_app
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

PREFIX = "nginx.ingress.kubernetes.io/"

APP = """
import http.server, json, os, time
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/slow"):
            time.sleep(30)
        body = json.dumps({"who": os.environ["WHO"], "path": self.path, "method": self.command,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_OPTIONS = answer
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), Echo).serve_forever()
"""


def app(name: str) -> list[dict[str, Any]]:
    return echo_app(name, APP)


def ingress(
    name: str, host: str, *paths: tuple[str, str, str], tls: bool = False, **annotations: str
) -> dict[str, Any]:
    """(path, pathType, service) each; annotations by short name, `_` for `-`."""
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": path,
                            "pathType": kind,
                            "backend": {"service": {"name": svc, "port": {"number": 80}}},
                        }
                        for path, kind, svc in paths
                    ]
                },
            }
        ]
    }
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "missing-uses-default-cert"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "annotations": {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()},
        },
        "spec": spec,
    }


def request(
    base: str,
    host: str,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed: (status, headers in lower case, body)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=20)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def seen(base: str, host: str, path: str, **kw: Any) -> dict[str, Any] | None:
    status, _, body = request(base, host, path, **kw)
    return json.loads(body) if status == 200 else None


@pytest.fixture(scope="module")
def apps(cluster) -> str:  # type: ignore[no-untyped-def]
    cluster.kubectl("create", "namespace", "ann")
    for obj in app("stable") + app("preview"):
        cluster.kubectl("apply", "-n", "ann", "-f", "-", input=json.dumps(obj))
    for name in ("stable", "preview"):
        cluster.kubectl("rollout", "status", "-n", "ann", f"deploy/{name}", "--timeout=90s")
    return "ann"


def apply(cluster, namespace: str, *objs: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    for obj in objs:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def test_rewrite_target_with_capture_groups_and_regex_for_the_host(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    rewrite = ingress(
        "rewrite",
        "rw.local",
        ("/something(/|$)(.*)", "ImplementationSpecific", "stable"),
        use_regex="true",
        rewrite_target="/$2",
        x_forwarded_prefix="/something",
    )
    plain = ingress("plain", "rw.local", ("/other", "Prefix", "preview"))
    apply(cluster, apps, rewrite, plain)
    got = wait_for(lambda: seen(base, "rw.local", "/something/new?q=1"), "the rewrite")
    assert (got["who"], got["path"]) == ("stable", "/new?q=1")
    assert got["headers"]["x-forwarded-prefix"] == "/something"
    assert seen(base, "rw.local", "/something")["path"] == "/"  # type: ignore[index]
    # The plain Ingress on the same host has regex paths now: any case, as a prefix.
    other = seen(base, "rw.local", "/OTHERS/x")
    assert other is not None and (other["who"], other["path"]) == ("preview", "/OTHERS/x")


def test_redirects(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base, https = cluster.status["ingress"], cluster.status["ingressHttps"]
    tls_port = urllib.parse.urlsplit(https).port
    apply(
        cluster,
        apps,
        ingress("root", "root.local", ("/", "Prefix", "stable"), app_root="/app"),
        ingress(
            "moved",
            "moved.local",
            ("/", "Prefix", "stable"),
            permanent_redirect="https://example.com/new",
            permanent_redirect_code="308",
        ),
        ingress(
            "temp",
            "temp.local",
            ("/", "Prefix", "stable"),
            temporal_redirect="http://example.com/t",
        ),
        ingress("secure", "secure.local", ("/", "Prefix", "stable"), tls=True, ssl_redirect="true"),
        ingress("tlsonly", "tlsonly.local", ("/", "Prefix", "stable"), tls=True),
        ingress("forced", "forced.local", ("/", "Prefix", "stable"), force_ssl_redirect="true"),
    )
    status, headers, _ = wait_for(
        lambda: (r := request(base, "root.local", "/"))[0] == 302 and r, "app-root"
    )
    assert headers["location"] == "http://root.local/app"
    assert seen(base, "root.local", "/app")["path"] == "/app"  # type: ignore[index]
    status, headers, _ = request(base, "moved.local", "/anything")
    assert (status, headers["location"]) == (308, "https://example.com/new")
    status, headers, _ = request(base, "temp.local", "/")
    assert (status, headers["location"]) == (302, "http://example.com/t")
    status, headers, _ = request(base, "secure.local", "/a/b?x=1")
    assert (status, headers["location"]) == (308, f"https://secure.local:{tls_port}/a/b?x=1")
    status, headers, _ = request(base, "forced.local", "/")
    assert (status, headers["location"]) == (308, f"https://forced.local:{tls_port}")
    # kubelite's default: a TLS Ingress without the annotation still answers over HTTP.
    assert seen(base, "tlsonly.local", "/plain") is not None


def test_cors_allowlist_and_body_size(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    apply(
        cluster,
        apps,
        ingress(
            "cors",
            "cors.local",
            ("/", "Prefix", "stable"),
            enable_cors="true",
            cors_allow_origin="https://app.example.com",
            cors_allow_methods="GET, POST",
            proxy_body_size="1k",
        ),
        ingress(
            "closed", "closed.local", ("/", "Prefix", "stable"), allowlist_source_range="10.0.0.0/8"
        ),
        ingress(
            "open", "open.local", ("/", "Prefix", "stable"), whitelist_source_range="127.0.0.0/8"
        ),
    )
    origin = {"Origin": "https://app.example.com"}
    status, headers, body = wait_for(
        lambda: (
            (r := request(base, "cors.local", "/", method="OPTIONS", headers=origin))[0] == 204
            and r
        ),
        "the CORS preflight",
    )
    assert body == b""
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "GET, POST"
    assert headers["access-control-allow-credentials"] == "true"
    status, headers, _ = request(base, "cors.local", "/", headers=origin)
    assert status == 200 and headers["access-control-allow-origin"] == "https://app.example.com"
    status, _, _ = request(base, "cors.local", "/", method="POST", body=b"x" * 2048)
    assert status == 413
    assert seen(base, "cors.local", "/", method="POST", body=b"x" * 512) is not None
    assert request(base, "closed.local", "/")[0] == 403
    assert seen(base, "open.local", "/") is not None


def test_read_timeout_is_a_504(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    apply(
        cluster,
        apps,
        ingress("slow", "slow.local", ("/", "Prefix", "stable"), proxy_read_timeout="1"),
    )
    wait_for(lambda: seen(base, "slow.local", "/fast"), "the slow Ingress")
    status, _, body = request(base, "slow.local", "/slow")
    assert status == 504 and b"did not answer in time" in body


def test_canary_by_header_and_weight(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    apply(cluster, apps, ingress("main", "canary.local", ("/", "Prefix", "stable")))
    canary = ingress(
        "main-canary",
        "canary.local",
        ("/", "Prefix", "preview"),
        canary="true",
        canary_by_header="X-Canary",
        canary_weight="0",
    )
    apply(cluster, apps, canary)
    always = {"X-Canary": "always"}
    wait_for(
        lambda: (s := seen(base, "canary.local", "/", headers=always)) and s["who"] == "preview",
        "the canary by header",
    )
    assert {seen(base, "canary.local", "/")["who"] for _ in range(5)} == {"stable"}  # type: ignore[index]
    canary["metadata"]["annotations"][PREFIX + "canary-weight"] = "100"
    apply(cluster, apps, canary)
    wait_for(lambda: (s := seen(base, "canary.local", "/")) and s["who"] == "preview", "weight 100")
    never = {"X-Canary": "never"}
    assert seen(base, "canary.local", "/", headers=never)["who"] == "stable"  # type: ignore[index]


def test_invalid_annotation_is_a_warning_event(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    apply(
        cluster,
        apps,
        ingress(
            "odd",
            "odd.local",
            ("/", "Prefix", "stable"),
            proxy_body_size="lots",
            some_unknown_annotation="x",
        ),
    )
    # The annotation is ignored: the Ingress still serves, without a limit.
    wait_for(lambda: seen(base, "odd.local", "/", method="POST", body=b"x" * 4096), "odd.local")

    def events() -> list[dict[str, Any]] | None:
        out = cluster.kubectl_json(
            "get", "events", "-n", apps, "--field-selector", "involvedObject.name=odd"
        )["items"]
        return out or None

    (event,) = wait_for(events, "the Warning Event")
    assert (event["type"], event["reason"]) == ("Warning", "InvalidAnnotation")
    assert event["involvedObject"]["kind"] == "Ingress"
    assert event["message"].startswith(PREFIX + "proxy-body-size:")
    assert '"lots"' in event["message"] and "unknown" not in event["message"]


def test_resource_backend_says_why(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    obj = ingress("bucket", "bucket.local", ("/", "Prefix", "stable"))
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "assets"}
    }
    apply(cluster, apps, obj)
    status, _, body = wait_for(
        lambda: (r := request(base, "bucket.local", "/"))[0] != 404 and r, "the resource rule"
    )
    assert status == 503 and b"resource backend" in body and b"StorageBucket/assets" in body


def test_the_client_cannot_claim_its_address_or_scheme(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    # ingress-nginx's default use-forwarded-headers: false: X-Forwarded-* from the client
    # neither open an allowlist nor skip ssl-redirect, and the pod sees the real peer.
    base = cluster.status["ingress"]
    apply(
        cluster,
        apps,
        ingress(
            "xff-closed",
            "xff-closed.local",
            ("/", "Prefix", "stable"),
            whitelist_source_range="10.0.0.0/8",
        ),
        ingress(
            "xff-secure",
            "xff-secure.local",
            ("/", "Prefix", "stable"),
            tls=True,
            ssl_redirect="true",
        ),
        ingress("xff-open", "xff-open.local", ("/", "Prefix", "stable")),
    )
    spoof = {"X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9", "X-Forwarded-Proto": "https"}
    got = wait_for(lambda: seen(base, "xff-open.local", "/", headers=spoof), "the open Ingress")
    assert got["headers"]["x-forwarded-for"] == got["headers"]["x-real-ip"] == "127.0.0.1"
    assert got["headers"]["x-forwarded-proto"] == "http"
    wait_for(lambda: request(base, "xff-closed.local", "/")[0] == 403, "the allowlist")
    assert request(base, "xff-closed.local", "/", headers=spoof)[0] == 403
    wait_for(lambda: request(base, "xff-secure.local", "/")[0] == 308, "the redirect")
    assert request(base, "xff-secure.local", "/", headers=spoof)[0] == 308


def test_paths_are_normalised_before_matching(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    # nginx matches locations on the URI with `//` merged and `.`/`..` resolved, so the
    # allowlist on /admin cannot be walked around; the pod gets the target as sent.
    base = cluster.status["ingress"]
    apply(
        cluster,
        apps,
        ingress(
            "acl-admin",
            "acl.local",
            ("/admin", "Prefix", "stable"),
            whitelist_source_range="10.0.0.0/8",
        ),
        ingress("acl-pub", "acl.local", ("/", "Prefix", "preview")),
    )
    wait_for(lambda: request(base, "acl.local", "/admin/secret")[0] == 403, "the allowlist")
    for path in ("/pub/../admin/secret", "//admin/secret", "/./admin/secret", "/pub/%2e%2e/admin"):
        assert request(base, "acl.local", path)[0] == 403, path
    got = seen(base, "acl.local", "/pub/./x/../y")
    assert got is not None and got["who"] == "preview" and got["path"] == "/pub/./x/../y"
    assert request(base, "acl.local", "/../etc/passwd")[0] == 400


def test_a_headless_service_is_a_backend(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "stable-headless"},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": "stable"},
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
        },
    }
    ing = ingress("headless", "headless.local", ("/", "Prefix", "stable-headless"))
    apply(cluster, apps, headless, ing)
    got = wait_for(lambda: seen(base, "headless.local", "/h"), "the headless backend")
    assert got["who"] == "stable"


def raw(base: str, request_bytes: bytes) -> bytes:
    """One request written as is; the status line of the answer."""
    url = urllib.parse.urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=20) as s:
        s.sendall(request_bytes)
        data = b""
        while b"\r\n" not in data and (chunk := s.recv(65536)):
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_hosts_as_nginx_reads_them(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    apply(cluster, apps, ingress("abs", "abs.local", ("/", "Prefix", "stable")))
    wait_for(lambda: seen(base, "abs.local", "/"), "the Ingress")
    # a fully qualified name's trailing dot is dropped
    assert seen(base, "abs.local.", "/") is not None
    # an absolute-form target's host wins over the Host header (RFC 9112 3.2.2)
    absolute = b"GET http://abs.local/x HTTP/1.1\r\nHost: other.local\r\nConnection: close\r\n\r\n"
    assert raw(base, absolute).startswith(b"HTTP/1.1 200")
    # HTTP/1.1 without Host: 400 (RFC 9112 3.2)
    assert raw(base, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 400")
