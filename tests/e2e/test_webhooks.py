"""Admission webhooks with the real kubectl: a webhook server this test runs on 127.0.0.1.

The server has a self-signed certificate (its CA goes into `caBundle`); the
configurations point at it with `clientConfig.url` and select only this
test's namespace, so nothing else in the cluster reaches them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.unit.apiserver.webhook_server import WebhookServer, json_patch

pytestmark = pytest.mark.e2e


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
