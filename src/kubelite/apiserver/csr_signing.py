"""The cluster's CSR signer: upstream's csrsigning controller, run when a request is approved.

kube-controller-manager signs approved requests for four `kubernetes.io`
signers with the cluster CA; kubelite has the CA (`tls/ca.crt`, `tls/ca.key`)
in the API server's process, so the signer runs right after an `/approval`
write, as a separate `/status` write with kubelite's own identity: the answer
kubectl gets is the approval's, and the next read shows the certificate.

Per signer, as `pkg/controller/certificates/signer` (1.32):

- `kubernetes.io/kube-apiserver-client`: usages `client auth` plus optionally
  `digital signature` and `key encipherment`;
- `kubernetes.io/kube-apiserver-client-kubelet`: organization `system:nodes`,
  common name `system:node:...`, no SANs, usages exactly the kubelet's;
- `kubernetes.io/kubelet-serving`: organization `system:nodes`, common name
  `system:node:...`, a DNS or IP SAN, no email or URI SAN, serving usages.

A request that fails its signer's rules gets a `Failed` condition (reason
`SignerValidationFailure`); other signer names are left alone (someone else
signs them). The duration is `expirationSeconds` within [10 min, 1 year], and
never past the CA's own expiry; a certificate starts five minutes back, as
upstream's PermissiveSigningPolicy backdates it.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelite.api.validation_certificates import decode_bytes, parse_request

if TYPE_CHECKING:
    from kubelite.api.registry import ResourceType
    from kubelite.apiserver.http import ApiApp

log = logging.getLogger(__name__)

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"

DEFAULT_TTL = datetime.timedelta(hours=8760)  # --cluster-signing-duration
MIN_TTL = datetime.timedelta(minutes=10)
BACKDATE = datetime.timedelta(minutes=5)
SHORT = datetime.timedelta(hours=8)  # shorter lives are not backdated at their end

_KEY_USAGES = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_EXT_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}


class SignerRefused(ValueError):
    """The request is not one its signer issues (the Failed condition's message)."""


# ---- what each signer accepts -------------------------------------------------


def _subject(request: Any, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in request.subject.get_attributes_for_oid(oid)]


def _sans(request: Any) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    try:
        ext = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], [], []
    return (
        ext.get_values_for_type(x509.DNSName),
        ext.get_values_for_type(x509.IPAddress),
        ext.get_values_for_type(x509.RFC822Name),
        ext.get_values_for_type(x509.UniformResourceIdentifier),
    )


def check_apiserver_client(request: Any, usages: list[str]) -> None:
    """validAPIServerClientUsages."""
    for usage in usages:
        if usage not in ("digital signature", "key encipherment", "client auth"):
            raise SignerRefused(f"invalid usage for client certificate: {usage}")
    if "client auth" not in usages:
        raise SignerRefused("missing required usage for client certificate: client auth")


def _kubelet_usages(usages: list[str], required: str) -> None:
    wanted = {"digital signature", "key encipherment", required}
    if set(usages) not in (wanted, wanted - {"key encipherment"}):
        raise SignerRefused(f"usages did not match [{' '.join(sorted(wanted))}]")


def _nodes_org(request: Any) -> None:
    if _subject(request, NameOID.ORGANIZATION_NAME) != ["system:nodes"]:
        raise SignerRefused("subject organization is not system:nodes")


def _node_cn(request: Any) -> None:
    if not "".join(_subject(request, NameOID.COMMON_NAME)[:1]).startswith("system:node:"):
        raise SignerRefused("subject common name does not begin with system:node:")


def check_kubelet_client(request: Any, usages: list[str]) -> None:
    """ValidateKubeletClientCSR."""
    _nodes_org(request)
    dns, ips, emails, uris = _sans(request)
    for found, what in ((dns, "DNS"), (emails, "Email"), (ips, "IP"), (uris, "URI")):
        if found:
            raise SignerRefused(f"{what} subjectAltNames are not allowed")
    _node_cn(request)
    _kubelet_usages(usages, "client auth")


def check_kubelet_serving(request: Any, usages: list[str]) -> None:
    """ValidateKubeletServingCSR."""
    _nodes_org(request)
    dns, ips, emails, uris = _sans(request)
    if not dns and not ips:
        raise SignerRefused("DNS or IP subjectAltName is required")
    if emails:
        raise SignerRefused("Email subjectAltNames are not allowed")
    if uris:
        raise SignerRefused("URI subjectAltNames are not allowed")
    _kubelet_usages(usages, "server auth")
    _node_cn(request)


SIGNERS: dict[str, Callable[[Any, list[str]], None]] = {
    KUBE_APISERVER_CLIENT: check_apiserver_client,
    KUBELET_CLIENT: check_kubelet_client,
    KUBELET_SERVING: check_kubelet_serving,
}


# ---- signing -------------------------------------------------------------------


def duration(expiration_seconds: Any, ttl: datetime.timedelta = DEFAULT_TTL) -> datetime.timedelta:
    """signer.duration: the requested lifetime, within [10 min, the signer's TTL]."""
    if not isinstance(expiration_seconds, int):
        return ttl
    return max(MIN_TTL, min(ttl, datetime.timedelta(seconds=expiration_seconds)))


@dataclass(frozen=True)
class Authority:
    """The CA that signs (its certificate and key)."""

    cert: x509.Certificate
    key: Any

    @classmethod
    def from_dir(cls, tls_dir: Path) -> Authority:
        cert = x509.load_pem_x509_certificate((tls_dir / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((tls_dir / "ca.key").read_bytes(), None)
        return cls(cert, key)

    def sign(
        self,
        request: Any,
        usages: list[str],
        ttl: datetime.timedelta,
        now: datetime.datetime,
    ) -> bytes:
        """The PEM certificate for `request` (subject and SANs as asked, the usages of
        the spec, no other extension), as CertificateAuthority.Sign with the policy."""
        if not request.is_signature_valid:
            raise ValueError("unable to verify certificate request signature")
        ca_end = self.cert.not_valid_after_utc
        not_before = now - BACKDATE
        not_after = now + ttl if ttl < SHORT else now + ttl - BACKDATE
        not_after = min(not_after, ca_end)
        if now >= ca_end:
            raise ValueError(
                f"refusing to sign a certificate that expired in the past: NotAfter={ca_end}"
            )
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.cert.subject)
            .public_key(request.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        builder = _with_usages(builder, usages)
        try:
            san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, critical=san.critical)
        except x509.ExtensionNotFound:
            pass
        try:  # Go fills the AKI from the parent's subject key id
            ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
            builder = builder.add_extension(aki, critical=False)
        except x509.ExtensionNotFound:
            pass
        algorithm = None if isinstance(self.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        if not isinstance(
            self.key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise ValueError("unsupported CA key type")
        cert = builder.sign(self.key, algorithm)
        return cert.public_bytes(serialization.Encoding.PEM)


def _with_usages(builder: x509.CertificateBuilder, usages: list[str]) -> x509.CertificateBuilder:
    flags = {name: False for name in set(_KEY_USAGES.values())}
    ext: list[x509.ObjectIdentifier] = []
    for usage in usages:
        if usage in _KEY_USAGES:
            flags[_KEY_USAGES[usage]] = True
        elif usage in _EXT_USAGES:
            if _EXT_USAGES[usage] not in ext:
                ext.append(_EXT_USAGES[usage])
        else:
            raise ValueError(f"unrecognized usage: {usage}")
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if ext:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ext), critical=False)
    return builder


def _approved_unfailed(csr: dict[str, Any]) -> bool:
    conditions = (csr.get("status") or {}).get("conditions") or []
    types = {c.get("type") for c in conditions if c.get("status") == "True"}
    return "Approved" in types and "Denied" not in types and "Failed" not in types


def issue(
    authority: Authority, csr: dict[str, Any], now: datetime.datetime
) -> dict[str, Any] | None:
    """The status the signer writes for `csr` (a certificate, or a Failed condition);
    None when it has nothing to do: not approved, failed, issued, or not its signer."""
    spec, status = csr.get("spec") or {}, csr.get("status") or {}
    check = SIGNERS.get(str(spec.get("signerName") or ""))
    if check is None or not _approved_unfailed(csr) or status.get("certificate"):
        return None
    usages = [str(u) for u in spec.get("usages") or []]
    request = parse_request(decode_bytes(spec.get("request")))
    new_status = dict(status)
    try:
        check(request, usages)
    except SignerRefused as exc:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        failed = {
            "type": "Failed",
            "status": "True",
            "reason": "SignerValidationFailure",
            "message": str(exc),
            "lastUpdateTime": stamp,
        }
        new_status["conditions"] = [*(status.get("conditions") or []), failed]
        return new_status
    pem = authority.sign(request, usages, duration(spec.get("expirationSeconds")), now)
    new_status["certificate"] = base64.b64encode(pem).decode()
    return new_status


async def after_approval(app: ApiApp, rt: ResourceType, ns: str | None, name: str) -> None:
    """Sign `name` if its approval makes it ours to issue; the write is kubelite's own
    (a fresh context: no request user, no authorizer), as the controller's would be."""
    authority = app.csr_signer
    if authority is None:
        return
    kv = app.storage.get(rt, ns, name)
    csr = kv.obj()
    try:
        status = issue(authority, csr, datetime.datetime.now(datetime.UTC))
    except ValueError as exc:
        log.warning("certificatesigningrequest %s: not signed: %s", name, exc)
        return
    if status is None:
        return
    csr["status"] = status
    write = app.storage.aupdate(rt, ns, name, csr, subresource="status")
    await asyncio.create_task(write, context=contextvars.Context())
    log.info(
        "certificatesigningrequest %s: %s", name, "issued" if "certificate" in status else "failed"
    )
