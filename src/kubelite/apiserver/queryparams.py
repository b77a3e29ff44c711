"""Query parameters decoded as kube-apiserver's parameter codec decodes them.

A number is strconv.ParseInt's (spaces trimmed, an empty value is 0, anything
else that does not parse is a 400 with strconv's error); a flag is true unless
it reads `0` or `false` in any case (an empty value is true, as in Go).
"""

from __future__ import annotations

import re

from kubelite.api.gofmt import go_quote
from kubelite.apiserver import errors

_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1


def int64(text: str) -> int:
    """Go's Convert_Slice_string_To_(Pointer_)int64."""
    text = text.strip()
    if not text:
        return 0
    if not _INT64.fullmatch(text):
        raise errors.BadRequest(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise errors.BadRequest(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


def optional_int64(query: dict[str, str], name: str) -> int | None:
    return int64(query[name]) if name in query else None


def flag(text: str | None) -> bool:
    """Go's Convert_Slice_string_To_bool: absent, `0` or `false` is false."""
    return text is not None and text != "0" and text.lower() != "false"
