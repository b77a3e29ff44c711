"""Evaluating a webhook's `matchConditions` for one request, as upstream's matcher does.

A webhook whose rules and selectors match is called only if every condition
is true: any false condition skips it (errors or not); when none is false
but some failed to evaluate, `failurePolicy` decides: `Fail` refuses the
request (403, `... is forbidden: expression '...' resulted in error: ...`),
`Ignore` skips the webhook. Expressions are compiled once per text and kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.apiserver import cel_authorizer, errors
from kubelite.apiserver.webhook_rules import Request

if TYPE_CHECKING:
    from kubelite.api.cel import Program

Obj = dict[str, Any]


@dataclass(frozen=True)
class Match:
    matches: bool
    error: str = ""  # set when failurePolicy Fail must refuse the request


WEBHOOK_VARIABLES = ("object", "oldObject", "request", "authorizer")


@functools.lru_cache(maxsize=1024)
def compiled(expression: str, variables: tuple[str, ...] = WEBHOOK_VARIABLES) -> Program | str:
    """The program, or the compile error (a configuration stored before it was checked)."""
    from kubelite.api import cel

    try:
        return cel.compile_expression(
            expression, variables=variables, functions=cel.AUTHORIZER_FUNCTIONS
        )
    except cel.CompileError as exc:
        return exc.detail


def _variables(req: Request, request: Obj) -> dict[str, Any]:
    from kubelite.api import cel

    return {
        "object": cel.to_cel(req.obj),
        "oldObject": cel.to_cel(req.old),
        "request": cel.to_cel(request),
        "authorizer": cel_authorizer.for_request(request),
    }


def evaluate(
    expression: str, variables: dict[str, Any], names: tuple[str, ...] = WEBHOOK_VARIABLES
) -> bool | str:
    """True/False, or the error text upstream gives for an expression that failed."""
    from kubelite.api import cel

    program = compiled(expression, names)
    if isinstance(program, str):
        return f"expression '{expression}' resulted in error: {program}"
    try:
        value = program.evaluate(variables)
    except cel.CelError as exc:
        return f"expression '{expression}' resulted in error: {exc.detail}"
    if cel.is_true(value):
        return True
    if cel.from_cel(value) is False:
        return False
    return f"expression '{expression}' resulted in error: no such overload"


def match_conditions(hook: Obj, req: Request, request: Obj) -> Match:
    """Whether the webhook is called; `request` is the AdmissionRequest it would receive."""
    if not hook.get("matchConditions"):
        return Match(True)
    return conditions_hold(hook, _variables(req, request), WEBHOOK_VARIABLES)


def conditions_hold(spec: Obj, variables: dict[str, Any], names: tuple[str, ...]) -> Match:
    """`spec`'s matchConditions against `variables` (CEL values), its failurePolicy deciding."""
    conditions = [c for c in spec.get("matchConditions") or [] if isinstance(c, dict)]
    failures: list[str] = []
    for condition in conditions:
        outcome = evaluate(str(condition.get("expression") or "").strip(), variables, names)
        if outcome is False:
            return Match(False)
        if isinstance(outcome, str):
            failures.append(outcome)
    if not failures:
        return Match(True)
    if spec.get("failurePolicy", "Fail") == "Ignore":
        return Match(False)
    return Match(False, failures[0] if len(failures) == 1 else "[" + ", ".join(failures) + "]")


def forbidden_message(req: Request, error: str) -> tuple[str, Obj]:
    """admission.NewForbidden's message and details: `<resource> "<name>" is forbidden: ...`."""
    return admission_forbidden(req.resource.plural, req.resource.group, req.name, error)


def admission_forbidden(plural: str, group: str, name: str, error: str) -> tuple[str, Obj]:
    """The same for any admission plugin's refusal of `plural.group` named `name`."""
    resource = f"{plural}.{group}" if group else plural
    details: Obj = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = plural
    return f'{resource} "{name}" is forbidden: {error}', details


def refused(req: Request, error: str) -> errors.Forbidden:
    """The 403 upstream answers when conditions could not be evaluated and policy is Fail."""
    message, details = forbidden_message(req, error)
    return errors.Forbidden(message, details=details)
