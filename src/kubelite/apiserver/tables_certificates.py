"""The Table printer for CertificateSigningRequests (certificates.k8s.io/v1), as kubectl's.

The columns and cells of upstream's `printCertificateSigningRequest` (1.32):
NAME, AGE, SIGNERNAME, REQUESTOR, REQUESTEDDURATION, CONDITION. The condition
is Denied, else Approved, else Pending, then `,Failed` and `,Issued` when they
apply. Descriptions are the first sentence of each field's API documentation,
which upstream takes whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables_format import human_duration
from kubelite.apiserver.tables_printers import AGE, NAME, Printer, Row, _age, _name, _spec, col

Obj = Mapping[str, Any]


def condition(obj: Obj) -> str:
    """extractCSRStatus."""
    status = obj.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or [] if isinstance(c, Mapping)}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        text += ",Failed"
    if status.get("certificate"):
        text += ",Issued"
    return text


def _csr(obj: Obj, now: datetime) -> Row:
    spec = _spec(obj)
    seconds = spec.get("expirationSeconds")
    cells = [
        _name(obj),
        _age(obj, now),
        spec.get("signerName") or "<none>",
        spec.get("username", ""),
        human_duration(seconds) if isinstance(seconds, int) else "<none>",
        condition(obj),
    ]
    return cells, None


CERTIFICATE_SIGNING_REQUEST = Printer(
    (
        NAME,
        AGE,
        col("SignerName", "Requested signer for the request."),
        col("Requestor", "Name of the user which made this request."),
        col(
            "RequestedDuration",
            "expirationSeconds is the requested duration of validity of the issued certificate.",
        ),
        col("Condition", "State of the signing request."),
    ),
    _csr,
)
