"""Structural schemas: what apiextensions.k8s.io/v1 requires of `openAPIV3Schema`.

A schema is structural when every field it specifies has a type, arrays say
what their items are, `properties` and `additionalProperties` are not mixed,
and the logical junctors (allOf, anyOf, oneOf, not) only add value checks.
Pruning and defaulting rely on it, which is why v1 refuses anything else,
with upstream's messages.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.crd.pruning import prune
from kubelite.api.crd.schema_validation import validate_value
from kubelite.api.fielderrors import FieldError, forbidden, invalid, required

Obj = dict[str, Any]
Errs = list[FieldError]

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
# Keys a structural schema may carry; anything else is a value check or refused.
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_NOT_IN_JUNCTORS = (
    "type",
    "default",
    "nullable",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "description",
    "title",
)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}"


def check_structural(schema: Any, path: str) -> Errs:
    """Why `schema` (the openAPIV3Schema at `path`) is not structural; [] when it is."""
    if not isinstance(schema, dict):
        return [required(path, "schemas are required")]
    errs: Errs = []
    if schema.get("type") != "object":
        if not schema.get("type"):
            errs.append(required(_child(path, "type"), "must not be empty at the root"))
        else:
            errs.append(invalid(_child(path, "type"), schema["type"], "must be object at the root"))
    errs += _node(schema, path, root=True)
    errs += _root_metadata(schema, path)
    return errs


def _node(schema: Obj, path: str, *, root: bool = False) -> Errs:
    errs: Errs = []
    kind = schema.get("type")
    if kind and kind not in _TYPES:
        errs.append(invalid(_child(path, "type"), kind, f"must be one of {', '.join(_TYPES)}"))
    if "$ref" in schema:
        errs.append(forbidden(_child(path, "$ref"), "$ref is not supported"))
    if schema.get("uniqueItems") is True:
        errs.append(
            forbidden(
                _child(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(
            invalid(
                _child(path, "x-kubernetes-preserve-unknown-fields"),
                False,
                "must be true or undefined",
            )
        )
    if schema.get("x-kubernetes-int-or-string") and kind:
        errs.append(
            invalid(
                _child(path, "type"), kind, "must be empty if x-kubernetes-int-or-string is true"
            )
        )
    errs += _embedded(schema, path)
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if props and extra is not None:
        errs.append(
            forbidden(
                _child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            )
        )
    if extra is False:
        errs.append(
            forbidden(
                _child(path, "additionalProperties"), "additionalProperties cannot be set to false"
            )
        )
    if isinstance(props, dict):
        for name, sub in props.items():
            sub_path = f"{path}.properties[{name}]"
            if not isinstance(sub, dict):
                errs.append(invalid(sub_path, sub, "must be a schema"))
                continue
            errs += _typed(sub, sub_path, "must not be empty for specified object fields")
            errs += _node(sub, sub_path)
    if isinstance(extra, dict):
        sub_path = _child(path, "additionalProperties")
        errs += _typed(extra, sub_path, "must not be empty for specified object fields")
        errs += _node(extra, sub_path)
    items = schema.get("items")
    if kind == "array" and items is None:
        errs.append(required(_child(path, "items"), "must be specified"))
    if isinstance(items, list):
        errs.append(
            forbidden(_child(path, "items"), "items must be a schema object and not an array")
        )
    elif isinstance(items, dict):
        sub_path = _child(path, "items")
        errs += _typed(items, sub_path, "must not be empty for specified array items")
        errs += _node(items, sub_path)
    for junctor in _JUNCTORS:
        if _int_or_string_pattern(schema, junctor):
            continue
        errs += _junctor(schema.get(junctor), f"{path}.{junctor}")
    if "default" in schema and not root:
        errs += _default(schema, path)
    return errs


_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def _int_or_string_pattern(schema: Obj, junctor: str) -> bool:
    """The one typed junctor allowed: anyOf (or allOf-wrapped anyOf) integer|string."""
    if not schema.get("x-kubernetes-int-or-string"):
        return False
    value = schema.get(junctor)
    if junctor == "anyOf":
        return value == _INT_OR_STRING
    if junctor == "allOf" and isinstance(value, list):
        return all(isinstance(v, dict) and v == {"anyOf": _INT_OR_STRING} for v in value)
    return False


def _typed(schema: Obj, path: str, detail: str) -> Errs:
    if schema.get("type") or schema.get("x-kubernetes-int-or-string"):
        return []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    return [required(_child(path, "type"), detail)]


def _embedded(schema: Obj, path: str) -> Errs:
    if not schema.get("x-kubernetes-embedded-resource"):
        return []
    errs: Errs = []
    if schema.get("type") != "object":
        errs.append(
            required(
                _child(path, "type"), "must be object if x-kubernetes-embedded-resource is true"
            )
        )
    if not schema.get("properties") and not schema.get("x-kubernetes-preserve-unknown-fields"):
        errs.append(
            required(
                _child(path, "properties"),
                "must not be empty if x-kubernetes-embedded-resource is true without "
                "x-kubernetes-preserve-unknown-fields",
            )
        )
    return errs


def _junctor(value: Any, path: str) -> Errs:
    if value is None:
        return []
    subs = value if isinstance(value, list) else [value]
    errs: Errs = []
    for i, sub in enumerate(subs):
        sub_path = f"{path}[{i}]" if isinstance(value, list) else path
        if not isinstance(sub, dict):
            continue
        for key in _NOT_IN_JUNCTORS:
            if key in sub:
                errs.append(forbidden(_child(sub_path, key), "must be empty to be structural"))
        for name, prop in (sub.get("properties") or {}).items():
            if isinstance(prop, dict):
                errs += _junctor(prop, f"{sub_path}.properties[{name}]")
    return errs


def _default(schema: Obj, path: str) -> Errs:
    value = schema["default"]
    node = {k: v for k, v in schema.items() if k != "default"}
    errs: Errs = []
    if isinstance(value, dict | list):
        wrapper = {"type": "object", "properties": {"value": node}}
        unknown = prune({"value": value}, wrapper, remove=False)
        if unknown:
            detail = f"must not have unknown fields: {unknown[0].removeprefix('value')}"
            errs.append(invalid(_child(path, "default"), value, detail))
    for err in validate_value(value, node, "default"):
        errs.append(invalid(_child(path, "default"), value, str(err)))
    return errs


def _root_metadata(schema: Obj, path: str) -> Errs:
    """At the root, `metadata` may only constrain name and generateName."""
    meta = (schema.get("properties") or {}).get("metadata")
    if not isinstance(meta, dict):
        return []
    allowed_keys = {"type", "properties", "description"}
    props = meta.get("properties") or {}
    if set(meta) - allowed_keys or set(props) - {"name", "generateName"}:
        return [
            forbidden(
                f"{path}.properties[metadata]",
                "must not specify anything other than name and generateName, but metadata is "
                "implicitly specified",
            )
        ]
    return []
