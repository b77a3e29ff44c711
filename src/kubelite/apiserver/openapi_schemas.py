"""Component schemas for the OpenAPI documents, from the Python client's models.

The official client's generated models are the upstream OpenAPI in another
form: JSON field names, types, descriptions and required fields. Walking them
from a kind gives the schemas `kubectl explain` reads, named as upstream names
them (`io.k8s.api.apps.v1.DeploymentSpec`, `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`).
Without the client, each kind gets a minimal schema: apiVersion, kind,
metadata, spec and status.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from kubelite.api.registry import REGISTRY, ResourceType

REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


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
    "RollingUpdateDaemonSet": "apps",
    "Endpoint": "discovery",
    "EndpointConditions": "discovery",
    "EndpointHints": "discovery",
    "ForNode": "discovery",
    "ForZone": "discovery",
    "HTTPIngressRuleValue": "networking",
    "HTTPIngressPath": "networking",
    "ServiceBackendPort": "networking",
    "IPBlock": "networking",
    "Overhead": "node",
    "Scheduling": "node",
    "VolumeNodeResources": "storage",
    "VolumeError": "storage",
    "MutatingWebhook": "admissionregistration",
    "ValidatingWebhook": "admissionregistration",
    "RuleWithOperations": "admissionregistration",
    "MatchCondition": "admissionregistration",
    **dict.fromkeys(
        (
            "MatchResources",
            "NamedRuleWithOperations",
            "ParamKind",
            "ParamRef",
            "Validation",
            "AuditAnnotation",
            "Variable",
            "TypeChecking",
            "ExpressionWarning",
        ),
        "admissionregistration",
    ),
    **{
        bare: "autoscaling"
        for bare in (
            "ContainerResourceMetricSource",
            "ContainerResourceMetricStatus",
            "CrossVersionObjectReference",
            "ExternalMetricSource",
            "ExternalMetricStatus",
            "HPAScalingPolicy",
            "HPAScalingRules",
            "MetricIdentifier",
            "MetricSpec",
            "MetricStatus",
            "MetricTarget",
            "MetricValueStatus",
            "ObjectMetricSource",
            "ObjectMetricStatus",
            "PodsMetricSource",
            "PodsMetricStatus",
            "ResourceMetricSource",
            "ResourceMetricStatus",
        )
    },
    **{
        bare: "batch"
        for bare in (
            "JobSpec",
            "JobStatus",
            "JobCondition",
            "JobTemplateSpec",
            "PodFailurePolicy",
            "PodFailurePolicyRule",
            "PodFailurePolicyOnExitCodesRequirement",
            "PodFailurePolicyOnPodConditionsPattern",
            "SuccessPolicy",
            "SuccessPolicyRule",
            "UncountedTerminatedPods",
        )
    },
}
# Kinds whose Python model is not V1<Kind>.
_MODEL_NAMES = {("v1", "Event"): "CoreV1Event", ("events.k8s.io/v1", "Event"): "EventsV1Event"}
_PREFIX = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)(?=[A-Z])")


def package_name(group: str) -> str:
    return group.split(".")[0] if group else "core"


def kind_schema_id(group: str, version: str, kind: str) -> str:
    """Upstream's component name, e.g. `io.k8s.api.apps.v1.Deployment`."""
    return f"io.k8s.api.{package_name(group)}.{version}.{kind}"


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
            package = package_name(owner.group)
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
            # The client drops the descriptions of fields that are other types:
            # such a field has none rather than a copy of its type's (`explain`
            # prints the field's, then the type's, so a copy read twice).
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


def group_version_kind(group: str, version: str, kind: str) -> dict[str, str]:
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
    if "token" in rt.subresources:
        out.append(("AuthenticationV1TokenRequest", "authentication.k8s.io", "v1", "TokenRequest"))
    return out


def _kinds(rt: ResourceType) -> list[tuple[str, str, str, str]]:
    """(model, group, version, kind): `rt`'s kind, its list, its subresource bodies."""
    return [
        (model_name(rt), rt.group, rt.version, rt.kind),
        (model_name(rt, list_kind=True), rt.group, rt.version, rt.list_kind),
        *_extra_kinds(rt),
    ]


@cache
def _all_kinds() -> dict[str, dict[str, str]]:
    """Schema id -> GVK for every kind served (also when reached from another group)."""
    return {
        kind_schema_id(g, v, k): group_version_kind(g, v, k)
        for rt in REGISTRY.resources
        if rt.has_objects
        for _, g, v, k in _kinds(rt)
    }


def component_schemas(rts: list[ResourceType]) -> dict[str, dict[str, Any]]:
    """Every schema the kinds in `rts` (their lists and subresource bodies) need."""
    models = _models()
    schemas: dict[str, dict[str, Any]] = {META + "Patch": dict(_PATCH_SCHEMA)}
    for rt in rts:
        builder = _SchemaBuilder(models, rt, schemas)
        for model, group, version, kind in _kinds(rt):
            schema_id = kind_schema_id(group, version, kind)
            if models is not None and hasattr(models, model):
                builder.add_model(model, schema_id)
            else:
                schemas.setdefault(schema_id, _minimal_kind_schema(rt, group, version, kind))
    # Kinds carry their GVK wherever they appear (a StatefulSet's PVC templates
    # too), as upstream's documents do; explain finds a kind's schema by it.
    for schema_id, gvk in _all_kinds().items():
        if schema_id not in schemas:
            continue
        schema = {**schemas[schema_id], "x-kubernetes-group-version-kind": [gvk]}
        # The client's models require the apps kinds' spec; upstream's schema does not.
        required = [f for f in schema.pop("required", []) if f != "spec"]
        if required:
            schema["required"] = required
        schemas[schema_id] = schema
    for meta_id, meta_schema in _MINIMAL_META.items():
        schemas.setdefault(meta_id, meta_schema)
    return dict(sorted(schemas.items()))
