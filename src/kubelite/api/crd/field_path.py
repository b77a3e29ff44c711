"""The `fieldPath` of a validation rule: a JSON path of fields and map keys under the rule's node.

`.spec.replicas`, `.labels['app.kubernetes.io/name']`: dots name properties
(or map keys, where the schema has `additionalProperties`), brackets hold a
single-quoted name; list indexes are not allowed. Checked against the schema
with upstream's messages, and turned into the field path errors are shown at.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES |= {"'": "'", "\\": "\\"}


def _tokens(text: str) -> list[str]:
    """Split into '.', '[', ']' and the text between; a quoted string is one token."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            j = i + 1
            while j < len(text) and not (text[j] == "'" and text[j - 1] != "\\"):
                j += 1
            out.append(text[i : j + 1])
            i = j + 1
        elif ch in ".[]":
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in ".[]'":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _unquote(token: str) -> str:
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            escaped = _ESCAPES.get(body[i + 1])
            if escaped is None:
                raise ValueError(f"invalid string literal: invalid escape char \\{body[i + 1]}")
            out.append(escaped)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _walk(text: str, schema: Obj, brackets: bool = True) -> tuple[list[tuple[str, bool]], Any]:
    """(name, is_property) steps and the schema node they end at; ValueError with
    upstream's reason when the path is bad."""
    steps: list[tuple[str, bool]] = []
    tokens = _tokens(text)
    i = 0
    node: Any = schema
    while i < len(tokens):
        tok = tokens[i]
        if tok == "[":
            if not brackets:
                raise ValueError("array notation is not allowed")
            if i + 1 >= len(tokens):
                raise ValueError("unexpected end of JSON path")
            quoted = tokens[i + 1]
            if len(quoted) < 2 or quoted[0] != "'" or quoted[-1] != "'":
                raise ValueError(f"expected single quoted string but got {quoted}")
            name = _unquote(quoted)
            i += 2
            if i >= len(tokens):
                raise ValueError("unexpected end of JSON path")
            if tokens[i] != "]":
                raise ValueError(f"expected ] but got {tokens[i]}")
        elif tok == ".":
            if i + 1 >= len(tokens):
                raise ValueError("unexpected end of JSON path")
            name = tokens[i + 1]
            i += 1
        else:
            raise ValueError(f"expected [ or . but got: {tok}")
        i += 1
        node, is_property = _step(node, name)
        steps.append((name, is_property))
    return steps, node


def _step(node: Any, name: str) -> tuple[Any, bool]:
    if not isinstance(node, dict):
        raise ValueError("does not refer to a valid field")
    props = node.get("properties")
    if props is not None:
        if name not in props:
            raise ValueError("does not refer to a valid field")
        return props[name], True
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return extra, False
    raise ValueError("does not refer to a valid field")


def resolve(text: str, schema: Obj) -> tuple[list[str], Any]:
    """The names along a dotted `text` (no brackets, as a selectable field's) and
    the schema node it ends at; ValueError (upstream's reason) when the path is bad."""
    steps, node = _walk(text, schema, brackets=False)
    return [name for name, _ in steps], node


def field_path_error(text: str, schema: Obj) -> str | None:
    """Why `text` is not a valid fieldPath under `schema`; None when it is."""
    try:
        _walk(text, schema)
    except ValueError as exc:
        return str(exc)
    return None


def normalize(text: str) -> str:
    """The path as field errors print it: `spec.x`, `labels[app]` (unchecked: no schema)."""
    out = ""
    for name, is_property in _walk_loose(text):
        out = (f"{out}.{name}" if out else name) if is_property else f"{out}[{name}]"
    return out


def _walk_loose(text: str) -> list[tuple[str, bool]]:
    """Steps without a schema: dotted names are properties, bracketed ones map keys."""
    steps: list[tuple[str, bool]] = []
    tokens = _tokens(text)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "." and i + 1 < len(tokens):
            steps.append((tokens[i + 1], True))
            i += 2
        elif tok == "[" and i + 1 < len(tokens) and tokens[i + 1].startswith("'"):
            try:
                steps.append((_unquote(tokens[i + 1]), False))
            except ValueError:
                return steps
            i += 3
        else:
            return steps
    return steps
