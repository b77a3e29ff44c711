"""CEL validation rules (`x-kubernetes-validations`) of a CRD's structural schema.

Two moments, as in apiextensions: when a CRD is written, `check_rules` walks
its schema and refuses rules that are malformed or do not compile, with
upstream's field paths and wording; when a custom resource is written,
`validate_rules` evaluates them. `self` is the value at the rule's schema
node (at the resource root and in embedded resources with `apiVersion`,
`kind` and `metadata.name`/`generateName` only), `oldSelf` the value the
same node had before the update. A rule that uses `oldSelf` is a transition
rule: it runs only when an old value exists at its path, unless
`optionalOldSelf` makes `oldSelf` an optional. Old values are found as
upstream correlates them: by property name, by map key, and by the key
fields of `x-kubernetes-list-type: map` lists; other list items have none.
Errors of rules that do not use `oldSelf`, on a value that did not change,
are ratcheted: reported as warnings, not failures.

Compiled validators are cached per served type (the `CustomResource` the
registry builds anew on every CRD write), so a custom resource write never
recompiles. Costs are counted in parse-tree nodes visited (see `api.cel`).
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import cel
from kubelite.api.crd.field_path import field_path_error
from kubelite.api.crd.types import has_rules
from kubelite.api.fielderrors import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)

Obj = dict[str, Any]
Errs = list[FieldError]

VARIABLES = ("self", "oldSelf")
REASONS = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]
# Nodes the rules of one object may visit in all (upstream's per-object cost budget, in kind).
OBJECT_BUDGET = 200_000
_MAX_MESSAGE = 2048
_BLOCKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


# ---- the rule as upstream prints it ------------------------------------------------


class _GoRule:
    """A ValidationRule printed as Go's %#v prints it, as upstream's messages show it."""

    def __init__(self, rule: Obj) -> None:
        self.rule = rule

    def __str__(self) -> str:
        r = self.rule

        def q(key: str) -> str:
            return json.dumps(str(r.get(key) or ""), ensure_ascii=False)

        # Go prints a set pointer as its address: any address reads the same to a user.
        reason = "(*apiextensions.FieldValueErrorReason)(nil)"
        if r.get("reason") is not None:
            reason = "(*apiextensions.FieldValueErrorReason)(0xc000a1b2c0)"
        optional = "(*bool)(nil)" if r.get("optionalOldSelf") is None else "(*bool)(0xc000a1b2c8)"
        return (
            f"apiextensions.ValidationRule{{Rule:{q('rule')}, Message:{q('message')}, "
            f"MessageExpression:{q('messageExpression')}, Reason:{reason}, "
            f"FieldPath:{q('fieldPath')}, OptionalOldSelf:{optional}}}"
        )


# ---- at CRD write: checking the rules -------------------------------------------------


def schema_path(crd: Obj, index: int) -> str:
    """Where upstream reports a version's schema: hoisted to `spec.validation` when all agree."""
    versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)]
    schemas = [(v.get("schema") or {}).get("openAPIV3Schema") for v in versions]
    if schemas and all(s == schemas[0] for s in schemas):
        return "spec.validation.openAPIV3Schema"
    return f"spec.versions[{index}].schema.openAPIV3Schema"


@dataclass(frozen=True)
class _Where:
    """A schema node being checked: its path, and what its rules' `self` looks like."""

    path: str
    shape: Obj  # the node's schema (for allOf parts: the node they constrain)
    resource_root: bool
    uncorrelatable: str | None


def check_rules(schema: Any, path: str) -> Errs:
    """The errors of every `x-kubernetes-validations` in `schema` (at `path`); [] when fine."""
    if not has_rules(schema):
        return []
    return _check_node(schema, _Where(path, schema, True, None))


def _check_node(schema: Obj, where: _Where) -> Errs:
    errs: Errs = []
    path, below = where.path, where.uncorrelatable
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            errs += _check_node(
                sub, _Where(f"{path}.properties[{name}]", sub, _embedded(sub), below)
            )
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        errs += _check_node(
            extra, _Where(f"{path}.additionalProperties", extra, _embedded(extra), below)
        )
    items = schema.get("items")
    if isinstance(items, dict):
        items_path = f"{path}.items"
        keyed = schema.get("x-kubernetes-list-type") == "map"
        lost = below if keyed or below else items_path
        errs += _check_node(items, _Where(items_path, items, _embedded(items), lost))
    for i, sub in enumerate(schema.get("allOf") or []):
        if isinstance(sub, dict):
            part = _Where(f"{path}.allOf[{i}]", where.shape, where.resource_root, below)
            errs += _check_node(sub, part)
    rules = schema.get("x-kubernetes-validations")
    if isinstance(rules, list) and rules:
        errs += _check_rules_here(rules, where)
    return errs


def _check_rules_here(rules: list[Any], where: _Where) -> Errs:
    base = f"{where.path}.x-kubernetes-validations"
    errs: Errs = []
    for i, rule in enumerate(rules):
        if isinstance(rule, dict):
            errs += _check_shape(rule, where.shape, f"{base}[{i}]")
    if errs:
        # Upstream compiles nothing while the rules themselves are malformed.
        return errs
    for i, rule in enumerate(rules):
        errs += _check_compiles(rule, f"{base}[{i}]", where)
    return errs


def _has_newlines(text: str) -> bool:
    return "\n" in text or "\r" in text


def _check_shape(rule: Obj, schema: Obj, path: str) -> Errs:
    errs: Errs = []
    text = str(rule.get("rule") or "")
    message = rule.get("message")
    msg = str(message or "")
    if not text.strip():
        errs.append(required(f"{path}.rule", "rule is not specified"))
    elif message is not None and msg and not msg.strip():
        errs.append(invalid(f"{path}.message", msg, "message must be non-empty if specified"))
    elif len(msg) > _MAX_MESSAGE:
        errs.append(
            invalid(
                f"{path}.message",
                msg[:10] + "...",
                "message must have a maximum length of 2048 characters",
            )
        )
    elif _has_newlines(msg.strip()):
        errs.append(invalid(f"{path}.message", msg, "message must not contain line breaks"))
    elif _has_newlines(text.strip()) and not msg.strip():
        errs.append(
            required(f"{path}.message", "message must be specified if rule contains line breaks")
        )
    expression = rule.get("messageExpression")
    if expression and not str(expression).strip():
        errs.append(
            required(
                f"{path}.messageExpression", "messageExpression must be non-empty if specified"
            )
        )
    reason = rule.get("reason")
    if reason is not None and reason not in REASONS:
        errs.append(not_supported(f"{path}.reason", reason, REASONS))
    errs += _check_field_path(rule.get("fieldPath"), schema, f"{path}.fieldPath")
    return errs


def _check_field_path(value: Any, schema: Obj, path: str) -> Errs:
    if not value:
        return []
    text = str(value)
    errs: Errs = []
    if not text.strip():
        errs.append(invalid(path, text, "fieldPath must be non-empty if specified"))
    if _has_newlines(text):
        errs.append(invalid(path, text, "fieldPath must not contain line breaks"))
    problem = field_path_error(text, schema)
    if problem:
        errs.append(invalid(path, text, f"fieldPath must be a valid path: {problem}"))
    return errs


def _compile_checked(text: str, where: _Where) -> cel.Program:
    """Compile, then refuse fields `self`/`oldSelf` cannot have, as cel-go's checker does."""
    program = cel.compile_expression(text, variables=VARIABLES)
    problems = _undefined_fields(program, where)
    if problems:
        raise cel.CompileError("compilation failed: " + "\n".join(problems))
    return program


def _check_compiles(rule: Any, path: str, where: _Where) -> Errs:
    if not isinstance(rule, dict):
        return []
    errs: Errs = []
    shown = _GoRule(rule)
    program: cel.Program | None = None
    try:
        program = _compile_checked(str(rule.get("rule")), where)
    except cel.CompileError as exc:
        errs.append(FieldError("FieldValueInvalid", f"{path}.rule", exc.detail, shown))
    expression = rule.get("messageExpression")
    if expression:
        try:
            _compile_checked(str(expression), where)
        except cel.CompileError as exc:
            detail = "messageExpression " + exc.detail
            errs.append(FieldError("FieldValueInvalid", f"{path}.messageExpression", detail, shown))
    uncorrelatable = where.uncorrelatable
    if program is None:
        return errs
    transition = "oldSelf" in program.references
    if rule.get("optionalOldSelf") is not None and not transition:
        errs.append(
            forbidden(f"{path}.optionalOldSelf", "may not be set if oldSelf is not used in rule")
        )
    if transition and uncorrelatable:
        errs.append(
            invalid(
                f"{path}.rule",
                str(rule.get("rule")),
                f"oldSelf cannot be used on the uncorrelatable portion of the schema within "
                f"{uncorrelatable}",
            )
        )
    return errs


_OBJECT_META = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
}


def _select(schema: Any, name: str, resource_root: bool) -> tuple[str, Any, bool]:
    """("ok" | "dyn" | "undefined", the field's schema, whether it is a resource root)."""
    if not isinstance(schema, dict):
        return "dyn", None, False
    if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-int-or-string"
    ):
        return "dyn", None, False
    if resource_root and name in ("apiVersion", "kind"):
        return "ok", {"type": "string"}, False
    if resource_root and name == "metadata":
        return "ok", _OBJECT_META, False
    props = schema.get("properties")
    if isinstance(props, dict) and name in props:
        return "ok", props[name], _embedded(props[name])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) or extra is True:
        return "ok", extra if isinstance(extra, dict) else None, _embedded(extra)
    if schema.get("type") == "object" or props:
        return "undefined", None, False
    return "dyn", None, False


def _undefined_fields(program: cel.Program, where: _Where) -> list[str]:
    problems: list[str] = []
    reported: set[tuple[int, int]] = set()
    for chain in cel.selections(program):
        node: Any = where.shape
        root = where.resource_root
        for name, (line, column) in zip(chain.fields, chain.columns, strict=True):
            status, node, root = _select(node, name, root)
            if status == "dyn":
                break
            if status == "undefined":
                if (line, column) not in reported:
                    reported.add((line, column))
                    problems.append(
                        cel.issue(program.source, line, column, f"undefined field '{name}'")
                    )
                break
    return problems


# ---- at custom resource write: evaluating ---------------------------------------------


@dataclass(frozen=True, eq=False)
class Rule:
    spec: Obj  # the ValidationRule as written
    program: cel.Program | None
    message: cel.Program | None
    error: str = ""  # a compile error (the CRD was stored before kubelite checked rules)

    @property
    def transition(self) -> bool:
        return self.program is not None and "oldSelf" in self.program.references


@dataclass(eq=False)
class Validator:
    """The rules of one schema node and of the nodes below it that have any."""

    schema: Obj
    rules: tuple[Rule, ...] = ()
    properties: dict[str, Validator] = field(default_factory=dict)
    items: Validator | None = None
    additional: Validator | None = None
    all_of: tuple[Validator, ...] = ()
    resource_root: bool = False


_CACHE: weakref.WeakKeyDictionary[Any, Validator | None] = weakref.WeakKeyDictionary()


def validator_for(owner: Any, schema: Obj) -> Validator | None:
    """The compiled validator of `schema`, built once per `owner` (the served type)."""
    try:
        return _CACHE[owner]
    except KeyError:
        pass
    built = build(schema, resource_root=True)
    _CACHE[owner] = built
    return built


def build(schema: Any, *, resource_root: bool = False) -> Validator | None:
    if not has_rules(schema):
        return None
    node = Validator(schema, resource_root=resource_root)
    node.rules = tuple(_compile(r) for r in schema.get("x-kubernetes-validations") or [])
    for name, sub in (schema.get("properties") or {}).items():
        child = build(sub, resource_root=_embedded(sub))
        if child is not None:
            node.properties[name] = child
    items = schema.get("items")
    node.items = build(items, resource_root=_embedded(items))
    extra = schema.get("additionalProperties")
    node.additional = build(extra, resource_root=_embedded(extra))
    all_of = [build(s, resource_root=resource_root) for s in schema.get("allOf") or []]
    for part in all_of:
        if part is not None:
            part.schema = schema  # the node's type and shape, as upstream evaluates allOf rules
    node.all_of = tuple(v for v in all_of if v is not None)
    return node


def _embedded(schema: Any) -> bool:
    return isinstance(schema, dict) and bool(schema.get("x-kubernetes-embedded-resource"))


def _compile(rule: Any) -> Rule:
    spec = rule if isinstance(rule, dict) else {}
    try:
        program = cel.compile_expression(str(spec.get("rule") or "true"), variables=VARIABLES)
    except cel.CompileError as exc:
        return Rule(spec, None, None, exc.detail)
    message = None
    if spec.get("messageExpression"):
        try:
            message = cel.compile_expression(str(spec["messageExpression"]), variables=VARIABLES)
        except cel.CompileError:
            message = None
    return Rule(spec, program, message)


@dataclass
class Outcome:
    errors: Errs = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    budget: int = field(default_factory=lambda: OBJECT_BUDGET)
    stopped: bool = False


def blocked_error() -> FieldError:
    """What upstream adds instead of running rules on an object of the wrong shape."""
    return FieldError("FieldValueInvalid", "<nil>", _BLOCKED, "null")


def validate_rules(validator: Validator, obj: Obj, old: Obj | None) -> Outcome:
    """Evaluate every rule against `obj` (and `old`, on update)."""
    out = Outcome()
    _validate(validator, obj, old, "", out, unchanged=old is not None and obj == old)
    return out


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _validate(
    node: Validator, value: Any, old: Any, path: str, out: Outcome, *, unchanged: bool
) -> None:
    if value is None or out.stopped:
        return
    _expressions(node, value, old, path, out, unchanged=unchanged)
    for part in node.all_of:
        _validate(part, value, old, path, out, unchanged=False)
    if isinstance(value, list) and node.items is not None:
        olds = _correlate_items(node.schema, value, old)
        for i, item in enumerate(value):
            before = olds[i]
            _validate(
                node.items, item, before, f"{path}[{i}]", out,
                unchanged=unchanged or (before is not None and before == item),
            )  # fmt: skip
    elif isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        if node.schema.get("x-kubernetes-map-type") == "atomic":
            old_map = {}
        for key, item in value.items():
            sub: Validator | None = node.properties.get(key) if node.properties else None
            sub_path = _child(path, key) if sub is not None else f"{path}[{key}]"
            if sub is None and node.additional is not None:
                sub = node.additional
            if sub is None:
                continue
            before = old_map.get(key)
            _validate(
                sub, item, before, sub_path, out,
                unchanged=unchanged or (before is not None and before == item),
            )  # fmt: skip


def _correlate_items(schema: Obj, items: list[Any], old: Any) -> list[Any]:
    """Old items by the map keys of a `list-type: map` list; None elsewhere."""
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list):
        return [None] * len(items)

    def key(item: Any) -> tuple[str, ...] | None:
        if not isinstance(item, dict):
            return None
        return tuple(json.dumps(item.get(k), sort_keys=True) for k in keys)

    by_key = {key(o): o for o in old if key(o) is not None}
    return [by_key.get(key(item)) for item in items]


def _self_value(node: Validator, value: Any) -> Any:
    """At a resource root `metadata` shows only name and generateName, as upstream's type does."""
    if not node.resource_root or not isinstance(value, dict):
        return value
    meta = value.get("metadata")
    shown = dict(value)
    if isinstance(meta, dict):
        shown["metadata"] = {k: meta[k] for k in ("name", "generateName") if k in meta}
    return shown


def _expressions(
    node: Validator, value: Any, old: Any, path: str, out: Outcome, *, unchanged: bool
) -> None:
    if not node.rules:
        return
    kind = str(node.schema.get("type") or "")
    field_at = path or "<nil>"
    if out.budget <= 0:
        out.errors.append(invalid(field_at, kind, _out_of_budget()))
        out.stopped = True
        return
    current = cel.to_cel(_self_value(node, value), node.schema)
    previous = cel.to_cel(_self_value(node, old), node.schema) if old is not None else None
    for rule in node.rules:
        if out.stopped:
            return
        _one(rule, current, previous, field_at, kind, out, unchanged=unchanged)


def _out_of_budget() -> str:
    return "validation failed due to running out of cost budget, no further validation rules will be run"


def _text(rule: Obj) -> str:
    message = str(rule.get("message") or "").strip()
    return message or str(rule.get("rule") or "").strip()


def _one(
    rule: Rule,
    current: Any,
    previous: Any,
    path: str,
    kind: str,
    out: Outcome,
    *,
    unchanged: bool,
) -> None:
    if rule.error:
        out.errors.append(invalid(path, kind, f"rule compile error: {rule.error}"))
        return
    if rule.program is None:
        return
    optional = bool(rule.spec.get("optionalOldSelf"))
    if rule.transition and previous is None and not optional:
        return
    variables: dict[str, Any] = {"self": current}
    if rule.transition:
        variables["oldSelf"] = (
            cel.Optional(previous is not None, previous) if optional else previous
        )
    limit = min(cel.PER_CALL_LIMIT, out.budget)
    try:
        result = _run(rule.program, variables, limit, out)
    except cel.CostExceeded as exc:
        out.errors.append(invalid(path, kind, _cost_message(exc, rule, limit)))
        out.stopped = True
        return
    except cel.EvalError as exc:
        out.errors.append(invalid(path, kind, _eval_message(exc, rule)))
        return
    if cel.is_true(result):
        return
    error = _failure(rule, variables, path, kind, out)
    if not rule.transition and unchanged:
        out.warnings.append(str(error))
    else:
        out.errors.append(error)


def _run(program: cel.Program, variables: dict[str, Any], limit: int, out: Outcome) -> Any:
    try:
        value, cost = program.run(variables, limit=limit)
    except cel.CostExceeded:
        out.budget -= limit
        raise
    out.budget -= cost
    return value


def _eval_message(exc: cel.CelError, rule: Rule) -> str:
    if exc.detail.startswith("no such overload"):
        # What upstream says when a dynamic value (int-or-string, preserved fields) mismatches.
        return (
            f"'{exc.detail}': call arguments did not match a supported operator, function or "
            f"macro signature for rule: {_text(rule.spec)}"
        )
    return f"{exc.detail} evaluating rule: {_text(rule.spec)}"


def _cost_message(exc: cel.CelError, rule: Rule, limit: int) -> str:
    if limit < cel.PER_CALL_LIMIT:
        return _out_of_budget()
    return (
        f"'{exc.detail}': no further validation rules will be run due to call cost exceeds "
        f"limit for rule: {_text(rule.spec)}"
    )


def _failure(
    rule: Rule, variables: dict[str, Any], path: str, kind: str, out: Outcome
) -> FieldError:
    spec = rule.spec
    detail = ""
    if rule.message is not None:
        detail = _message(rule.message, variables, out)
    if not detail:
        message = str(spec.get("message") or "").strip()
        detail = message or f"failed rule: {_text(spec)}"
    where = path
    if spec.get("fieldPath"):
        where = _with_field_path(path, str(spec["fieldPath"]))
    reason = spec.get("reason")
    if reason == "FieldValueForbidden":
        return forbidden(where, detail)
    if reason == "FieldValueRequired":
        return required(where, detail)
    if reason == "FieldValueDuplicate":
        return duplicate(where, kind)
    return invalid(where, kind, detail)


def _message(program: cel.Program, variables: dict[str, Any], out: Outcome) -> str:
    """The messageExpression's text; "" when it fails (upstream falls back to message)."""
    try:
        value = _run(program, variables, min(cel.PER_CALL_LIMIT, max(out.budget, 1)), out)
    except cel.CelError:
        return ""
    text = cel.from_cel(value)
    if not isinstance(text, str):
        return ""
    text = text.strip()
    if not text or "\n" in text or len(text) > 5 * 1024:
        return ""
    return text


def _with_field_path(path: str, field_path: str) -> str:
    """`fieldPath` (`.spec.x`, `['a.b']`) appended to the rule's path, as field.Path prints it."""
    from kubelite.api.crd.field_path import normalize

    suffix = normalize(field_path)
    base = "" if path == "<nil>" else path
    if not suffix:
        return path
    if suffix.startswith("["):
        return f"{base}{suffix}" if base else suffix
    return f"{base}.{suffix}" if base else suffix
