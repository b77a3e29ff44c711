"""ValidatingAdmissionPolicy and its bindings: validated, served and enforced, in process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubelite.api.validation_admission_policy import (
    validate_validating_admission_policy,
    validate_validating_admission_policy_binding,
)
from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.request_context import collect_warnings
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

GROUP = "admissionregistration.k8s.io/v1"
Obj = dict[str, Any]


def policy(name: str = "small", *validations: Obj, **spec: Any) -> Obj:
    body: Obj = {
        "matchConstraints": {
            "resourceRules": [
                {
                    "operations": ["CREATE", "UPDATE"],
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["configmaps"],
                }
            ]
        },
        "validations": list(validations) or [{"expression": "size(object.data) < 2"}],
        **spec,
    }
    return {
        "apiVersion": GROUP,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": body,
    }


def binding(name: str = "small-b", policy_name: str = "small", *actions: str, **spec: Any) -> Obj:
    return {
        "apiVersion": GROUP,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy_name, "validationActions": list(actions) or ["Deny"], **spec},
    }


def cm(name: str, namespace: str = "default", labels: Obj | None = None, **data: str) -> Obj:
    metadata: Obj = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


@pytest.fixture
def storage(tmp_path: Path) -> RestStorage:
    storage = RestStorage(Store(tmp_path / "db"))
    ns = storage.registry.by_kind("v1", "Namespace")
    assert ns is not None
    for name, labels in (("default", {}), ("team", {"team": "a"})):
        storage.create(
            ns,
            None,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
        )
    return storage


@pytest.fixture
def client(storage: RestStorage) -> LocalClient:
    return LocalClient(storage)


def refused(client: LocalClient, *setup: Obj, attempt: Obj) -> errors.ApiError:
    async def scenario() -> errors.ApiError:
        for obj in setup:
            await client.create(obj)
        with pytest.raises(errors.ApiError) as caught:
            await client.create(attempt)
        return caught.value

    return asyncio.run(scenario())


def created(client: LocalClient, *objs: Obj) -> list[Obj]:
    async def scenario() -> list[Obj]:
        return [await client.create(o) for o in objs]

    return asyncio.run(scenario())


# ---- validation of the policy objects -----------------------------------------------


def test_policy_validation_uses_upstream_messages() -> None:
    bad = policy("p", {"expression": "object.data.size() <"}, {"expression": " ", "reason": "Bad"})
    bad["spec"].pop("matchConstraints")
    texts = [str(e) for e in validate_validating_admission_policy(bad)]
    assert texts[0] == "spec.matchConstraints: Required value"
    assert texts[1].startswith(
        'spec.validations[0].expression: Invalid value: "object.data.size() <": '
        "compilation failed: ERROR: <input>:1:21: Syntax error: mismatched input '<EOF>'"
    )
    assert texts[2:] == [
        "spec.validations[1].expression: Required value: expression is not specified",
        'spec.validations[1].reason: Unsupported value: "Bad": supported values: '
        '"Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"',
    ]


def test_binding_validation_uses_upstream_messages() -> None:
    both = binding("b", "p", "Deny", "Warn")
    assert [str(e) for e in validate_validating_admission_policy_binding(both)] == [
        'spec.validationActions: Invalid value: []admissionregistration.ValidationAction{"Deny", '
        '"Warn"}: must not contain both Deny and Warn (repeating the same validation failure '
        "information in the API response and headers serves no purpose)"
    ]
    empty = binding("b", "")
    empty["spec"]["validationActions"] = []
    assert [str(e) for e in validate_validating_admission_policy_binding(empty)] == [
        "spec.policyName: Required value",
        "spec.validationActions: Required value: at least one validation action is required",
    ]


# ---- enforcement ---------------------------------------------------------------------


def test_deny_refuses_with_upstream_message_and_422(client: LocalClient) -> None:
    err = refused(client, policy(), binding(), attempt=cm("big", a="1", b="2"))
    assert err.code == 422 and err.status()["reason"] == "Invalid"
    text = (
        "ValidatingAdmissionPolicy 'small' with binding 'small-b' denied request: "
        "failed expression: size(object.data) < 2"
    )
    assert err.message == f'configmaps "big" is forbidden: {text}'
    assert err.status()["details"] == {
        "name": "big",
        "kind": "configmaps",
        "causes": [{"message": text}],
    }
    assert created(client, cm("fine", a="1"))[0]["data"] == {"a": "1"}


def test_message_expression_and_reason(client: LocalClient) -> None:
    check = {
        "expression": "size(object.data) < 2",
        "messageExpression": "'too many keys: ' + string(size(object.data))",
        "message": "unused",
        "reason": "Forbidden",
    }
    err = refused(client, policy("p", check), binding("b", "p"), attempt=cm("x", a="1", b="2"))
    assert err.code == 403
    assert err.message.endswith("denied request: too many keys: 2")


def test_warn_only_warns(client: LocalClient) -> None:
    async def scenario() -> tuple[Obj, list[str]]:
        await client.create(policy())
        await client.create(binding("warn", "small", "Warn", "Audit"))
        warnings = collect_warnings()
        return await client.create(cm("big", a="1", b="2")), warnings

    obj, warnings = asyncio.run(scenario())
    assert obj["metadata"]["name"] == "big"
    assert warnings == [
        "Validation failed for ValidatingAdmissionPolicy 'small' with binding 'warn': "
        "failed expression: size(object.data) < 2"
    ]


def test_binding_match_resources_and_policy_conditions_narrow_it(client: LocalClient) -> None:
    scoped = binding(
        "b", "small", matchResources={"namespaceSelector": {"matchLabels": {"team": "a"}}}
    )
    conditions = [{"name": "labelled", "expression": "has(object.metadata.labels)"}]
    guarded = policy("small", matchConditions=conditions)
    created(client, guarded, scoped, cm("other-ns", a="1", b="2"))
    created(client, cm("unlabelled", "team", a="1", b="2"))
    err = refused(client, attempt=cm("labelled", "team", {"x": "y"}, a="1", b="2"))
    assert "denied request" in err.message


def test_exclusions_and_resource_names(client: LocalClient) -> None:
    spec = policy()["spec"]["matchConstraints"]
    spec["excludeResourceRules"] = [dict(spec["resourceRules"][0], resourceNames=["exempt"])]
    p = policy(matchConstraints=spec)
    created(client, p, binding(), cm("exempt", a="1", b="2"))
    assert "denied request" in refused(client, attempt=cm("other", a="1", b="2")).message


def test_params_and_variables(client: LocalClient) -> None:
    limits = cm("limits", max="2")
    check = {"expression": "variables.keys <= int(params.data.max)", "message": "over the limit"}
    p = policy(
        "p",
        check,
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        variables=[{"name": "keys", "expression": "size(object.data)"}],
    )
    ref = {"name": "limits", "namespace": "default", "parameterNotFoundAction": "Deny"}
    created(client, limits, p, binding("b", "p", paramRef=ref), cm("ok", a="1"))
    err = refused(client, attempt=cm("big", a="1", b="2", c="3"))
    assert err.message.endswith("denied request: over the limit")


def test_missing_params_follow_parameter_not_found_action(client: LocalClient) -> None:
    p = policy("p", paramKind={"apiVersion": "v1", "kind": "ConfigMap"})
    deny = binding("b", "p", paramRef={"name": "nothere", "parameterNotFoundAction": "Deny"})
    err = refused(client, p, deny, attempt=cm("x"))
    assert err.message == (
        "configmaps \"x\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied "
        "request: failed to configure binding: no params found for policy binding with `Deny` "
        "parameterNotFoundAction"
    )


def test_a_missing_param_is_a_configuration_error_ignored_under_failure_policy_ignore(
    client: LocalClient,
) -> None:
    # upstream's addConfigError returns without denying when failurePolicy is Ignore
    p = policy("p", paramKind={"apiVersion": "v1", "kind": "ConfigMap"}, failurePolicy="Ignore")
    deny = binding("b", "p", paramRef={"name": "nothere", "parameterNotFoundAction": "Deny"})
    assert created(client, p, deny, cm("x", a="1", b="2"))[-1]["metadata"]["name"] == "x"


def test_a_configuration_error_denies_whatever_the_binding_actions(client: LocalClient) -> None:
    p = policy("p", paramKind={"apiVersion": "v1", "kind": "ConfigMap"})
    warn = binding("b", "p", "Warn", paramRef={"name": "no", "parameterNotFoundAction": "Deny"})
    assert (
        "failed to configure binding: no params found"
        in refused(client, p, warn, attempt=cm("x")).message
    )


def test_an_unknown_param_kind_is_a_policy_configuration_error(client: LocalClient) -> None:
    p = policy("p", paramKind={"apiVersion": "example.com/v1", "kind": "Missing"})
    ref = {"name": "mp", "parameterNotFoundAction": "Deny"}
    err = refused(client, p, binding("b", "p", paramRef=ref), attempt=cm("x"))
    assert err.message == (
        "configmaps \"x\" is forbidden: ValidatingAdmissionPolicy 'p' denied request: failed to "
        "configure policy: failed to find resource referenced by paramKind: "
        "'example.com/v1, Kind=Missing'"
    )


def test_a_binding_without_a_param_ref_validates_with_no_params(client: LocalClient) -> None:
    check = {"expression": "params == null", "message": "params were given"}
    p = policy("p", check, paramKind={"apiVersion": "v1", "kind": "ConfigMap"})
    assert created(client, p, binding("b", "p"), cm("x"))[-1]["metadata"]["name"] == "x"


@pytest.mark.parametrize("failure_policy", ["Fail", "Ignore"])
def test_an_expression_that_errs_follows_the_failure_policy(
    client: LocalClient, failure_policy: str
) -> None:
    p = policy("p", {"expression": "object.data.nothere == 'x'"}, failurePolicy=failure_policy)
    if failure_policy == "Ignore":
        assert created(client, p, binding("b", "p"), cm("x", a="1"))[-1]["data"] == {"a": "1"}
        return
    err = refused(client, p, binding("b", "p"), attempt=cm("x", a="1"))
    assert err.message == (
        "configmaps \"x\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied "
        "request: expression 'object.data.nothere == 'x'' resulted in error: no such key: nothere"
    )


def test_a_binding_without_its_policy_does_nothing(client: LocalClient) -> None:
    assert created(client, binding("b", "absent"), cm("x", a="1", b="2"))[-1]["metadata"]["name"]


# ---- served as the other kinds are -----------------------------------------------------


def test_tables_and_discovery(storage: RestStorage) -> None:
    app = ApiApp(storage, token="t")

    async def go(method: str, path: str, body: Any = None, accept: str = "application/json") -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await client.request(
                method,
                path,
                content=None if body is None else orjson.dumps(body),
                headers={
                    "authorization": "Bearer t",
                    "content-type": "application/json",
                    "accept": accept,
                },
            )
            return response.json()

    base = "/apis/admissionregistration.k8s.io/v1"
    table = "application/json;as=Table;v=v1;g=meta.k8s.io"

    async def scenario() -> tuple[Any, Any, Any]:
        await go("POST", f"{base}/validatingadmissionpolicies", policy())
        ref = {"name": "limits", "parameterNotFoundAction": "Allow"}
        await go("POST", f"{base}/validatingadmissionpolicybindings", binding(paramRef=ref))
        return (
            await go("GET", base),
            await go("GET", f"{base}/validatingadmissionpolicies", accept=table),
            await go("GET", f"{base}/validatingadmissionpolicybindings", accept=table),
        )

    resources, policies, bindings = asyncio.run(scenario())
    names = {r["name"] for r in resources["resources"]}
    assert {"validatingadmissionpolicies", "validatingadmissionpolicies/status"} <= names
    assert [c["name"] for c in policies["columnDefinitions"]] == [
        "Name",
        "Validations",
        "ParamKind",
        "Age",
    ]
    assert policies["rows"][0]["cells"][:3] == ["small", 1, "<unset>"]
    assert bindings["rows"][0]["cells"][:3] == ["small-b", "small", "*/limits"]


def test_deleting_the_binding_stops_enforcement(client: LocalClient) -> None:
    async def scenario() -> Obj:
        await client.delete(GROUP, "ValidatingAdmissionPolicyBinding", "small-b")
        return await client.create(cm("later", a="1", b="2"))

    assert (
        "denied request"
        in refused(client, policy(), binding(), attempt=cm("x", a="1", b="2")).message
    )
    assert asyncio.run(scenario())["metadata"]["name"] == "later"
