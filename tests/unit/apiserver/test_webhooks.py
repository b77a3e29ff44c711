"""Admission webhooks called from the write path, against a real HTTPS server on a free port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.webhook_server import WebhookServer, WebhookServers, json_patch

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.request_context import collect_warnings
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

GROUP = "admissionregistration.k8s.io/v1"


def _config(kind: str, name: str, *hooks: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": GROUP, "kind": kind, "metadata": {"name": name}, "webhooks": list(hooks)}


def _hook(
    name: str,
    server: WebhookServer | None,
    *,
    resources: tuple[str, ...] = ("configmaps",),
    url: str = "",
    **extra: Any,
) -> dict[str, Any]:
    client: dict[str, Any] = {"url": url or (server.url if server else "")}
    if server is not None:
        client["caBundle"] = server.ca_bundle
    return {
        "name": name,
        "clientConfig": client,
        "rules": [
            {
                "operations": ["CREATE", "UPDATE", "DELETE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": list(resources),
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **extra,
    }


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": data,
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
def servers() -> Iterator[WebhookServers]:
    started = WebhookServers()
    yield started
    started.stop_all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_mutating_patch_applies_and_review_has_upstream_shape(
    client: LocalClient, servers: WebhookServers
) -> None:
    server = servers.serve(
        lambda req: json_patch([{"op": "add", "path": "/data/added", "value": "yes"}])
    )

    async def scenario() -> dict[str, Any]:
        await client.create(
            _config("MutatingWebhookConfiguration", "m", _hook("add.example.com", server))
        )
        return await client.create(_cm("one", a="1"))

    created = _run(scenario())
    assert created["data"] == {"a": "1", "added": "yes"}
    review = server.reviews[0]
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    req = review["request"]
    assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert req["requestKind"] == req["kind"] and req["requestResource"] == req["resource"]
    assert (req["name"], req["namespace"], req["operation"]) == ("one", "default", "CREATE")
    assert req["userInfo"]["username"] == "system:apiserver"
    assert req["object"]["data"] == {"a": "1"} and req["oldObject"] is None
    assert req["dryRun"] is False
    assert req["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
    assert server.paths[0] == "/admit?timeout=10s"


def test_validating_denial_uses_upstream_message(
    client: LocalClient, servers: WebhookServers
) -> None:
    def deny(req: dict[str, Any]) -> dict[str, Any]:
        if "forbidden" in (req["object"] or {}).get("data", {}):
            return {"allowed": False, "status": {"message": "key forbidden is not allowed"}}
        return {"allowed": True, "warnings": ["configmaps are watched"]}

    server = servers.serve(deny)

    async def scenario() -> tuple[errors.ApiError, list[str]]:
        await client.create(
            _config("ValidatingWebhookConfiguration", "v", _hook("deny.example.com", server))
        )
        warnings = collect_warnings()
        await client.create(_cm("fine", a="1"))
        with pytest.raises(errors.ApiError) as caught:
            await client.create(_cm("bad", forbidden="x"))
        return caught.value, warnings

    err, warnings = _run(scenario())
    assert (
        err.message
        == 'admission webhook "deny.example.com" denied the request: key forbidden is not allowed'
    )
    assert err.code == 400  # no code in the webhook's status: at least 400, as upstream
    assert warnings == ["configmaps are watched"]


def test_denial_code_comes_from_the_status(client: LocalClient, servers: WebhookServers) -> None:
    server = servers.serve(
        lambda req: {"allowed": False, "status": {"code": 403, "reason": "Forbidden"}}
    )

    async def scenario() -> errors.ApiError:
        await client.create(
            _config("ValidatingWebhookConfiguration", "v", _hook("deny.example.com", server))
        )
        with pytest.raises(errors.ApiError) as caught:
            await client.create(_cm("x"))
        return caught.value

    err = _run(scenario())
    assert err.code == 403
    assert err.status()["reason"] == "Forbidden"
    assert err.message == 'admission webhook "deny.example.com" denied the request: Forbidden'


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_failure_policy(client: LocalClient, policy: str) -> None:
    port = _free_port()  # nothing listens there
    url = f"https://127.0.0.1:{port}/validate"

    async def scenario() -> None:
        hook = _hook("down.example.com", None, url=url, failurePolicy=policy)
        await client.create(_config("ValidatingWebhookConfiguration", "v", hook))
        await client.create(_cm("x"))

    if policy == "Ignore":
        _run(scenario())
        return
    with pytest.raises(errors.InternalError) as caught:
        _run(scenario())
    assert caught.value.message == (
        'Internal error occurred: failed calling webhook "down.example.com": failed to call '
        f'webhook: Post "{url}?timeout=10s": dial tcp 127.0.0.1:{port}: connect: connection refused'
    )


def test_untrusted_certificate_fails_the_call(client: LocalClient, servers: WebhookServers) -> None:
    server = servers.serve(lambda req: {"allowed": True})
    other = servers.serve(lambda req: {"allowed": True})
    hook = _hook("tls.example.com", server)
    hook["clientConfig"]["caBundle"] = other.ca_bundle  # not the CA that signed the server

    async def scenario() -> None:
        await client.create(_config("ValidatingWebhookConfiguration", "v", hook))
        await client.create(_cm("x"))

    with pytest.raises(errors.InternalError) as caught:
        _run(scenario())
    assert "tls: failed to verify certificate" in caught.value.message
    assert server.reviews == []


def test_reinvocation_when_a_later_webhook_changes_the_object(
    client: LocalClient, servers: WebhookServers
) -> None:
    first = servers.serve(lambda req: {"allowed": True})
    second = servers.serve(
        lambda req: (
            json_patch([{"op": "add", "path": "/data/b", "value": "2"}])
            if "b" not in req["object"].get("data", {})
            else {"allowed": True}
        ),
    )

    async def scenario() -> dict[str, Any]:
        await client.create(
            _config(
                "MutatingWebhookConfiguration",
                "m",
                _hook("first.example.com", first, reinvocationPolicy="IfNeeded"),
                _hook("second.example.com", second),
            )
        )
        return await client.create(_cm("x"))

    created = _run(scenario())
    assert created["data"] == {"b": "2"}
    assert len(first.reviews) == 2  # called again: the second webhook changed the object
    assert first.reviews[1]["request"]["object"]["data"] == {"b": "2"}
    assert len(second.reviews) == 1


def test_subresources_only_when_named(client: LocalClient, servers: WebhookServers) -> None:
    server = servers.serve(lambda req: {"allowed": True})

    async def scenario() -> None:
        hook = _hook("status.example.com", server, resources=("pods/status",))
        await client.create(_config("ValidatingWebhookConfiguration", "v", hook))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "app:1"}]},
        }
        created = await client.create(pod)
        created["status"]["phase"] = "Running"
        await client.update_status(created)

    _run(scenario())
    assert [r["request"]["subResource"] for r in server.reviews] == ["status"]
    assert server.reviews[0]["request"]["operation"] == "UPDATE"


def test_delete_review_and_sync_writes_skip_webhooks(
    client: LocalClient, servers: WebhookServers
) -> None:
    server = servers.serve(lambda req: {"allowed": True})
    storage = client.storage
    cm_rt = storage.registry.by_kind("v1", "ConfigMap")
    assert cm_rt is not None

    async def scenario() -> None:
        await client.create(
            _config("ValidatingWebhookConfiguration", "v", _hook("all.example.com", server))
        )
        storage.create(cm_rt, "default", _cm("quiet"))  # kubelite's own synchronous write
        await client.delete("v1", "ConfigMap", "quiet", "default")

    _run(scenario())
    assert len(server.reviews) == 1
    req = server.reviews[0]["request"]
    assert req["operation"] == "DELETE" and req["object"] is None
    assert req["oldObject"]["metadata"]["name"] == "quiet"
    assert req["options"]["kind"] == "DeleteOptions"


def test_dry_run_needs_no_side_effects(client: LocalClient, servers: WebhookServers) -> None:
    server = servers.serve(lambda req: {"allowed": True})
    storage = client.storage
    cm_rt = storage.registry.by_kind("v1", "ConfigMap")
    assert cm_rt is not None

    async def scenario() -> None:
        await client.create(
            _config("ValidatingWebhookConfiguration", "v", _hook("dry.example.com", server))
        )
        await storage.acreate(cm_rt, "default", _cm("x"), dry_run=True)

    _run(scenario())
    assert server.reviews[0]["request"]["dryRun"] is True
    assert server.reviews[0]["request"]["options"]["dryRun"] == ["All"]
