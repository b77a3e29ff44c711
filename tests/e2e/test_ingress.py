"""Ingress end to end: the real kubectl, the default class, routing through the built-in controller.

Two small HTTP apps (python:3.11 pods behind Services) answer with their
name, the path and the headers they saw; Ingresses route to them by path and
by host through the ingress listener `kubelite status -o json` reports.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.echo_app import echo_app
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

APP = """
import http.server, json, os
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"who": os.environ["WHO"], "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), Echo).serve_forever()
"""


def app(name: str) -> list[dict[str, Any]]:
    return echo_app(name, APP, service_port_name="web")


def rule(host: str, *paths: tuple[str, str, int | str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": path,
                    "pathType": "Prefix",
                    "backend": {
                        "service": {
                            "name": svc,
                            "port": {"name" if isinstance(port, str) else "number": port},
                        }
                    },
                }
                for path, svc, port in paths
            ]
        }
    }
    if host:
        out["host"] = host
    return out


def ingress(name: str, *rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {"rules": list(rules), **spec},
    }


def fetch(base: str, host: str, path: str) -> tuple[int, str]:
    req = urllib.request.Request(base + path, headers={"Host": host, "traceparent": TRACEPARENT})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def api_post(cluster, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """POST to the API as the kubeconfig's user; clients that check required fields
    themselves (kubectl, the official client) never send what the server must refuse."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]
    ca = base64.b64decode(server["certificate-authority-data"]).decode()
    token = config["users"][0]["user"]["token"]
    req = urllib.request.Request(
        server["server"] + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cadata=ca)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def who(base: str, host: str, path: str) -> str | None:
    status, body = fetch(base, host, path)
    return json.loads(body)["who"] if status == 200 else None


@pytest.fixture(scope="module")
def apps(cluster) -> str:  # type: ignore[no-untyped-def]
    """Namespace `ing` with the Deployments and Services `alpha` and `beta`, ready."""
    cluster.kubectl("create", "namespace", "ing")
    for obj in app("alpha") + app("beta"):
        cluster.kubectl("apply", "-n", "ing", "-f", "-", input=json.dumps(obj))
    for name in ("alpha", "beta"):
        cluster.kubectl("rollout", "status", "-n", "ing", f"deploy/{name}", "--timeout=90s")
    return "ing"


def test_routes_by_path_and_host_with_the_default_class(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    obj = ingress(
        "shop",
        rule("shop.local", ("/", "alpha", 80), ("/beta", "beta", "web")),
        rule("beta.local", ("/", "beta", 80)),
    )
    cluster.kubectl("apply", "-n", apps, "-f", "-", input=json.dumps(obj))
    stored = cluster.kubectl_json("get", "ingress", "shop", "-n", apps)
    assert stored["spec"]["ingressClassName"] == "kubelite"  # filled in by the default class

    wait_for(lambda: who(base, "shop.local", "/") == "alpha", "shop.local/ through the ingress")
    assert who(base, "shop.local", "/beta/items") == "beta"
    assert who(base, "shop.local", "/betamax") == "alpha"  # Prefix matches whole elements
    assert who(base, "beta.local:80", "/anything") == "beta"
    status, body = fetch(base, "shop.local", "/beta/x?q=1")
    seen = json.loads(body)
    assert seen["path"] == "/beta/x?q=1"
    assert seen["headers"]["host"] == "shop.local"
    assert seen["headers"]["traceparent"] == TRACEPARENT
    assert seen["headers"]["x-forwarded-host"] == "shop.local"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert seen["headers"]["x-real-ip"] == "127.0.0.1"
    assert fetch(base, "other.local", "/")[0] == 404

    def row() -> list[str] | None:
        out = cluster.kubectl("get", "ingress", "shop", "-n", apps, "--no-headers").stdout.split()
        return out if len(out) >= 6 and out[3] == "127.0.0.1" else None

    name, cls, hosts, address, ports = wait_for(row, "the ADDRESS column")[:5]
    assert (name, cls, hosts, address, ports) == (
        "shop",
        "kubelite",
        "shop.local,beta.local",
        "127.0.0.1",
        "80",
    )


def test_kubectl_create_ingress_and_default_backend(cluster, apps) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    cluster.kubectl(
        "create", "ingress", "quick", "-n", apps, "--rule=foo.local/=alpha:80", "--class=kubelite"
    )
    spec = cluster.kubectl_json("get", "ingress", "quick", "-n", apps)["spec"]
    assert spec["rules"][0]["http"]["paths"][0]["pathType"] == "Exact"
    wait_for(lambda: who(base, "foo.local", "/") == "alpha", "foo.local/ through the ingress")
    assert fetch(base, "foo.local", "/deeper")[0] == 404  # an Exact rule

    cluster.kubectl("create", "ingress", "fallback", "-n", apps, "--default-backend=beta:web")
    wait_for(lambda: who(base, "nowhere.local", "/x") == "beta", "the default backend")
    cluster.kubectl("delete", "ingress", "fallback", "-n", apps)
    wait_for(lambda: fetch(base, "nowhere.local", "/x")[0] == 404, "the default backend gone")


def test_backend_without_ready_pods_answers_503(cluster, namespace) -> None:  # type: ignore[no-untyped-def]
    base = cluster.status["ingress"]
    cluster.kubectl("create", "service", "clusterip", "idle", "--tcp=80:8080", "-n", namespace)
    obj = ingress("idle", rule("idle.local", ("/", "idle", 80)))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
    status = wait_for(
        lambda: (s := fetch(base, "idle.local", "/")[0]) != 404 and s, "the idle rule"
    )
    assert status == 503


def test_invalid_ingress_is_refused_with_upstream_message(cluster, namespace) -> None:  # type: ignore[no-untyped-def]
    body = ingress("bad", rule("bad.local", ("/", "alpha", 80)))
    del body["spec"]["rules"][0]["http"]["paths"][0]["pathType"]
    body["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "rel", "pathType": "Prefix", "backend": {"service": {"name": "a", "port": {}}}}
    )
    code, status = api_post(
        cluster, f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses", body
    )
    assert code == 422
    assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [
        (
            "spec.rules[0].http.paths[0].pathType",
            "Required value: pathType must be specified",
        ),
        ("spec.rules[0].http.paths[1].path", 'Invalid value: "rel": must be an absolute path'),
        ("spec.rules[0].http.paths[1].backend", "Required value: port name or number is required"),
    ]
    assert cluster.kubectl("get", "ingress", "bad", "-n", namespace, check=False).returncode != 0

    good = ingress("good", rule("good.local", ("/", "alpha", 80)))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(good))
    before = cluster.kubectl_json("get", "ingress", "good", "-n", namespace)
    broken = json.loads(json.dumps(good))
    broken["spec"]["rules"][0]["host"] = "10.1.2.3"
    out = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(broken), check=False
    )
    assert out.returncode != 0
    assert (
        'spec.rules[0].host: Invalid value: "10.1.2.3": must be a DNS name, not an IP address'
        in (out.stderr)
    )
    after = cluster.kubectl_json("get", "ingress", "good", "-n", namespace)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] == 1


def _certificate(host: str, directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_secret_is_served_by_sni(cluster, apps, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    base = cluster.status["ingressHttps"]
    cert, key = _certificate("secure.local", tmp_path)
    cluster.kubectl(
        "create", "secret", "tls", "secure", "-n", apps, f"--cert={cert}", f"--key={key}"
    )
    cluster.kubectl(
        "create", "ingress", "secure", "-n", apps, "--rule=secure.local/*=alpha:80,tls=secure"
    )
    verify = ssl.create_default_context(cafile=str(cert))

    def answer() -> dict[str, Any] | None:
        request = httpx.Request(
            "GET",
            base + "/tls",
            headers={"Host": "secure.local"},
            extensions={"sni_hostname": "secure.local"},
        )
        try:
            with httpx.Client(verify=verify, timeout=5) as client:
                resp = client.send(request)
        except httpx.HTTPError:
            return None  # the certificate is not served yet: verification fails
        return resp.json() if resp.status_code == 200 else None

    seen = wait_for(answer, "secure.local over HTTPS with its own certificate")
    assert seen["who"] == "alpha" and seen["path"] == "/tls"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert cluster.kubectl("get", "ingress", "secure", "-n", apps, "--no-headers").stdout.split()[
        4:6
    ] == ["80,", "443"]


def test_ingress_class_and_explain(cluster) -> None:  # type: ignore[no-untyped-def]
    out = cluster.kubectl("get", "ingressclass", "--no-headers").stdout.split()
    assert out[:3] == ["kubelite", "kubelite.io/ingress", "<none>"]
    explained = cluster.kubectl("explain", "ingress.spec.rules.http.paths").stdout
    assert "paths <[]HTTPIngressPath>" in explained and "pathType\t<string> -required-" in explained
