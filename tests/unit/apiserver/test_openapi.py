"""OpenAPI documents: what `kubectl apply`, `create` and `explain` look for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import openapi, openapi_schemas
from kubelite.apiserver.openapi import (
    kind_schema_id,
    openapi_v2,
    openapi_v3_bytes,
    openapi_v3_etag,
    openapi_v3_group_version,
    openapi_v3_hash,
    openapi_v3_root,
)

# metrics.k8s.io is computed on request and published without OpenAPI.
STORED = [rt for rt in REGISTRY.resources if rt.stored]

SMP = "application/strategic-merge-patch+json"


def doc_path(rt: ResourceType) -> str:
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


def resource_id(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group or 'core'}"


def gv_doc(rt: ResourceType) -> dict[str, Any]:
    doc = openapi_v3_group_version(doc_path(rt))
    assert doc is not None
    return doc


def supports_field_validation(doc: dict[str, Any], group: str, version: str, kind: str) -> bool:
    """kubectl's `supportsQueryParamV3`: the first PATCH for the GVK must take the parameter."""
    want = {"group": group, "version": version, "kind": kind}
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != want:
            continue
        return any(
            p["name"] == "fieldValidation" and p["in"] == "query" for p in op.get("parameters", [])
        )
    return False


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:  # a dict under "$ref" is JSONSchemaProps' own `$ref` property
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `allOf: [$ref]` / `$ref` the way kubectl explain does."""
    while True:
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].removeprefix(openapi.REF)]
        elif "allOf" in schema and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def kind_schema(doc: dict[str, Any], group: str, version: str, kind: str) -> dict[str, Any]:
    want = {"group": group, "version": version, "kind": kind}
    matches = [
        s
        for s in doc["components"]["schemas"].values()
        if want in s.get("x-kubernetes-group-version-kind", [])
    ]
    assert len(matches) == 1, f"{group}/{version} {kind}: {len(matches)} schemas"
    return matches[0]


# ---- the root document -------------------------------------------------------------------


def test_root_lists_every_group_version_with_its_hash() -> None:
    paths = openapi_v3_root()["paths"]
    expected = {doc_path(rt) for rt in STORED}
    assert expected <= set(paths)
    assert {"api", "apis"} <= set(paths)
    for path, entry in paths.items():
        assert entry["serverRelativeURL"] == f"/openapi/v3/{path}?hash={openapi_v3_hash(path)}"


def test_hash_is_the_sha512_of_the_served_bytes() -> None:
    body = openapi_v3_bytes("apis/apps/v1")
    assert body is not None
    digest = hashlib.sha512(body).hexdigest().upper()
    assert openapi_v3_hash("apis/apps/v1") == digest
    assert openapi_v3_etag("apis/apps/v1") == f'"{digest}"'
    assert orjson.loads(body) == openapi_v3_group_version("apis/apps/v1")


def test_unknown_documents() -> None:
    assert openapi_v3_group_version("apis/extensions/v1beta1") is None
    assert openapi_v3_bytes("apis/nope/v1") is None
    assert openapi_v3_hash("api/v2") is None


def test_query_and_slashes_are_ignored() -> None:
    assert openapi_v3_group_version("/api/v1?hash=ABC") is openapi_v3_group_version("api/v1")


# ---- per group version: what kubectl apply checks --------------------------------------------------


@pytest.mark.parametrize("rt", STORED, ids=resource_id)
def test_patch_takes_field_validation(rt: ResourceType) -> None:
    assert supports_field_validation(gv_doc(rt), rt.group, rt.version, rt.kind)


@pytest.mark.parametrize("rt", STORED, ids=resource_id)
def test_operations_carry_action_and_gvk(rt: ResourceType) -> None:
    doc = gv_doc(rt)
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    collection = (
        f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    )
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    actions = {
        (collection, "get"): "list",
        (collection, "post"): "post",
        (collection, "delete"): "deletecollection",
        (collection + "/{name}", "get"): "get",
        (collection + "/{name}", "put"): "put",
        (collection + "/{name}", "patch"): "patch",
        (collection + "/{name}", "delete"): "delete",
    }
    for (path, method), action in actions.items():
        op = doc["paths"][path][method]
        assert (op["x-kubernetes-action"], op["x-kubernetes-group-version-kind"]) == (action, gvk)
    for method in ("post", "put", "patch"):
        op = doc["paths"][collection + ("" if method == "post" else "/{name}")][method]
        assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    if rt.namespaced:
        assert doc["paths"][f"{base}/{rt.plural}"]["get"]["operationId"].endswith(
            "ForAllNamespaces"
        )


def test_patch_bodies_do_not_offer_strategic_merge() -> None:
    for rt in STORED:
        for item in gv_doc(rt)["paths"].values():
            if "patch" in item and item["patch"]["x-kubernetes-action"] == "patch":  # not a proxy
                content = item["patch"]["requestBody"]["content"]
                assert set(content) == set(openapi.PATCH_CONTENT_TYPES)
                assert SMP not in content


def test_operation_ids_follow_upstream() -> None:
    pod_paths = openapi_v3_group_version("api/v1")["paths"]  # type: ignore[index]
    pods = "/api/v1/namespaces/{namespace}/pods"
    assert pod_paths[pods + "/{name}"]["patch"]["operationId"] == "patchCoreV1NamespacedPod"
    assert pod_paths[pods]["delete"]["operationId"] == "deleteCoreV1CollectionNamespacedPod"
    assert pod_paths[pods + "/{name}/log"]["get"]["operationId"] == "readCoreV1NamespacedPodLog"
    assert (
        pod_paths["/api/v1/nodes/{name}/status"]["patch"]["operationId"] == "patchCoreV1NodeStatus"
    )
    apps = openapi_v3_group_version("apis/apps/v1")["paths"]  # type: ignore[index]
    scale = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["operationId"] == "patchAppsV1NamespacedDeploymentScale"
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
    sched = openapi_v3_group_version("apis/scheduling.k8s.io/v1")["paths"]  # type: ignore[index]
    assert (
        sched["/apis/scheduling.k8s.io/v1/priorityclasses"]["get"]["operationId"]
        == "listSchedulingV1PriorityClass"
    )


def test_subresource_operations() -> None:
    paths = openapi_v3_group_version("api/v1")["paths"]  # type: ignore[index]
    pod = "/api/v1/namespaces/{namespace}/pods/{name}"
    assert paths[pod + "/binding"]["post"]["x-kubernetes-group-version-kind"]["kind"] == "Binding"
    assert paths[pod + "/eviction"]["post"]["x-kubernetes-group-version-kind"]["group"] == "policy"
    assert "text/plain" in paths[pod + "/log"]["get"]["responses"]["200"]["content"]
    assert {"get", "put", "patch"} <= set(paths[pod + "/status"])


# ---- schemas: what kubectl explain reads ----------------------------------------------------------------


@pytest.mark.parametrize("rt", STORED, ids=resource_id)
def test_every_kind_has_a_schema(rt: ResourceType) -> None:
    doc = gv_doc(rt)
    schema = kind_schema(doc, rt.group, rt.version, rt.kind)
    assert schema is doc["components"]["schemas"][kind_schema_id(rt.group, rt.version, rt.kind)]
    assert schema["description"]
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])
    kind_schema(doc, rt.group, rt.version, rt.list_kind)


@pytest.mark.parametrize("path", sorted(openapi_v3_root()["paths"]))
def test_every_ref_resolves(path: str) -> None:
    doc = openapi_v3_group_version(path)
    assert doc is not None and doc["openapi"].startswith("3.0")
    for ref in refs(doc):
        assert ref.startswith(openapi.REF)
        assert ref.removeprefix(openapi.REF) in doc["components"]["schemas"], ref


def test_explain_deployment_spec_template_containers() -> None:
    doc = openapi_v3_group_version("apis/apps/v1")
    assert doc is not None
    schema = kind_schema(doc, "apps", "v1", "Deployment")
    spec = resolve(doc, schema["properties"]["spec"])
    assert "replicas" in spec["properties"] and spec["properties"]["replicas"]["type"] == "integer"
    assert spec["properties"]["replicas"]["description"].startswith("Number of desired pods")
    pod_spec = resolve(doc, resolve(doc, spec["properties"]["template"])["properties"]["spec"])
    container = resolve(doc, pod_spec["properties"]["containers"]["items"])
    assert "image" in container["properties"] and "name" in container["required"]
    # Upstream does not require a kind's spec (the Python client's models do).
    assert "spec" not in schema.get("required", [])


def test_int_or_string_fields() -> None:
    doc = openapi_v3_group_version("api/v1")
    assert doc is not None
    port = resolve(doc, kind_schema(doc, "", "v1", "Service")["properties"]["spec"])["properties"][
        "ports"
    ]
    target = resolve(doc, port["items"])["properties"]["targetPort"]
    assert resolve(doc, target)["format"] == "int-or-string"


def test_minimal_schemas_without_the_python_client(monkeypatch: pytest.MonkeyPatch) -> None:
    openapi.clear_caches()
    monkeypatch.setattr(openapi_schemas, "_models", lambda: None)
    try:
        for rt in STORED:
            doc = gv_doc(rt)
            schema = kind_schema(doc, rt.group, rt.version, rt.kind)
            assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
            assert all(p["description"] for p in schema["properties"].values())
            assert supports_field_validation(doc, rt.group, rt.version, rt.kind)
            assert all(
                r.removeprefix(openapi.REF) in doc["components"]["schemas"] for r in refs(doc)
            )
    finally:
        monkeypatch.undo()
        openapi.clear_caches()


# ---- swagger 2.0 ---------------------------------------------------------------------------------------


def test_openapi_v2_definitions() -> None:
    doc = openapi_v2()
    assert doc["swagger"] == "2.0"
    kinds = [
        g for d in doc["definitions"].values() for g in d.get("x-kubernetes-group-version-kind", [])
    ]
    for rt in STORED:
        assert {"group": rt.group, "version": rt.version, "kind": rt.kind} in kinds
    assert all(r.startswith("#/definitions/") for r in refs(doc))
    assert all(r.removeprefix("#/definitions/") in doc["definitions"] for r in refs(doc))
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in patch["parameters"])
    assert SMP not in patch["consumes"]
