"""A tiny HTTPS admission webhook for tests: a self-signed certificate, a thread, a handler.

`WebhookServer(handler)` serves on a free port of 127.0.0.1; `handler` gets the
AdmissionReview request (a dict) and returns the `response` fields (uid and
the envelope are filled in). `ca_bundle` is what a clientConfig's `caBundle`
takes. Used by the unit tests and the e2e tests alike.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def self_signed(*names: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) valid for 127.0.0.1 and `names`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubelite-test-webhook")])
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    sans += [x509.DNSName(n) for n in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def json_patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The response fields of a mutating webhook that applies `ops`."""
    return {
        "allowed": True,
        "patchType": "JSONPatch",
        "patch": base64.b64encode(json.dumps(ops).encode()).decode(),
    }


class WebhookServer:
    def __init__(self, handler: Handler, *names: str, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.reviews: list[dict[str, Any]] = []
        self.paths: list[str] = []
        cert, key = self_signed(*names)
        self.ca_bundle = base64.b64encode(cert).decode()
        self._dir = tempfile.TemporaryDirectory()
        cert_file, key_file = Path(self._dir.name, "tls.crt"), Path(self._dir.name, "tls.key")
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._httpd = ThreadingHTTPServer((host, 0), self._request_handler())
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/admit"

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                review = json.loads(self.rfile.read(length))
                server.reviews.append(review)
                server.paths.append(self.path)
                response = {"uid": review["request"]["uid"], **server.handler(review["request"])}
                body = json.dumps(
                    {
                        "apiVersion": review["apiVersion"],
                        "kind": "AdmissionReview",
                        "response": response,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._dir.cleanup()


class WebhookServers(list["WebhookServer"]):
    """The webhook servers a test started; `stop_all` ends them."""

    def serve(self, handler: Handler) -> WebhookServer:
        server = WebhookServer(handler).start()
        self.append(server)
        return server

    def stop_all(self) -> None:
        for server in self:
            server.stop()
