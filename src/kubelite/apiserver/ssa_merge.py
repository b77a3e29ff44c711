"""The live object merged with an applied configuration, as server-side apply merges.

Upstream's structured-merge-diff merges the two typed values field by field:
scalars, atomic lists and untyped values are taken from the configuration;
maps and structs merge key by key; lists with a merge key (containers, ports,
env, volumes, ...) and sets of scalars (finalizers) merge element by element.

Order matters there, and it is not a strategic merge patch's (which puts the
patch's elements first). Both lists are walked at once: live elements the
configuration does not mention keep their places; the elements both have come
in the configuration's order; an element only in the configuration goes right
before the shared element that follows it there, or after everything live when
none does. So a second manager's container is appended after the first's, while
an applier reordering its own elements gets its order.

A null in the configuration clears a scalar or an empty value, but leaves a map
or list with content as it is (the walk has nothing to merge into it).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import orjson

from kubelite.api.patch import _ANY_KIND, _KINDS, _Field
from kubelite.apiserver.managedfields import element_key
from kubelite.apiserver.schema import _fields, _shape

Obj = dict[str, Any]
_ABSENT: Any = object()  # a field one side does not have (not a null)


def merge_applied(live: Obj, applied: Obj, *, kind: str, model: str) -> Obj:
    """`applied` merged into `live` (a new object; both inputs are left as they are).

    `model` names the kind's type in the client's models ("" when it has none).
    """
    return _merge_maps(live, applied, model, "model", "", _KINDS.get(kind, _ANY_KIND))


def _merge(lhs: Any, rhs: Any, type_name: str, spec: _Field) -> Any:
    if rhs is _ABSENT:
        return lhs
    if lhs is _ABSENT:
        return without_nulls(rhs)
    shape, inner = _shape(type_name) if type_name else ("model", "")
    if shape == "leaf":  # scalars, and untyped values, which are atomic
        return rhs
    if shape == "list" or isinstance(lhs, list) or isinstance(rhs, list):
        if not (_list_or_null(lhs) and _list_or_null(rhs)) or "merge" not in spec.strategy:
            return rhs  # an atomic list: the configuration's
        if not lhs and not rhs:
            return rhs  # empty against empty: keep the configuration's [] or null
        return _merge_items(lhs or [], rhs or [], inner, spec)
    if not (_map_or_null(lhs) and _map_or_null(rhs)) or (not lhs and not rhs):
        return rhs
    return _merge_maps(lhs or {}, rhs or {}, type_name, shape, inner, spec)


def without_nulls(value: Any) -> Any:
    """`value` without the map entries set to null: what its typed form holds."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def _list_or_null(value: Any) -> bool:
    return value is None or isinstance(value, list)


def _map_or_null(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def _merge_maps(lhs: Obj, rhs: Obj, type_name: str, shape: str, inner: str, spec: _Field) -> Obj:
    fields = (_fields(type_name) if type_name else None) or {}
    out: Obj = {}
    for key in [*lhs, *(k for k in rhs if k not in lhs)]:
        child_type = inner if shape == "dict" else fields.get(key, "")
        value = _merge(lhs.get(key, _ABSENT), rhs.get(key, _ABSENT), child_type, spec.child(key))
        if value is None and key in rhs:
            continue  # set to null: the typed object has the zero value, which is left out
        out[key] = value
    return out


# ---- lists merged element by element -------------------------------------------------


class _Unkeyed:
    """The identity of an element without a usable key: it matches nothing."""

    __slots__ = ()


def _identity(item: Any, spec: _Field) -> Hashable:
    if spec.merge_key:
        if isinstance(item, dict) and spec.merge_key in item:
            return orjson.dumps(element_key(item, spec.merge_key), option=orjson.OPT_SORT_KEYS)
        return _Unkeyed()
    if item is None or isinstance(item, dict | list):
        return _Unkeyed()
    return orjson.dumps(item)


def _merge_items(lhs: list[Any], rhs: list[Any], inner: str, spec: _Field) -> list[Any]:
    """Upstream's walk over both lists at once (see the module docstring for the order)."""
    lkeys = [_identity(item, spec) for item in lhs]
    rkeys = [_identity(item, spec) for item in rhs]
    live: dict[Hashable, Any] = {}
    for key, item in zip(lkeys, lhs, strict=True):
        # A duplicated live element merges as if absent: the configuration's wins.
        live[key] = None if key in live else item
    applied = dict(zip(rkeys, rhs, strict=True))
    shared: Iterator[Hashable] = iter([k for k in rkeys if k in live])
    next_shared = next(shared, None)
    done: set[Hashable] = set()
    out: list[Any] = []

    def take(left: Any, right: Any) -> None:
        merged = _merge(left, right, inner, spec)
        if merged is not None:
            out.append(merged)

    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            key = lkeys[li]
            if key == rkeys[ri]:
                done.add(key)
                take(live[key], applied[key])
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if key in applied and next_shared is not None and next_shared != key:
                li += 1  # a shared element placed later, in the configuration's order
                continue
        if li < len(lhs):
            key = lkeys[li]
            if key not in applied:
                take(lhs[li], _ABSENT)
                li += 1
                continue
            if key in done:
                li += 1
        if ri < len(rhs):
            key = rkeys[ri]
            done.add(key)
            take(live.get(key, _ABSENT), applied[key])
            ri += 1
            if next_shared is not None and next_shared == key:
                next_shared = next(shared, None)
    return out
