"""CertificateSigningRequests (certificates.k8s.io/v1) and x509 client certificates:
served, validated, approved, signed and printed as upstream 1.32 does."""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver import client_certs, csr_signing, request_context
from kubelite.apiserver.admission import Attributes as AdmissionAttributes
from kubelite.apiserver.certs import ensure_tls
from kubelite.apiserver.csr_strategy import CertificateAdmission
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rbac_authorizer import Decision

GROUP = "/apis/certificates.k8s.io/v1"
CSRS = f"{GROUP}/certificatesigningrequests"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
CLIENT = "kubernetes.io/kube-apiserver-client"
UTC = datetime.UTC


def request_pem(
    cn: str = "myuser", orgs: tuple[str, ...] = ("mygroup",), *, dns: tuple[str, ...] = ()
) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    if dns:
        names = [x509.DNSName(d) for d in dns]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr(
    name: str = "myuser",
    *,
    pem: bytes | None = None,
    signer: str = CLIENT,
    usages: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body = {
        "request": base64.b64encode(pem or request_pem()).decode(),
        "signerName": signer,
        "usages": ["client auth"] if usages is None else usages,
        **spec,
    }
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": body}  # fmt: skip


def condition(ctype: str, reason: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": "True", "reason": reason or f"kubectl{ctype}"}


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    ensure_tls(tmp_path / "tls")
    return tmp_path / "tls"


@pytest.fixture
def app(tmp_path: Path, tls_dir: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        a.csr_signer = csr_signing.Authority.from_dir(tls_dir)
        a.client_ca = client_certs.load_ca(tls_dir / "ca.crt")
        yield a


def create(app: ApiApp, body: dict[str, Any]) -> dict[str, Any]:
    r = call(app, "POST", CSRS, body)
    assert r.status_code == 201, r.text
    return r.json()


def approve(app: ApiApp, name: str, *conditions: dict[str, Any]) -> httpx.Response:
    current = call(app, "GET", f"{CSRS}/{name}").json()
    current.setdefault("status", {})["conditions"] = [
        *(current["status"].get("conditions") or []),
        *(conditions or (condition("Approved"),)),
    ]
    return call(app, "PUT", f"{CSRS}/{name}/approval", current)


def causes(r: httpx.Response) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    return [(c["field"], c["message"]) for c in r.json()["details"]["causes"]]


def issued(obj: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(obj["status"]["certificate"]))


# ---- served ----------------------------------------------------------------------------


def test_discovery_serves_csrs_with_approval_and_status(app: ApiApp) -> None:
    resources = {r["name"]: r for r in call(app, "GET", GROUP).json()["resources"]}
    assert resources["certificatesigningrequests"]["kind"] == "CertificateSigningRequest"
    assert resources["certificatesigningrequests"]["namespaced"] is False
    assert resources["certificatesigningrequests"]["shortNames"] == ["csr"]
    assert sorted(resources["certificatesigningrequests/approval"]["verbs"]) == [
        "get",
        "patch",
        "update",
    ]
    assert "certificatesigningrequests/status" in resources


def test_openapi_documents_the_approval_subresource(app: ApiApp) -> None:
    doc = call(app, "GET", "/openapi/v3/apis/certificates.k8s.io/v1").json()
    path = doc["paths"][f"{CSRS}/{{name}}/approval"]
    assert path["put"]["operationId"] == "replaceCertificatesV1CertificateSigningRequestApproval"
    assert (
        "io.k8s.api.certificates.v1.CertificateSigningRequestSpec" in doc["components"]["schemas"]
    )


# ---- create: who asked, and what is refused -----------------------------------------------


def test_create_records_the_requesting_user_not_the_body(app: ApiApp) -> None:
    body = csr(username="mallory", groups=["system:masters"], expirationSeconds=86400)
    body["status"] = {"conditions": [condition("Approved")]}
    made = create(app, body)
    assert made["spec"]["username"] == "system:admin"
    assert made["spec"]["groups"] == ["system:masters", "system:authenticated"]
    assert made.get("status", {}) == {}  # no pre-approved requests


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"request": base64.b64encode(b"not a pem").decode()},
            # a []byte is rendered as JSON has it: base64
            (
                "spec.request",
                'Invalid value: "bm90IGEgcGVt": PEM block type must be CERTIFICATE REQUEST',
            ),
            id="not-pem",
        ),
        pytest.param({"usages": []}, ("spec.usages", "Required value"), id="no-usages"),
        pytest.param(
            {"usages": ["client auth", "client auth"]},
            ("spec.usages[1]", 'Duplicate value: "client auth"'),
            id="duplicate-usage",
        ),
        pytest.param(
            {"signerName": "kubernetes.io/legacy-unknown"},
            (
                "spec.signerName",
                'Invalid value: "kubernetes.io/legacy-unknown": '
                "the legacy signerName is not allowed via this API version",
            ),
            id="legacy-unknown",
        ),
        pytest.param(
            {"signerName": "nodomain"},
            (
                "spec.signerName",
                'Invalid value: "nodomain": must be a fully qualified domain and path of the '
                "form 'example.com/signer-name'",
            ),
            id="signer-without-path",
        ),
        pytest.param(
            {"expirationSeconds": 599},
            (
                "spec.expirationSeconds",
                "Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)",
            ),
            id="too-short",
        ),
    ],
)
def test_create_validation_as_upstream(
    app: ApiApp, spec: dict[str, Any], expected: tuple[str, str]
) -> None:
    body = csr()
    body["spec"].update(spec)
    assert expected in causes(call(app, "POST", CSRS, body))


def test_unknown_usage_lists_the_supported_ones(app: ApiApp) -> None:
    found = causes(call(app, "POST", CSRS, csr(usages=["client auth", "flying"])))
    assert found[0][0] == "spec.usages[1]"
    assert found[0][1].startswith('Unsupported value: "flying": supported values: "any", ')


def test_system_masters_is_refused_for_the_client_signer(app: ApiApp) -> None:
    r = call(app, "POST", CSRS, csr(pem=request_pem("root", ("system:masters",))))
    assert r.status_code == 403, r.text
    assert r.json()["message"] == (
        'certificatesigningrequests.certificates.k8s.io "myuser" is forbidden: use of '
        "kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
    )


# ---- updates: spec immutable, conditions by their subresource ----------------------------


def test_main_resource_keeps_spec_and_status(app: ApiApp) -> None:
    made = create(app, csr())
    made["spec"]["usages"] = ["client auth", "digital signature"]
    made["metadata"]["labels"] = {"team": "a"}
    made["status"] = {"conditions": [condition("Approved")]}
    r = call(app, "PUT", f"{CSRS}/myuser", made)
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["usages"] == ["client auth"]
    assert r.json()["metadata"]["labels"] == {"team": "a"}
    assert r.json().get("status", {}).get("conditions") is None


def test_approval_signs_with_the_cluster_ca(app: ApiApp, tls_dir: Path) -> None:
    create(app, csr(expirationSeconds=86400))
    r = approve(app, "myuser")
    assert r.status_code == 200, r.text
    approved = r.json()["status"]["conditions"][0]
    assert approved["type"] == "Approved"
    assert approved["lastUpdateTime"] and approved["lastTransitionTime"]
    got = call(app, "GET", f"{CSRS}/myuser").json()
    cert = issued(got)
    cert.verify_directly_issued_by(client_certs.load_ca(tls_dir / "ca.crt"))
    assert cert.subject.rfc4514_string() == "O=mygroup,CN=myuser"
    # a day is longer than the 8h "short" lifetime: both ends move back 5 minutes
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=1)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_approved_and_denied_are_mutually_exclusive(app: ApiApp) -> None:
    create(app, csr(signer="example.com/own"))
    assert approve(app, "myuser").status_code == 200
    found = causes(approve(app, "myuser", condition("Denied")))
    assert found == [
        (
            "status.conditions[1].type",
            'Invalid value: "Denied": Approved and Denied conditions are mutually exclusive',
        )
    ]


def test_conditions_cannot_be_removed(app: ApiApp) -> None:
    create(app, csr(signer="example.com/own"))
    assert approve(app, "myuser").status_code == 200
    current = call(app, "GET", f"{CSRS}/myuser").json()
    current["status"]["conditions"] = []
    found = causes(call(app, "PUT", f"{CSRS}/myuser/approval", current))
    assert (
        "status.conditions",
        'Forbidden: updates may not remove a condition of type "Approved"',
    ) in found


def test_status_cannot_add_an_approval(app: ApiApp) -> None:
    made = create(app, csr())
    made["status"] = {"conditions": [condition("Approved")]}
    found = causes(call(app, "PUT", f"{CSRS}/myuser/status", made))
    assert found == [
        ("status.conditions", 'Forbidden: updates may not add a condition of type "Approved"')
    ]


def test_main_resource_cannot_set_a_certificate_but_status_can_once(app: ApiApp) -> None:
    create(app, csr(signer="example.com/own"))
    approve(app, "myuser")
    current = call(app, "GET", f"{CSRS}/myuser").json()
    current["status"]["certificate"] = base64.b64encode(b"junk").decode()
    found = causes(call(app, "PUT", f"{CSRS}/myuser/status", current))
    assert found == [
        (
            "status.certificate",
            'Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM block',
        )
    ]


def test_deny_is_printed_and_never_signed(app: ApiApp) -> None:
    create(app, csr())
    assert approve(app, "myuser", condition("Denied")).status_code == 200
    got = call(app, "GET", f"{CSRS}/myuser").json()
    assert "certificate" not in got["status"]
    row = call(app, "GET", CSRS, accept=TABLE).json()["rows"][0]["cells"]
    assert row[5] == "Denied"


# ---- signers -------------------------------------------------------------------------------


def test_kubelet_serving_request_that_breaks_its_rules_fails(app: ApiApp) -> None:
    pem = request_pem("system:node:n1", ("system:nodes",))  # no DNS or IP SAN
    usages = ["digital signature", "server auth"]
    create(app, csr("serving", pem=pem, signer=csr_signing.KUBELET_SERVING, usages=usages))
    approve(app, "serving")
    got = call(app, "GET", f"{CSRS}/serving").json()
    failed = got["status"]["conditions"][-1]
    assert (failed["type"], failed["reason"], failed["message"]) == (
        "Failed",
        "SignerValidationFailure",
        "DNS or IP subjectAltName is required",
    )
    assert "certificate" not in got["status"]


def test_kubelet_serving_request_within_its_rules_is_signed(app: ApiApp) -> None:
    pem = request_pem("system:node:n1", ("system:nodes",), dns=("n1.local",))
    usages = ["digital signature", "key encipherment", "server auth"]
    create(app, csr("serving", pem=pem, signer=csr_signing.KUBELET_SERVING, usages=usages))
    approve(app, "serving")
    cert = issued(call(app, "GET", f"{CSRS}/serving").json())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1.local"]


def test_client_signer_refuses_server_usages(app: ApiApp) -> None:
    create(app, csr(usages=["client auth", "server auth"]))
    approve(app, "myuser")
    got = call(app, "GET", f"{CSRS}/myuser").json()
    assert got["status"]["conditions"][-1]["message"] == (
        "invalid usage for client certificate: server auth"
    )


def test_other_signers_are_left_alone(app: ApiApp) -> None:
    create(app, csr(signer="example.com/own"))
    approve(app, "myuser")
    assert "certificate" not in call(app, "GET", f"{CSRS}/myuser").json()["status"]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(None, datetime.timedelta(hours=8760), id="default-a-year"),
        pytest.param(60 * 60 * 24 * 3650, datetime.timedelta(hours=8760), id="capped-to-a-year"),
        pytest.param(600, datetime.timedelta(minutes=10), id="minimum"),
        pytest.param(3600, datetime.timedelta(hours=1), id="asked"),
    ],
)
def test_duration(seconds: int | None, expected: datetime.timedelta) -> None:
    assert csr_signing.duration(seconds) == expected


def test_short_lives_are_not_backdated_at_their_end(tls_dir: Path) -> None:
    authority = csr_signing.Authority.from_dir(tls_dir)
    request = x509.load_pem_x509_csr(request_pem())
    now = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    cert = x509.load_pem_x509_certificate(
        authority.sign(request, ["client auth"], datetime.timedelta(hours=1), now)
    )
    # 1 h < 8 h: NotBefore = now - 5 min, NotAfter = now + 1 h
    assert cert.not_valid_before_utc == now - datetime.timedelta(minutes=5)
    assert cert.not_valid_after_utc == now + datetime.timedelta(hours=1)


def test_a_certificate_never_outlives_the_ca(tls_dir: Path) -> None:
    authority = csr_signing.Authority.from_dir(tls_dir)
    ca_end = authority.cert.not_valid_after_utc
    now = ca_end - datetime.timedelta(days=30)
    request = x509.load_pem_x509_csr(request_pem())
    cert = x509.load_pem_x509_certificate(
        authority.sign(request, ["client auth"], csr_signing.DEFAULT_TTL, now)
    )
    assert cert.not_valid_after_utc == ca_end


# ---- printing ---------------------------------------------------------------------------


def test_table_columns_and_cells_as_upstream(app: ApiApp) -> None:
    create(app, csr(expirationSeconds=86400))
    create(app, csr("other", signer="example.com/own"))
    approve(app, "myuser")
    table = call(app, "GET", CSRS, accept=TABLE).json()
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    rows = {r["cells"][0]: r["cells"] for r in table["rows"]}
    assert rows["myuser"][2:] == [CLIENT, "system:admin", "24h", "Approved,Issued"]
    assert rows["other"][2:] == ["example.com/own", "system:admin", "<none>", "Pending"]


# ---- approval admission ----------------------------------------------------------------------


class FakeAuthorizer:
    """Allows `approve` on the signer names in `allowed`; records what it was asked."""

    def __init__(self, *allowed: str) -> None:
        self.allowed = allowed
        self.asked: list[str] = []

    def __call__(self, attrs: Any) -> Decision:
        self.asked.append(f"{attrs.verb} {attrs.resource}/{attrs.name}")
        return Decision(attrs.verb == "approve" and attrs.name in self.allowed, "")


def admit_approval(authorize: FakeAuthorizer, signer: str) -> None:
    from kubelite.api.registry import REGISTRY

    rt = REGISTRY.by_kind("certificates.k8s.io/v1", "CertificateSigningRequest")
    assert rt is not None
    attrs = AdmissionAttributes("UPDATE", rt, None, "myuser", subresource="approval")
    request_context.set_authorizer(authorize)
    try:
        CertificateAdmission().validate(attrs, csr(signer=signer), csr(signer=signer), None)  # type: ignore[arg-type]
    finally:
        request_context.set_authorizer(None)


def test_approval_needs_approve_on_the_signer() -> None:
    authorize = FakeAuthorizer()
    with pytest.raises(Exception) as refused:
        admit_approval(authorize, CLIENT)
    assert str(refused.value) == (
        'certificatesigningrequests.certificates.k8s.io "myuser" is forbidden: user not '
        'permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"'
    )
    # by name, then the domain's wildcard, as IsAuthorizedForSignerName asks
    assert authorize.asked == [f"approve signers/{CLIENT}", "approve signers/kubernetes.io/*"]


def test_approval_allowed_by_the_domain_wildcard() -> None:
    authorize = FakeAuthorizer("kubernetes.io/*")
    admit_approval(authorize, CLIENT)
    assert authorize.asked[-1] == "approve signers/kubernetes.io/*"


# ---- client certificates ------------------------------------------------------------------


def client_certificate(
    tls_dir: Path, cn: str = "myuser", orgs: tuple[str, ...] = ("mygroup",), *, own_ca: bool = False
) -> str:
    """A certificate the cluster CA issued (or, `own_ca`, one it did not) as PEM."""
    authority = csr_signing.Authority.from_dir(tls_dir)
    request = x509.load_pem_x509_csr(request_pem(cn, orgs))
    if own_ca:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubelite-ca")])
        ca = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime.now(UTC) - datetime.timedelta(days=1))
            .not_valid_after(datetime.datetime.now(UTC) + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        authority = csr_signing.Authority(ca, key)
    now = datetime.datetime.now(UTC)
    return authority.sign(request, ["client auth"], datetime.timedelta(hours=1), now).decode()


def whoami(app: ApiApp, pem: str | None, token: str | None = None) -> httpx.Response:
    """`kubectl auth whoami` over a connection that presented `pem`."""
    tls = {"client_cert_chain": [pem] if pem else []}

    async def with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "extensions": {"tls": tls}}, receive, send)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=with_tls)
        async with httpx.AsyncClient(transport=transport, base_url="https://api") as client:
            body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
            headers = {"authorization": f"Bearer {token}"} if token else {}
            return await client.post(
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                content=orjson.dumps(body),
                headers=headers,
            )

    return asyncio.run(go())


def test_a_certificate_from_the_ca_authenticates(app: ApiApp, tls_dir: Path) -> None:
    r = whoami(app, client_certificate(tls_dir))
    assert r.status_code == 201, r.text
    info = r.json()["status"]["userInfo"]
    assert info == {"username": "myuser", "groups": ["mygroup", "system:authenticated"]}


@pytest.mark.parametrize(
    ("cn", "own_ca"),
    [pytest.param("myuser", True, id="another-ca"), pytest.param("", False, id="no-common-name")],
)
def test_a_certificate_that_does_not_authenticate_is_401(
    app: ApiApp, tls_dir: Path, cn: str, own_ca: bool
) -> None:
    orgs = ("mygroup",)
    pem = client_certificate(tls_dir, cn, orgs, own_ca=own_ca) if cn else no_cn(tls_dir)
    r = whoami(app, pem)
    assert r.status_code == 401
    assert r.json()["message"] == "Unauthorized"


def no_cn(tls_dir: Path) -> str:
    authority = csr_signing.Authority.from_dir(tls_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mygroup")])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    now = datetime.datetime.now(UTC)
    return authority.sign(request, ["client auth"], datetime.timedelta(hours=1), now).decode()


def test_a_bearer_token_still_works_beside_a_foreign_certificate(
    app: ApiApp, tls_dir: Path
) -> None:
    r = whoami(app, client_certificate(tls_dir, own_ca=True), token="t0ken")
    assert r.status_code == 201, r.text
    assert r.json()["status"]["userInfo"]["username"] == "system:admin"


def test_an_expired_certificate_is_refused(tls_dir: Path) -> None:
    pem = client_certificate(tls_dir)
    ca = client_certs.load_ca(tls_dir / "ca.crt")
    later = datetime.datetime.now(UTC) + datetime.timedelta(hours=2)
    with pytest.raises(client_certs.Refused):
        client_certs.user_for_certificate(pem, ca, later)
    user = client_certs.user_for_certificate(pem, ca)
    assert user is not None and user.username == "myuser"


def test_server_certificate_usage_does_not_authenticate(tls_dir: Path) -> None:
    authority = csr_signing.Authority.from_dir(tls_dir)
    request = x509.load_pem_x509_csr(request_pem())
    now = datetime.datetime.now(UTC)
    pem = authority.sign(request, ["server auth"], datetime.timedelta(hours=1), now).decode()
    with pytest.raises(client_certs.Refused):
        client_certs.user_for_certificate(pem, client_certs.load_ca(tls_dir / "ca.crt"))


# ---- protobuf (kubectl certificate approve sends one) ------------------------------------


def test_a_protobuf_csr_decodes_as_its_json() -> None:
    from tests.unit.api.test_protobuf import envelope, msg, num, raw, time

    from kubelite.api.protobuf import decode_k8s_protobuf

    pem = request_pem()
    body = (
        msg(1, raw(1, "myuser"))
        + msg(2, raw(1, pem), raw(7, CLIENT), num(8, 86400), raw(5, "client auth"),
              raw(2, "system:admin"), raw(4, "system:masters"))
        + msg(3, msg(1, raw(1, "Approved"), raw(6, "True"), raw(2, "r"), time(4, 1_700_000_000)))
    )  # fmt: skip
    decoded = decode_k8s_protobuf(
        envelope("certificates.k8s.io/v1", "CertificateSigningRequest", body)
    )
    assert decoded["spec"] == {
        "request": base64.b64encode(pem).decode(),
        "signerName": CLIENT,
        "expirationSeconds": 86400,
        "usages": ["client auth"],
        "username": "system:admin",
        "groups": ["system:masters"],
    }
    assert decoded["status"]["conditions"] == [
        {
            "type": "Approved",
            "status": "True",
            "reason": "r",
            "lastUpdateTime": "2023-11-14T22:13:20Z",
        }
    ]
