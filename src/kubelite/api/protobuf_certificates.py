"""certificates.k8s.io/v1's CertificateSigningRequest as protobuf field tables.

`kubectl certificate approve` and `deny` send the request back as protobuf
(a PUT to `/approval`), so it decodes as its JSON form does. Field numbers are
upstream's (k8s.io/api certificates/v1 `generated.proto`, v0.32); `request`
and `certificate` are `[]byte` (base64 in JSON); the keep flags follow the Go
JSON tags.
"""

from __future__ import annotations

from kubelite.api.protobuf_schema import _F, Schema, _i, _m, _map, _s, _strings

CERTIFICATES_MESSAGES: dict[str, Schema] = {
    "CertificateSigningRequest": {
        1: _m("metadata", "ObjectMeta"),
        2: _m("spec", "CertificateSigningRequestSpec"),
        3: _m("status", "CertificateSigningRequestStatus"),
    },
    "CertificateSigningRequestSpec": {
        1: _F("request", "bytes", keep_zero=True),
        7: _s("signerName", keep=True),
        8: _i("expirationSeconds", keep=True),
        5: _strings("usages"),
        2: _s("username"),
        3: _s("uid"),
        4: _strings("groups"),
        6: _map("extra", "stringList"),
    },
    "CertificateSigningRequestStatus": {
        1: _m("conditions", "CertificateSigningRequestCondition", repeated=True),
        2: _F("certificate", "bytes"),
    },
    "CertificateSigningRequestCondition": {
        1: _s("type", keep=True),
        6: _s("status", keep=True),
        2: _s("reason"),
        3: _s("message"),
        4: _F("lastUpdateTime", "time"),
        5: _F("lastTransitionTime", "time"),
    },
}
