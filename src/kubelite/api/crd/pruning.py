"""Pruning: fields a CRD's schema does not declare are dropped, as upstream.

A custom resource keeps only what its structural schema specifies, unless a
node says `x-kubernetes-preserve-unknown-fields: true`. `apiVersion`, `kind`
and `metadata` at the root (and in embedded resources) are the object's own
and never pruned by the schema; `metadata` keeps what ObjectMeta declares
instead, as upstream's decoder round-trips it through the typed struct
(`unknown field "metadata.junk"`). With `fieldValidation=Strict` the pruned
paths become errors instead.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")

# The JSON fields of metav1.ObjectMeta, and of the structs it holds lists of.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_META_LISTS = {
    "ownerReferences": frozenset(
        {"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"}
    ),
    "managedFields": frozenset(
        {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"}
    ),
}


def prune_resource(obj: Obj, schema: Obj, *, remove: bool = True) -> list[str]:
    """Every unknown field of a custom resource, in the order upstream's decoder finds
    them: its own metadata's, the schema's, then those in embedded resources' metadata."""
    unknown = prune_metadata(obj.get("metadata"), "metadata", remove=remove)
    unknown += prune(obj, schema, remove=remove)
    embedded: list[str] = []
    _walk_embedded(obj, schema, "", embedded, remove)
    return unknown + sorted(embedded)


def prune_metadata(meta: Any, path: str, *, remove: bool) -> list[str]:
    """Paths of the keys of `meta` that ObjectMeta does not declare (in key order, as
    Go encodes a map); dropped when `remove`."""
    if not isinstance(meta, dict):
        return []
    unknown: list[str] = []
    for key in sorted(meta):
        if key not in OBJECT_META_FIELDS:
            unknown.append(f"{path}.{key}")
            if remove:
                del meta[key]
            continue
        fields = _META_LISTS.get(key)
        items = meta[key]
        if fields is None or not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for name in sorted(item):
                if name not in fields:
                    unknown.append(f"{path}.{key}[{i}].{name}")
                    if remove:
                        del item[name]
    return unknown


def _walk_embedded(value: Any, schema: Any, path: str, unknown: list[str], remove: bool) -> None:
    """The metadata of each embedded resource (`x-kubernetes-embedded-resource`) below."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _walk_embedded(item, schema.get("items"), f"{path}[{i}]", unknown, remove)
        return
    if not isinstance(value, dict):
        return
    if path and schema.get("x-kubernetes-embedded-resource"):
        unknown += prune_metadata(value.get("metadata"), f"{path}.metadata", remove=remove)
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            _walk_embedded(item, properties[key], f"{path}.{key}" if path else key, unknown, remove)
        elif isinstance(extra, dict):
            _walk_embedded(item, extra, f"{path}[{key}]", unknown, remove)


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
