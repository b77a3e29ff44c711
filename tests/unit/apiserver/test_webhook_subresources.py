"""The `scale` and `eviction` subresources reach admission webhooks and policies,
with the Scale and Eviction objects, as upstream sends them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, api_app
from tests.unit.apiserver.webhook_server import WebhookServer, WebhookServers, json_patch

from kubelite.apiserver.http import ApiApp

GROUP = "admissionregistration.k8s.io/v1"
DEPLOYMENT = "/apis/apps/v1/namespaces/default/deployments/web"
POD = "/api/v1/namespaces/default/pods/victim"
MERGE = "application/merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


@pytest.fixture
def servers() -> Iterator[WebhookServers]:
    started = WebhookServers()
    yield started
    started.stop_all()


def _hook(
    server: WebhookServer, resources: list[str], *, group: str, operations: list[str]
) -> dict[str, Any]:
    return {
        "name": "hook.example.com",
        "clientConfig": {"url": server.url, "caBundle": server.ca_bundle},
        "rules": [
            {
                "operations": operations,
                "apiGroups": [group],
                "apiVersions": ["v1"],
                "resources": resources,
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }


def _config(kind: str, hook: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": GROUP, "kind": kind, "metadata": {"name": "cfg"}, "webhooks": [hook]}


def _deployment() -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "victim", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


async def _send(
    client: httpx.AsyncClient, method: str, path: str, body: Any = None, ctype: str = ""
) -> httpx.Response:
    headers = {"authorization": f"Bearer {TOKEN}"}
    if ctype:
        headers["content-type"] = ctype
    content = None if body is None else orjson.dumps(body)
    return await client.request(method, path, content=content, headers=headers)


def _session(app: ApiApp, steps: list[tuple[Any, ...]]) -> list[httpx.Response]:
    """The requests, in order, on one event loop (the webhook clients live on it)."""
    import asyncio

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        out = []
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for step in steps:
                out.append(await _send(client, *step))
        await app.storage.webhooks.aclose()
        return out

    return asyncio.run(go())


def _create_config(kind: str, plural: str, hook: dict[str, Any]) -> tuple[Any, ...]:
    return ("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", _config(kind, hook))


def _scale_to(n: int) -> tuple[Any, ...]:
    return ("PATCH", f"{DEPLOYMENT}/scale", {"spec": {"replicas": n}}, MERGE)


VALIDATING = ("ValidatingWebhookConfiguration", "validatingwebhookconfigurations")
MUTATING = ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations")


def test_validating_webhook_on_deployments_scale_sees_scale_and_denies(
    app: ApiApp, servers: WebhookServers
) -> None:
    server = servers.serve(
        lambda req: {
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": "no scaling today"},
        },
    )
    hook = _hook(server, ["deployments/scale"], group="apps", operations=["UPDATE"])
    responses = _session(
        app,
        [
            ("POST", "/apis/apps/v1/namespaces/default/deployments", _deployment()),
            _create_config(*VALIDATING, hook),
            _scale_to(3),
            ("GET", DEPLOYMENT),
            (
                "PUT",
                DEPLOYMENT,
                {**_deployment(), "spec": {**_deployment()["spec"], "replicas": 2}},
            ),
        ],
    )
    created, _, denied, after, put = responses
    assert created.status_code == 201
    assert denied.status_code == 403, denied.text
    status = denied.json()
    assert status["message"] == (
        'admission webhook "hook.example.com" denied the request: no scaling today'
    )
    assert status["reason"] == "Forbidden"
    assert after.json()["spec"]["replicas"] == 1
    # A plain update of the deployment is not a scale request: the webhook does not see it.
    assert put.status_code == 200, put.text
    assert len(server.reviews) == 1
    req = server.reviews[0]["request"]
    assert req["operation"] == "UPDATE"
    assert req["resource"] == {"group": "apps", "version": "v1", "resource": "deployments"}
    assert req["kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert req["requestResource"] == req["resource"] and req["requestKind"] == req["kind"]
    assert req["subResource"] == "scale" and req["requestSubResource"] == "scale"
    assert (req["name"], req["namespace"]) == ("web", "default")
    assert req["object"]["kind"] == "Scale" and req["object"]["apiVersion"] == "autoscaling/v1"
    assert req["object"]["spec"] == {"replicas": 3}
    assert req["oldObject"]["kind"] == "Scale" and req["oldObject"]["spec"] == {"replicas": 1}
    assert req["options"] == {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}


def test_webhook_listing_only_deployments_does_not_see_scale(
    app: ApiApp, servers: WebhookServers
) -> None:
    server = servers.serve(lambda req: {"allowed": False, "status": {"message": "no"}})
    hook = _hook(server, ["deployments"], group="apps", operations=["UPDATE"])
    _, _, scaled, after = _session(
        app,
        [
            ("POST", "/apis/apps/v1/namespaces/default/deployments", _deployment()),
            _create_config(*VALIDATING, hook),
            _scale_to(4),
            ("GET", DEPLOYMENT),
        ],
    )
    assert scaled.status_code == 200, scaled.text
    assert scaled.json()["spec"]["replicas"] == 4
    assert after.json()["spec"]["replicas"] == 4
    assert server.reviews == []


def test_mutating_webhook_patches_scale_replicas(app: ApiApp, servers: WebhookServers) -> None:
    server = servers.serve(
        lambda req: json_patch([{"op": "replace", "path": "/spec/replicas", "value": 2}])
    )
    hook = _hook(server, ["*/scale"], group="apps", operations=["UPDATE"])
    _, _, scaled, after = _session(
        app,
        [
            ("POST", "/apis/apps/v1/namespaces/default/deployments", _deployment()),
            _create_config(*MUTATING, hook),
            _scale_to(7),
            ("GET", DEPLOYMENT),
        ],
    )
    assert scaled.status_code == 200, scaled.text
    assert scaled.json()["kind"] == "Scale" and scaled.json()["spec"]["replicas"] == 2
    assert after.json()["spec"]["replicas"] == 2
    assert [r["request"]["object"]["spec"]["replicas"] for r in server.reviews] == [7]


def test_eviction_webhook_sees_create_of_eviction_and_can_deny(
    app: ApiApp, servers: WebhookServers
) -> None:
    server = servers.serve(
        lambda req: {"allowed": False, "status": {"code": 403, "message": "pod is precious"}},
    )
    hook = _hook(server, ["pods/eviction"], group="", operations=["CREATE"])
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "victim", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0},
    }
    _, _, denied, still = _session(
        app,
        [
            ("POST", "/api/v1/namespaces/default/pods", _pod()),
            _create_config(*VALIDATING, hook),
            ("POST", f"{POD}/eviction", eviction),
            ("GET", POD),
        ],
    )
    assert denied.status_code == 403, denied.text
    assert denied.json()["message"] == (
        'admission webhook "hook.example.com" denied the request: pod is precious'
    )
    assert still.status_code == 200
    assert len(server.reviews) == 1
    req = server.reviews[0]["request"]
    assert req["operation"] == "CREATE"
    assert req["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert req["kind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert req["subResource"] == "eviction" and req["requestSubResource"] == "eviction"
    assert (req["name"], req["namespace"]) == ("victim", "default")
    assert req["object"] == eviction and req["oldObject"] is None
    assert req["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}


def test_eviction_allowed_by_webhook_deletes_pod_and_pods_rule_does_not_match(
    app: ApiApp, servers: WebhookServers
) -> None:
    allow = servers.serve(lambda req: {"allowed": True})
    deny_pods = servers.serve(lambda req: {"allowed": False, "status": {"message": "no"}})
    hooks = [
        {**_hook(allow, ["pods/*"], group="", operations=["CREATE"]), "name": "allow.example.com"},
        {**_hook(deny_pods, ["pods"], group="", operations=["CREATE"]), "name": "pods.example.com"},
    ]
    config = {**_config(*VALIDATING[:1], hooks[0]), "webhooks": hooks}
    _, _, evicted, gone = _session(
        app,
        [
            ("POST", "/api/v1/namespaces/default/pods", _pod()),
            ("POST", f"/apis/admissionregistration.k8s.io/v1/{VALIDATING[1]}", config),
            ("POST", f"{POD}/eviction", {"metadata": {"name": "victim"}}),
            ("GET", POD),
        ],
    )
    assert evicted.status_code == 201, evicted.text
    assert gone.status_code == 404
    assert len(allow.reviews) == 1 and deny_pods.reviews == []
    assert allow.reviews[0]["request"]["object"]["kind"] == "Eviction"


def test_validating_admission_policy_on_deployments_scale(app: ApiApp) -> None:
    policy = {
        "apiVersion": GROUP,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "max-replicas"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["deployments/scale"],
                    }
                ]
            },
            "validations": [{"expression": "object.spec.replicas <= 5"}],
        },
    }
    binding = {
        "apiVersion": GROUP,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "max-replicas-binding"},
        "spec": {"policyName": "max-replicas", "validationActions": ["Deny"]},
    }
    base = "/apis/admissionregistration.k8s.io/v1"
    responses = _session(
        app,
        [
            ("POST", "/apis/apps/v1/namespaces/default/deployments", _deployment()),
            ("POST", f"{base}/validatingadmissionpolicies", policy),
            ("POST", f"{base}/validatingadmissionpolicybindings", binding),
            _scale_to(10),
            ("GET", DEPLOYMENT),
            _scale_to(5),
            # The deployment itself is not matched: only its scale subresource is.
            ("PATCH", DEPLOYMENT, {"spec": {"replicas": 9}}, MERGE),
        ],
    )
    refused, after, scaled, patched = responses[3:]
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == (
        "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas' "
        "with binding 'max-replicas-binding' denied request: failed expression: "
        "object.spec.replicas <= 5"
    )
    assert refused.json()["reason"] == "Invalid"
    assert after.json()["spec"]["replicas"] == 1
    assert scaled.status_code == 200 and scaled.json()["spec"]["replicas"] == 5
    assert patched.status_code == 200 and patched.json()["spec"]["replicas"] == 9
