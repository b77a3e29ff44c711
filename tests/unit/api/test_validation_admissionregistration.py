"""Webhook configurations: upstream's defaults, and the validation messages users meet."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate


def _hook(**over: Any) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": "label.example.com",
        "clientConfig": {"url": "https://127.0.0.1:9443/mutate"},
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    hook.update(over)
    return hook


def _config(*hooks: dict[str, Any], kind: str = "MutatingWebhookConfiguration") -> dict[str, Any]:
    return apply_defaults(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": "cfg"},
            "webhooks": list(hooks),
        }
    )


def _messages(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate(obj)]


def test_defaults_follow_upstream() -> None:
    hook = _config(_hook(clientConfig={"service": {"name": "s", "namespace": "n"}}))["webhooks"][0]
    assert hook["failurePolicy"] == "Fail"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["namespaceSelector"] == {} and hook["objectSelector"] == {}
    assert hook["timeoutSeconds"] == 10
    assert hook["reinvocationPolicy"] == "Never"
    assert hook["rules"][0]["scope"] == "*"
    assert hook["clientConfig"]["service"]["port"] == 443
    validating = _config(_hook(), kind="ValidatingWebhookConfiguration")["webhooks"][0]
    assert "reinvocationPolicy" not in validating


def test_a_valid_configuration_passes() -> None:
    assert _messages(_config(_hook())) == []


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        pytest.param(
            _hook(name="label"),
            'webhooks[0].name: Invalid value: "label": should be a domain with at least '
            "three segments separated by dots",
            id="two-few-segments",
        ),
        pytest.param(
            _hook(clientConfig={}),
            "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
            id="no-client",
        ),
        pytest.param(
            _hook(clientConfig={"url": "http://example.com/x"}),
            "webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed "
            "URL scheme; desired format: https://host[/path]",
            id="http-url",
        ),
        pytest.param(
            _hook(clientConfig={"url": "https://example.com/x?a=b"}),
            'webhooks[0].clientConfig.url: Invalid value: "a=b": query parameters are not '
            "permitted in the URL",
            id="url-query",
        ),
        pytest.param(
            _hook(clientConfig={"url": "https://example.com/x#frag"}),
            'webhooks[0].clientConfig.url: Invalid value: "frag": fragments are not permitted '
            "in the URL",
            id="url-fragment",
        ),
        pytest.param(
            _hook(clientConfig={"service": {"name": "s", "namespace": "n", "port": 70000}}),
            "webhooks[0].clientConfig.service.port: Invalid value: 70000: port is not valid: "
            "must be between 1 and 65535, inclusive",
            id="service-port",
        ),
        pytest.param(
            _hook(sideEffects=None),
            "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
            id="no-side-effects",
        ),
        pytest.param(
            _hook(sideEffects="Some"),
            'webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", '
            '"NoneOnDryRun"',
            id="side-effects-some",
        ),
        pytest.param(
            _hook(admissionReviewVersions=["v2"]),
            'webhooks[0].admissionReviewVersions: Invalid value: []string{"v2"}: must include '
            "at least one of v1, v1beta1",
            id="review-versions",
        ),
        pytest.param(
            _hook(admissionReviewVersions=[]),
            "webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1",
            id="no-review-versions",
        ),
        pytest.param(
            _hook(
                rules=[
                    {
                        "operations": ["*", "CREATE"],
                        "apiGroups": ["*"],
                        "apiVersions": ["*"],
                        "resources": ["*"],
                    }
                ]
            ),
            'webhooks[0].rules[0].operations: Invalid value: []string{"*", "CREATE"}: if \'*\' '
            "is present, must not specify other operations",
            id="wildcard-operations",
        ),
        pytest.param(
            _hook(
                rules=[
                    {
                        "operations": ["PATCH"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                    }
                ]
            ),
            'webhooks[0].rules[0].operations[0]: Unsupported value: "PATCH": supported values: '
            '"*", "CONNECT", "CREATE", "DELETE", "UPDATE"',
            id="bad-operation",
        ),
        pytest.param(
            _hook(
                rules=[
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["*", "pods"],
                    }
                ]
            ),
            'webhooks[0].rules[0].resources: Invalid value: []string{"*", "pods"}: if \'*\' is '
            "present, must not specify other resources without subresources",
            id="wildcard-resources",
        ),
        pytest.param(
            _hook(timeoutSeconds=31),
            "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between "
            "1 and 30 seconds",
            id="timeout",
        ),
    ],
)
def test_refusals(hook: dict[str, Any], expected: str) -> None:
    assert expected in _messages(_config(hook))


def test_webhook_names_are_unique_within_a_configuration() -> None:
    messages = _messages(_config(_hook(), _hook()))
    assert messages == ['webhooks[1].name: Duplicate value: "label.example.com"']
