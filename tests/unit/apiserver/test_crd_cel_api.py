"""CRD validation rules through the real API app, in process: the Status objects users meet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

Obj = dict[str, Any]
TOKEN = "t0ken"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SCALERS = "/apis/example.com/v1/namespaces/default/scalers"
MERGE = "application/merge-patch+json"


@dataclass
class Api:
    app: ApiApp

    def call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(
                    method,
                    path,
                    content=None if body is None else orjson.dumps(body),
                    headers={"authorization": f"Bearer {TOKEN}", "content-type": content_type},
                )

        return asyncio.run(go())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    storage.create(
        storage.registry.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    yield Api(ApiApp(storage, token=TOKEN))
    for owner in {rt.custom.crd_name for rt in REGISTRY.dynamic_resources()}:
        REGISTRY.set_dynamic(owner, ())
    store.close()


def make_crd(spec_rules: list[Obj], status_rules: list[Obj] | None = None) -> Obj:
    spec = {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "minReplicas": {"type": "integer"},
            "mode": {
                "type": "string",
                "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}],
            },
        },
        "x-kubernetes-validations": spec_rules,
    }
    status: Obj = {"type": "object", "properties": {"ready": {"type": "integer"}}}
    if status_rules:
        status["x-kubernetes-validations"] = status_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "scalers.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "scalers", "kind": "Scaler"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec, "status": status},
                        }
                    },
                }
            ],
        },
    }


RULE = {"rule": "self.minReplicas <= self.replicas"}


def scaler(name: str = "s", **spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Scaler",
        "metadata": {"name": name},
        "spec": {"minReplicas": 1, "replicas": 2, **spec},
    }


def test_a_crd_whose_rule_does_not_compile_is_refused(api: Api) -> None:
    response = api.call("POST", CRDS, make_crd([{"rule": "self.minReplicas <="}]))
    assert response.status_code == 422
    status = response.json()
    field = "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    assert [c["field"] for c in status["details"]["causes"]] == [field]
    assert status["message"].startswith(
        'CustomResourceDefinition.apiextensions.k8s.io "scalers.example.com" is invalid: '
        f"{field}: Invalid value: apiextensions.ValidationRule{{Rule:"
    )
    assert "compilation failed: ERROR: <input>:1:" in status["message"]
    assert api.call("GET", f"{CRDS}/scalers.example.com").status_code == 404


def test_a_failing_rule_refuses_the_write_with_a_422(api: Api) -> None:
    assert api.call("POST", CRDS, make_crd([RULE])).status_code == 201
    assert api.call("POST", SCALERS, scaler("ok")).status_code == 201
    response = api.call("POST", SCALERS, scaler("bad", minReplicas=5))
    assert response.status_code == 422
    status = response.json()
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Scaler.example.com "bad" is invalid: spec: Invalid value: "object": '
        "failed rule: self.minReplicas <= self.replicas"
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": failed rule: self.minReplicas <= self.replicas',
            "field": "spec",
        }
    ]
    assert api.call("GET", f"{SCALERS}/bad").status_code == 404


def test_transition_rules_guard_updates(api: Api) -> None:
    assert api.call("POST", CRDS, make_crd([RULE])).status_code == 201
    assert api.call("POST", SCALERS, scaler(mode="fast")).status_code == 201
    same = api.call("PATCH", f"{SCALERS}/s", {"spec": {"replicas": 3}}, content_type=MERGE)
    assert same.status_code == 200
    changed = api.call("PATCH", f"{SCALERS}/s", {"spec": {"mode": "slow"}}, content_type=MERGE)
    assert changed.status_code == 422
    assert changed.json()["details"]["causes"][0] == {
        "reason": "FieldValueInvalid",
        "message": 'Invalid value: "string": immutable',
        "field": "spec.mode",
    }
    assert api.call("GET", f"{SCALERS}/s").json()["spec"]["mode"] == "fast"


def test_status_writes_are_checked_too(api: Api) -> None:
    crd = make_crd([RULE], status_rules=[{"rule": "self.ready >= 0", "message": "negative"}])
    assert api.call("POST", CRDS, crd).status_code == 201
    assert api.call("POST", SCALERS, scaler()).status_code == 201
    status = {"status": {"ready": -1}}
    response = api.call("PATCH", f"{SCALERS}/s/status", status, content_type=MERGE)
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "status"
    fine = api.call("PATCH", f"{SCALERS}/s/status", {"status": {"ready": 1}}, content_type=MERGE)
    assert fine.status_code == 200


def test_rules_wait_for_a_well_typed_object(api: Api) -> None:
    assert api.call("POST", CRDS, make_crd([RULE])).status_code == 201
    response = api.call("POST", SCALERS, scaler(replicas="two"))
    assert response.status_code == 422
    messages = [c["message"] for c in response.json()["details"]["causes"]]
    assert messages[-1] == (
        'Invalid value: "null": some validation rules were not checked because the object was '
        "invalid; correct the existing errors to complete validation"
    )
