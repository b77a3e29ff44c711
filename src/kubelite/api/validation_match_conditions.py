"""`matchConditions` of admission webhooks: named CEL expressions, checked when the configuration is written.

Upstream compiles each expression against the admission environment
(`object`, `oldObject`, `request`, `authorizer`) and refuses the
configuration when one does not compile, so a broken condition is found
when it is written rather than on every request it would have filtered.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import FieldError, duplicate, invalid, required
from kubelite.api.validation_meta import Errs, child, idx, too_many

VARIABLES = ("object", "oldObject", "request", "authorizer")
MAX_CONDITIONS = 64


def validate_match_conditions(conditions: Any, path: str) -> Errs:
    if not isinstance(conditions, list):
        return []
    errs: Errs = []
    if len(conditions) > MAX_CONDITIONS:
        errs.append(too_many(path, len(conditions), MAX_CONDITIONS))
    seen: set[str] = set()
    for i, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            continue
        here = idx(path, i)
        errs += _validate_condition(condition, here)
        name = str(condition.get("name") or "")
        if name and name in seen:
            errs.append(duplicate(child(here, "name"), name))
        seen.add(name)
    return errs


def _validate_condition(condition: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    expression = str(condition.get("expression") or "")
    if not expression.strip():
        errs.append(required(child(path, "expression"), ""))
    else:
        errs += _compiles(expression.strip(), child(path, "expression"))
    name = str(condition.get("name") or "")
    if not name:
        errs.append(required(child(path, "name"), ""))
    else:
        errs += [invalid(child(path, "name"), name, m) for m in names.is_qualified_name(name)]
    return errs


def _compiles(expression: str, path: str) -> list[FieldError]:
    # Loaded here: a cluster whose webhooks have no conditions never loads CEL.
    from kubelite.api import cel

    try:
        cel.compile_expression(expression, variables=VARIABLES, functions=cel.AUTHORIZER_FUNCTIONS)
    except cel.CompileError as exc:
        return [invalid(path, expression, exc.detail)]
    return []
