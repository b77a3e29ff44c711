"""OpenAPI documents: `/openapi/v3`, `/openapi/v3/<group version>`, `/openapi/v2`.

kubectl fetches these before `apply`, `create` and `explain`:

- `apply`/`create` look, in the group version's v3 document, for the PATCH
  operation carrying the object's `x-kubernetes-group-version-kind` and check
  that it takes a `fieldValidation` query parameter. If so kubectl leaves
  validation to the server and sends `fieldValidation=Strict`; if not it
  validates against the schemas itself.
- `apply` (client side) would build its strategic merge patch from the
  schemas' `x-kubernetes-patch-*` extensions when the PATCH operation accepts
  `application/strategic-merge-patch+json`. Ours carry no such extensions, so
  that content type is deliberately not advertised: kubectl then falls back to
  its compiled-in types, which patch lists by their merge keys correctly.
- `explain` reads `components.schemas`: the kind's schema is found by its
  `x-kubernetes-group-version-kind`, then `description`, `properties`,
  `required` and `$ref`s are followed.

Schemas come from the official Python client's generated models (the upstream
OpenAPI in another form: field names, types, descriptions, required fields)
when it is installed; without it each kind gets a minimal schema with
apiVersion, kind, metadata, spec and status. Documents are static: built once,
cached, and served with a content hash as upstream does (`?hash=` in the root
document, and the ETag).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import Any

import orjson

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver.discovery import GIT_VERSION

REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
_RESPONSE_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


# ---- schema ids and the Python client's models -------------------------------------

_META_TYPES = frozenset(
    {
        "APIResource",
        "APIResourceList",
        "Condition",
        "DeleteOptions",
        "FieldsV1",
        "LabelSelector",
        "LabelSelectorRequirement",
        "ListMeta",
        "ManagedFieldsEntry",
        "ObjectMeta",
        "OwnerReference",
        "Preconditions",
        "Status",
        "StatusCause",
        "StatusDetails",
        "WatchEvent",
    }
)
# Nested types that live in a named group's package although their names do
# not start with a kind of that group.
_GROUP_PACKAGES = {
    "RollingUpdateDeployment": "apps",
    "RollingUpdateStatefulSetStrategy": "apps",
    "Endpoint": "discovery",
    "EndpointConditions": "discovery",
    "EndpointHints": "discovery",
    "ForNode": "discovery",
    "ForZone": "discovery",
}
# Kinds whose Python model is not V1<Kind>.
_MODEL_NAMES = {("v1", "Event"): "CoreV1Event", ("events.k8s.io/v1", "Event"): "EventsV1Event"}
_PREFIX = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)(?=[A-Z])")


def _package(group: str) -> str:
    return group.split(".")[0] if group else "core"


def kind_schema_id(group: str, version: str, kind: str) -> str:
    """Upstream's component name, e.g. `io.k8s.api.apps.v1.Deployment`."""
    return f"io.k8s.api.{_package(group)}.{version}.{kind}"


def model_name(rt: ResourceType, *, list_kind: bool = False) -> str:
    base = _MODEL_NAMES.get((rt.api_version, rt.kind), f"{rt.version.capitalize()}{rt.kind}")
    return base + "List" if list_kind else base


@cache
def _models() -> Any:
    try:
        import kubernetes.client.models as models
    except ImportError:  # pragma: no cover - the client ships with the test extras
        return None
    return models


def _split_model(name: str) -> tuple[str, str, str]:
    """`CoreV1EndpointPort` -> ("core", "v1", "EndpointPort"); ("", "v1", ...) when unknown."""
    match = _PREFIX.match(name)
    if not match:
        return "", "v1", name
    return (match.group(1) or "").lower(), match.group(2).lower(), name[match.end() :]


def _schema_id(name: str, owner: ResourceType) -> str:
    """Component name for a model reached from `owner`'s kind, upstream style."""
    package, version, bare = _split_model(name)
    if bare in _META_TYPES:
        return META + bare
    if not package:
        if bare in _GROUP_PACKAGES:
            package = _GROUP_PACKAGES[bare]
        elif owner.group and bare.startswith(owner.kind):
            package = _package(owner.group)
        else:
            package = "core"
    if bare == "Scale":
        package = "autoscaling"
    elif bare == "Eviction":
        package = "policy"
    return f"io.k8s.api.{package}.{version}.{bare}"


# ---- schemas from the models --------------------------------------------------------

_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")
_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int32"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
    "bytearray": {"type": "string", "format": "byte"},
    "object": {"type": "object"},
}


def _class_description(cls: Any) -> str:
    doc = (cls.__doc__ or "").split("Attributes:")[0]
    return " ".join(doc.split())


class _SchemaBuilder:
    """Adds the component schemas reachable from a model to a shared dict."""

    def __init__(self, models: Any, owner: ResourceType, schemas: dict[str, Any]) -> None:
        self.models, self.owner, self.schemas = models, owner, schemas

    def add_model(self, name: str, schema_id: str | None = None) -> str:
        schema_id = schema_id or _schema_id(name, self.owner)
        if schema_id not in self.schemas:
            self.schemas[schema_id] = {}  # claim first: models refer to themselves
            self.schemas[schema_id] = self._object(getattr(self.models, name))
        return schema_id

    def _object(self, cls: Any) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for attr, json_name in cls.attribute_map.items():
            field = cls.model_fields.get(attr)
            type_name = cls.openapi_types[attr]
            prop = self._type(type_name, field)
            description = field.description if field is not None else None
            if not description and hasattr(self.models, type_name):
                # The client drops descriptions of fields that are other types;
                # the type's own description reads well enough in `explain`.
                description = _class_description(getattr(self.models, type_name))
            if description:
                prop = {"description": description, **prop}
            properties[json_name] = prop
            if field is not None and field.is_required():
                required.append(json_name)
        schema: dict[str, Any] = {"description": _class_description(cls), "type": "object"}
        schema["properties"] = properties
        if required:
            schema["required"] = sorted(required)
        return schema

    def _type(self, type_name: str, field: Any = None) -> dict[str, Any]:
        if m := _LIST.match(type_name):
            return {"type": "array", "items": self._type(m.group(1))}
        if m := _DICT.match(type_name):
            return {"type": "object", "additionalProperties": self._type(m.group(1))}
        if type_name == "object" and field is not None and _int_or_string(field.annotation):
            self.schemas.setdefault(INT_OR_STRING, _int_or_string_schema())
            return {"allOf": [{"$ref": REF + INT_OR_STRING}]}
        if type_name in _SCALARS:
            return dict(_SCALARS[type_name])
        if hasattr(self.models, type_name):
            return {"allOf": [{"$ref": REF + self.add_model(type_name)}], "default": {}}
        return {"type": "object"}


def _int_or_string(annotation: Any) -> bool:
    text = str(annotation)
    return "Union" in text and "int" in text and "str" in text


def _int_or_string_schema() -> dict[str, Any]:
    return {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "type": "string",
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
    }


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _minimal_kind_schema(rt: ResourceType, group: str, version: str, kind: str) -> dict[str, Any]:
    """What a kind gets without the Python client: the five top-level fields."""
    props: dict[str, Any] = {
        "apiVersion": {
            "description": "APIVersion defines the versioned schema of this representation of an object.",
            "type": "string",
        },
        "kind": {
            "description": "Kind is a string value representing the REST resource this object represents.",
            "type": "string",
        },
        "metadata": {
            "description": "Standard object's metadata.",
            "allOf": [
                {"$ref": REF + META + ("ListMeta" if kind.endswith("List") else "ObjectMeta")}
            ],
            "default": {},
        },
    }
    if kind.endswith("List"):
        props["items"] = {
            "description": f"Items is the list of {rt.kind} objects.",
            "type": "array",
            "items": {"allOf": [{"$ref": REF + kind_schema_id(rt.group, rt.version, rt.kind)}]},
        }
    else:
        props["spec"] = {
            "description": f"Spec defines the desired state of the {rt.kind}.",
            "type": "object",
        }
        props["status"] = {
            "description": f"Status is the observed state of the {rt.kind}.",
            "type": "object",
        }
    description = f"{kind} is a Kubernetes {group or 'core'}/{version} object."
    return {"description": description, "type": "object", "properties": props}


_MINIMAL_META: dict[str, dict[str, Any]] = {
    META + "ObjectMeta": {
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Name must be unique within a namespace."},
            "namespace": {
                "type": "string",
                "description": "Namespace defines the space within which each name must be unique.",
            },
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Map of string keys and values that can be used to organize and categorize objects.",
            },
            "annotations": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Annotations is an unstructured key value map stored with a resource.",
            },
        },
    },
    META + "ListMeta": {
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "type": "object",
        "properties": {
            "resourceVersion": {
                "type": "string",
                "description": "String that identifies the server's internal version of this object.",
            },
            "continue": {
                "type": "string",
                "description": "continue may be set if the user set a limit on the number of items returned.",
            },
        },
    },
    META + "Status": {
        "description": "Status is a return value for calls that don't return other objects.",
        "type": "object",
    },
    META + "DeleteOptions": {
        "description": "DeleteOptions may be provided when deleting an API object.",
        "type": "object",
    },
}
_PATCH_SCHEMA = {
    "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
    "type": "object",
}


def _extra_kinds(rt: ResourceType) -> list[tuple[str, str, str, str]]:
    """(model, group, version, kind) of the subresource bodies `rt` serves."""
    out = []
    if "scale" in rt.subresources:
        out.append(("V1Scale", "autoscaling", "v1", "Scale"))
    if "binding" in rt.subresources:
        out.append(("V1Binding", "", "v1", "Binding"))
    if "eviction" in rt.subresources:
        out.append(("V1Eviction", "policy", "v1", "Eviction"))
    return out


def _component_schemas(rts: list[ResourceType]) -> dict[str, dict[str, Any]]:
    """Every schema the kinds in `rts` (their lists and subresource bodies) need."""
    models = _models()
    schemas: dict[str, dict[str, Any]] = {META + "Patch": dict(_PATCH_SCHEMA)}
    kinds: list[tuple[str, dict[str, str]]] = []
    for rt in rts:
        builder = _SchemaBuilder(models, rt, schemas)
        for model, group, version, kind in [
            (model_name(rt), rt.group, rt.version, rt.kind),
            (model_name(rt, list_kind=True), rt.group, rt.version, rt.list_kind),
            *_extra_kinds(rt),
        ]:
            schema_id = kind_schema_id(group, version, kind)
            if models is not None and hasattr(models, model):
                builder.add_model(model, schema_id)
            else:
                schemas.setdefault(schema_id, _minimal_kind_schema(rt, group, version, kind))
            kinds.append((schema_id, _gvk(group, version, kind)))
    for schema_id, gvk in kinds:
        schema = {**schemas[schema_id], "x-kubernetes-group-version-kind": [gvk]}
        # The client's models require the apps kinds' spec; upstream's schema does not.
        required = [f for f in schema.pop("required", []) if f != "spec"]
        if required:
            schema["required"] = required
        schemas[schema_id] = schema
    for meta_id, meta_schema in _MINIMAL_META.items():
        schemas.setdefault(meta_id, meta_schema)
    return dict(sorted(schemas.items()))


# ---- paths ------------------------------------------------------------------------------


def _param(
    name: str, where: str, description: str, type_: str = "string", **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_, "uniqueItems": True}
    param: dict[str, Any] = {"name": name, "in": where, "description": description}
    if where == "path":
        param["required"] = True
    return {**param, "schema": schema, **extra}


_PRETTY = _param("pretty", "query", "If 'true', then the output is pretty printed.")
_NAME = _param("name", "path", "name of the object")
_NAMESPACE = _param(
    "namespace", "path", "object name and auth scope, such as for teams and projects"
)
_DRY_RUN = _param(
    "dryRun",
    "query",
    "When present, indicates that modifications should not be persisted. Valid values are: "
    "- All: all dry run stages will be processed",
)
_FIELD_MANAGER = _param(
    "fieldManager",
    "query",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
_FIELD_VALIDATION = _param(
    "fieldValidation",
    "query",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
)
_FORCE = _param(
    "force",
    "query",
    'Force is going to "force" Apply requests. It must be unset for non-apply patch requests.',
    "boolean",
)
_LIST_PARAMS = [
    _param(
        "allowWatchBookmarks",
        "query",
        'allowWatchBookmarks requests watch events with type "BOOKMARK".',
        "boolean",
    ),
    _param(
        "continue",
        "query",
        "The continue option should be set when retrieving more results from the server.",
    ),
    _param(
        "fieldSelector",
        "query",
        "A selector to restrict the list of returned objects by their fields.",
    ),
    _param(
        "labelSelector",
        "query",
        "A selector to restrict the list of returned objects by their labels.",
    ),
    _param(
        "limit",
        "query",
        "limit is a maximum number of responses to return for a list call.",
        "integer",
    ),
    _param(
        "resourceVersion",
        "query",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _param(
        "resourceVersionMatch",
        "query",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _param(
        "sendInitialEvents",
        "query",
        "`sendInitialEvents=true` may be set together with `watch=true`.",
        "boolean",
    ),
    _param("timeoutSeconds", "query", "Timeout for the list/watch call.", "integer"),
    _param(
        "watch",
        "query",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        "boolean",
    ),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _param(
        "gracePeriodSeconds",
        "query",
        "The duration in seconds before the object should be deleted.",
        "integer",
    ),
    _param("orphanDependents", "query", "Deprecated: please use the PropagationPolicy.", "boolean"),
    _param("propagationPolicy", "query", "Whether and how garbage collection will be performed."),
]


def _camel_group(group: str) -> str:
    if not group:
        return "Core"
    return "".join(part.capitalize() for part in group.removesuffix(".k8s.io").split("."))


def _ref(schema_id: str) -> dict[str, str]:
    return {"$ref": REF + schema_id}


def _content(schema: dict[str, Any], types: tuple[str, ...] = _RESPONSE_TYPES) -> dict[str, Any]:
    return {t: {"schema": schema} for t in types}


def _responses(schema: dict[str, Any], *codes: str) -> dict[str, Any]:
    text = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: dict[str, Any] = {
        code: {"description": text[code], "content": _content(schema)} for code in codes
    }
    out["401"] = {"description": "Unauthorized"}
    return out


class _PathBuilder:
    """The operations of one resource, upstream style."""

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        self.gv = _camel_group(rt.group) + rt.version.capitalize()
        self.scope = "Namespaced" if rt.namespaced else ""
        self.tag = f"{_package(rt.group) if rt.group else 'core'}_{rt.version}"
        self.kind_ref = _ref(kind_schema_id(rt.group, rt.version, rt.kind))
        self.list_ref = _ref(kind_schema_id(rt.group, rt.version, rt.list_kind))

    def _op(
        self,
        action: str,
        op_id: str,
        gvk: dict[str, str],
        params: list[dict[str, Any]],
        responses: dict[str, Any],
        body: dict[str, Any] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        op: dict[str, Any] = {"tags": [self.tag], "description": description, "operationId": op_id}
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = body
        op["responses"] = responses
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = gvk
        return op

    def paths(self, base: str) -> dict[str, Any]:
        rt = self.rt
        gvk = _gvk(rt.group, rt.version, rt.kind)
        collection = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        scope_params = [_NAMESPACE] if rt.namespaced else []
        out: dict[str, Any] = {}
        if rt.namespaced:
            out[f"{base}/{rt.plural}"] = {
                "get": self._op(
                    "list",
                    f"list{self.gv}{rt.kind}ForAllNamespaces",
                    gvk,
                    list(_LIST_PARAMS),
                    _responses(self.list_ref, "200"),
                    description=f"list or watch objects of kind {rt.kind}",
                ),
                "parameters": [_PRETTY],
            }
        out[collection] = self._collection(gvk, scope_params)
        out[f"{collection}/{{name}}"] = self._item(gvk, scope_params)
        for sub in sorted(rt.subresources):
            out[f"{collection}/{{name}}/{sub}"] = self._subresource(sub, scope_params)
        return out

    def _collection(self, gvk: dict[str, str], scope: list[dict[str, Any]]) -> dict[str, Any]:
        rt, name = self.rt, f"{self.scope}{self.rt.kind}"
        body = {"content": {"*/*": {"schema": self.kind_ref}}, "required": True}
        return {
            "get": self._op(
                "list",
                f"list{self.gv}{name}",
                gvk,
                list(_LIST_PARAMS),
                _responses(self.list_ref, "200"),
                description=f"list or watch objects of kind {rt.kind}",
            ),
            "post": self._op(
                "post",
                f"create{self.gv}{name}",
                gvk,
                [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                _responses(self.kind_ref, "200", "201", "202"),
                body,
                f"create a {rt.kind}",
            ),
            "delete": self._op(
                "deletecollection",
                f"delete{self.gv}Collection{name}",
                gvk,
                [*_LIST_PARAMS, *_DELETE_PARAMS],
                _responses(_ref(META + "Status"), "200"),
                _delete_body(),
                f"delete collection of {rt.kind}",
            ),
            "parameters": [*scope, _PRETTY],
        }

    def _item(self, gvk: dict[str, str], scope: list[dict[str, Any]]) -> dict[str, Any]:
        rt, name = self.rt, f"{self.scope}{self.rt.kind}"
        return {
            "get": self._op(
                "get",
                f"read{self.gv}{name}",
                gvk,
                [],
                _responses(self.kind_ref, "200"),
                description=f"read the specified {rt.kind}",
            ),
            "put": self._op(
                "put",
                f"replace{self.gv}{name}",
                gvk,
                [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                _responses(self.kind_ref, "200", "201"),
                {"content": {"*/*": {"schema": self.kind_ref}}, "required": True},
                f"replace the specified {rt.kind}",
            ),
            "delete": self._op(
                "delete",
                f"delete{self.gv}{name}",
                gvk,
                list(_DELETE_PARAMS),
                _responses(_ref(META + "Status"), "200", "202"),
                _delete_body(),
                f"delete a {rt.kind}",
            ),
            "patch": self._patch(
                f"patch{self.gv}{name}",
                gvk,
                self.kind_ref,
                f"partially update the specified {rt.kind}",
            ),
            "parameters": [_NAME, *scope, _PRETTY],
        }

    def _patch(
        self, op_id: str, gvk: dict[str, str], ref: dict[str, Any], description: str
    ) -> dict[str, Any]:
        body = {"content": _content(_ref(META + "Patch"), PATCH_CONTENT_TYPES), "required": True}
        params = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE]
        return self._op(
            "patch", op_id, gvk, params, _responses(ref, "200", "201"), body, description
        )

    def _subresource(self, sub: str, scope: list[dict[str, Any]]) -> dict[str, Any]:
        rt = self.rt
        name = f"{self.scope}{rt.kind}{sub.capitalize()}"
        item: dict[str, Any] = {}
        if sub in ("status", "scale"):
            if sub == "scale":
                gvk, ref = (
                    _gvk("autoscaling", "v1", "Scale"),
                    _ref(kind_schema_id("autoscaling", "v1", "Scale")),
                )
            else:
                gvk, ref = _gvk(rt.group, rt.version, rt.kind), self.kind_ref
            what = f"{sub} of the specified {rt.kind}"
            item["get"] = self._op(
                "get",
                f"read{self.gv}{name}",
                gvk,
                [],
                _responses(ref, "200"),
                description=f"read {what}",
            )
            item["put"] = self._op(
                "put",
                f"replace{self.gv}{name}",
                gvk,
                [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                _responses(ref, "200", "201"),
                {"content": {"*/*": {"schema": ref}}, "required": True},
                f"replace {what}",
            )
            item["patch"] = self._patch(
                f"patch{self.gv}{name}", gvk, ref, f"partially update {what}"
            )
        elif sub == "log":
            text = {
                "200": {
                    "description": "OK",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"description": "Unauthorized"},
            }
            item["get"] = self._op(
                "get",
                f"read{self.gv}{name}",
                _gvk("", "v1", "Pod"),
                _LOG_PARAMS,
                text,
                description="read log of the specified Pod",
            )
        else:
            group, kind = ("policy", "Eviction") if sub == "eviction" else ("", "Binding")
            gvk, ref = _gvk(group, "v1", kind), _ref(kind_schema_id(group, "v1", kind))
            item["post"] = self._op(
                "post",
                f"create{self.gv}{name}",
                gvk,
                [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                _responses(ref, "200", "201", "202"),
                {"content": {"*/*": {"schema": ref}}, "required": True},
                f"create {sub} of a {rt.kind}",
            )
        item["parameters"] = [_NAME, *scope, _PRETTY]
        return item


_LOG_PARAMS = [
    _param("container", "query", "The container for which to stream logs."),
    _param("follow", "query", "Follow the log stream of the pod.", "boolean"),
    _param("previous", "query", "Return previous terminated container logs.", "boolean"),
    _param(
        "sinceSeconds",
        "query",
        "A relative time in seconds before the current time from which to show logs.",
        "integer",
    ),
    _param(
        "tailLines",
        "query",
        "If set, the number of lines from the end of the logs to show.",
        "integer",
    ),
    _param(
        "timestamps",
        "query",
        "If true, add an RFC3339 timestamp at the beginning of every line.",
        "boolean",
    ),
]


def _delete_body() -> dict[str, Any]:
    return {"content": {"*/*": {"schema": _ref(META + "DeleteOptions")}}}


# ---- documents ----------------------------------------------------------------------

_SECURITY = {
    "securitySchemes": {
        "BearerToken": {
            "type": "apiKey",
            "description": "Bearer Token authentication",
            "name": "authorization",
            "in": "header",
        }
    }
}


def _base(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _served_paths() -> dict[str, tuple[str, str | None, str | None]]:
    """Root-relative document path -> (kind of document, group, version)."""
    out: dict[str, tuple[str, str | None, str | None]] = {}
    groups = REGISTRY.groups()
    out["api"] = ("versions", None, None)
    for version in groups.get("", []):
        out[f"api/{version}"] = ("gv", "", version)
    out["apis"] = ("groups", None, None)
    for group, versions in groups.items():
        if not group:
            continue
        out[f"apis/{group}"] = ("group", group, None)
        for version in versions:
            out[f"apis/{group}/{version}"] = ("gv", group, version)
    return dict(sorted(out.items()))


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas, **_SECURITY},
    }


def _discovery_get(
    path: str, op_id: str, tag: str, schema_id: str, description: str
) -> dict[str, Any]:
    return {
        path: {
            "get": {
                "tags": [tag],
                "description": description,
                "operationId": op_id,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": _content(_ref(schema_id), _RESPONSE_TYPES[:2]),
                    },
                    "401": {"description": "Unauthorized"},
                },
            }
        }
    }


def _discovery_schema(name: str, description: str) -> dict[str, Any]:
    return {META + name: {"description": description, "type": "object"}}


@cache
def _build(path: str) -> dict[str, Any] | None:
    what = _served_paths().get(path)
    if what is None:
        return None
    kind, group, version = what
    if kind == "versions":
        return _document(
            _discovery_get(
                "/api/",
                "getCoreAPIVersions",
                "core",
                META + "APIVersions",
                "get available API versions",
            ),
            _discovery_schema("APIVersions", "APIVersions lists the versions that are available."),
        )
    if kind == "groups":
        return _document(
            _discovery_get(
                "/apis/",
                "getAPIVersions",
                "apis",
                META + "APIGroupList",
                "get available API versions",
            ),
            _discovery_schema("APIGroupList", "APIGroupList is a list of APIGroup."),
        )
    assert group is not None
    tag = _package(group) if group else "core"
    if kind == "group":
        return _document(
            _discovery_get(
                f"/apis/{group}/",
                f"get{_camel_group(group)}APIGroup",
                tag,
                META + "APIGroup",
                "get information of a group",
            ),
            _discovery_schema(
                "APIGroup",
                "APIGroup contains the name, the supported versions, and the preferred version of a group.",
            ),
        )
    assert version is not None
    base = _base(group, version)
    rts = REGISTRY.in_group_version(group, version)
    paths = _discovery_get(
        f"{base}/",
        f"get{_camel_group(group)}{version.capitalize()}APIResources",
        f"{tag}_{version}",
        META + "APIResourceList",
        "get available resources",
    )
    for rt in sorted(rts, key=lambda r: r.plural):
        paths.update(_PathBuilder(rt).paths(base))
    schemas = _component_schemas(rts)
    schemas.update(
        _discovery_schema("APIResourceList", "APIResourceList is a list of APIResource.")
    )
    return _document(dict(sorted(paths.items())), dict(sorted(schemas.items())))


@cache
def _serialized(path: str) -> bytes | None:
    doc = _build(path)
    return None if doc is None else orjson.dumps(doc)


def openapi_v3_hash(path: str) -> str | None:
    """Upstream's document hash: the SHA-512 of the JSON, in upper-case hex."""
    body = _serialized(path.strip("/"))
    return None if body is None else hashlib.sha512(body).hexdigest().upper()


def openapi_v3_etag(path: str) -> str | None:
    """The ETag to send with a group version's document (the quoted hash)."""
    digest = openapi_v3_hash(path)
    return None if digest is None else f'"{digest}"'


def openapi_v3_root() -> dict[str, Any]:
    """`/openapi/v3`: each document path with its `serverRelativeURL` and hash."""
    return {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={openapi_v3_hash(path)}"}
            for path in _served_paths()
        }
    }


def openapi_v3_group_version(path: str) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document for "api/v1", "apis/apps/v1", "api", "apis", "apis/apps"...

    None for a path not served. The document is cached: do not change it.
    """
    return _build(path.split("?", 1)[0].strip("/"))


def openapi_v3_bytes(path: str) -> bytes | None:
    """`openapi_v3_group_version(path)` already serialised (it is big: serve these bytes)."""
    return _serialized(path.split("?", 1)[0].strip("/"))


# ---- swagger 2.0 -----------------------------------------------------------------------


def _v2_param(param: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in param.items() if k != "schema"}
    out.update(param.get("schema") or {})
    return out


def _v2_operation(op: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in op.items() if k not in ("parameters", "requestBody", "responses")}
    params = [_v2_param(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if body:
        content = body["content"]
        out["consumes"] = list(content)
        schema = next(iter(content.values()))["schema"]
        params.append(
            {
                "name": "body",
                "in": "body",
                "required": body.get("required", False),
                "schema": schema,
            }
        )
    if params:
        out["parameters"] = params
    responses: dict[str, Any] = {}
    produces: list[str] = []
    for code, response in op.get("responses", {}).items():
        entry = {"description": response["description"]}
        for media, value in (response.get("content") or {}).items():
            entry["schema"] = value["schema"]
            if media not in produces:
                produces.append(media)
        responses[code] = entry
    out["produces"] = produces
    out["responses"] = responses
    out["schemes"] = ["https"]
    return out


def _v2_path(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        out[key] = [_v2_param(p) for p in value] if key == "parameters" else _v2_operation(value)
    return out


@cache
def _swagger() -> bytes:
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for path, (kind, _, _) in _served_paths().items():
        doc = _build(path)
        if doc is None or kind != "gv":
            continue
        paths.update({p: _v2_path(item) for p, item in doc["paths"].items()})
        definitions.update(doc["components"]["schemas"])
    swagger = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": _SECURITY["securitySchemes"],
        "security": [{"BearerToken": []}],
    }
    return orjson.dumps(swagger).replace(REF.encode(), b"#/definitions/")


def openapi_v2() -> dict[str, Any]:
    """`/openapi/v2` as JSON: swagger 2.0 with every kind's `definitions`.

    kubectl asks for this document in protobuf only, so serve it as JSON to
    clients whose Accept allows JSON and answer others 406 (kubectl then falls
    back to its compiled-in types). A fresh copy on every call.
    """
    return orjson.loads(_swagger())


def openapi_v2_bytes() -> bytes:
    """`openapi_v2()` serialised."""
    return _swagger()
