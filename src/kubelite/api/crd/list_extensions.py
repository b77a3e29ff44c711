"""What a CRD schema may say with `x-kubernetes-list-type`, `-list-map-keys` and `-map-type`.

These extensions give lists and maps their merge semantics (server-side
apply, CEL's list comparisons, the duplicate checks of `listtype`), so a CRD
whose schema gives them a meaning they cannot have is refused, with
apiextensions' messages (`ValidateCustomResourceDefinitionOpenAPISchema`):
a list type only on an array, a map list of objects keyed by scalar
properties that each item has, map-type only on an object.

One rule came later upstream and is ratcheted: a set's items must be atomic
(scalars, atomic lists or atomic maps), except on update of a CRD that
already broke it (`ListRules.for_update`). Upstream's other late rule (map
keys required or defaulted, never nullable; no nullable set or map items)
is not checked yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubelite.api.fielderrors import (
    FieldError,
    GoValue,
    invalid,
    not_supported,
    required,
)
from kubelite.api.validation_meta import go_list

Obj = dict[str, Any]
Errs = list[FieldError]

LIST_TYPES = ["atomic", "set", "map"]
MAP_TYPES = ["atomic", "granular"]


@dataclass(frozen=True)
class ListRules:
    """Whether the ratcheted rule applies (upstream's `requireAtomicSetType`): always on
    create."""

    atomic_sets: bool = True

    @classmethod
    def for_update(cls, old_crd: Obj) -> ListRules:
        """A rule applies on update only if no schema of the old CRD already breaks it."""
        nodes = [n for schema in _schemas(old_crd) for n in _nodes(schema)]
        return cls(atomic_sets=not any(_non_atomic_set(n) for n in nodes))


def check_list_extensions(schema: Any, path: str, rules: ListRules = ListRules()) -> Errs:
    """Errors of every node of `schema` (at `path`), children before their parent, as upstream."""
    if not isinstance(schema, dict):
        return []
    errs: Errs = []
    for sub, sub_path in _children(schema, path):
        errs += check_list_extensions(sub, sub_path, rules)
    errs += _map_type(schema, path)
    errs += _list_type(schema, path, rules)
    errs += _list_map_keys(schema, path)
    return errs


def _children(schema: Obj, path: str) -> Iterator[tuple[Any, str]]:
    for name, sub in (schema.get("properties") or {}).items():
        yield sub, f"{path}.properties[{name}]"
    if isinstance(schema.get("additionalProperties"), dict):
        yield schema["additionalProperties"], f"{path}.additionalProperties"
    if isinstance(schema.get("items"), dict):
        yield schema["items"], f"{path}.items"
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(junctor) or []):
            yield sub, f"{path}.{junctor}[{i}]"
    if isinstance(schema.get("not"), dict):
        yield schema["not"], f"{path}.not"


def _nodes(schema: Any) -> Iterator[Obj]:
    if isinstance(schema, dict):
        yield schema
        for sub, _ in _children(schema, ""):
            yield from _nodes(sub)


def _schemas(crd: Obj) -> Iterator[Any]:
    for version in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(version, dict):
            yield (version.get("schema") or {}).get("openAPIV3Schema")


def _must_be(schema: Obj, path: str, kind: str, extension: str) -> Errs:
    if schema.get("type") == kind:
        return []
    detail = f"must be {kind} if {extension} is specified"
    if not schema.get("type"):
        return [required(f"{path}.type", detail)]
    return [invalid(f"{path}.type", schema["type"], detail)]


def _map_type(schema: Obj, path: str) -> Errs:
    value = schema.get("x-kubernetes-map-type")
    if value is None:
        return []
    errs = _must_be(schema, path, "object", "x-kubernetes-map-type")
    if value not in MAP_TYPES:
        errs.append(not_supported(f"{path}.x-kubernetes-map-type", value, MAP_TYPES))
    return errs


def _list_type(schema: Obj, path: str, rules: ListRules) -> Errs:
    value = schema.get("x-kubernetes-list-type")
    if value is None:
        return []
    errs = _must_be(schema, path, "array", "x-kubernetes-list-type")
    if not errs and rules.atomic_sets and value == "set":
        errs += _atomic_set_items(schema, path)
    if value not in LIST_TYPES:
        errs.append(not_supported(f"{path}.x-kubernetes-list-type", value, LIST_TYPES))
    return errs


_SET_ITEMS = "must be atomic as item of a list with x-kubernetes-list-type=set"


def _atomic_set_items(schema: Obj, path: str) -> Errs:
    items = schema.get("items")
    if not isinstance(items, dict) or not _non_atomic_set(schema):
        return []
    # Upstream prints the items' list type in both errors: "null" when an object has none.
    shown = items.get("x-kubernetes-list-type")
    shown = "null" if shown is None else shown
    if items.get("type") == "array":
        return [invalid(f"{path}.items.x-kubernetes-list-type", shown, _SET_ITEMS)]
    return [invalid(f"{path}.items.x-kubernetes-map-type", shown, _SET_ITEMS)]


def _non_atomic_set(schema: Obj) -> bool:
    """A set whose items are lists or maps that merge granularly (scalars are atomic)."""
    items = schema.get("items")
    if schema.get("x-kubernetes-list-type") != "set" or not isinstance(items, dict):
        return False
    if items.get("type") == "array":
        return items.get("x-kubernetes-list-type", "atomic") != "atomic"
    if items.get("type") == "object":
        return items.get("x-kubernetes-map-type") != "atomic"
    return False


def _list_map_keys(schema: Obj, path: str) -> Errs:
    keys = [str(k) for k in schema.get("x-kubernetes-list-map-keys") or []]
    kind = schema.get("x-kubernetes-list-type")
    errs: Errs = []
    if keys and kind is None:
        errs.append(
            required(
                f"{path}.x-kubernetes-list-type",
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )
        )
    elif keys and kind != "map":
        errs.append(
            invalid(
                f"{path}.x-kubernetes-list-type",
                kind,
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )
        )
    if kind == "map":
        errs += _map_list(schema, path, keys)
    return errs


def _map_list(schema: Obj, path: str, keys: list[str]) -> Errs:
    errs: Errs = []
    if not keys:
        errs.append(
            required(
                f"{path}.x-kubernetes-list-map-keys",
                "must not be empty if x-kubernetes-list-type is map",
            )
        )
    items = schema.get("items")
    if items is None:
        errs.append(
            required(f"{path}.items", "must have a schema if x-kubernetes-list-type is map")
        )
    if not isinstance(items, dict):
        return errs
    if items.get("type") != "object":
        errs.append(
            invalid(
                f"{path}.items.type",
                items.get("type", ""),
                "must be object if parent array's x-kubernetes-list-type is map",
            )
        )
        return errs
    properties = items.get("properties") or {}
    shown = GoValue(go_list(keys))
    seen: set[str] = set()
    for key in keys:
        prop = properties.get(key)
        if not isinstance(prop, dict):
            errs.append(
                invalid(
                    f"{path}.x-kubernetes-list-map-keys",
                    shown,
                    "entries must all be names of item properties",
                )
            )
        elif prop.get("type") in ("array", "object"):
            # Upstream names the items' type here, not the key property's.
            errs.append(
                invalid(
                    f"{path}.items.properties[{key}].type",
                    "object",
                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                )
            )
        if key in seen:
            errs.append(
                invalid(
                    f"{path}.x-kubernetes-list-map-keys",
                    shown,
                    "must not contain duplicate entries",
                )
            )
        seen.add(key)
    return errs
