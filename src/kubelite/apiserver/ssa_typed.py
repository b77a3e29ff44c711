"""An applied configuration in its typed form, as server-side apply first builds it.

Upstream turns the body of an apply into a typed value of structured-merge-diff
before anything else. A value that does not fit the kind's schema fails there:
a number where a string is declared, a list where a map is, a field the type
does not declare, a keyed list element without its key, two elements with one
key. Every problem is listed, each after its typed path (list elements by their
key where the list has one), in one plain error — a 500 without a reason:

    failed to create typed patch object (default/cm; /v1, Kind=ConfigMap):
    .data.x: expected string, got &value.valueUnstructured{Value:1}

The offending values are printed as Go's `fmt` prints the decoded body, where
every JSON number is a float64. The types come from the official client's
models (`apiserver.schema`); which lists are keyed or sets, from the patch
metadata `managedfields` tracks ownership with.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubelite.api import clientmodels
from kubelite.api.gofmt import go_sharp_v, go_type, go_v
from kubelite.api.patch import _ANY_KIND, _KINDS, _Field
from kubelite.api.quantityfields import QUANTITY_FIELDS
from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors
from kubelite.apiserver.managedfields import element_key
from kubelite.apiserver.schema import _fields, _shape

Obj = dict[str, Any]

# The scalar each leaf type of the client's models is in structured-merge-diff;
# `object` (IntOrString, RawExtension, ...) takes any value.
_SCALARS = {
    "str": "string",
    "datetime": "string",
    "date": "string",
    "bytes": "string",
    "int": "numeric",
    "float": "numeric",
    "bool": "boolean",
}


class TypedPatchError(errors.ApiError):
    """Upstream returns the typed conversion's error as a plain Go error: a 500 with
    no reason, which kubectl prints as `Error from server: <message>`."""

    code = 500
    reason = ""


def check_applied(rt: ResourceType, applied: Obj, namespace: str | None, name: str) -> None:
    """Refuse an applied configuration that does not fit its type."""
    problems = typed_problems(rt, applied)
    if not problems:
        return
    # Upstream's order follows its map iteration; sorted here, to be stable.
    problems.sort()
    text = (
        problems[0] if len(problems) == 1 else "errors:\n" + "\n".join(f"  {p}" for p in problems)
    )
    gvk = f"{rt.group}/{rt.version}, Kind={rt.kind}"
    raise TypedPatchError(
        f"failed to create typed patch object ({namespace or ''}/{name}; {gvk}): {text}"
    )


def typed_problems(rt: ResourceType, applied: Obj) -> list[str]:
    """Each problem as `<typed path>: <what is wrong>`; empty when `applied` fits.

    A custom resource's own fields are left to its schema's validation; its
    metadata is an ObjectMeta like any other kind's.
    """
    out: list[str] = []
    if rt.custom is not None:
        for key in ("apiVersion", "kind"):
            _check(applied.get(key), "str", _ANY_KIND, f".{key}", out)
        _check(
            applied.get("metadata"), "V1ObjectMeta", _ANY_KIND.child("metadata"), ".metadata", out
        )
        return out
    model = clientmodels.model_name(rt)
    if _fields(model) is None:
        return []
    _check(applied, model, _KINDS.get(rt.kind, _ANY_KIND), "", out)
    return out


def _check(value: Any, type_name: str, spec: _Field, path: str, out: list[str]) -> None:
    if value is None:  # null fits every type
        return
    shape, inner = _shape(type_name)
    if shape == "leaf":
        problem = _scalar_problem(value, type_name)
        if problem:
            out.append(f"{path}: {problem}")
    elif shape == "list":
        if not isinstance(value, list):
            out.append(f"{path}: expected list, got &{{{go_v(value)}}}")
        else:
            _check_items(value, inner, spec, path, out)
    elif not isinstance(value, dict):
        out.append(f"{path}: expected map, got &{{{go_v(value)}}}")
    elif shape == "dict":
        for key, item in value.items():
            _check(item, inner, spec.child(key), f"{path}.{key}", out)
    else:
        _check_fields(value, type_name, spec, path, out)


def _check_fields(value: Obj, type_name: str, spec: _Field, path: str, out: list[str]) -> None:
    fields = _fields(type_name)
    if fields is None:  # a model the client lacks: nothing to hold it against
        return
    quantities = QUANTITY_FIELDS.get(type_name, {})
    for key, item in value.items():
        child = f"{path}.{key}"
        if key not in fields:
            out.append(f"{child}: field not declared in schema")
        elif key in quantities:
            _check_quantity(item, is_map=quantities[key], path=child, out=out)
        else:
            _check(item, fields[key], spec.child(key), child, out)


def _check_quantity(value: Any, *, is_map: bool, path: str, out: list[str]) -> None:
    """A Quantity is an untyped scalar upstream: a string or a number."""
    if value is None:
        return
    if not is_map:
        if isinstance(value, dict | list):
            out.append(f"{path}: expected any scalar, got &{{{go_v(value)}}}")
        return
    if not isinstance(value, dict):
        out.append(f"{path}: expected map, got &{{{go_v(value)}}}")
        return
    for key, item in value.items():
        _check_quantity(item, is_map=False, path=f"{path}.{key}", out=out)


def _scalar_problem(value: Any, type_name: str) -> str:
    kind = _SCALARS.get(type_name, "untyped")
    if kind == "string" and not isinstance(value, str):
        return f"expected string, got &value.valueUnstructured{{Value:{go_sharp_v(value)}}}"
    if kind == "numeric" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"expected numeric (int or float), got {go_type(value)}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected boolean, got &{{{go_v(value)}}}"
    return ""


def _check_items(items: list[Any], inner: str, spec: _Field, path: str, out: list[str]) -> None:
    keyed = bool(spec.merge_key) and "merge" in spec.strategy
    is_set = not spec.merge_key and "merge" in spec.strategy and _shape(inner)[0] == "leaf"
    if not keyed and not is_set:
        for i, item in enumerate(items):
            _check(item, inner, spec, f"{path}[{i}]", out)
        return
    seen: set[str] = set()
    for i, item in enumerate(items):
        problem = _element_problem(item, spec.merge_key if keyed else "")
        if problem:
            # Without the element's key nothing deeper can be named: the list stops here.
            out.append(f"{path}: element {i}: {problem}")
            return
        step = _key_step(item, spec.merge_key) if keyed else f"[={_json(item)}]"
        if step in seen:
            out.append(f"{path}: duplicate entries for key {step}")
        seen.add(step)
        _check(item, inner, spec, f"{path}{step}", out)


def _element_problem(item: Any, merge_key: str) -> str:
    if merge_key:
        if item is None:
            return "associative list with keys may not have a null element"
        if not isinstance(item, dict):
            return "associative list with keys may not have non-map elements"
        if merge_key not in item:  # protocol, the other key of ports, defaults to TCP
            return (
                f"associative list with keys has an element that omits key field "
                f'"{merge_key}" (and doesn\'t have default value)'
            )
        return ""
    if isinstance(item, dict):
        return "associative list without keys has an element that's a map type"
    if isinstance(item, list):
        return "not supported: associative list with lists as elements"
    if item is None:
        return "associative list without keys has an element that's an explicit null"
    return ""


def _key_step(item: Obj, merge_key: str) -> str:
    key = element_key(item, merge_key)
    return "[" + ",".join(f"{k}={_json(v)}" for k, v in sorted(key.items())) + "]"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
