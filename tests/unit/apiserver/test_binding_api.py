"""Binding a pod: `pods/NAME/binding` and the legacy `bindings` resource, as upstream's BindingREST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

PODS = "/api/v1/namespaces/default/pods"
BINDINGS = "/api/v1/namespaces/default/bindings"


@pytest.fixture
def app(tmp_path: Path) -> Any:
    with api_app(tmp_path) as app:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        assert call(app, "POST", PODS, pod).status_code == 201
        yield app


def binding(name: str = "p", node: str = "vm", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, **extra},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


def pod(app: ApiApp) -> dict[str, Any]:
    return call(app, "GET", PODS + "/p").json()  # type: ignore[no-any-return]


def test_the_legacy_resource_binds_the_named_pod(app: ApiApp) -> None:
    r = call(app, "POST", BINDINGS, binding(annotations={"by": "me"}))
    assert r.status_code == 201
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
    got = pod(app)
    assert got["spec"]["nodeName"] == "vm"
    assert got["metadata"]["annotations"] == {"by": "me"}
    scheduled = [c for c in got["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert [c["status"] for c in scheduled] == ["True"]


def test_a_second_binding_conflicts_on_pods_binding(app: ApiApp) -> None:
    assert call(app, "POST", BINDINGS, binding()).status_code == 201
    for path in (BINDINGS, PODS + "/p/binding"):
        r = call(app, "POST", path, binding(node="other"))
        assert r.status_code == 409
        assert r.json()["message"] == (
            'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "vm"'
        )
        assert r.json()["details"] == {"name": "p", "kind": "pods/binding"}


def test_the_subresource_name_must_match_the_binding(app: ApiApp) -> None:
    r = call(app, "POST", PODS + "/p/binding", binding(name="q"))
    assert r.status_code == 400
    assert r.json()["message"] == "name in URL does not match name in Binding object"
    assert call(app, "POST", PODS + "/p/binding", binding()).status_code == 201


def test_validation_errors_are_upstreams_plain_500(app: ApiApp) -> None:
    # ValidatePodBinding's errors are returned as a plain error: a 500 without a reason.
    no_target = {**binding(), "target": {}}
    r = call(app, "POST", BINDINGS, no_target)
    assert r.status_code == 500
    assert r.json()["message"] == "target.name: Required value"
    assert "reason" not in r.json()
    wrong_kind = {**binding(), "target": {"kind": "Pod", "name": "vm"}}
    r = call(app, "POST", BINDINGS, wrong_kind)
    assert r.json()["message"] == (
        'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"'
    )
    assert "nodeName" not in pod(app)["spec"]


def test_preconditions_and_missing_pods(app: ApiApp) -> None:
    r = call(app, "POST", BINDINGS, binding(uid="not-the-uid"))
    assert r.status_code == 409
    assert "Precondition failed: UID in precondition: not-the-uid" in r.json()["message"]
    r = call(app, "POST", BINDINGS, binding(name="ghost"))
    assert r.status_code == 404 and r.json()["message"] == 'pods "ghost" not found'
    r = call(app, "POST", BINDINGS, {**binding(), "metadata": {}})
    assert r.status_code == 400 and r.json()["message"] == "Name parameter required."
    uid = pod(app)["metadata"]["uid"]
    assert call(app, "POST", BINDINGS, binding(uid=uid)).status_code == 201


def test_dry_run_and_scheduling_gates(app: ApiApp) -> None:
    assert call(app, "POST", BINDINGS + "?dryRun=All", binding()).status_code == 201
    assert "nodeName" not in pod(app)["spec"]
    gated = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "g"},
        "spec": {"containers": [{"name": "c", "image": "x"}], "schedulingGates": [{"name": "a"}]},
    }
    assert call(app, "POST", PODS, gated).status_code == 201
    r = call(app, "POST", BINDINGS, binding(name="g"))
    assert r.status_code == 409
    assert r.json()["message"].endswith("pod g has non-empty .spec.schedulingGates")


def test_only_create_on_the_namespaced_collection(app: ApiApp) -> None:
    assert call(app, "GET", BINDINGS).status_code == 405
    assert call(app, "POST", BINDINGS + "/p", binding()).status_code == 404
    assert call(app, "POST", "/api/v1/bindings", binding()).status_code == 404


def test_discovery_lists_bindings_create_only(app: ApiApp) -> None:
    rows = {r["name"]: r for r in call(app, "GET", "/api/v1").json()["resources"]}
    assert rows["bindings"] == {
        "name": "bindings",
        "singularName": "binding",
        "namespaced": True,
        "kind": "Binding",
        "verbs": ["create"],
    }
    assert rows["pods/binding"]["verbs"] == ["create"]


def test_openapi_documents_the_create(app: ApiApp) -> None:
    from kubelite.apiserver.openapi import openapi_v3_group_version

    doc = openapi_v3_group_version("api/v1")
    assert doc is not None
    post = doc["paths"]["/api/v1/namespaces/{namespace}/bindings"]["post"]
    assert post["operationId"] == "createCoreV1NamespacedBinding"
    assert post["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Binding",
    }
