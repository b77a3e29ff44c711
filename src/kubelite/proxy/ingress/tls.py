"""TLS for the HTTPS listener: one certificate per host, chosen by SNI.

Each served Ingress's `spec.tls` entries map their hosts (exact, or `*.`
for one label) to a `kubernetes.io/tls` Secret in the Ingress's namespace;
the oldest Ingress wins a host two of them claim. The TLS handshake's server
name picks the certificate; a name no entry covers, or an entry whose Secret
is missing or broken, gets a self-signed default certificate made at first
use (as k3s's bundled controller serves its own default), so the connection
still completes and routing answers as over HTTP.

`ssl` loads certificates only from files: each PEM pair goes through a
private temporary file that is removed at once.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
SecretRef = tuple[str, str]  # (namespace, name)
TLS_SECRET_TYPE = "kubernetes.io/tls"


def tls_hosts(ingresses: Iterable[Obj]) -> dict[str, SecretRef]:
    """Host (lower case, `*.x` for wildcards) -> the Secret that holds its certificate."""
    out: dict[str, tuple[tuple[str, str], SecretRef]] = {}
    for ingress in ingresses:
        md = ingress.get("metadata") or {}
        age = (md.get("creationTimestamp") or "", f"{md.get('namespace')}/{md.get('name')}")
        for entry in (ingress.get("spec") or {}).get("tls") or []:
            secret = entry.get("secretName") or ""
            if not secret:
                continue
            for host in entry.get("hosts") or []:
                host = str(host).lower()
                if host not in out or age < out[host][0]:
                    out[host] = (age, (md.get("namespace") or "", secret))
    return {host: ref for host, (_, ref) in out.items()}


def lookup(hosts: Mapping[str, SecretRef], server_name: str) -> SecretRef | None:
    """The entry for a TLS server name: exact first, then a one-label wildcard."""
    name = server_name.lower().rstrip(".")
    if name in hosts:
        return hosts[name]
    _, dot, parent = name.partition(".")
    return hosts.get("*." + parent) if dot else None


def pem_pair(secret: Obj) -> tuple[bytes, bytes] | None:
    """(certificate chain, key) from a `kubernetes.io/tls` Secret, or None."""
    data = secret.get("data") or {}
    try:
        cert = base64.b64decode(data.get("tls.crt") or "")
        key = base64.b64decode(data.get("tls.key") or "")
    except (ValueError, TypeError):
        return None
    return (cert, key) if cert and key else None


def context_from_pem(cert: bytes, key: bytes) -> ssl.SSLContext:
    """A server context for one certificate; ssl.SSLError when the pair is unusable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="kubelite-ingress-") as tmp:
        path = os.path.join(tmp, "pair.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(cert.rstrip(b"\n") + b"\n" + key)
        ctx.load_cert_chain(path)
    return ctx


def self_signed_pem(
    common_name: str = "kubelite ingress default certificate",
) -> tuple[bytes, bytes]:
    """A throwaway EC P-256 certificate for names no Ingress covers."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


class Certificates:
    """The SNI choice over the current Ingresses and Secrets.

    `update(ingresses, secret)` swaps in a new host map (`secret(ref)` reads a
    Secret from the cache); contexts are built once per Secret version.
    `context()` is the listener's context: its SNI callback switches each
    handshake to the host's certificate.
    """

    def __init__(self, *, refresh: Callable[[], None] = lambda: None) -> None:
        self._refresh = refresh
        self._hosts: dict[str, SecretRef] = {}
        self._contexts: dict[SecretRef, ssl.SSLContext] = {}
        self._versions: dict[SecretRef, str] = {}
        self._default: ssl.SSLContext | None = None

    def default(self) -> ssl.SSLContext:
        """The self-signed context, made with the first handshake that needs it."""
        if self._default is None:
            self._default = context_from_pem(*self_signed_pem())
        return self._default

    def context(self) -> ssl.SSLContext:
        """The listener's context: no certificate of its own; every handshake (with a
        server name or without) is switched to the host's context or the default one, so
        the default certificate costs the cluster's start-up nothing."""
        listener = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        listener.set_alpn_protocols(["http/1.1"])
        listener.sni_callback = self._choose
        return listener

    def update(self, ingresses: Iterable[Obj], secret: Callable[[SecretRef], Obj | None]) -> None:
        hosts = tls_hosts(ingresses)
        contexts: dict[SecretRef, ssl.SSLContext] = {}
        versions: dict[SecretRef, str] = {}
        for ref in set(hosts.values()):
            obj = secret(ref)
            if obj is None:
                log.info("ingress TLS: secret %s/%s not found; default certificate", *ref)
                continue
            version = str((obj.get("metadata") or {}).get("resourceVersion"))
            if self._versions.get(ref) == version and ref in self._contexts:
                contexts[ref], versions[ref] = self._contexts[ref], version
                continue
            pair = pem_pair(obj) if obj.get("type", TLS_SECRET_TYPE) == TLS_SECRET_TYPE else None
            try:
                if pair is None:
                    raise ssl.SSLError("no tls.crt and tls.key")
                contexts[ref], versions[ref] = context_from_pem(*pair), version
            except ssl.SSLError as exc:
                log.warning(
                    "ingress TLS: secret %s/%s unusable (%s); default certificate", *ref, exc
                )
        self._hosts, self._contexts, self._versions = hosts, contexts, versions

    def for_name(self, server_name: str | None) -> ssl.SSLContext | None:
        """The context for a server name, None for the default certificate."""
        self._refresh()
        ref = lookup(self._hosts, server_name or "")
        return self._contexts.get(ref) if ref is not None else None

    def _choose(self, sock: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        sock.context = self.for_name(server_name) or self.default()


__all__ = [
    "Certificates",
    "context_from_pem",
    "lookup",
    "pem_pair",
    "self_signed_pem",
    "tls_hosts",
]
