"""Which fields each kind declares: for `fieldValidation` and pruning.

kube-apiserver decodes bodies into typed structs, so unknown fields are
dropped (Ignore/Warn) or refused (Strict). We get the same field sets from the
official client's generated models, which mirror the upstream OpenAPI
schema; they are loaded on first use, off the start-up path.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from kubelite.api import clientmodels, quantity
from kubelite.api.quantityfields import QUANTITY_FIELDS
from kubelite.api.registry import ResourceType

_LEAVES = frozenset({"str", "int", "float", "bool", "object", "datetime", "date", "bytes"})


@cache
def _fields(model_name: str) -> dict[str, str] | None:
    """JSON field name -> type string, for one generated model."""
    models = clientmodels.models()
    cls = getattr(models, model_name, None) if models is not None else None
    if cls is None:
        return None
    return {cls.attribute_map[k]: t for k, t in cls.openapi_types.items()}


_GO_TYPES = {
    "str": "string",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "datetime": "string",
}
_CHECKS: dict[str, Any] = {
    "str": lambda v: isinstance(v, str),
    "datetime": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quantity_from_number(value: Any, path: str) -> str:
    try:
        return quantity.canonicalize(value)
    except quantity.QuantityError as exc:
        raise TypeMismatch(
            f"json: cannot unmarshal number into Go struct field .{path}: {exc}"
        ) from None


def _accept_numeric_quantities(obj: dict[str, Any], fields: dict[str, bool], path: str) -> None:
    """Replace JSON numbers in quantity fields with the canonical quantity string."""
    for key, is_map in fields.items():
        value = obj.get(key)
        child = f"{path}.{key}" if path else key
        if is_map and isinstance(value, dict):
            for name, item in value.items():
                if _is_number(item):
                    value[name] = _quantity_from_number(item, f"{child}.{name}")
                elif isinstance(item, bool | list | dict):
                    raise TypeMismatch(quantity.ERR_FORMAT)  # ParseQuantity of its JSON text
        elif not is_map and _is_number(value):
            obj[key] = _quantity_from_number(value, child)
        elif not is_map and isinstance(value, bool | list | dict):
            raise TypeMismatch(quantity.ERR_FORMAT)


class TypeMismatch(ValueError):
    """A value of the wrong JSON type: a decode error upstream, whatever the mode."""


def check_fields(rt: ResourceType, obj: dict[str, Any], *, prune: bool) -> list[str]:
    """Paths of fields the kind does not declare; removed from `obj` when `prune`.

    Raises `TypeMismatch` for a value whose JSON type the schema does not allow.
    """
    if _fields(clientmodels.model_name(rt)) is None:
        return []
    unknown: list[str] = []
    _walk(obj, clientmodels.model_name(rt), "", unknown, prune)
    return unknown


def check_meta_types(obj: dict[str, Any]) -> None:
    """A custom resource's `metadata` holds ObjectMeta's types, as its decoding into
    ObjectMeta requires (`TypeMismatch` otherwise); unknown keys are the pruner's."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        _walk(meta, "V1ObjectMeta", "metadata", [], False, ("", "metadata"))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@cache
def _shape(type_name: str) -> tuple[str, str]:
    """("leaf" | "list" | "dict" | "model", element type): the type string parsed once."""
    if type_name in _LEAVES:
        return "leaf", ""
    if m := clientmodels.LIST.match(type_name):
        return "list", m.group(1)
    if m := clientmodels.DICT.match(type_name):
        return "dict", m.group(1)
    return "model", ""


def _walk(
    value: Any,
    type_name: str,
    path: str,
    unknown: list[str],
    prune: bool,
    where: tuple[str, str] = ("", ""),
) -> None:
    """`path` names fields as upstream's unknown-field errors do (with list indices);
    `where` is (the innermost Go struct, its JSON field path) as encoding/json words
    a type error: `Go struct field EnvVar.spec.template.spec.containers.env.value`."""
    if value is None:
        return
    check = _CHECKS.get(type_name)
    if check is not None and not check(value):
        raise _type_error(value, where, _GO_TYPES[type_name])
    shape, inner = _shape(type_name)
    if shape == "leaf":
        return
    if shape == "list":
        if not isinstance(value, list):
            raise _type_error(value, where, f"[]{_go_type(inner)}")
        for i, item in enumerate(value):
            _walk(item, inner, f"{path}[{i}]", unknown, prune, where)
        return
    if shape == "dict":
        if not isinstance(value, dict):
            raise _type_error(value, where, f"map[string]{_go_type(inner)}")
        for key, item in value.items():
            _walk(item, inner, f"{path}.{key}" if path else key, unknown, prune, where)
        return
    fields = _fields(type_name)
    if fields is None or not isinstance(value, dict):
        return
    if type_name in QUANTITY_FIELDS:
        _accept_numeric_quantities(value, QUANTITY_FIELDS[type_name], path)
    struct, go_path = _go_type(type_name).rsplit(".", 1)[-1], where[1]
    for key in list(value):
        child = f"{path}.{key}" if path else key
        if key not in fields:
            unknown.append(child)
            if prune:
                del value[key]
            continue
        field_path = f"{go_path}.{key}" if go_path else key
        _walk(value[key], fields[key], child, unknown, prune, (struct, field_path))


def _type_error(value: Any, where: tuple[str, str], go_type: str) -> TypeMismatch:
    struct, field_path = where
    return TypeMismatch(
        f"json: cannot unmarshal {_json_type(value)} into Go struct field "
        f"{struct}.{field_path} of type {go_type}"
    )


_VERSION_PREFIX = re.compile(r"^V\d+(?:(?:alpha|beta)\d+)?(?=[A-Z])")


@cache
def _go_type(type_name: str) -> str:
    """A client model's Go name (`V1EnvVar` -> `v1.EnvVar`); leaves as they are."""
    if type_name in _GO_TYPES:
        return _GO_TYPES[type_name]
    m = _VERSION_PREFIX.match(type_name)
    if m is None:
        return type_name
    return f"{m.group(0).lower()}.{type_name[m.end() :]}"
