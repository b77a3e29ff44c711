"""Go's encoding/json wording for bad JSON, where the API quotes its errors.

Upstream validation hands `json.Unmarshal`'s error text to the user (a dockercfg Secret's
`invalid character 'b' looking for beginning of object key string`). Python's json module
words the same faults differently, so `syntax_error` walks the input as Go's scanner
(encoding/json/scanner.go) does and returns its message for the first bad byte.
"""

from __future__ import annotations

import json
from typing import Any

_SPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = b'bfnrt\\/"'
_CONTROL = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


class GoJSONError(ValueError):
    """A fault in JSON input, worded as Go's encoding/json words it."""


def quote_char(c: int) -> str:
    """Go's quoteChar: a byte as strconv.Quote prints it (as a rune), in single quotes."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    if c in _CONTROL:
        return f"'{_CONTROL[c]}'"
    if c < 0x20 or c == 0x7F:
        return f"'\\x{c:02x}'"
    if 0x80 <= c < 0xA0 or c == 0xAD:
        return f"'\\u{c:04x}'"
    return f"'{chr(c)}'"


def _bad(c: int, context: str) -> GoJSONError:
    return GoJSONError(f"invalid character {quote_char(c)} {context}")


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0

    def peek(self) -> int:
        if self.i >= len(self.data):
            raise GoJSONError("unexpected end of JSON input")
        return self.data[self.i]

    def skip_space(self) -> int:
        while self.peek() in _SPACE:
            self.i += 1
        return self.data[self.i]

    def value(self) -> None:
        c = self.skip_space()
        self.i += 1
        if c == 0x7B:  # {
            self.object()
        elif c == 0x5B:  # [
            self.array()
        elif c == 0x22:  # "
            self.string()
        elif c == 0x2D or c in _DIGITS:
            self.number(c)
        elif c in b"tfn":
            self.literal({0x74: "true", 0x66: "false", 0x6E: "null"}[c])
        else:
            raise _bad(c, "looking for beginning of value")

    def object(self) -> None:
        if self.skip_space() == 0x7D:
            self.i += 1
            return
        while True:
            c = self.skip_space()
            if c != 0x22:
                raise _bad(c, "looking for beginning of object key string")
            self.i += 1
            self.string()
            c = self.skip_space()
            if c != 0x3A:
                raise _bad(c, "after object key")
            self.i += 1
            self.value()
            c = self.skip_space()
            self.i += 1
            if c == 0x7D:
                return
            if c != 0x2C:
                raise _bad(c, "after object key:value pair")

    def array(self) -> None:
        if self.skip_space() == 0x5D:
            self.i += 1
            return
        while True:
            self.value()
            c = self.skip_space()
            self.i += 1
            if c == 0x5D:
                return
            if c != 0x2C:
                raise _bad(c, "after array element")

    def string(self) -> None:
        while True:
            c = self.peek()
            self.i += 1
            if c == 0x22:
                return
            if c < 0x20:
                raise _bad(c, "in string literal")
            if c == 0x5C:
                self.escape()

    def escape(self) -> None:
        c = self.peek()
        self.i += 1
        if c in _ESCAPES:
            return
        if c != 0x75:  # u
            raise _bad(c, "in string escape code")
        for _ in range(4):
            c = self.peek()
            self.i += 1
            if c not in _HEX:
                raise _bad(c, "in \\u hexadecimal character escape")

    def digits(self) -> None:
        while self.i < len(self.data) and self.data[self.i] in _DIGITS:
            self.i += 1

    def number(self, first: int) -> None:
        if first == 0x2D:
            c = self.peek()
            self.i += 1
            if c not in _DIGITS:
                raise _bad(c, "in numeric literal")
            first = c
        if first != 0x30:
            self.digits()
        if self.i < len(self.data) and self.data[self.i] == 0x2E:
            self.i += 1
            c = self.peek()
            if c not in _DIGITS:
                raise _bad(c, "after decimal point in numeric literal")
            self.digits()
        if self.i < len(self.data) and self.data[self.i] in b"eE":
            self.i += 1
            c = self.peek()
            if c in b"+-":
                self.i += 1
                c = self.peek()
            if c not in _DIGITS:
                raise _bad(c, "in exponent of numeric literal")
            self.digits()

    def literal(self, word: str) -> None:
        for expected in word[1:]:
            c = self.peek()
            self.i += 1
            if c != ord(expected):
                raise _bad(c, f"in literal {word} (expecting {quote_char(ord(expected))})")

    def end(self) -> None:
        while self.i < len(self.data):
            c = self.data[self.i]
            if c not in _SPACE:
                raise _bad(c, "after top-level value")
            self.i += 1


def syntax_error(data: bytes) -> str | None:
    """Go's checkValid message for `data`, or None when it is valid JSON."""
    scanner = _Scanner(data)
    try:
        scanner.value()
        scanner.end()
    except GoJSONError as exc:
        return str(exc)
    return None


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def unmarshal_map(data: bytes) -> dict[str, Any] | None:
    """json.Unmarshal into a map[string]interface{}: the map (None for null), or GoJSONError."""
    problem = syntax_error(data)
    if problem is not None:
        raise GoJSONError(problem)
    value = json.loads(data.decode("utf-8", errors="replace"))
    if value is None or isinstance(value, dict):
        return value
    raise GoJSONError(
        f"json: cannot unmarshal {_go_kind(value)} into Go value of type map[string]interface {{}}"
    )
