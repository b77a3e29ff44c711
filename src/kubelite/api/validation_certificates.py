"""CertificateSigningRequest validation (certificates.k8s.io/v1).

The rules, field paths and messages of upstream's
`pkg/apis/certificates/validation` (1.32), as its v1 strategies call them:

- create: the request must be a PEM `CERTIFICATE REQUEST` whose signature
  checks; usages are required, known and unique; the signer name is a
  `domain/path` (and never `kubernetes.io/legacy-unknown` in v1);
  `expirationSeconds` is at least 600; conditions have a type, a status
  (`True` only for Approved, Denied and Failed), one per type, and Approved and
  Denied exclude each other;
- every update: Approved, Denied and Failed conditions cannot be removed;
- the main resource and `/status` cannot add or change Approved/Denied (only
  `/approval` can); only `/status` may set `status.certificate`, and only once.

What an existing object already breaks is tolerated on update, as upstream's
`getValidationOptions` does, so old data stays writable.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kubelite.api import names
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _dl,
    _l,
    child,
    duplicate,
    forbidden,
    idx,
    invalid,
    not_supported,
    required,
    semantic_equal,
    too_long,
    validate_object_meta,
    validate_object_meta_update,
)

__all__ = [
    "LEGACY_UNKNOWN",
    "decode_bytes",
    "parse_request",
    "validate_csr",
    "validate_csr_approval_update",
    "validate_csr_status_update",
    "validate_csr_update",
]

LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
_TRUE_ONLY = (APPROVED, DENIED, FAILED)
_ALL_STATUS = ["False", "True", "Unknown"]

# allValidUsages, in the sorted order a NotSupported error lists them.
VALID_USAGES = sorted(
    [
        "signing",
        "digital signature",
        "content commitment",
        "key encipherment",
        "key agreement",
        "data encipherment",
        "cert sign",
        "crl sign",
        "encipher only",
        "decipher only",
        "any",
        "server auth",
        "client auth",
        "code signing",
        "email protection",
        "s/mime",
        "ipsec end system",
        "ipsec tunnel",
        "ipsec user",
        "timestamping",
        "ocsp signing",
        "microsoft sgc",
        "netscape sgc",
    ]
)


def decode_bytes(value: Any) -> bytes:
    """A `[]byte` field as JSON carries it (base64); b"" for none or undecodable."""
    if not isinstance(value, str) or not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def parse_request(pem_bytes: bytes) -> Any:
    """`certificates.ParseCSR`: the x509 request, or ValueError with upstream's words."""
    from cryptography import x509

    start = pem_bytes.find(b"-----BEGIN ")
    if start < 0 or not pem_bytes[start:].startswith(b"-----BEGIN CERTIFICATE REQUEST-----"):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        return x509.load_pem_x509_csr(pem_bytes[start:])
    except ValueError as exc:
        raise ValueError(f"x509: malformed certificate request: {exc}") from None


def _request_error(spec: Obj) -> str | None:
    try:
        csr = parse_request(decode_bytes(spec.get("request")))
    except ValueError as exc:
        return str(exc)
    if not csr.is_signature_valid:
        return "x509: signature verification failure"
    return None


def _certificate_error(pem_bytes: bytes) -> str | None:
    """`validateCertificate`: one or more CERTIFICATE blocks, no headers, each parsable."""
    from cryptography import x509

    if not pem_bytes:
        return None
    blocks = 0
    rest = pem_bytes
    while (start := rest.find(b"-----BEGIN ")) >= 0:
        label_end = rest.find(b"-----", start + 11)
        label = rest[start + 11 : label_end].decode("latin-1")
        end_marker = f"-----END {label}-----".encode()
        end = rest.find(end_marker, label_end)
        if label_end < 0 or end < 0:
            break
        block = rest[start : end + len(end_marker)]
        if label != "CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{label}"'
        if b":" in block.splitlines()[1]:
            return "no PEM block headers are permitted"
        try:
            x509.load_pem_x509_certificate(block)
        except ValueError as exc:
            return f"x509: malformed certificate: {exc}"
        blocks += 1
        rest = rest[end + len(end_marker) :]
    if blocks == 0:
        return "must contain at least one CERTIFICATE PEM block"
    return None


def validate_signer_name(signer: str, path: str) -> Errs:
    """core/validation.ValidateSignerName: `example.com/signer-name`."""
    if not signer:
        return [required(path)]
    segments = signer.split("/")
    if len(segments) != 2:
        return [
            invalid(
                path,
                signer,
                "must be a fully qualified domain and path of the form 'example.com/signer-name'",
            )
        ]
    domain, name = segments
    errs: Errs = []
    if len(domain) > 253:
        errs.append(too_long(path, 253))
    labels = domain.split(".")
    for label in labels:
        problems = names.is_dns1123_label(label)
        if problems:
            errs += [invalid(path, domain, f'validating label "{label}": {p}') for p in problems]
            break
    if len(labels) < 2:
        errs.append(
            invalid(path, domain, "should be a domain with at least two segments separated by dots")
        )
    for part in name.split("."):
        errs += [
            invalid(path, name, f'validating component "{part}": {p}')
            for p in names.is_dns1123_subdomain(part)
        ]
    if len(name) > 253 + 63 + 1:
        errs.append(too_long(path, 253 + 63 + 1))
    return errs


class _Options:
    """What an update tolerates because the stored object already has it."""

    def __init__(self, new: Obj, old: Obj | None) -> None:
        types = [str(c.get("type", "")) for c in _conditions(old)] if old is not None else []
        old_spec = _d(old, "spec") if old is not None else {}
        old_usages = [str(u) for u in _l(old_spec, "usages")]
        self.both_approved_and_denied = APPROVED in types and DENIED in types
        self.legacy_signer = old is not None and old_spec.get("signerName") == LEGACY_UNKNOWN
        self.duplicate_types = len(set(types)) != len(types)
        self.empty_type = "" in types
        old_cert = _certificate(old) if old is not None else b""
        self.arbitrary_certificate = old is not None and (
            _certificate(new) == old_cert or _certificate_error(old_cert) is not None
        )
        self.unknown_usages = any(u not in VALID_USAGES for u in old_usages)
        self.duplicate_usages = len(set(old_usages)) != len(old_usages)
        self.setting_approval = False
        self.setting_certificate = False


def _conditions(obj: Obj | None) -> list[Obj]:
    return _dl(_d(obj, "status"), "conditions") if obj is not None else []


def _certificate(obj: Obj) -> bytes:
    return decode_bytes(_d(obj, "status").get("certificate"))


def _validate(csr: Obj, opts: _Options) -> Errs:
    errs = validate_object_meta(csr, namespaced=False, name_fn=lambda _n, _p: [])
    spec = _d(csr, "spec")
    problem = _request_error(spec)
    if problem is not None:
        errs.append(invalid("spec.request", spec.get("request", ""), problem))
    usages = _l(spec, "usages")
    if not usages:
        errs.append(required("spec.usages"))
    if not opts.unknown_usages:
        errs += [
            not_supported(idx("spec.usages", i), u, VALID_USAGES)
            for i, u in enumerate(usages)
            if u not in VALID_USAGES
        ]
    if not opts.duplicate_usages:
        errs += [
            duplicate(idx("spec.usages", i), u) for i, u in enumerate(usages) if u in usages[:i]
        ]
    signer = str(spec.get("signerName") or "")
    if not opts.legacy_signer and signer == LEGACY_UNKNOWN:
        errs.append(
            invalid(
                "spec.signerName",
                signer,
                "the legacy signerName is not allowed via this API version",
            )
        )
    else:
        errs += validate_signer_name(signer, "spec.signerName")
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < 600:
        errs.append(
            invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration less than 600 seconds (10 minutes)",
            )
        )
    errs += _validate_conditions(csr, opts)
    if not opts.arbitrary_certificate:
        problem = _certificate_error(_certificate(csr))
        if problem is not None:
            errs.append(invalid("status.certificate", "<certificate data>", problem))
    return errs


def _validate_conditions(csr: Obj, opts: _Options) -> Errs:
    errs: Errs = []
    path = "status.conditions"
    seen: set[str] = set()
    approved = denied = False
    for i, cond in enumerate(_conditions(csr)):
        ctype, status = str(cond.get("type") or ""), str(cond.get("status") or "")
        at = idx(path, i)
        if not opts.empty_type and not ctype:
            errs.append(required(child(at, "type")))
        allowed = ["True"] if ctype in _TRUE_ONLY else _ALL_STATUS
        if not status:
            errs.append(required(child(at, "status")))
        elif status not in allowed:
            errs.append(not_supported(child(at, "status"), status, allowed))
        if not opts.both_approved_and_denied:
            if ctype == APPROVED:
                approved = True
                if denied:
                    errs.append(invalid(child(at, "type"), ctype, _EXCLUSIVE))
            elif ctype == DENIED:
                denied = True
                if approved:
                    errs.append(invalid(child(at, "type"), ctype, _EXCLUSIVE))
        if not opts.duplicate_types:
            if ctype in seen:
                errs.append(duplicate(child(at, "type"), ctype))
            seen.add(ctype)
    return errs


_EXCLUSIVE = "Approved and Denied conditions are mutually exclusive"


def validate_csr(csr: Obj) -> Errs:
    """ValidateCertificateSigningRequestCreate."""
    return _validate(csr, _Options(csr, None))


def _validate_update(new: Obj, old: Obj, opts: _Options) -> Errs:
    errs = _validate(new, opts)
    for ctype in (APPROVED, DENIED, FAILED):
        if len(_of_type(new, ctype)) < len(_of_type(old, ctype)):
            errs.append(
                forbidden(
                    "status.conditions", f'updates may not remove a condition of type "{ctype}"'
                )
            )
    if not opts.setting_approval:
        for ctype in (APPROVED, DENIED):
            before, after = _of_type(old, ctype), _of_type(new, ctype)
            if len(after) > len(before):
                errs.append(
                    forbidden(
                        "status.conditions", f'updates may not add a condition of type "{ctype}"'
                    )
                )
            elif len(after) == len(before) and not semantic_equal(after, before):
                errs.append(
                    forbidden(
                        "status.conditions", f'updates may not modify a condition of type "{ctype}"'
                    )
                )
    if _certificate(new) != _certificate(old):
        if not opts.setting_certificate:
            errs.append(forbidden("status.certificate", "updates may not set certificate content"))
        elif _certificate(old):
            errs.append(
                forbidden(
                    "status.certificate", "updates may not modify existing certificate content"
                )
            )
    return errs + validate_object_meta_update(new, old)


def _of_type(obj: Obj, ctype: str) -> list[Obj]:
    return [c for c in _conditions(obj) if c.get("type") == ctype]


def validate_csr_update(new: Obj, old: Obj) -> Errs:
    """ValidateCertificateSigningRequestUpdate (the main resource)."""
    return _validate_update(new, old, _Options(new, old))


def validate_csr_status_update(new: Obj, old: Obj) -> Errs:
    """ValidateCertificateSigningRequestStatusUpdate: `/status` may set the certificate."""
    opts = _Options(new, old)
    opts.setting_certificate = True
    return _validate_update(new, old, opts)


def validate_csr_approval_update(new: Obj, old: Obj) -> Errs:
    """ValidateCertificateSigningRequestApprovalUpdate: `/approval` may add Approved/Denied."""
    opts = _Options(new, old)
    opts.setting_approval = True
    return _validate_update(new, old, opts)
