"""Tables for custom resources: NAME, then the CRD's additionalPrinterColumns.

As upstream's CRD table convertor: each column's `jsonPath` is evaluated on
the object; a path that finds nothing leaves the cell empty (kubectl shows
`<none>`), a `date` column reads as an age ("5m"; `<unknown>` for an empty or
zero time, `<invalid>` for a string that is not RFC 3339), and a CRD without
columns gets AGE. Paths are the simple kind CRDs use: `.spec.replicas`,
`.status.conditions[0].type`, `.items[*].name`, and filters such as
`.status.conditions[?(@.type=="Ready")].status`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from kubelite.api.timefields import TimeParseError, normalize
from kubelite.apiserver.tables_format import INVALID, UNKNOWN, since
from kubelite.apiserver.tables_printers import AGE_DOC, NAME, Printer, Row, col

Obj = dict[str, Any]

_DEFAULT_COLUMNS = (
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": AGE_DOC,
    },
)
_TOKEN = re.compile(
    r"\.(?P<field>[A-Za-z0-9_\-]+)"
    r"|\[(?P<index>-?\d+|\*)\]"
    r"|\[\?\(@\.(?P<key>[A-Za-z0-9_\-.]+)\s*==\s*(?P<quote>[\"'])(?P<value>[^\"']*)(?P=quote)\)\]"
    r"|\['(?P<quoted>[^']+)'\]"
)


@cache
def _steps(path: str) -> tuple[tuple[str, str, str], ...]:
    """("field", name, "") | ("index", n, "") | ("filter", key, value) steps of a simple path."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return ()
        if m.group("field") or m.group("quoted"):
            out.append(("field", m.group("field") or m.group("quoted"), ""))
        elif m.group("index"):
            out.append(("index", m.group("index"), ""))
        else:
            out.append(("filter", m.group("key"), m.group("value")))
        pos = m.end()
    return tuple(out)


def find(obj: Any, path: str) -> list[Any]:
    """Every value `path` reaches in `obj`."""
    current = [obj]
    for kind, a, b in _steps(path):
        nxt: list[Any] = []
        for value in current:
            if kind == "field" and isinstance(value, dict) and a in value:
                nxt.append(value[a])
            elif kind == "index" and isinstance(value, list):
                if a == "*":
                    nxt.extend(value)
                elif -len(value) <= int(a) < len(value):
                    nxt.append(value[int(a)])
            elif kind == "filter" and isinstance(value, list):
                nxt.extend(v for v in value if _lookup(v, a) == b)
        current = nxt
    return current if _steps(path) else []


def _lookup(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return None if value is None else str(value) if not isinstance(value, str) else value


def _cell(column: Obj, value: Any, now: datetime) -> Any:
    kind = column.get("type")
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return orjson.dumps(value).decode()
    if kind == "integer":
        return (
            int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        return _age(value, now) if isinstance(value, str) else None
    return None


def _age(value: str, now: datetime) -> str:
    """As upstream reads a date cell: a query-parameter `metav1.Time` (RFC 3339; "" and
    "null" are the zero time), shown as an age."""
    if value in ("", "null"):
        return UNKNOWN
    try:
        canonical = normalize(value, micro=False)
    except TimeParseError:
        return INVALID
    return UNKNOWN if canonical is None else since(canonical, now)


def printer_for(columns: tuple[Obj, ...]) -> Printer:
    chosen = columns or _DEFAULT_COLUMNS
    definitions = (
        NAME,
        *(
            col(
                str(c.get("name", "")),
                str(c.get("description", "")),
                str(c.get("type", "string")),
                priority=int(c.get("priority") or 0),
                fmt=str(c.get("format") or ""),
            )
            for c in chosen
        ),
    )

    def row(obj: Mapping[str, Any], now: datetime) -> Row:
        cells: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
        for c in chosen:
            found = find(obj, str(c.get("jsonPath", "")))
            cells.append(_cell(c, found[0], now) if found else None)
        return cells, None

    return Printer(definitions, row)


def _crd_row(obj: Mapping[str, Any], now: datetime) -> Row:
    md = obj.get("metadata") or {}
    return [md.get("name", ""), md.get("creationTimestamp")], None


# `kubectl get crd`: NAME and CREATED AT (the timestamp itself, not an age), as upstream.
CUSTOM_RESOURCE_DEFINITION = Printer(
    (NAME, col("Created At", AGE_DOC, "date")),
    _crd_row,
)
