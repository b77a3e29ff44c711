"""Quantities decoded as kube-apiserver decodes them: parsed when the body is read
(a bad one is a 400, never a server error), stored in canonical form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.api.quantity import ERR_FORMAT, QuantityError, decode_json
from kubelite.apiserver.http import ApiApp

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def pod(name: str, resources: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "c", "image": "python:3.11", "resources": resources}
    return {"metadata": {"name": name}, "spec": {"containers": [container]}}


@pytest.mark.parametrize(
    ("value", "stored"),
    [("1000m", "1"), ("1024Ki", "1Mi"), (" 500m ", "500m"), (1.5, "1500m"), (None, "0")],
)
def test_a_json_value_decodes_as_quantity_unmarshal_json_then_marshal_json(
    value: Any, stored: str
) -> None:
    assert decode_json(value) == stored


@pytest.mark.parametrize("value", [True, {}, [], "", "1e3m", "ten"])
def test_what_parse_quantity_refuses_is_its_error(value: Any) -> None:
    with pytest.raises(QuantityError, match="quantities must match"):
        decode_json(value)


def test_a_pods_quantities_are_stored_canonical(app: ApiApp) -> None:
    body = pod("p", {"requests": {"cpu": "1000m", "memory": "1024Ki"}, "limits": {"cpu": 2}})
    r = call(app, "POST", PODS, body)
    assert r.status_code == 201, r.text
    resources = r.json()["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"cpu": "2"}}
    assert r.json()["status"]["qosClass"] == "Burstable"


def test_a_bad_quantity_is_a_400_naming_the_kind_and_nothing_is_stored(app: ApiApp) -> None:
    r = call(app, "POST", PODS, pod("p", {"requests": {"cpu": "1e3m"}}))
    assert r.status_code == 400, r.text
    assert r.json()["message"] == f'Pod in version "v1" cannot be handled as a Pod: {ERR_FORMAT}'
    assert call(app, "GET", f"{PODS}/p").status_code == 404


def test_a_patch_leaving_a_bad_quantity_is_a_422_and_changes_nothing(app: ApiApp) -> None:
    assert call(app, "POST", PODS, pod("p", {"limits": {"memory": "64Mi"}})).status_code == 201
    patch = [{"op": "replace", "path": "/spec/containers/0/resources/limits/memory", "value": "x"}]
    r = call(app, "PATCH", f"{PODS}/p", patch, content_type="application/json-patch+json")
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"][0]["field"] == "patch"
    assert r.json()["message"].endswith(ERR_FORMAT)
    stored = call(app, "GET", f"{PODS}/p").json()
    assert stored["spec"]["containers"][0]["resources"]["limits"] == {"memory": "64Mi"}


def test_quantities_in_a_template_and_a_quota_are_decoded_too(app: ApiApp) -> None:
    quota = {"metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "2000m", "pods": 10}}}
    r = call(app, "POST", "/api/v1/namespaces/default/resourcequotas", quota)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["hard"] == {"requests.cpu": "2", "pods": "10"}
    template = pod("t", {"requests": {"memory": "0.5Gi"}})
    deploy = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": template["spec"]},
        },
    }
    r = call(app, "POST", "/apis/apps/v1/namespaces/default/deployments", deploy)
    assert r.status_code == 201, r.text
    resources = r.json()["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"memory": "512Mi"}}
