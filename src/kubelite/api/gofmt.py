"""Values as Go's fmt prints a decoded JSON document (`%v`, `%#v`, `%T`).

Upstream's error messages quote the values they refuse this way: a JSON
number is a float64 (`1e+06`), a map prints sorted, `nil` as `<nil>`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """Go's strconv.Quote (`%q`): printable characters as they are (Python's
    isprintable is Go's IsPrint), the rest escaped."""
    out = []
    for ch in text:
        if ch in GO_ESCAPES:
            out.append(GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def go_float(number: float) -> str:
    """`%v` of a float64: the shortest digits, exponent form from 1e+06 and below 1e-04."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        power = point - 1
        text = f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + text
    elif point >= len(text):
        text += "0" * (point - len(text))
    else:
        text = text[:point] + "." + text[point:]
    return ("-" if sign else "") + text


def _float64(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer beyond float64: Go's decoder fails on it earlier
        return float("inf") if number > 0 else float("-inf")


def go_v(value: Any) -> str:
    """`%v` of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_float(_float64(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_v(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_v(item) for item in value) + "]"
    return str(value)


def go_sharp_v(value: Any) -> str:
    """`%#v` of a decoded JSON value held in an `interface{}`."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_float(_float64(value))
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, dict):
        items = ", ".join(f"{_json(k)}:{go_sharp_v(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_sharp_v(item) for item in value) + "}"
    return str(value)


def go_type(value: Any) -> str:
    """`%T` of a decoded JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return "<nil>"
