"""Pods reach the API as on a real cluster: service accounts, bound tokens, the cluster CA.

A pod from the host python image runs the official client's
`config.load_incluster_config()` (token and CA from the kube-api-access
volume, the API at `KUBERNETES_SERVICE_HOST:PORT` = the `kubernetes` Service)
and lists the pods of its namespace. Tokens from `kubectl create token`
authenticate kubectl; expired, forged or orphaned ones get 401.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import sysconfig
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import pytest
from cryptography import x509
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
NODE = socket.gethostname().split(".")[0].lower()
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def python_pod(name: str, code: str, **spec: Any) -> dict[str, Any]:
    """A pod running `python -c code` on the host interpreter, with this venv importable."""
    site = sysconfig.get_paths()["purelib"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": f"python:{PY}",
                    "command": ["python", "-c", code],
                    "env": [{"name": "PYTHONPATH", "value": site}],
                }
            ],
            **spec,
        },
    }


def create(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> Any:
    return cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))


def kubectl_as(cluster: Cluster, token: str, *args: str) -> Any:
    """kubectl with `token` instead of the kubeconfig's credentials (same server and CA)."""
    return cluster.kubectl("--token", token, *args, check=False)


def finished_log(cluster: Cluster, ns: str, name: str) -> str:
    def done() -> str | None:
        phase = cluster.kubectl_json("get", "pod", name, "-n", ns).get("status", {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(done, what=f"pod {name} to finish")
    log = cluster.kubectl("logs", name, "-n", ns).stdout
    assert phase == "Succeeded", log
    return log


# ---- service accounts and the root CA in every namespace ------------------------------


def test_every_namespace_has_default_sa_and_root_ca(cluster: Cluster, namespace: str) -> None:
    def accounts() -> set[tuple[str, str]] | None:
        items = cluster.kubectl_json("get", "sa", "-A")["items"]
        found = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items}
        wanted = {(ns, "default") for ns in (*SYSTEM_NAMESPACES, namespace)}
        return found if wanted <= found else None

    wait_for(accounts, what="default service accounts")
    table = cluster.kubectl("get", "sa", "-n", namespace).stdout
    assert table.split()[:6] == ["NAME", "SECRETS", "AGE", "default", "0", table.split()[5]]

    ca = (cluster.data_dir / "tls" / "ca.crt").read_text()
    for ns in (*SYSTEM_NAMESPACES, namespace):
        cm = wait_for(
            lambda ns=ns: (
                cluster.kubectl_json("get", "cm", "kube-root-ca.crt", "-n", ns)
                if cluster.kubectl(
                    "get", "cm", "kube-root-ca.crt", "-n", ns, check=False
                ).returncode
                == 0
                else None
            ),
            what=f"kube-root-ca.crt in {ns}",
        )
        assert cm["data"] == {"ca.crt": ca}
    text = cluster.kubectl("get", "cm", "kube-root-ca.crt", "-n", namespace, "-o", "yaml").stdout
    assert "BEGIN CERTIFICATE" in text and "kubernetes.io/description" in text


def test_deleted_or_edited_objects_come_back(cluster: Cluster, namespace: str) -> None:
    wait_for(
        lambda: (
            cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0
        )
    )
    uid = cluster.kubectl_json("get", "sa", "default", "-n", namespace)["metadata"]["uid"]
    cluster.kubectl("delete", "sa", "default", "-n", namespace)
    wait_for(
        lambda: (
            cluster.kubectl(
                "get",
                "sa",
                "default",
                "-n",
                namespace,
                "-o",
                "jsonpath={.metadata.uid}",
                check=False,
            ).stdout
            not in ("", uid)
        ),
        what="a new default service account",
    )
    ca = (cluster.data_dir / "tls" / "ca.crt").read_text()
    wait_for(
        lambda: (
            cluster.kubectl(
                "get", "cm", "kube-root-ca.crt", "-n", namespace, check=False
            ).returncode
            == 0
        )
    )
    cluster.kubectl(
        "patch",
        "cm",
        "kube-root-ca.crt",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"data":{"ca.crt":"x"}}',
    )
    wait_for(
        lambda: (
            cluster.kubectl_json("get", "cm", "kube-root-ca.crt", "-n", namespace)["data"]
            == {"ca.crt": ca}
        ),
        what="the CA put back",
    )


# ---- admission -----------------------------------------------------------------------------


def test_pod_right_after_its_namespace_runs_as_default(cluster: Cluster) -> None:
    ns = "t-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl(
        "run", "quick", "-n", ns, f"--image=python:{PY}", "--restart=Never", "--", "true"
    )
    spec = cluster.kubectl_json("get", "pod", "quick", "-n", ns)["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    (volume,) = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(volume["name"]) == len("kube-api-access-") + 5
    assert [s for src in volume["projected"]["sources"] for s in src] == [
        "serviceAccountToken",
        "configMap",
        "downwardAPI",
    ]
    mount = {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}
    assert spec["containers"][0]["volumeMounts"] == [mount]


def test_missing_service_account_is_forbidden(cluster: Cluster, namespace: str) -> None:
    overrides = json.dumps({"spec": {"serviceAccountName": "ghost"}})
    proc = cluster.kubectl(
        "run",
        "lost",
        "-n",
        namespace,
        f"--image=python:{PY}",
        "--overrides",
        overrides,
        check=False,
    )
    assert proc.returncode != 0
    assert (
        f'pods "lost" is forbidden: error looking up service account {namespace}/ghost: '
        'serviceaccount "ghost" not found'
    ) in proc.stderr


def test_automount_false_gives_no_volume(cluster: Cluster, namespace: str) -> None:
    code = f"import os; print('MOUNTED', os.path.exists('{MOUNT_PATH}/token'))"
    create(cluster, namespace, python_pod("quiet", code, automountServiceAccountToken=False))
    spec = cluster.kubectl_json("get", "pod", "quiet", "-n", namespace)["spec"]
    assert "volumes" not in spec or not any(
        v["name"].startswith("kube-api-access-") for v in spec["volumes"]
    )
    assert "volumeMounts" not in spec["containers"][0]
    assert "MOUNTED False" in finished_log(cluster, namespace, "quiet")


# ---- in-cluster config from a pod -------------------------------------------------------

IN_CLUSTER = """
import os
from kubernetes import client, config
config.load_incluster_config()
ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()
pods = client.CoreV1Api().list_namespaced_pod(ns)
print('API', os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'])
print('PODS', ns, sorted(p.metadata.name for p in pods.items))
"""


def service_ip(cluster: Cluster) -> str:
    svc = cluster.kubectl_json("get", "svc", "kubernetes", "-n", "default")
    return str(svc["spec"]["clusterIP"])


def test_pod_lists_pods_with_in_cluster_config(cluster: Cluster, namespace: str) -> None:
    create(cluster, namespace, python_pod("incluster", IN_CLUSTER))
    log = finished_log(cluster, namespace, "incluster")
    assert f"API {service_ip(cluster)} 443" in log
    assert f"PODS {namespace} ['incluster']" in log


def test_two_running_clusters_each_reach_their_own_api(
    cluster: Cluster, fresh_cluster: Cluster, namespace: str
) -> None:
    # Both run at once: the proxy's rules for one cluster's address would catch
    # the other's pods if the two shared it.
    first, second = service_ip(cluster), service_ip(fresh_cluster)
    assert first != second and second.startswith("127.96.")
    assert (fresh_cluster.data_dir / "service-ip").read_text().strip() == second
    fresh_cluster.kubectl("create", "namespace", namespace)
    for c, name in ((cluster, "mine"), (fresh_cluster, "theirs")):
        create(c, namespace, python_pod(name, IN_CLUSTER))
    for c, name, ip in ((cluster, "mine", first), (fresh_cluster, "theirs", second)):
        log = finished_log(c, namespace, name)
        assert f"API {ip} 443" in log
        assert f"PODS {namespace} ['{name}']" in log


def test_kubernetes_service_routes_to_the_api(cluster: Cluster) -> None:
    svc = cluster.kubectl_json("get", "svc", "kubernetes", "-n", "default")
    assert svc["spec"]["clusterIP"] == (cluster.data_dir / "service-ip").read_text().strip()
    assert svc["spec"]["clusterIP"].startswith("127.96.")
    assert [p["port"] for p in svc["spec"]["ports"]] == [443]
    api_port = urlparse(cluster.status["api"]).port
    ep = cluster.kubectl_json("get", "endpoints", "kubernetes", "-n", "default")
    assert ep["subsets"][0]["ports"][0]["port"] == api_port
    slices = cluster.kubectl_json(
        "get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes"
    )["items"]
    assert [p["port"] for s in slices for p in s["ports"]] == [api_port]


def test_serving_certificate_names_the_service(cluster: Cluster) -> None:
    url = urlparse(cluster.status["api"])
    pem = ssl.get_server_certificate((url.hostname or "127.0.0.1", url.port or 443))
    sans = (
        x509.load_pem_x509_certificate(pem.encode())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert service_ip(cluster) in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    } <= set(sans.get_values_for_type(x509.DNSName))


# ---- tokens ----------------------------------------------------------------------------------


def test_created_token_authenticates_and_bad_ones_do_not(cluster: Cluster, namespace: str) -> None:
    wait_for(
        lambda: (
            cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0
        )
    )
    token = cluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()
    ok = kubectl_as(cluster, token, "get", "pods", "-n", namespace)
    assert ok.returncode == 0, ok.stderr
    assert "No resources found" in ok.stderr

    for bad in ("garbage", token[:-4] + "AAAA", "a.b.c"):
        proc = kubectl_as(cluster, bad, "get", "pods", "-n", namespace)
        assert proc.returncode != 0
        assert "Unauthorized" in proc.stderr


def test_expired_token_is_401(cluster: Cluster, namespace: str) -> None:
    from kubelite.apiserver.certs import service_account_key
    from kubelite.apiserver.serviceaccount_tokens import ServiceAccountTokens

    wait_for(
        lambda: (
            cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0
        )
    )
    sa = cluster.kubectl_json("get", "sa", "default", "-n", namespace)
    key = service_account_key(cluster.data_dir / "tls")  # the cluster's own signing key
    long_ago = ServiceAccountTokens(key, clock=lambda: time.time() - 7200)
    expired = long_ago.issue(sa, audiences=list(long_ago.audiences), expiration_s=600).token
    fresh = (
        ServiceAccountTokens(key)
        .issue(sa, audiences=list(long_ago.audiences), expiration_s=600)
        .token
    )
    assert kubectl_as(cluster, fresh, "get", "pods", "-n", namespace).returncode == 0
    proc = kubectl_as(cluster, expired, "get", "pods", "-n", namespace)
    assert proc.returncode != 0 and "Unauthorized" in proc.stderr


def test_token_of_a_deleted_service_account_is_401(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "builder", "-n", namespace)
    token = cluster.kubectl(
        "create", "token", "builder", "-n", namespace, "--duration", "1h"
    ).stdout.strip()
    assert kubectl_as(cluster, token, "get", "pods", "-n", namespace).returncode == 0
    cluster.kubectl("delete", "serviceaccount", "builder", "-n", namespace)
    proc = kubectl_as(cluster, token, "get", "pods", "-n", namespace)
    assert proc.returncode != 0 and "Unauthorized" in proc.stderr


def test_token_request_validation_and_discovery(cluster: Cluster, namespace: str) -> None:
    wait_for(
        lambda: (
            cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0
        )
    )
    proc = cluster.kubectl(
        "create", "token", "default", "-n", namespace, "--duration", "5m", check=False
    )
    assert proc.returncode != 0
    assert (
        "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"
        in proc.stderr
    )
    resources = json.loads(cluster.kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    (token,) = [r for r in resources if r["name"] == "serviceaccounts/token"]
    assert (token["group"], token["version"], token["kind"], token["verbs"]) == (
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
        ["create"],
    )


def test_a_token_secret_gets_a_long_lived_token_that_lives_with_it(
    cluster: Cluster, namespace: str
) -> None:
    """The documented way to a long-lived token: a service-account-token Secret."""
    import base64

    cluster.kubectl("create", "serviceaccount", "app", "-n", namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "app-token",
            "annotations": {"kubernetes.io/service-account.name": "app"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    create(cluster, namespace, secret)

    def filled() -> dict[str, Any] | None:
        got = cluster.kubectl_json("get", "secret", "app-token", "-n", namespace)
        return got if (got.get("data") or {}).get("token") else None

    got = wait_for(filled, what="the token in the secret")
    sa = cluster.kubectl_json("get", "sa", "app", "-n", namespace)
    assert (
        got["metadata"]["annotations"]["kubernetes.io/service-account.uid"]
        == (sa["metadata"]["uid"])
    )
    assert base64.b64decode(got["data"]["namespace"]).decode() == namespace
    assert b"BEGIN CERTIFICATE" in base64.b64decode(got["data"]["ca.crt"])
    token = base64.b64decode(got["data"]["token"]).decode()
    whoami = kubectl_as(cluster, token, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:app"
    )
    cluster.kubectl("delete", "secret", "app-token", "-n", namespace)
    proc = kubectl_as(cluster, token, "get", "pods", "-n", namespace)
    assert proc.returncode != 0 and "Unauthorized" in proc.stderr

    create(cluster, namespace, {**secret, "metadata": {**secret["metadata"], "name": "t2"}})
    wait_for(
        lambda: (
            cluster.kubectl_json("get", "secret", "t2", "-n", namespace).get("data") or {}
        ).get("token"),
        what="the second token",
    )
    cluster.kubectl("delete", "serviceaccount", "app", "-n", namespace)
    wait_for(
        lambda: (
            cluster.kubectl("get", "secret", "t2", "-n", namespace, check=False).returncode != 0
        ),
        what="the orphaned token secret deleted",
    )


def test_legacy_token_use_is_recorded_and_an_invalidated_one_refused(
    cluster: Cluster, namespace: str
) -> None:
    """LegacyServiceAccountTokenTracking / CleanUp: the Secret is labelled with the day of
    use, and the `legacy-token-invalid-since` label switches the token off."""
    import base64
    import re

    cluster.kubectl("create", "serviceaccount", "tmp", "-n", namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "tmp-tok",
            "annotations": {"kubernetes.io/service-account.name": "tmp"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    create(cluster, namespace, secret)
    got = wait_for(
        lambda: (
            cluster.kubectl_json("get", "secret", "tmp-tok", "-n", namespace).get("data") or {}
        ).get("token"),
        what="the token in the secret",
    )
    token = base64.b64decode(got).decode()
    assert kubectl_as(cluster, token, "auth", "whoami").returncode == 0
    labels = cluster.kubectl_json("get", "secret", "tmp-tok", "-n", namespace)["metadata"]["labels"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", labels["kubernetes.io/legacy-token-last-used"])
    found = cluster.kubectl(
        "get", "secrets", "-A", "-l", "kubernetes.io/legacy-token-last-used", "-o", "name"
    )
    assert "secret/tmp-tok" in found.stdout.split()
    cluster.kubectl(
        "label",
        "secret",
        "tmp-tok",
        "-n",
        namespace,
        "kubernetes.io/legacy-token-invalid-since=2026-01-01",
    )
    refused = kubectl_as(cluster, token, "auth", "whoami")
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr
