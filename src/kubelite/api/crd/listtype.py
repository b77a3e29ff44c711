"""The invariants of `x-kubernetes-list-type: set` and `map` lists in custom resources.

A set holds no item twice; a map list holds no two items with the same
values in their `x-kubernetes-list-map-keys` fields (an item without a key
field counts as "unspecified", and two such items collide too). Upstream
checks these in a pass of its own after the schema validator
(apiextensions' `listtype.ValidateListSetsAndMaps`), walking only
`properties`, `additionalProperties` and `items`; we do the same so the
errors read the same: `spec.items[1]: Duplicate value:
map[string]interface {}{"key":"k"}`. Only the first repeat of a value is
reported (`[x, x, x]` gives `[1]` alone), as upstream's counter does.

On update the new object is only checked when the old one passed
(ratcheting): an object stored before its CRD tightened stays writable.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubelite.api.fielderrors import FieldError, GoValue, duplicate, invalid
from kubelite.api.gofmt import go_float

Obj = dict[str, Any]
Errs = list[FieldError]

# Stands for a missing key field (or a null item) in a map list's key.
_UNSPECIFIED = object()


def list_errors(obj: Any, schema: Any, path: str = "") -> Errs:
    """Duplicate items of set and map lists anywhere in `obj` (a custom resource)."""
    if not isinstance(schema, dict):
        return []
    if isinstance(obj, list):
        return _array(obj, schema, path)
    if not isinstance(obj, dict):
        return []
    errs: Errs = []
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in obj.items():
            errs += list_errors(value, extra, f"{path}[{key}]")
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for key, value in obj.items():
            sub = properties.get(key)
            if isinstance(sub, dict):
                errs += list_errors(value, sub, f"{path}.{key}" if path else key)
    return errs


def _array(items: list[Any], schema: Obj, path: str) -> Errs:
    errs: Errs = []
    kind = schema.get("x-kubernetes-list-type")
    if kind == "set":
        errs += [duplicate(f"{path}[{i}]", _shown(items[i])) for i in _repeats(items)]
    elif kind == "map":
        errs += _map_errors(items, schema, path)
    item_schema = schema.get("items")
    if isinstance(item_schema, dict):
        for i, item in enumerate(items):
            errs += list_errors(item, item_schema, f"{path}[{i}]")
    return errs


def _map_errors(items: list[Any], schema: Obj, path: str) -> Errs:
    for i, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [
                invalid(f"{path}[{i}]", item, "must be an object for an array of list-type map")
            ]
    if len(items) <= 1:
        return []
    fields = [str(k) for k in schema.get("x-kubernetes-list-map-keys") or []]
    keys = [_key(item, fields) for item in items]
    return [duplicate(f"{path}[{i}]", GoValue(_map_text(keys[i]))) for i in _repeats(keys)]


def _key(item: Obj | None, fields: list[str]) -> Any:
    """An item's key: its one key field's value, or the map of its key fields."""
    if len(fields) == 1:
        if item is None or fields[0] not in item:
            return _UNSPECIFIED
        return {fields[0]: item[fields[0]]}
    return {f: item[f] for f in fields if item is not None and f in item}


def _repeats(values: list[Any]) -> list[int]:
    """Indices of each value's second appearance (never its third or later)."""
    seen: dict[bytes, int] = {}
    out: list[int] = []
    for i, value in enumerate(values):
        token = b"\0" if value is _UNSPECIFIED else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        count = seen.get(token, 0)
        if count == 1:
            out.append(i)
        seen[token] = count + 1
    return out


def _shown(value: Any) -> Any:
    """A set item as field.Duplicate prints it: scalars plain, structures as Go's %#v."""
    if isinstance(value, dict | list):
        return GoValue(_go_value(value))
    return value


def _map_text(key: Any) -> str:
    return "map[string]interface {}{}" if key is _UNSPECIFIED else _go_value(key)


def _go_value(value: Any) -> str:
    """Go's %#v of a decoded custom resource value (integers are int64 there, not float64)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, dict):
        inner = ", ".join(
            f"{orjson.dumps(k).decode()}:{_go_value(value[k])}" for k in sorted(value)
        )
        return "map[string]interface {}{" + inner + "}"
    return "[]interface {}{" + ", ".join(_go_value(v) for v in value) + "}"
