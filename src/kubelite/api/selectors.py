"""Label and field selectors, parsed and matched as apimachinery does.

The label-selector parser is a translation of `k8s.io/apimachinery/pkg/labels`
(v0.32): a lexer, then a recursive-descent parser whose error messages kubectl
users see verbatim (`unable to parse requirement: ...`, `found ',', expected:
identifier after ','`). Requirements are kept sorted by key, as upstream does,
so `str(selector)` is the canonical string.

Field selectors (`k8s.io/apimachinery/pkg/fields`) are simpler: comma-joined
`field=value`, `field==value` or `field!=value` terms with backslash escapes.
Which fields a kind supports is the caller's table (the API server's); an
unsupported field gets upstream's `field label not supported: <name>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.api.names import is_qualified_name, is_valid_label_value

# selection.Operator values
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "in", "notin", "exists", "!"
GREATER_THAN, LESS_THAN = "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_ALL_OPERATORS = (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST)


class SelectorError(ValueError):
    """A selector that does not parse; the message is apimachinery's."""


def _invalid(path: str, value: Any, detail: str) -> str:
    """`field.Invalid(...).Error()`; a nil path prints as `<nil>` upstream."""
    shown = _go_quote(value) if isinstance(value, str) else _go_list(value)
    return f"{path}: Invalid value: {shown}: {detail}"


def _go_quote(s: str) -> str:
    """Go's %q for the printable strings selectors carry."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_list(values: Iterable[str]) -> str:
    """json.Marshal of a []string, as field.Error prints non-scalar bad values."""
    items = list(values)
    return "null" if not items else "[" + ",".join(_go_quote(v) for v in items) + "]"


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or `[a, b]` deduplicated."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- label selectors -------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of _ALL_OPERATORS
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """`labels.NewRequirement`: validates the key, the values and their count."""
        vals = tuple(values)
        errs = []
        if key_errs := is_qualified_name(key):
            errs.append(_invalid("key", key, "; ".join(key_errs)))
        count_error = _count_error(operator, vals)
        if count_error is not None:
            errs.append(_invalid("values", vals, count_error))
        if operator in (GREATER_THAN, LESS_THAN):
            detail = "for 'Gt', 'Lt' operators, the value must be an integer"
            errs.extend(
                _invalid(f"values[{i}]", v, detail)
                for i, v in enumerate(vals)
                if _go_parse_int64(v) is None
            )
        elif operator not in _ALL_OPERATORS:
            supported = ", ".join(_go_quote(o) for o in _ALL_OPERATORS)
            errs.append(
                f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}"
            )
        for i, v in enumerate(vals):
            if value_errs := is_valid_label_value(v):
                errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(value_errs)))
        if errs:
            raise SelectorError(_aggregate(errs))
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _go_parse_int64(labels[self.key]), _go_parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{values}"


def _count_error(operator: str, values: tuple[str, ...]) -> str | None:
    if operator in (IN, NOT_IN) and not values:
        return "for 'in', 'notin' operators, values set can't be empty"
    if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        return "exact-match compatibility requires one single value"
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        return "values set must be empty for exists and does not exist"
    if operator in (GREATER_THAN, LESS_THAN) and len(values) != 1:
        return "for 'Gt', 'Lt' operators, exactly one value is required"
    return None


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements, sorted by key; `nothing()` matches no object."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True for `everything()` (upstream's `Empty()`; false for `nothing()`)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must have (`key=v`, `key==v`, `key in (v)`), else None."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def everything() -> LabelSelector:
    return LabelSelector()


def nothing() -> LabelSelector:
    return LabelSelector(matches_nothing=True)


def _sorted(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(sorted(requirements, key=lambda r: r.key))  # stable, like sort.Sort(ByKey)


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """`labels.SelectorFromSet`: every label must equal its value (unvalidated)."""
    return LabelSelector(_sorted(Requirement(k, EQUALS, (v,)) for k, v in (labels or {}).items()))


def selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """`metav1.LabelSelectorAsSelector`: None matches nothing, `{}` matches everything."""
    if sel is None:
        return nothing()
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not match_labels and not expressions:
        return everything()
    reqs = [Requirement.new(k, EQUALS, [v]) for k, v in match_labels.items()]
    ops = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
    for expr in expressions:
        op = expr.get("operator")
        if op not in ops:
            raise SelectorError(
                f"{_go_quote(str(op or ''))} is not a valid label selector operator"
            )
        reqs.append(Requirement.new(expr.get("key") or "", ops[op], expr.get("values") or []))
    return LabelSelector(_sorted(reqs))


def parse_label_selector(s: str) -> LabelSelector:
    """`labels.Parse`: the string form, e.g. `app=web,tier in (a,b),!canary,rev>3`."""
    return LabelSelector(_sorted(_Parser(s).parse()))


# Tokens (labels.Token)
_ERROR, _END, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_KEYWORDS = {
    ")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT,
    "in": _IN, "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPEN,
}  # fmt: skip
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    """labels.Lexer, run to the end: [(token, literal), ..., (END, "")]."""
    items, pos = [], 0
    while True:
        while pos < len(s) and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(s):
            items.append((_END, ""))
            return items
        if s[pos] in _SPECIAL:
            tok, lit, pos = _scan_special(s, pos)
        else:
            start = pos
            while pos < len(s) and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
                pos += 1
            lit = s[start:pos]
            tok = _KEYWORDS.get(lit, _ID)
        items.append((tok, lit))


def _scan_special(s: str, pos: int) -> tuple[int, str, int]:
    """The longest operator that is a token: `!=` over `!`, `==` over `=`."""
    buffer, last = "", None
    while pos < len(s) and s[pos] in _SPECIAL:
        buffer += s[pos]
        if buffer in _KEYWORDS:
            last = (_KEYWORDS[buffer], buffer)
        elif last is not None:
            break
        pos += 1
    if last is None:
        return _ERROR, f"error expected: keyword found '{buffer}'", pos
    return last[0], last[1], pos


class _Parser:
    """labels.Parser. In the Values context `in`/`notin` are plain identifiers."""

    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        return self._as_context(self.items[self.position], values)

    def consume(self, values: bool = True) -> tuple[int, str]:
        item = self.items[self.position]
        self.position += 1
        return self._as_context(item, values)

    @staticmethod
    def _as_context(item: tuple[int, str], values: bool) -> tuple[int, str]:
        tok, lit = item
        return (_ID, lit) if values and tok in (_IN, _NOTIN) else (tok, lit)

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok == _END:
                return requirements
            if tok not in (_ID, _NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.parse_requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            tok, lit = self.consume()
            if tok == _END:
                return requirements
            if tok != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok2, lit2 = self.lookahead()
            if tok2 not in (_ID, _NOT):
                raise SelectorError(f"found '{lit2}', expected: identifier after ','")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement.new(key, operator, ())
        operator = self.parse_operator()
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return Requirement.new(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self.consume()
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        if errs := is_qualified_name(lit):
            raise SelectorError(_invalid("<nil>", lit, "; ".join(errs)))
        if self.lookahead()[0] in (_END, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def parse_operator(self) -> str:
        tok, lit = self.consume(values=False)
        ops = {_IN: IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _GT: GREATER_THAN,
               _LT: LESS_THAN, _NOTIN: NOT_IN, _NEQ: NOT_EQUALS}  # fmt: skip
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return ops[tok]

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, _COMMA):
            values = self.parse_identifiers_list()
            if self.consume()[0] != _CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:  # "()"
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")
            if not values:
                values.add("")  # "(,"
            tok2, _ = self.lookahead()
            if tok2 == _CLOSE:
                values.add("")  # ",)"
                return values
            if tok2 == _COMMA:
                self.consume()
                values.add("")  # ",,"

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_END, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def _go_parse_int64(text: str) -> int | None:
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    n = int(text)
    return n if -(2**63) <= n < 2**63 else None


# --- field selectors -------------------------------------------------------------------

# Field labels whose value is not simply the object's value at that dotted path: an
# Event's `source` is its source component, and core/v1 and events.k8s.io/v1 Events
# name the same fields differently (involvedObject/regarding, ...).
_FIELD_PATHS = {
    # `source`: the source component, else the reporting controller (EventToSelectableFields).
    "source": ("source.component", "deprecatedSource.component", "reportingComponent"),
    "reportingComponent": ("reportingComponent", "reportingController"),
    # A Job's `status.successful` is its succeeded count (JobToSelectableFields).
    "status.successful": ("status.succeeded",),
    # Accepted for Pods, but not in their field set: always the empty string.
    "status.podIPs": (),
}
_PREFIX_ALIASES = {"involvedObject.": "regarding.", "regarding.": "involvedObject."}
# What a Go field set reports for an unset bool/int field (strconv of the zero value).
_ZERO_VALUES = {
    "spec.hostNetwork": "false",
    "spec.unschedulable": "false",
    "status.replicas": "0",
    "status.successful": "0",
}


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of `(field, op, value)` terms, op being `=`, `==` or `!=`."""

    requirements: tuple[tuple[str, str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any] | Callable[[str], str | None]) -> bool:
        """Match an object (dotted paths into it) or a getter from field label to value."""
        get = obj if callable(obj) else (lambda name: field_value(obj, name))
        for name, op, want in self.requirements:
            have = get(name)
            have = "" if have is None else have
            if (have == want) != (op != NOT_EQUALS):
                return False
        return True

    def requires_exact_match(self, name: str) -> str | None:
        for field, op, value in self.requirements:
            if field == name and op != NOT_EQUALS:
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{'!=' if op == NOT_EQUALS else '='}{escape_field_value(v)}"
                        for f, op, v in self.requirements)  # fmt: skip


def field_value(obj: Mapping[str, Any], name: str) -> str:
    """The string a field label has on an object, as the kind's field set would report it."""
    for path in _candidate_paths(name):
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node == "" and name == "source":
            continue  # an empty source component: the reporting controller's name instead
        if node is not None:
            if isinstance(node, bool):
                return "true" if node else "false"
            return str(node)
    return _ZERO_VALUES.get(name, "")


def custom_field_value(obj: Mapping[str, Any], name: str) -> str:
    """A custom resource's field label (`metadata.name` or a selectable field) on an
    object: the value at its dotted path as Go's `%v` prints it, "" when unset."""
    node: Any = obj
    for part in name.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _candidate_paths(name: str) -> tuple[str, ...]:
    if name in _FIELD_PATHS:
        return _FIELD_PATHS[name]
    for prefix, alias in _PREFIX_ALIASES.items():
        if name.startswith(prefix):
            return name, alias + name[len(prefix) :]
    return (name,)


def escape_field_value(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(s: str) -> str:
    """`fields.UnescapeValue`."""
    if not any(c in s for c in "\\,="):
        return s
    out, in_slash = [], False
    for c in s:
        if in_slash:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # Go prints the rune with %v, i.e. as its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    if not s:
        return []
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(s: str, *, supported: Iterable[str] | None = None) -> FieldSelector:
    """`fields.ParseSelector`, then the kind's field-label check.

    `supported=None` accepts any field (no kind-specific check).
    """
    allowed = None if supported is None else frozenset(supported)
    terms = []
    for part in sorted(_split_terms(s)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
        field, op, raw = split
        terms.append((field, op, unescape_field_value(raw)))
    for field, _, _ in terms:
        if allowed is not None and field not in allowed:
            raise SelectorError(f"field label not supported: {field}")
    return FieldSelector(tuple(terms))
