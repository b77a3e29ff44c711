"""OpenAPI component schemas for custom resources, from their CRD's schema.

`kubectl explain crontab.spec` and kubectl's server-side validation find a
custom resource's schema the way they find a built-in kind's: through the
group version's v3 document, by `x-kubernetes-group-version-kind`. The
version's `openAPIV3Schema` becomes the kind's schema, with `apiVersion`,
`kind` and `metadata` (a reference to ObjectMeta) added as upstream
publishes it; its list kind and the meta types it refers to come along.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelite.api.registry import ResourceType
from kubelite.apiserver.openapi_schemas import (
    _MINIMAL_META,
    META,
    REF,
    _models,
    _SchemaBuilder,
    group_version_kind,
    kind_schema_id,
)

Obj = dict[str, Any]

_API_VERSION = {
    "description": "APIVersion defines the versioned schema of this representation of an object. "
    "Servers should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
    "type": "string",
}
_KIND = {
    "description": "Kind is a string value representing the REST resource this object represents. "
    "Servers may infer this from the endpoint the client submits requests to. Cannot be updated. "
    "In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
    "type": "string",
}
_META_MODELS = ("V1ObjectMeta", "V1ListMeta", "V1Status", "V1DeleteOptions")


def _kind_schema(rt: ResourceType) -> Obj:
    schema = copy.deepcopy(rt.custom.schema)
    props = dict(schema.get("properties") or {})
    props["apiVersion"] = dict(_API_VERSION)
    props["kind"] = dict(_KIND)
    props["metadata"] = {
        "description": "Standard object's metadata. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        "allOf": [{"$ref": REF + META + "ObjectMeta"}],
    }
    schema["properties"] = dict(sorted(props.items()))
    schema["type"] = "object"
    schema["x-kubernetes-group-version-kind"] = [group_version_kind(rt.group, rt.version, rt.kind)]
    return schema


def _list_schema(rt: ResourceType) -> Obj:
    return {
        "description": f"{rt.list_kind} is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": dict(_API_VERSION),
            "items": {
                "description": f"List of {rt.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                "type": "array",
                "items": {"$ref": REF + kind_schema_id(rt.group, rt.version, rt.kind)},
            },
            "kind": dict(_KIND),
            "metadata": {
                "description": "Standard list metadata.",
                "allOf": [{"$ref": REF + META + "ListMeta"}],
            },
        },
        "x-kubernetes-group-version-kind": [group_version_kind(rt.group, rt.version, rt.list_kind)],
    }


def custom_schemas(rts: list[ResourceType]) -> dict[str, Obj]:
    """Every schema the custom types in `rts` need: kinds, lists, meta, Scale."""
    schemas: dict[str, Obj] = {
        META + "Patch": {
            "description": "Patch is provided to give a concrete name and type to the "
            "Kubernetes PATCH request body.",
            "type": "object",
        }
    }
    models = _models()
    for rt in rts:
        schemas[kind_schema_id(rt.group, rt.version, rt.kind)] = _kind_schema(rt)
        schemas[kind_schema_id(rt.group, rt.version, rt.list_kind)] = _list_schema(rt)
        if models is None:
            continue
        builder = _SchemaBuilder(models, rt, schemas)
        for model in _META_MODELS:
            if hasattr(models, model):
                builder.add_model(model)
        if "scale" in rt.subresources and hasattr(models, "V1Scale"):
            scale_id = builder.add_model("V1Scale", kind_schema_id("autoscaling", "v1", "Scale"))
            schemas[scale_id] = {
                **schemas[scale_id],
                "x-kubernetes-group-version-kind": [
                    group_version_kind("autoscaling", "v1", "Scale")
                ],
            }
    for meta_id, meta_schema in _MINIMAL_META.items():
        schemas.setdefault(meta_id, meta_schema)
    return dict(sorted(schemas.items()))
