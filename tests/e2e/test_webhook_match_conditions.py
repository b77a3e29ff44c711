"""Webhook matchConditions (CEL) with the real kubectl, against a webhook this test runs.

The webhook denies every request it receives, so a ConfigMap that is stored
shows that the conditions skipped it, and one that is refused with the
webhook's message shows that they let it through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.unit.apiserver.webhook_server import WebhookServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def denying_server() -> Iterator[WebhookServer]:
    server = WebhookServer(
        lambda req: {"allowed": False, "status": {"code": 403, "message": "checked and denied"}}
    ).start()
    yield server
    server.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = "mc-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"webhooks={name}")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _config(name: str, namespace: str, server: WebhookServer, **extra: Any) -> str:
    hook = {
        "name": f"{name}.kubelite.test",
        "clientConfig": {"url": server.url, "caBundle": server.ca_bundle},
        "rules": [
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
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
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [hook],
        }
    )


def _configmap(name: str, namespace: str, **labels: str) -> str:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}
    )


def test_a_condition_that_does_not_compile_is_refused(cluster, namespace, denying_server):
    conditions = [{"name": "broken", "expression": "object.metadata.name =="}]
    out = cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_config(f"broken-{namespace}", namespace, denying_server, matchConditions=conditions),
        check=False,
    )
    assert out.returncode != 0
    assert f'The ValidatingWebhookConfiguration "broken-{namespace}" is invalid' in out.stderr
    assert (
        'webhooks[0].matchConditions[0].expression: Invalid value: "object.metadata.name ==": '
        "compilation failed: ERROR: <input>:1:24: Syntax error"
    ) in out.stderr


def test_conditions_decide_which_requests_reach_the_webhook(cluster, namespace, denying_server):
    name = f"tier-{namespace}"
    conditions = [
        {"name": "web-tier", "expression": "object.metadata.labels.tier == 'web'"},
        {"name": "not-breakglass", "expression": "!has(object.metadata.labels.breakglass)"},
    ]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_config(name, namespace, denying_server, matchConditions=conditions),
    )
    try:
        cluster.kubectl("apply", "-f", "-", input=_configmap("api", namespace, tier="api"))
        bypass = _configmap("urgent", namespace, tier="web", breakglass="yes")
        cluster.kubectl("apply", "-f", "-", input=bypass)
        denied = cluster.kubectl(
            "apply", "-f", "-", input=_configmap("web", namespace, tier="web"), check=False
        )
        assert denied.returncode != 0
        assert 'admission webhook "' + name + '.kubelite.test" denied the request' in denied.stderr
        names = cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "name").stdout.split()
        assert "configmap/api" in names and "configmap/urgent" in names
        assert "configmap/web" not in names
        # No labels: no condition is false, one cannot be evaluated; failurePolicy Fail refuses.
        failed = cluster.kubectl(
            "apply", "-f", "-", input=_configmap("bare", namespace), check=False
        )
        assert failed.returncode != 0
        assert (
            'configmaps "bare" is forbidden: ['
            "expression 'object.metadata.labels.tier == 'web'' resulted in error: no such key: "
            "labels, expression '!has(object.metadata.labels.breakglass)' resulted in error: "
            "no such key: labels]"
        ) in failed.stderr
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name, check=False)
