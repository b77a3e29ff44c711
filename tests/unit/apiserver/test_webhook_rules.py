"""Which webhooks a request reaches: rules, scope, and the two selectors."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver.webhook_rules import (
    Request,
    namespace_selector_matches,
    object_selector_matches,
    rules_match,
)


def _req(
    kind: str = "Pod",
    api_version: str = "v1",
    *,
    operation: str = "CREATE",
    subresource: str = "",
    labels: dict[str, str] | None = None,
    old_labels: dict[str, str] | None = None,
) -> Request:
    rt = REGISTRY.by_kind(api_version, kind)
    assert rt is not None
    obj = {"metadata": {"name": "x", "labels": labels or {}}}
    old = {"metadata": {"name": "x", "labels": old_labels}} if old_labels is not None else None
    return Request(operation, rt, subresource, "default" if rt.namespaced else None, "x", obj, old)


def _hook(**rule: Any) -> dict[str, Any]:
    base = {
        "operations": ["CREATE"],
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "resources": ["pods"],
    }
    base.update(rule)
    return {"rules": [base]}


@pytest.mark.parametrize(
    ("hook", "req", "matches"),
    [
        pytest.param(_hook(), _req(), True, id="exact"),
        pytest.param(_hook(), _req(operation="UPDATE"), False, id="other-operation"),
        pytest.param(_hook(operations=["*"]), _req(operation="DELETE"), True, id="any-operation"),
        pytest.param(_hook(), _req(subresource="status"), False, id="status-needs-naming"),
        pytest.param(
            _hook(resources=["pods/status"]), _req(subresource="status"), True, id="status"
        ),
        pytest.param(
            _hook(resources=["pods/*"]), _req(subresource="status"), True, id="pods-any-sub"
        ),
        pytest.param(_hook(resources=["*"]), _req(subresource="status"), False, id="star-no-subs"),
        pytest.param(_hook(resources=["*/*"]), _req(subresource="status"), True, id="all"),
        pytest.param(_hook(apiGroups=["apps"]), _req(), False, id="other-group"),
        pytest.param(
            _hook(apiGroups=["apps"], resources=["deployments"]),
            _req("Deployment", "apps/v1"),
            True,
            id="apps",
        ),
        pytest.param(_hook(scope="Cluster"), _req(), False, id="scope-cluster"),
        pytest.param(_hook(scope="Namespaced"), _req(), True, id="scope-namespaced"),
        pytest.param(
            _hook(resources=["namespaces"], scope="Cluster"),
            _req("Namespace"),
            True,
            id="namespace-is-cluster",
        ),
        pytest.param(
            _hook(apiGroups=["*"], apiVersions=["*"], resources=["*"]),
            _req("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1"),
            False,
            id="never-own-kinds",
        ),
    ],
)
def test_rules(hook: dict[str, Any], req: Request, matches: bool) -> None:
    assert rules_match(hook, req) is matches


def test_object_selector_uses_new_or_old_labels() -> None:
    hook = {"objectSelector": {"matchLabels": {"team": "a"}}}
    assert object_selector_matches(hook, _req(labels={"team": "a"}))
    assert object_selector_matches(hook, _req(labels={}, old_labels={"team": "a"}))
    assert not object_selector_matches(hook, _req(labels={"team": "b"}))
    assert object_selector_matches({"objectSelector": {}}, _req())


def test_namespace_selector() -> None:
    hook = {
        "namespaceSelector": {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}
    }
    assert namespace_selector_matches(hook, _req(), {"env": "dev"})
    assert not namespace_selector_matches(hook, _req(), {"skip": "yes"})
    # A Namespace is judged by its own labels; other cluster-scoped objects always match.
    assert not namespace_selector_matches(hook, _req("Namespace", labels={"skip": "1"}), None)
    assert namespace_selector_matches(hook, _req("Node"), {"skip": "1"})
