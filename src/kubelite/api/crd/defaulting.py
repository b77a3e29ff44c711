"""Defaulting: `default` values from a CRD's schema, filled in as upstream does.

Upstream defaults a custom resource when it is decoded from a request and
again when it is read from storage, so a default added to the schema later
shows on objects stored before. A field that is absent (or null where the
schema does not allow null) gets a copy of its default; defaults apply
top-down, so a defaulted object's own fields get their defaults too.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def apply_defaults(value: Any, schema: Any) -> None:
    """Fill `value` in place from `schema`'s defaults."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, list):
        items = schema.get("items")
        for item in value:
            apply_defaults(item, items)
        return
    if not isinstance(value, dict):
        return
    properties = schema.get("properties") or {}
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        missing = name not in value or (value[name] is None and not sub.get("nullable"))
        if missing and "default" in sub:
            value[name] = copy.deepcopy(sub["default"])
        if name in value:
            apply_defaults(value[name], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name in value:
            if name not in properties:
                apply_defaults(value[name], extra)
