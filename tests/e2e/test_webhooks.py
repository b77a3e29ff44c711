"""Admission webhooks with the real kubectl: a webhook server this test runs on 127.0.0.1.

The server has a self-signed certificate (its CA goes into `caBundle`); the
configurations point at it with `clientConfig.url` and select only this
test's namespace, so nothing else in the cluster reaches them. The last test
runs the webhook as a pod behind a Service instead, reached through
`clientConfig.service` as on a cluster.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for
from tests.unit.apiserver.webhook_server import WebhookServer, json_patch, self_signed

from kubelite.kubelet import podbind

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=90, interval=0.3)


def _mutate(req: dict[str, Any]) -> dict[str, Any]:
    labels = (req["object"].get("metadata") or {}).get("labels")
    if labels is None:
        return json_patch([{"op": "add", "path": "/metadata/labels", "value": {"injected": "yes"}}])
    return json_patch([{"op": "add", "path": "/metadata/labels/injected", "value": "yes"}])


def _validate(req: dict[str, Any]) -> dict[str, Any]:
    data = (req.get("object") or {}).get("data") or {}
    if "forbidden" in data:
        return {
            "allowed": False,
            "status": {"code": 403, "message": "key forbidden is not allowed"},
        }
    return {"allowed": True, "warnings": ["configmaps here are audited"]}


@pytest.fixture(scope="module")
def webhook_server() -> Iterator[WebhookServer]:
    def handle(req: dict[str, Any]) -> dict[str, Any]:
        return _mutate(req) if req["kind"]["kind"] == "Pod" else _validate(req)

    server = WebhookServer(handle).start()
    yield server
    server.stop()


@pytest.fixture
def labelled_namespace(cluster: Cluster) -> str:
    name = "wh-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"webhooks={name}")
    return name


def _config(
    kind: str, name: str, namespace: str, url: str, ca: str, resources: str, **extra: Any
) -> str:
    hook = {
        "name": f"{name}.kubelite.test",
        "clientConfig": {"url": url, "caBundle": ca},
        "rules": [
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": [resources],
            }
        ],
        "namespaceSelector": {"matchLabels": {"webhooks": namespace}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **extra,
    }
    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "webhooks": [hook],
        }
    )


def _configmap(name: str, namespace: str, key: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {key: "v"},
        }
    )


def test_served_with_table_and_defaults(
    cluster: Cluster, webhook_server: WebhookServer, labelled_namespace: str
) -> None:
    name = "tbl-" + labelled_namespace
    manifest = _config(
        "ValidatingWebhookConfiguration",
        name,
        labelled_namespace,
        webhook_server.url,
        webhook_server.ca_bundle,
        "secrets",
    )
    cluster.kubectl("apply", "-f", "-", input=manifest)
    table = cluster.kubectl("get", "validatingwebhookconfigurations", name).stdout
    assert table.split("\n")[0].split() == ["NAME", "WEBHOOKS", "AGE"]
    assert table.split("\n")[1].split()[:2] == [name, "1"]
    hook = cluster.kubectl_json("get", "validatingwebhookconfiguration", name)["webhooks"][0]
    assert (hook["failurePolicy"], hook["timeoutSeconds"], hook["matchPolicy"]) == (
        "Fail",
        10,
        "Equivalent",
    )
    explained = cluster.kubectl("explain", "mutatingwebhookconfiguration.webhooks.sideEffects")
    assert "sideEffects" in explained.stdout
    cluster.kubectl("delete", "validatingwebhookconfiguration", name)


def test_invalid_configuration_is_refused(cluster: Cluster, labelled_namespace: str) -> None:
    manifest = json.loads(
        _config("ValidatingWebhookConfiguration", "bad", labelled_namespace, "http://x", "", "pods")
    )
    manifest["webhooks"][0]["name"] = "bad"
    proc = cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
    assert proc.returncode != 0
    assert "should be a domain with at least three segments separated by dots" in proc.stderr
    assert "'https' is the only allowed URL scheme" in proc.stderr


def test_mutating_webhook_labels_pods(
    cluster: Cluster, webhook_server: WebhookServer, labelled_namespace: str
) -> None:
    ns = labelled_namespace
    name = "label-" + ns
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_config(
            "MutatingWebhookConfiguration",
            name,
            ns,
            webhook_server.url,
            webhook_server.ca_bundle,
            "pods",
        ),
    )
    try:
        cluster.kubectl(
            "run", "web", "-n", ns, "--image=busybox", "--restart=Never", "--", "sleep", "60"
        )
        pod = cluster.kubectl_json("get", "pod", "web", "-n", ns)
        assert pod["metadata"]["labels"]["injected"] == "yes"
        assert pod["metadata"]["labels"]["run"] == "web"
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)
        cluster.kubectl("delete", "pod", "web", "-n", ns, "--wait=false", check=False)


def test_validating_webhook_denies_and_warns(
    cluster: Cluster, webhook_server: WebhookServer, labelled_namespace: str
) -> None:
    ns = labelled_namespace
    name = "deny-" + ns
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_config(
            "ValidatingWebhookConfiguration",
            name,
            ns,
            webhook_server.url,
            webhook_server.ca_bundle,
            "configmaps",
        ),
    )
    try:
        refused = cluster.kubectl(
            "create", "-f", "-", input=_configmap("bad", ns, "forbidden"), check=False
        )
        assert refused.returncode != 0
        assert (
            f'admission webhook "{name}.kubelite.test" denied the request: '
            "key forbidden is not allowed" in refused.stderr
        )
        allowed = cluster.kubectl("create", "-f", "-", input=_configmap("good", ns, "fine"))
        assert "Warning: configmaps here are audited" in allowed.stderr
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name)


@pytest.mark.parametrize("policy", ["Ignore", "Fail"])
def test_failure_policy_with_the_server_stopped(
    cluster: Cluster, labelled_namespace: str, policy: str
) -> None:
    ns = labelled_namespace
    stopped = WebhookServer(lambda req: {"allowed": True})
    url, ca = stopped.url, stopped.ca_bundle
    stopped.start()
    stopped.stop()  # nothing listens on its port any more
    name = f"down-{policy.lower()}-{ns}"
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_config(
            "ValidatingWebhookConfiguration", name, ns, url, ca, "configmaps", failurePolicy=policy
        ),
    )
    try:
        proc = cluster.kubectl("create", "-f", "-", input=_configmap("cm", ns, "k"), check=False)
        if policy == "Ignore":
            assert proc.returncode == 0, proc.stderr
            return
        assert proc.returncode != 0
        assert (
            f'Internal error occurred: failed calling webhook "{name}.kubelite.test": '
            f'failed to call webhook: Post "{url}?timeout=10s": dial tcp 127.0.0.1:' in proc.stderr
        )
        assert "connect: connection refused" in proc.stderr
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name)


# The webhook as a pod: HTTPS on all addresses (the node agent puts it on the
# pod IP) with the certificate and key of the Secret mounted at /tls; every
# review is allowed, a Pod's with a patch adding the label injected=yes, and
# logged as "admitted NAMESPACE/NAME" so the test can see who was reviewed.
WEBHOOK_APP = """\
import base64, http.server, json, ssl

class Admit(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["content-length"])))
        req = review["request"]
        response = {"uid": req["uid"], "allowed": True}
        if req["kind"]["kind"] == "Pod":
            labels = (req["object"].get("metadata") or {}).get("labels")
            if labels is None:
                op = {"op": "add", "path": "/metadata/labels", "value": {"injected": "yes"}}
            else:
                op = {"op": "add", "path": "/metadata/labels/injected", "value": "yes"}
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps([op]).encode()).decode()
        print("admitted", f"{req.get('namespace')}/{req.get('name')}", self.path, flush=True)
        body = json.dumps(
            {"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "response": response}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/tls/tls.crt", "/tls/tls.key")
server = http.server.ThreadingHTTPServer(("0.0.0.0", 8443), Admit)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("serving", flush=True)
server.serve_forever()
"""


def _webhook_pod_objects(ns: str, cert: bytes, key: bytes) -> list[dict[str, Any]]:
    labels = {"app": "admit"}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "admit-tls", "namespace": ns},
        "data": {
            "tls.crt": base64.b64encode(cert).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "admit", "namespace": ns, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "admit",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", WEBHOOK_APP],
                    "ports": [{"containerPort": 8443}],
                    "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "tls", "secret": {"secretName": "admit-tls"}}],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "admit", "namespace": ns},
        "spec": {"selector": labels, "ports": [{"port": 443, "targetPort": 8443}]},
    }
    return [secret, pod, service]


def _ready_addresses(cluster: Cluster, ns: str, name: str) -> int:
    ep = cluster.kubectl_json("get", "endpoints", name, "-n", ns)
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])


def _logs(cluster: Cluster, ns: str, name: str) -> str:
    return cluster.kubectl("logs", "-n", ns, name, check=False).stdout


def _logs_with(cluster: Cluster, ns: str, name: str, text: str) -> str:
    """The pod's logs once they hold `text`, else ""."""
    logs = _logs(cluster, ns, name)
    return logs if text in logs else ""


def _tls_answers(address: str, port: int, ca: bytes, server_name: str) -> bool:
    """True once a TLS handshake at `address` verifies as `server_name` against `ca`
    (refused while the Service's endpoints and the proxy's rules fill in)."""
    context = ssl.create_default_context(cadata=ca.decode())
    try:
        with (
            socket.create_connection((address, port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=server_name),
        ):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    not podbind.available() or os.geteuid() != 0,
    reason="a pod listening on all addresses needs root and seccomp user notification",
)
def test_mutating_webhook_served_by_a_pod_behind_a_service(cluster: Cluster) -> None:
    if cluster.status.get("proxyMode") in (None, "none"):
        pytest.skip("the service proxy is not wired into this build")
    run = uuid.uuid4().hex[:8]
    hook_ns, app_ns = f"whsvc-{run}", f"whapp-{run}"
    for ns in (hook_ns, app_ns):
        cluster.kubectl("create", "namespace", ns)
        cluster.kubectl("label", "namespace", ns, f"svc-webhooks={run}")
    cert, key = self_signed(f"admit.{hook_ns}.svc")  # the name the API server checks
    objects = _webhook_pod_objects(hook_ns, cert, key)
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    wait_for(lambda: _ready_addresses(cluster, hook_ns, "admit") == 1, "the webhook's endpoints")
    wait_for(partial(_logs_with, cluster, hook_ns, "admit", "serving"), "the webhook serving")
    cluster_ip = cluster.kubectl_json("get", "service", "admit", "-n", hook_ns)["spec"]["clusterIP"]
    assert cluster_ip.startswith("127.96.")
    host = f"admit.{hook_ns}.svc"
    wait_for(partial(_tls_answers, cluster_ip, 443, cert, host), "TLS at the ClusterIP")

    name = f"svc-label-{run}"
    ca_bundle = base64.b64encode(cert).decode()
    manifest = json.loads(
        _config("MutatingWebhookConfiguration", name, app_ns, "", ca_bundle, "pods")
    )
    hook = manifest["webhooks"][0]
    hook["clientConfig"] = {
        "service": {"namespace": hook_ns, "name": "admit", "port": 443, "path": "/mutate"},
        "caBundle": ca_bundle,
    }
    # both namespaces carry the test's label; the webhook's own is left out by
    # name, as real setups keep a webhook from gating its own pods
    hook["namespaceSelector"] = {
        "matchLabels": {"svc-webhooks": run},
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [hook_ns]}
        ],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:
        cluster.kubectl(
            "run", "sibling", "-n", hook_ns, f"--image=python:{PY}", "--restart=Never",
            "--", "sleep", "60",
        )  # fmt: skip
        cluster.kubectl(
            "run", "web", "-n", app_ns, f"--image=python:{PY}", "--restart=Never",
            "--", "sleep", "60",
        )  # fmt: skip
        pod = cluster.kubectl_json("get", "pod", "web", "-n", app_ns)
        assert pod["metadata"]["labels"] == {"run": "web", "injected": "yes"}
        sibling = cluster.kubectl_json("get", "pod", "sibling", "-n", hook_ns)
        assert sibling["metadata"]["labels"] == {"run": "sibling"}
        admit = cluster.kubectl_json("get", "pod", "admit", "-n", hook_ns)
        assert admit["metadata"]["labels"] == {"app": "admit"}
        # the review reached the pod on the configured path; the sibling, created
        # just before, would be logged ahead of it had it been sent
        wanted = f"admitted {app_ns}/web /mutate?timeout=10s"
        logs = wait_for(partial(_logs_with, cluster, hook_ns, "admit", wanted), wanted)
        assert f"admitted {hook_ns}/" not in logs
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)
        for ns in (app_ns, hook_ns):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_kubectl_scale_goes_through_a_scale_webhook(
    cluster: Cluster, labelled_namespace: str
) -> None:
    """`kubectl scale` is an UPDATE of deployments/scale with Scale objects."""

    def at_most_two(req: dict[str, Any]) -> dict[str, Any]:
        if req["object"]["spec"]["replicas"] > 2:
            return {"allowed": False, "status": {"code": 403, "message": "at most 2 replicas"}}
        return {"allowed": True}

    server = WebhookServer(at_most_two).start()
    ns = labelled_namespace
    name = "scale-" + ns
    config = json.loads(
        _config("ValidatingWebhookConfiguration", name, ns, server.url, server.ca_bundle, "x")
    )
    config["webhooks"][0]["rules"] = [
        {
            "operations": ["UPDATE"],
            "apiGroups": ["apps"],
            "apiVersions": ["v1"],
            "resources": ["deployments/scale"],
        }
    ]
    cluster.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=0", "-n", ns)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        refused = cluster.kubectl(
            "scale", "deployment", "web", "--replicas=3", "-n", ns, check=False
        )
        assert refused.returncode != 0
        assert (
            f'admission webhook "{name}.kubelite.test" denied the request: at most 2 replicas'
            in refused.stderr
        )
        replicas = cluster.kubectl_json("get", "deployment", "web", "-n", ns)["spec"]["replicas"]
        assert replicas == 0
        cluster.kubectl("scale", "deployment", "web", "--replicas=0", "-n", ns)
        reviews = [r["request"] for r in server.reviews]
        assert [r["object"]["spec"]["replicas"] for r in reviews] == [3, 0]
        assert {(r["kind"]["kind"], r["subResource"], r["operation"]) for r in reviews} == {
            ("Scale", "scale", "UPDATE")
        }
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name)
        server.stop()
