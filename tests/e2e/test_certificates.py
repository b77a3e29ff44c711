"""Upstream's tutorial "create a normal user with a client certificate", with the real
kubectl against `kubelite up --authorization-mode RBAC`: a CSR is applied, listed,
approved and issued by the cluster CA; the certificate then authenticates the user,
whom RBAC refuses until a RoleBinding grants them pods.

The key and request are made with the `cryptography` package (what `openssl genrsa`
and `openssl req -subj "/CN=myuser/O=mygroup"` make), which the project depends on.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.test_node_agent import apply, pod, simple_pod, wait_for

x509 = pytest.importorskip("cryptography.x509", reason="the cryptography package is needed")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

pytestmark = pytest.mark.e2e

SIGNER = "kubernetes.io/kube-apiserver-client"


def key_and_request(directory: Path, name: str, subject: str = "") -> tuple[Path, str]:
    """`openssl genrsa -out NAME.key 2048` and `openssl req -new -key NAME.key
    -subj "/CN=NAME/O=mygroup"`: the key's path and the request's base64."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = directory / f"{name}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, subject or name)]
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mygroup"))
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    pem = request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return key_path, base64.b64encode(pem).decode()


def csr_manifest(name: str, request: str) -> str:
    return json.dumps(
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": request,
                "signerName": SIGNER,
                "expirationSeconds": 86400,  # one day
                "usages": ["client auth"],
            },
        }
    )


def add_user(c: Cluster, name: str, key: Path, cert: Path) -> None:
    """`kubectl config set-credentials ... --embed-certs` and a context for the user."""
    cluster_name = c.kubectl("config", "view", "-o", "jsonpath={.clusters[0].name}").stdout
    c.kubectl(
        "config",
        "set-credentials",
        name,
        f"--client-key={key}",
        f"--client-certificate={cert}",
        "--embed-certs=true",
    )
    c.kubectl("config", "set-context", name, f"--cluster={cluster_name}", f"--user={name}")


@pytest.fixture(scope="module")
def myuser(rbac_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tutorial up to the user's context: the CSR applied, approved and issued."""
    c = rbac_cluster
    work = tmp_path_factory.mktemp("myuser")
    key, request = key_and_request(work, "myuser")
    c.kubectl("apply", "-f", "-", input=csr_manifest("myuser", request))
    header, row = c.kubectl("get", "csr").stdout.splitlines()
    assert header.split() == [
        "NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION",
    ]  # fmt: skip
    cells = row.split()
    assert [cells[0], *cells[2:]] == ["myuser", SIGNER, "system:admin", "24h", "Pending"]
    approved = c.kubectl("certificate", "approve", "myuser")
    assert (
        approved.stdout.strip() == "certificatesigningrequest.certificates.k8s.io/myuser approved"
    )
    assert c.kubectl("get", "csr", "myuser").stdout.split()[-1] == "Approved,Issued"
    encoded = c.kubectl("get", "csr", "myuser", "-o", "jsonpath={.status.certificate}").stdout
    cert = work / "myuser.crt"
    cert.write_bytes(base64.b64decode(encoded))
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    ca = x509.load_pem_x509_certificate((c.data_dir / "tls" / "ca.crt").read_bytes())
    issued.verify_directly_issued_by(ca)
    assert issued.not_valid_after_utc - issued.not_valid_before_utc == datetime.timedelta(days=1)
    add_user(c, "myuser", key, cert)
    return "myuser"


def as_user(c: Cluster, user: str, *args: str, **kw: Any) -> Any:
    return c.kubectl("--context", user, *args, check=False, **kw)


def test_the_certificate_authenticates_the_user(rbac_cluster: Cluster, myuser: str) -> None:
    review = json.loads(as_user(rbac_cluster, myuser, "auth", "whoami", "-o", "json").stdout)
    assert review["status"]["userInfo"] == {
        "username": "myuser",
        "groups": ["mygroup", "system:authenticated"],
    }


@pytest.fixture(scope="module")
def granted(rbac_cluster: Cluster, myuser: str) -> str:
    """What `get pods` said as myuser before a RoleBinding granted pods (and their exec)."""
    c = rbac_cluster
    denied = as_user(c, myuser, "get", "pods").stderr.strip()
    c.kubectl(
        "create", "role", "developer", "--verb=create", "--verb=get", "--verb=list",
        "--verb=update", "--verb=delete", "--verb=watch", "--resource=pods",
        "--resource=pods/exec",
    )  # fmt: skip
    c.kubectl(
        "create", "rolebinding", "developer-binding-myuser", "--role=developer", "--user=myuser"
    )  # fmt: skip
    return denied


def test_rbac_refuses_then_a_rolebinding_grants(
    rbac_cluster: Cluster, myuser: str, granted: str
) -> None:
    c = rbac_cluster
    assert granted == (
        'Error from server (Forbidden): pods is forbidden: User "myuser" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    )
    allowed = as_user(c, myuser, "get", "pods")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.strip() == "No resources found in default namespace."
    # what the role does not grant stays refused
    secrets = as_user(c, myuser, "get", "secrets")
    assert 'cannot list resource "secrets"' in secrets.stderr
    # a watch streams under the certificate too (the server ends it after a second)
    watched = as_user(
        c, myuser, "get", "--raw", "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1"
    )
    assert watched.returncode == 0, watched.stderr


def test_exec_with_the_certificate(rbac_cluster: Cluster, myuser: str, granted: str) -> None:
    c = rbac_cluster
    apply(c, "default", simple_pod("box", ["sleep", "3600"]))
    wait_for(
        lambda: pod(c, "default", "box").get("status", {}).get("phase") == "Running",
        what="box running",
    )
    ran = as_user(c, myuser, "exec", "box", "--", "echo", "hello")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello\n"


def test_deny(rbac_cluster: Cluster, tmp_path: Path) -> None:
    c = rbac_cluster
    _, request = key_and_request(tmp_path, "intruder")
    c.kubectl("apply", "-f", "-", input=csr_manifest("intruder", request))
    denied = c.kubectl("certificate", "deny", "intruder")
    assert denied.stdout.strip() == "certificatesigningrequest.certificates.k8s.io/intruder denied"
    assert c.kubectl("get", "csr", "intruder").stdout.split()[-1] == "Denied"
    got = c.kubectl_json("get", "csr", "intruder")
    assert "certificate" not in got["status"]
    # kubectl will not approve it (the server would refuse: unit-tested)
    again = c.kubectl("certificate", "approve", "intruder", check=False)
    assert again.stderr.strip() == 'error: certificate signing request "intruder" is already Denied'


def test_a_certificate_from_another_ca_is_unauthorized(
    rbac_cluster: Cluster, tmp_path: Path
) -> None:
    c = rbac_cluster
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "myuser")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_path, cert_path = tmp_path / "self.key", tmp_path / "self.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    add_user(c, "forger", key_path, cert_path)
    refused = as_user(c, "forger", "get", "pods")
    assert refused.stderr.strip() == "error: You must be logged in to the server (Unauthorized)"


def test_approving_needs_approve_on_the_signer(rbac_cluster: Cluster, myuser: str) -> None:
    c = rbac_cluster
    _, request = key_and_request(c.data_dir, "someone")
    c.kubectl("apply", "-f", "-", input=csr_manifest("someone", request))
    c.kubectl(
        "create", "clusterrole", "csr-approver", "--verb=get,list,watch",
        "--resource=certificatesigningrequests",
    )  # fmt: skip
    c.kubectl(
        "create",
        "clusterrolebinding",
        "csr-approver",
        "--clusterrole=csr-approver",
        "--user=myuser",
    )
    c.kubectl(
        "create", "clusterrole", "csr-approval", "--verb=update",
        "--resource=certificatesigningrequests/approval",
    )  # fmt: skip
    c.kubectl(
        "create",
        "clusterrolebinding",
        "csr-approval",
        "--clusterrole=csr-approval",
        "--user=myuser",
    )
    refused = as_user(c, myuser, "certificate", "approve", "someone")
    assert refused.returncode != 0
    assert (
        'certificatesigningrequests.certificates.k8s.io "someone" is forbidden: user not '
        f'permitted to approve requests with signerName "{SIGNER}"'
    ) in refused.stderr
    # `signers` is no resource kubectl can discover (nor on upstream): a manifest
    signer_approver = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "signer-approver"},
        "rules": [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["signers"],
                "resourceNames": [SIGNER],
                "verbs": ["approve"],
            }
        ],
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(signer_approver))
    c.kubectl(
        "create", "clusterrolebinding", "signer-approver", "--clusterrole=signer-approver",
        "--user=myuser",
    )  # fmt: skip
    approved = as_user(c, myuser, "certificate", "approve", "someone")
    assert approved.returncode == 0, approved.stderr
    assert c.kubectl("get", "csr", "someone").stdout.split()[-1] == "Approved,Issued"


def test_describe_csr(rbac_cluster: Cluster, myuser: str) -> None:
    out = rbac_cluster.kubectl("describe", "csr", myuser).stdout
    lines = {" ".join(line.split()) for line in out.splitlines()}
    assert "Requesting User: system:admin" in lines
    assert f"Signer: {SIGNER}" in lines
    assert "Status: Approved,Issued" in lines
    assert "Common Name: myuser" in lines
    assert "Organization: mygroup" in lines


def test_explain_csr(rbac_cluster: Cluster) -> None:
    out = rbac_cluster.kubectl("explain", "csr.spec.expirationSeconds").stdout
    assert "KIND:       CertificateSigningRequest" in out
    assert "expirationSeconds is the requested duration" in out
