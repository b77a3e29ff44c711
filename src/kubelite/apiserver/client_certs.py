"""x509 client-certificate authentication on the API's TLS listener.

As kube-apiserver with `--client-ca-file`: the listener *requests* a client
certificate (it does not require one, so bearer tokens still work), and the
authenticator verifies what was presented against the cluster CA: the common
name is the user, the organizations are its groups, and `system:authenticated`
is added. A certificate the CA did not issue, or one out of its validity, is a
401, not a failed handshake.

Python's `ssl` verifies a presented certificate during the handshake and has
no "request but don't verify" mode, so the context gets OpenSSL's verify
callback that accepts any chain (through ctypes, on the context's `SSL_CTX`);
verification happens here instead. Should that fail on some interpreter, the
context keeps `CERT_OPTIONAL` against the CA: certificates from the CA still
authenticate, and others fail the handshake.

uvicorn does not implement the ASGI TLS extension, so the API's HTTP and
WebSocket protocols are small subclasses that put the peer certificate in
`scope["extensions"]["tls"]["client_cert_chain"]` (PEM), per that extension.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import functools
import logging
import ssl
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelite.apiserver import reviews

log = logging.getLogger(__name__)

AUTHENTICATED = "system:authenticated"


# ---- the listener's context -------------------------------------------------------


def server_context(cert: Path, key: Path, ca: Path, ciphers: str = "TLSv1") -> ssl.SSLContext:
    """The API's TLS context: its serving certificate, a client certificate requested."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_ciphers(ciphers)
    if not _accept_any_chain(ctx):
        log.info("client certificates are verified in the handshake (no verify callback)")
    return ctx


_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_keep: list[Any] = []  # the callback must outlive every context that holds it


@functools.cache
def _libssl() -> Any:
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "libssl.so" in line:
            return ctypes.CDLL(line.split()[-1])
    name = ctypes.util.find_library("ssl")
    return ctypes.CDLL(name) if name else None


def _accept_any_chain(ctx: ssl.SSLContext) -> bool:
    """SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, always-ok): the certificate is asked
    for and kept, and the authenticator judges it. False when it cannot be done."""
    if sys.implementation.name != "cpython" or not (3, 10) <= sys.version_info[:2] <= (3, 13):
        return False  # the object layout read below is known for these only
    try:
        lib = _libssl()
        if lib is None:
            return False
        # PySSLContext: PyObject_HEAD, then its SSL_CTX *.
        ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not ssl_ctx:
            return False
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        if lib.SSL_CTX_get_verify_mode(ssl_ctx) != 1:  # SSL_VERIFY_PEER, as CERT_OPTIONAL set
            return False
        if not _keep:
            _keep.append(_VERIFY_CB(lambda _ok, _store: 1))
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CB]
        lib.SSL_CTX_set_verify(ssl_ctx, 1, _keep[0])
        return True
    except (OSError, AttributeError, ValueError) as exc:
        log.debug("no verify callback: %s", exc)
        return False


# ---- the ASGI TLS extension ------------------------------------------------------


def tls_extension(transport: Any) -> dict[str, Any] | None:
    """`scope["extensions"]["tls"]` for a connection (None when it is not TLS)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


@functools.cache
def http_protocol() -> type:
    """The API's HTTP protocol class: uvicorn's httptools one, with the TLS extension."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TlsHttpProtocol(HttpToolsProtocol):
        _tls: dict[str, Any] | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._tls = tls_extension(transport)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._tls is not None:
                scope: Any = self.scope  # the extension is not in uvicorn's TypedDict
                scope["extensions"] = {"tls": self._tls}

    return TlsHttpProtocol


@functools.cache
def _ws_protocol() -> type:
    from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

    class TlsWebSocketProtocol(WSProtocol):
        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)  # the app's task starts later, with this scope
            tls = tls_extension(self.transport)
            if tls is not None:
                scope: Any = self.scope
                scope.setdefault("extensions", {})["tls"] = tls

    return TlsWebSocketProtocol


class WebSockets:
    """The WebSocket protocol for the API listener, imported with the first upgrade
    (as cluster.py's `_WebSockets`), with the TLS extension."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _ws_protocol()(*args, **kwargs)


# ---- the authenticator -------------------------------------------------------------


def peer_certificate(scope: dict[str, Any]) -> str | None:
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return chain[0] if chain else None


class Refused(Exception):
    """A presented certificate that does not authenticate (a 401, as upstream)."""


@functools.lru_cache(maxsize=256)
def _verified(pem: str, ca: x509.Certificate) -> tuple[reviews.User | None, Any, Any]:
    """(user, not before, not after) of a certificate `ca` issued for client auth."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise Refused(f"x509: certificate signed by unknown authority ({exc})") from None
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is not None and not (
        ExtendedKeyUsageOID.CLIENT_AUTH in usages
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
    ):
        raise Refused("x509: certificate specifies an incompatible key usage")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else ""
    if not name:
        return None, cert.not_valid_before_utc, cert.not_valid_after_utc
    groups = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return reviews.User(name, tuple(groups)), cert.not_valid_before_utc, cert.not_valid_after_utc


def user_for_certificate(
    pem: str, ca: x509.Certificate, now: datetime.datetime | None = None
) -> reviews.User | None:
    """The user a client certificate stands for; None for one with no common name;
    `Refused` for one the CA did not issue, out of date, or not for client auth."""
    try:
        user, start, end = _verified(pem, ca)
    except ValueError:
        raise Refused("x509: malformed certificate") from None
    now = now or datetime.datetime.now(datetime.UTC)
    if not start <= now <= end:
        raise Refused("x509: certificate has expired or is not yet valid")
    return user


def load_ca(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def user_for_request(scope: dict[str, Any], ca: x509.Certificate | None) -> reviews.User | None:
    """The x509 authenticator: the user of the request's client certificate, or None
    (no CA, no certificate, no common name, or one that does not verify: the next
    authenticator may still know the request; with none, it is a 401)."""
    if ca is None:
        return None
    pem = peer_certificate(scope)
    if pem is None:
        return None
    try:
        return user_for_certificate(pem, ca)
    except Refused as exc:
        log.debug("client certificate refused: %s", exc)
        return None
