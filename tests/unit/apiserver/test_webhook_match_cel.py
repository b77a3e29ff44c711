"""Webhook matchConditions (CEL): validated on write, evaluated before each call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.webhook_server import WebhookServer

from kubelite.api.validation_admissionregistration import validate_validating_webhook_configuration
from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

GROUP = "admissionregistration.k8s.io/v1"


def _hook(
    server: WebhookServer | None, *conditions: tuple[str, str], **extra: Any
) -> dict[str, Any]:
    client: dict[str, Any] = {"url": server.url if server else "https://127.0.0.1:1/x"}
    if server is not None:
        client["caBundle"] = server.ca_bundle
    return {
        "name": "check.example.com",
        "clientConfig": client,
        "rules": [
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "matchConditions": [{"name": n, "expression": e} for n, e in conditions],
        **extra,
    }


def _config(*hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "v"},
        "webhooks": list(hooks),
    }


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "data": {"k": "v"},
    }


@pytest.fixture
def client(tmp_path: Path) -> LocalClient:
    storage = RestStorage(Store(tmp_path / "db"))
    ns = storage.registry.by_kind("v1", "Namespace")
    assert ns is not None
    storage.create(
        ns, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    )
    return LocalClient(storage)


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    started = WebhookServer(lambda req: {"allowed": True}).start()
    yield started
    started.stop()


def test_a_condition_that_does_not_compile_refuses_the_configuration() -> None:
    errs = validate_validating_webhook_configuration(
        _config(_hook(None, ("bad", "object.metadata.name =="), ("dup", "true"), ("dup", "true")))
    )
    assert [e.field for e in errs] == [
        "webhooks[0].matchConditions[0].expression",
        "webhooks[0].matchConditions[2].name",
    ]
    assert str(errs[0]).startswith(
        'webhooks[0].matchConditions[0].expression: Invalid value: "object.metadata.name ==": '
        "compilation failed: ERROR: <input>:1:24: Syntax error: mismatched input '<EOF>'"
    )
    assert str(errs[1]) == 'webhooks[0].matchConditions[2].name: Duplicate value: "dup"'


def test_conditions_may_use_the_admission_variables() -> None:
    conditions = [
        ("obj", "has(object.metadata.labels) && object.metadata.labels.tier == 'web'"),
        ("old", "oldObject == null || oldObject.metadata.name == object.metadata.name"),
        ("req", "request.operation in ['CREATE', 'UPDATE'] && request.userInfo.username != ''"),
        ("authz", "!authorizer.group('').resource('configmaps').check('breakglass').allowed()"),
    ]
    assert validate_validating_webhook_configuration(_config(_hook(None, *conditions))) == []
    unknown = validate_validating_webhook_configuration(_config(_hook(None, ("x", "params.a"))))
    assert "undeclared reference to 'params'" in str(unknown[0])


def test_all_true_calls_any_false_skips(client: LocalClient, server: WebhookServer) -> None:
    web_only = ("web", "object.metadata.labels.tier == 'web'")
    creates = ("create", "request.operation == 'CREATE'")

    async def scenario() -> None:
        await client.create(_config(_hook(server, web_only, creates)))
        await client.create(_cm("api", tier="api"))
        await client.create(_cm("web", tier="web"))

    asyncio.run(scenario())
    assert [r["request"]["name"] for r in server.reviews] == ["web"]


def test_a_false_condition_skips_even_when_another_errs(
    client: LocalClient, server: WebhookServer
) -> None:
    async def scenario() -> None:
        hook = _hook(server, ("errs", "object.metadata.nothere == 1"), ("no", "false"))
        await client.create(_config(hook))
        await client.create(_cm("one"))

    asyncio.run(scenario())
    assert server.reviews == []


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_an_evaluation_error_follows_the_failure_policy(
    client: LocalClient, server: WebhookServer, policy: str
) -> None:
    async def scenario() -> None:
        hook = _hook(server, ("errs", "object.metadata.nothere == 1"), failurePolicy=policy)
        await client.create(_config(hook))
        await client.create(_cm("one"))

    if policy == "Ignore":
        asyncio.run(scenario())
        assert server.reviews == []
        return
    with pytest.raises(errors.Forbidden) as caught:
        asyncio.run(scenario())
    assert caught.value.message == (
        "configmaps \"one\" is forbidden: expression 'object.metadata.nothere == 1' "
        "resulted in error: no such key: nothere"
    )
    assert server.reviews == []
