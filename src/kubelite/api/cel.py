"""CEL for the API server: compile once, evaluate under a budget, convert JSON both ways.

Expressions are parsed and interpreted by cel-python (`celpy`), imported on
first use so a cluster that never meets a CEL expression never loads it (it
pulls in lark and re2, which start-up time and idle memory cannot afford).

cel-python has no type checker, so `compile_expression` parses and then walks
the tree for what upstream's checker refuses before anything runs: variables
the environment does not declare and functions nobody defines, reported in
cel-go's words (`ERROR: <input>:1:5: undeclared reference to 'foo' (in
container '')`). Functions of Kubernetes' CEL libraries kubelite does not
have (semver, optional syntax, ...) are refused by name rather than failing at
run time. A namespaced library function (`sets.contains(a, b)`) parses as a
method call on an identifier; as in cel-go, a registered qualified name wins
over a variable of that name, and it is called with the arguments alone.
Evaluation counts the nodes it visits and stops past a limit, the stand-in
for cel-go's cost budget, so one rule cannot stall the server.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.api.cel_library import (
    AUTHORIZER_FUNCTIONS,
    Authorizer,
    Optional,
    Quantity,
    function_names,
)
from kubelite.api.cel_library import functions as library_functions

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# Parse-tree nodes one evaluation may visit: upstream's per-call cost limit, in kind.
# A node costs ~15 µs in cel-python, so this bounds one call near a second.
PER_CALL_LIMIT = 50_000
COST_EXCEEDED = "operation cancelled: actual cost limit exceeded"

# Macros cel-python expands itself; the first argument names the loop variable.
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Types usable as values (`type(x) == string`) in cel-python's environment.
_TYPE_NAMES = frozenset(
    {"bool", "bytes", "double", "duration", "int", "list", "map", "null_type", "string"}
    | {"timestamp", "type", "uint"}
)
# Parts of Kubernetes' CEL libraries kubelite does not implement: refused by name.
_UNSUPPORTED = frozenset({"reverse", "semver", "isSemver", "jsonpatch", "escapeKey"})
_NAMESPACES = frozenset({"math", "sets", "strings", "base64", "optional", "lists", "regex"})


class CelError(Exception):
    """A CEL problem, with the text upstream puts in its field error."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CompileError(CelError):
    """The expression does not compile; `detail` reads `compilation failed: ERROR: ...`."""


class EvalError(CelError):
    """Evaluation failed (no such key, division by zero, ...)."""


class CostExceeded(EvalError):
    """The evaluation visited more nodes than its limit allows."""


class _Exhausted(Exception):
    """Raised inside the interpreter; not a CEL error, so nothing in celpy swallows it."""


# ---- the library, loaded lazily ------------------------------------------------------


@functools.cache
def _env() -> Any:
    import celpy

    # celpy's debug lines print whole activations: object bodies, Secrets included.
    logging.getLogger("celpy").setLevel(logging.WARNING)
    log.debug("CEL environment loaded")
    return celpy.Environment()


def _celpy() -> Any:
    import celpy

    return celpy


def _types() -> Any:
    from celpy import celtypes

    return celtypes


# ---- compiling -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Program:
    """A compiled expression; `references` are the declared variables it uses."""

    source: str
    references: frozenset[str]
    ast: Any

    def evaluate(self, variables: Mapping[str, Any], *, limit: int = PER_CALL_LIMIT) -> Any:
        """The result as a CEL value; variables are CEL values (see `to_cel`)."""
        return _evaluate(self, variables, _Meter(limit))

    def run(self, variables: Mapping[str, Any], *, limit: int = PER_CALL_LIMIT) -> tuple[Any, int]:
        """`evaluate`, and the cost it took (nodes visited), to charge against a budget."""
        meter = _Meter(limit)
        return _evaluate(self, variables, meter), limit - meter.left


def _snippet(text: str, line: int, column: int) -> str:
    lines = text.splitlines() or [""]
    source = lines[min(max(line, 1), len(lines)) - 1]
    return f"\n | {source}\n | {'.' * max(column - 1, 0)}^"


def _error(text: str, line: int, column: int, message: str) -> str:
    return f"ERROR: <input>:{line}:{column}: {message}{_snippet(text, line, column)}"


def compile_expression(
    text: str, *, variables: Collection[str], functions: Collection[str] = ()
) -> Program:
    """Parse and check `text` against the declared `variables`; `CompileError` if it fails.

    `functions` adds names this environment offers beyond the common ones
    (the admission environments' `authorizer` methods).
    """
    celpy = _celpy()
    env = _env()
    try:
        ast = env.compile(text)
    except celpy.CELParseError as exc:
        raise CompileError("compilation failed: " + _syntax_error(text, exc)) from None
    except RecursionError:
        raise CompileError("compilation failed: expression too deeply nested") from None
    checker = _Checker(text, frozenset(variables), frozenset(functions))
    checker.check(ast, frozenset())
    if checker.issues:
        raise CompileError("compilation failed: " + "\n".join(checker.issues))
    return Program(text, frozenset(checker.used), ast)


def _syntax_error(text: str, exc: Any) -> str:
    cause = exc.__context__
    line = int(getattr(exc, "line", 1) or 1)
    column = int(getattr(exc, "column", 1) or 1)
    token = getattr(cause, "token", None)
    if token is not None and str(token) == "?":
        message = "Syntax error: optional syntax ('.?', '[?', '{?') is not supported"
    elif token is not None:
        shown = "<EOF>" if token.type == "$END" else str(token)
        message = f"Syntax error: mismatched input '{shown}'"
        if token.type == "$END":
            line, column = _end_of(text)
    elif getattr(cause, "char", None) is not None:
        message = f"Syntax error: token recognition error at: '{cause.char}'"
    else:
        message = "Syntax error: " + str(exc.args[0]).splitlines()[0]
    return _error(text, line, column, message)


def _end_of(text: str) -> tuple[int, int]:
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


class _Checker:
    """What cel-go's checker would refuse, found by walking cel-python's parse tree."""

    def __init__(self, text: str, variables: frozenset[str], functions: frozenset[str]) -> None:
        self.text = text
        self.variables = variables
        self.functions = function_names() | functions
        self.issues: list[str] = []
        self.used: set[str] = set()

    def _issue(self, token: Any, message: str) -> None:
        line, column = int(getattr(token, "line", 1)), int(getattr(token, "column", 1))
        self.issues.append(_error(self.text, line, column, message))

    def _undeclared(self, token: Any) -> None:
        name = str(token)
        if name in _UNSUPPORTED or name in _NAMESPACES:
            self._issue(token, f"'{name}' of the Kubernetes CEL libraries is not supported")
        else:
            self._issue(token, f"undeclared reference to '{name}' (in container '')")

    def check(self, node: Any, scope: frozenset[str]) -> None:
        data = getattr(node, "data", None)
        if data is None:
            return
        handler = getattr(self, f"_{data}", None)
        if handler is not None:
            handler(node, scope)
            return
        for child in node.children:
            self.check(child, scope)

    def _ident(self, node: Any, scope: frozenset[str]) -> None:
        token = node.children[0]
        name = str(token)
        if name in scope or name in _TYPE_NAMES:
            return
        if name in self.variables:
            self.used.add(name)
            return
        self._undeclared(token)

    def _ident_arg(self, node: Any, scope: frozenset[str]) -> None:
        token = node.children[0]
        name = str(token)
        if name != "has" and name not in self.functions:
            self._undeclared(token)
        for child in node.children[1:]:
            self.check(child, scope)

    def _member_dot_arg(self, node: Any, scope: frozenset[str]) -> None:
        target, token = node.children[0], node.children[1]
        args = list(node.children[2].children) if len(node.children) > 2 else []
        name = str(token)
        namespace = _bare_ident(target)
        if namespace is not None and f"{namespace}.{name}" in self.functions:
            for arg in args:  # `sets.contains(a, b)`: a namespaced function, not a method
                self.check(arg, scope)
            return
        if namespace in _NAMESPACES and namespace not in scope | self.variables:
            self._issue(
                token, f"'{namespace}.{name}' of the Kubernetes CEL libraries is not supported"
            )
            return
        self.check(target, scope)
        if name in _MACROS:
            self._macro(token, args, scope)
            return
        if name not in self.functions:
            self._undeclared(token)
        for arg in args:
            self.check(arg, scope)

    def _macro(self, token: Any, args: list[Any], scope: frozenset[str]) -> None:
        if len(args) != 2:
            self._issue(token, f"'{token}' with {len(args)} arguments is not supported")
            return
        var = _bare_ident(args[0])
        if var is None:
            self._issue(token, f"{token}() variable name must be a simple identifier")
            return
        self.check(args[1], scope | {var})

    def _dot_ident(self, node: Any, scope: frozenset[str]) -> None:
        self._undeclared(node.children[0])

    _dot_ident_arg = _dot_ident

    def _member_object(self, node: Any, scope: frozenset[str]) -> None:
        self._issue(_first_token(node), "message construction is not supported")


@dataclass(frozen=True)
class Selection:
    """`variable.f1.f2...` in an expression: what a schema-aware check looks at."""

    variable: str
    fields: tuple[str, ...]
    columns: tuple[tuple[int, int], ...]  # (line, column) of each field's `.`


def selections(program: Program) -> list[Selection]:
    """Every field selection chain that starts at a declared variable."""
    # cel-go places the selection inside `has(...)` at the call's parenthesis.
    in_has: dict[int, tuple[int, int]] = {}
    for node in program.ast.find_data("ident_arg"):
        token = node.children[0]
        if str(token) == "has" and len(node.children) > 1:
            inner = _single_child_chain(node.children[1], "member_dot")
            if inner is not None:
                in_has[id(inner)] = (int(token.line), int(token.column) + 3)
    found: dict[tuple[int, int], Selection] = {}
    for node in program.ast.find_data("member_dot"):
        chain = _chain(node)
        if chain is None or chain.variable not in program.references:
            continue
        if id(node) in in_has:
            chain = Selection(chain.variable, chain.fields, (*chain.columns[:-1], in_has[id(node)]))
        found.setdefault(chain.columns[-1], chain)
    return sorted(found.values(), key=lambda c: c.columns[-1])


def _chain(node: Any) -> Selection | None:
    fields: list[str] = []
    columns: list[tuple[int, int]] = []
    while node is not None and node.data == "member_dot":
        token = node.children[1]
        fields.append(str(token))
        columns.append((int(token.line), max(int(token.column) - 1, 1)))
        inner = node.children[0]
        node = _single_child_chain(inner, "member_dot")
        if node is None:
            variable = _bare_ident(inner)
            if variable is None:
                return None
            return Selection(variable, tuple(reversed(fields)), tuple(reversed(columns)))
    return None


def issue(text: str, line: int, column: int, message: str) -> str:
    """One compile issue in cel-go's form (`ERROR: <input>:L:C: ...`, the line, a caret)."""
    return _error(text, line, column, message)


def _first_token(node: Any) -> Any:
    for child in getattr(node, "children", ()):
        if getattr(child, "data", None) is None:
            return child
        found = _first_token(child)
        if found is not None:
            return found
    return None


def _single_child_chain(node: Any, data: str) -> Any:
    """The `data` node reached from `node` through single-child nodes only, or None."""
    while getattr(node, "data", None) is not None:
        if node.data == data:
            return node
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


def _qualified_name(node: Any) -> str | None:
    """`ns.f` for a call `ns.f(...)` whose target is one bare identifier, else None."""
    namespace = _bare_ident(node.children[0])
    return None if namespace is None else f"{namespace}.{node.children[1]}"


def _bare_ident(node: Any) -> str | None:
    """The name when `node` is nothing but one identifier (through the precedence levels)."""
    while getattr(node, "data", None) is not None:
        if node.data == "ident":
            return str(node.children[0])
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


# ---- evaluating ----------------------------------------------------------------------


class _Meter:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _Exhausted


@functools.cache
def _evaluator_class() -> Any:
    celpy = _celpy()

    class Counting(celpy.Evaluator):  # type: ignore[misc,name-defined]
        """celpy's interpreter, charging one unit per node visited."""

        def __init__(self, ast: Any, activation: Any, meter: _Meter) -> None:
            super().__init__(ast, activation)
            self.meter = meter

        def sub_evaluator(self, ast: Any) -> Any:
            return Counting(ast, self.activation, self.meter)

        def member_dot_arg(self, tree: Any) -> Any:
            # `sets.contains(a, b)` calls the function named `sets.contains` with (a, b).
            name = _qualified_name(tree)
            if name is None or name not in library_functions():
                return super().member_dot_arg(tree)
            token = tree.children[1]
            args = self.visit(tree.children[2]) if len(tree.children) > 2 else []
            return self.function_eval(token.__class__.new_borrow_pos("IDENT", name, token), args)

        def macro_has_eval(self, exprlist: Any) -> Any:
            # has(e.f) is an error when `e` is: cel-python would say false.
            select = _single_child_chain(exprlist, "member_dot")
            if select is None:
                return super().macro_has_eval(exprlist)
            target = self.visit(select.children[0])
            if isinstance(target, celpy.CELEvalError):
                return target
            if isinstance(target, dict):
                return celpy.celtypes.BoolType(
                    celpy.celtypes.StringType(str(select.children[1])) in target
                )
            return super().macro_has_eval(exprlist)

        def _visit_tree(self, tree: Any) -> Any:
            # lark's Interpreter visits every child through here, macros' bodies included.
            self.meter.tick()
            return super()._visit_tree(tree)

    return Counting


def _evaluate(program: Program, variables: Mapping[str, Any], meter: _Meter) -> Any:
    celpy = _celpy()
    env = _env()
    activation = celpy.Activation(
        package=env.package, annotations=env.annotations, functions=library_functions()
    )
    evaluator = _evaluator_class()(program.ast, activation, meter)
    try:
        return evaluator.evaluate(dict(variables))
    except _Exhausted:
        raise CostExceeded(COST_EXCEEDED) from None
    except celpy.CELEvalError as exc:
        raise EvalError(describe(exc)) from None
    except RecursionError:
        raise EvalError("expression too deeply nested") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise EvalError(f"no such overload: {exc}") from None


_NO_MEMBER = re.compile(r"no such member in mapping: '(.*)'")


def describe(exc: Any) -> str:
    """A celpy evaluation error in cel-go's words, where they differ."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    message = str(args[0]) if args else str(exc)
    kind = args[1] if len(args) > 1 else None
    found = _NO_MEMBER.match(message)
    if found:
        return f"no such key: {found.group(1)}"
    if kind is ZeroDivisionError:
        return "modulus by zero" if "%" in message else "division by zero"
    if kind is IndexError:
        return "index out of range"
    if message == "return error for overflow":
        return "integer overflow"
    if message.startswith(("found no matching overload", "no such overload")):
        return "no such overload"
    return message


# ---- values --------------------------------------------------------------------------


def to_cel(value: Any, schema: Obj | None = None) -> Any:
    """A JSON value as CEL sees it; with an OpenAPI `schema`, numbers and formats follow it."""
    t = _types()
    if value is None:
        return None
    if isinstance(value, bool):
        return t.BoolType(value)
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(value, int):
        if kind == "number":
            return t.DoubleType(value)
        try:
            return t.IntType(value)
        except ValueError:
            return t.DoubleType(value)
    if isinstance(value, float):
        if kind == "integer" and value.is_integer():
            return t.IntType(int(value))
        return t.DoubleType(value)
    if isinstance(value, str):
        return _string(value, schema)
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return t.ListType([to_cel(v, items) for v in value])
    if isinstance(value, dict):
        return t.MapType(
            {t.StringType(k): to_cel(v, _property(schema, k)) for k, v in value.items()}
        )
    return value


def make_map(entries: Mapping[Any, Any]) -> Any:
    """A CEL map of values already converted (`variables` of a policy)."""
    return _types().MapType(dict(entries))


def _string(value: str, schema: Obj | None) -> Any:
    t = _types()
    fmt = schema.get("format") if isinstance(schema, dict) else None
    if fmt == "date-time":
        try:
            return t.TimestampType(value)
        except (ValueError, TypeError):
            pass
    elif fmt == "duration":
        try:
            return t.DurationType(value)
        except (ValueError, TypeError):
            pass
    return t.StringType(value)


def _property(schema: Obj | None, name: str) -> Obj | None:
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties")
    if isinstance(props, dict) and name in props:
        sub = props[name]
        return sub if isinstance(sub, dict) else None
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def from_cel(value: Any) -> Any:
    """A CEL value back as plain JSON-like Python (for messages and checks)."""
    t = _types()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, t.BoolType):
        return bool(value)
    if isinstance(value, t.DoubleType):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Optional):
        return from_cel(value.value) if value.present else None
    if isinstance(value, list):
        return [from_cel(v) for v in value]
    if isinstance(value, dict):
        return {str(k): from_cel(v) for k, v in value.items()}
    return str(value)


def is_true(value: Any) -> bool:
    """True only for the CEL boolean `true` (a non-bool result is not a pass)."""
    t = _types()
    return isinstance(value, t.BoolType | bool) and bool(value)


__all__ = [
    "Selection",
    "issue",
    "selections",
    "AUTHORIZER_FUNCTIONS",
    "COST_EXCEEDED",
    "PER_CALL_LIMIT",
    "Authorizer",
    "CelError",
    "CompileError",
    "CostExceeded",
    "EvalError",
    "Optional",
    "Program",
    "Quantity",
    "compile_expression",
    "describe",
    "from_cel",
    "is_true",
    "make_map",
    "to_cel",
]
