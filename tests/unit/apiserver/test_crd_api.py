"""CustomResourceDefinitions and their custom resources through the real API app, in process.

Each test gets its own store; creating the `RestStorage` serves exactly the
CRDs in that store, and the fixture stops serving them afterwards, so the
process-wide registry is left as it was found.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, api_app

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import discovery, openapi
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE = "application/merge-patch+json"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass
class Api:
    storage: RestStorage
    app: ApiApp

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(
                    method,
                    path,
                    content=None if body is None else orjson.dumps(body),
                    headers={
                        "authorization": f"Bearer {TOKEN}",
                        "content-type": content_type,
                        "accept": accept,
                    },
                )

        return asyncio.run(go())


def _forget_custom_types() -> None:
    for owner in {rt.custom.crd_name for rt in REGISTRY.dynamic_resources()}:
        REGISTRY.set_dynamic(owner, ())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with api_app(tmp_path) as app:
        yield Api(app.storage, app)
    _forget_custom_types()


SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "color": {"type": "string", "default": "blue"},
                "replicas": {"type": "integer"},
                "selector": {"type": "string"},
            },
        },
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
    },
}


def make_crd(
    plural: str = "widgets", kind: str = "Widget", *, versions: list[Obj] | None = None
) -> Obj:
    version = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": SCHEMA},
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".spec.selector",
            },
        },
        "additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind, "shortNames": ["wd"]},
            "versions": versions or [version],
        },
    }


def widget(name: str = "w", **spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"size": 1, **spec},
    }


def conditions(crd: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in crd["status"]["conditions"]}


def test_crd_is_established_and_discovered(api: Api) -> None:
    created = api.call("POST", CRDS, make_crd())
    assert created.status_code == 201
    crd = created.json()
    assert conditions(crd) == {
        "NamesAccepted": ("True", "NoConflicts"),
        "Established": ("True", "InitialNamesAccepted"),
    }
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList"
    assert crd["status"]["storedVersions"] == ["v1"]
    assert crd["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    groups = api.call("GET", "/apis", accept=AGGREGATED).json()["items"]
    group = next(g for g in groups if g["metadata"].get("name") == "example.com")
    resource = group["versions"][0]["resources"][0]
    assert (resource["resource"], resource["shortNames"]) == ("widgets", ["wd"])
    assert [s["subresource"] for s in resource["subresources"]] == ["scale", "status"]
    assert api.call("GET", "/apis/example.com/v1").json()["groupVersion"] == "example.com/v1"


def test_crd_kind_is_served_with_its_names(api: Api) -> None:
    listed = discovery.api_resource_list("apiextensions.k8s.io", "v1")
    assert listed is not None
    main = listed["resources"][0]
    assert (main["name"], main["shortNames"], main["categories"]) == (
        "customresourcedefinitions",
        ["crd", "crds"],
        ["api-extensions"],
    )


def test_invalid_crd_refused(api: Api) -> None:
    crd = make_crd()
    crd["metadata"]["name"] = "widget.example.com"
    answer = api.call("POST", CRDS, crd)
    assert answer.status_code == 422
    assert 'must be spec.names.plural+"."+spec.group' in answer.json()["message"]


def test_create_defaults_prunes_and_validates(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    created = api.call("POST", WIDGETS, {**widget(), "extra": 1, "status": {"replicas": 3}})
    assert created.status_code == 201
    obj = created.json()
    assert obj["spec"] == {"size": 1, "color": "blue"}
    assert "extra" not in obj and "status" not in obj  # pruned; status is the subresource's
    assert obj["metadata"]["generation"] == 1
    bad = api.call("POST", WIDGETS, widget("bad", size=0))
    assert bad.status_code == 422
    assert bad.json()["message"] == (
        'Widget.example.com "bad" is invalid: spec.size: Invalid value: 0: '
        "spec.size in body should be greater than or equal to 1"
    )
    strict = api.call("POST", f"{WIDGETS}?fieldValidation=Strict", {**widget("s"), "extra": 1})
    assert strict.status_code == 400
    assert strict.json()["message"].endswith('strict decoding error: unknown field "extra"')


def test_list_selectors_and_table(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    for name in ("a", "b"):
        api.call("POST", WIDGETS, widget(name, size=2))
    names = api.call("GET", f"{WIDGETS}?labelSelector=app%3Db").json()["items"]
    assert [i["metadata"]["name"] for i in names] == ["b"]
    by_field = api.call("GET", f"{WIDGETS}?fieldSelector=metadata.name%3Da").json()
    assert by_field["kind"] == "WidgetList"
    assert [i["metadata"]["name"] for i in by_field["items"]] == ["a"]
    bad = api.call("GET", f"{WIDGETS}?fieldSelector=spec.size%3D2")
    assert bad.status_code == 400
    table = api.call("GET", WIDGETS, accept=TABLE).json()
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", 0), ("Size", 0), ("Color", 1)]
    assert [r["cells"] for r in table["rows"]] == [["a", 2, "blue"], ["b", 2, "blue"]]


def test_status_subresource_and_generation(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    main = api.call(
        "PATCH",
        f"{WIDGETS}/w",
        {"status": {"replicas": 5}, "spec": {"size": 2}},
        content_type=MERGE,
    ).json()
    assert "status" not in main and main["spec"]["size"] == 2
    assert main["metadata"]["generation"] == 2
    status = api.call(
        "PATCH",
        f"{WIDGETS}/w/status",
        {"status": {"replicas": 5}, "spec": {"size": 9}},
        content_type=MERGE,
    ).json()
    assert status["status"] == {"replicas": 5} and status["spec"]["size"] == 2
    assert status["metadata"]["generation"] == 2
    labels = api.call(
        "PATCH", f"{WIDGETS}/w", {"metadata": {"labels": {"x": "y"}}}, content_type=MERGE
    ).json()
    assert labels["metadata"]["generation"] == 2


def test_a_status_write_without_status_leaves_none(api: Api) -> None:
    """The custom resource status strategy drops a missing status (no `status: {}`)."""
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    out = api.call("PATCH", f"{WIDGETS}/w/status", {"spec": {"size": 3}}, content_type=MERGE)
    assert out.status_code == 200 and "status" not in out.json()
    assert "status" not in api.call("GET", f"{WIDGETS}/w").json()


def test_a_put_without_a_resource_version_is_refused(api: Api) -> None:
    """Custom resources and CRDs allow no unconditional update: a blind PUT overwrites."""
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    r = api.call("PUT", f"{WIDGETS}/w", widget(size=6))
    assert r.status_code == 422
    assert r.json()["message"] == (
        'widgets.example.com "w" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
        "must be specified for an update"
    )
    assert api.call("GET", f"{WIDGETS}/w").json()["spec"]["size"] == 1
    crd = make_crd()
    r = api.call("PUT", f"{CRDS}/widgets.example.com", crd)
    assert r.json()["message"].startswith(
        'customresourcedefinitions.apiextensions.k8s.io "widgets.example.com" is invalid: '
        "metadata.resourceVersion: Invalid value: 0x0"
    )
    current = api.call("GET", f"{WIDGETS}/w").json()
    current["spec"]["size"] = 6
    assert api.call("PUT", f"{WIDGETS}/w", current).status_code == 200


def test_scale_subresource(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget(replicas=1, selector="app=w"))
    scale = api.call("GET", f"{WIDGETS}/w/scale").json()
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {"replicas": 0, "selector": "app=w"}
    scaled = api.call("PATCH", f"{WIDGETS}/w/scale", {"spec": {"replicas": 4}}, content_type=MERGE)
    assert scaled.json()["spec"]["replicas"] == 4
    assert api.call("GET", f"{WIDGETS}/w").json()["spec"]["replicas"] == 4


def test_patch_types(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    smp = api.call(
        "PATCH",
        f"{WIDGETS}/w",
        {"spec": {"size": 3}},
        content_type="application/strategic-merge-patch+json",
    )
    assert smp.status_code == 415
    assert smp.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    patch = [{"op": "replace", "path": "/spec/size", "value": 3}]
    assert (
        api.call("PATCH", f"{WIDGETS}/w", patch, content_type="application/json-patch+json").json()[
            "spec"
        ]["size"]
        == 3
    )
    applied = api.call(
        "PATCH",
        f"{WIDGETS}/new?fieldManager=me",
        widget("new", size=4),
        content_type="application/apply-patch+yaml",
    )
    assert applied.status_code == 201 and applied.json()["spec"]["color"] == "blue"


def test_name_conflicts_are_not_accepted(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    crd = make_crd("gadgets", "Widget")
    crd["spec"]["names"].update(singular="gadget", listKind="GadgetList", shortNames=["gd"])
    clash = api.call("POST", CRDS, crd).json()
    assert conditions(clash)["NamesAccepted"] == ("False", "KindConflict")
    assert conditions(clash)["Established"] == ("False", "NotAccepted")
    message = next(c["message"] for c in clash["status"]["conditions"])
    assert message == '"Widget" is already in use'
    missing = api.call("GET", "/apis/example.com/v1/namespaces/default/gadgets")
    assert missing.status_code == 404


def test_versions_share_one_store(api: Api) -> None:
    def version(name: str, storage: bool) -> Obj:
        return {
            "name": name,
            "served": True,
            "storage": storage,
            "schema": {"openAPIV3Schema": SCHEMA},
        }

    crd = make_crd(versions=[version("v1", True), version("v2", False)])
    created = api.call("POST", CRDS, crd)
    assert created.status_code == 201, created.text
    v2 = "/apis/example.com/v2/namespaces/default/widgets"
    obj = api.call("POST", v2, {**widget(), "apiVersion": "example.com/v2"}).json()
    assert obj["apiVersion"] == "example.com/v2"
    assert api.call("GET", f"{WIDGETS}/w").json()["apiVersion"] == "example.com/v1"
    group = discovery.api_group("example.com")
    assert group is not None and group["preferredVersion"]["version"] == "v2"


def test_openapi_documents_the_custom_kind(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    assert "apis/example.com/v1" in openapi.openapi_v3_root()["paths"]
    doc = openapi.openapi_v3_group_version("apis/example.com/v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    kind = next(
        s
        for s in schemas.values()
        if {"group": "example.com", "version": "v1", "kind": "Widget"}
        in s.get("x-kubernetes-group-version-kind", [])
    )
    assert kind["properties"]["spec"]["properties"]["size"]["type"] == "integer"
    assert "metadata" in kind["properties"]
    patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


def test_deleting_a_crd_stops_new_objects_then_the_type(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    deleting = api.call("DELETE", f"{CRDS}/widgets.example.com").json()
    assert conditions(deleting)["Terminating"] == ("True", "InstanceDeletionInProgress")
    refused = api.call("POST", WIDGETS, widget("late"))
    assert refused.status_code == 405
    assert api.call("GET", f"{WIDGETS}/w").status_code == 200  # still served while cleaning up
    # What the cleanup controller does: delete the objects, then drop the finalizer.
    api.call("DELETE", f"{WIDGETS}/w")
    api.call(
        "PATCH",
        f"{CRDS}/widgets.example.com",
        {"metadata": {"finalizers": None}},
        content_type=MERGE,
    )
    assert api.call("GET", f"{CRDS}/widgets.example.com").status_code == 404
    assert api.call("GET", WIDGETS).status_code == 404
    assert discovery.api_group("example.com") is None


def test_restart_serves_stored_crds_again(api: Api, tmp_path: Path) -> None:
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    _forget_custom_types()  # as a fresh process starts
    again = Api(api.storage, ApiApp(RestStorage(api.storage.store), token=TOKEN))
    assert again.call("GET", f"{WIDGETS}/w").json()["spec"]["color"] == "blue"


def test_read_applies_defaults_added_later(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    api.call("POST", WIDGETS, widget())
    crd = api.call("GET", f"{CRDS}/widgets.example.com").json()
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["spec"]["properties"]["shape"] = {"type": "string", "default": "round"}
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    updated = api.call("PUT", f"{CRDS}/widgets.example.com", crd)
    assert updated.status_code == 200, updated.text
    assert api.call("GET", f"{WIDGETS}/w").json()["spec"]["shape"] == "round"


def test_metadata_of_the_wrong_type_is_refused_and_stores_nothing(api: Api) -> None:
    """Metadata decodes into ObjectMeta: a finalizer that is not a string is a 400,
    never an object stored that every later update would trip on."""
    api.call("POST", CRDS, make_crd())
    body = widget("badmeta")
    body["metadata"]["finalizers"] = [{"name": "x"}]
    r = api.call("POST", WIDGETS, body)
    assert r.status_code == 400
    assert "metadata.finalizers" in r.json()["message"]
    assert api.call("GET", f"{WIDGETS}/badmeta").status_code == 404


def test_a_service_with_a_null_spec_is_invalid_not_a_crash(api: Api) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": None}
    r = api.call("POST", "/api/v1/namespaces/default/services", body)
    assert r.status_code == 422
    assert "spec.ports: Required value" in r.json()["message"]
