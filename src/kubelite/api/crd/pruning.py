"""Pruning: fields a CRD's schema does not declare are dropped, as upstream.

A custom resource keeps only what its structural schema specifies, unless a
node says `x-kubernetes-preserve-unknown-fields: true`. `apiVersion`, `kind`
and `metadata` at the root (and in embedded resources) are the object's own
and never pruned by the schema. With `fieldValidation=Strict` the pruned
paths become errors instead.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def prune(obj: Obj, schema: Obj, *, remove: bool = True) -> list[str]:
    """Paths (`spec.foo`) of the fields the schema does not declare; dropped when `remove`."""
    unknown: list[str] = []
    _walk(obj, schema, "", unknown, remove, root=True)
    return unknown


def _walk(value: Any, schema: Any, path: str, unknown: list[str], remove: bool, root: bool) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, list):
        items = schema.get("items")
        for i, item in enumerate(value):
            _walk(item, items, f"{path}[{i}]", unknown, remove, root=False)
        return
    if not isinstance(value, dict):
        return
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for key in list(value):
        child = f"{path}.{key}" if path else key
        if (root or embedded) and key in _ROOT_FIELDS:
            continue
        sub = properties.get(key)
        if sub is None and isinstance(extra, dict):
            sub = extra
        if sub is None and not preserve and extra is not True:
            unknown.append(child)
            if remove:
                del value[key]
            continue
        _walk(value[key], sub, child, unknown, remove, root=False)
