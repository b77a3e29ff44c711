"""A `pods/log` request's options, decoded and checked as kube-apiserver does.

Upstream decodes the query into a PodLogOptions with its parameter codec
(a number that does not parse is a 400 with strconv's error, a time Go's
parse error; a flag is true unless it reads `0` or `false`) and then runs
ValidatePodLogOptions (a 422). The node agent gets the options back in one
spelling only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kubelite.api.fielderrors import FieldError, forbidden, invalid
from kubelite.api.gofmt import go_quote
from kubelite.api.timefields import TimeParseError, normalize
from kubelite.apiserver import errors

_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1
FLAGS = ("follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend")
NUMBERS = ("sinceSeconds", "tailLines", "limitBytes")


def _int64(text: str) -> int:
    """Go's Convert_Slice_string_To_Pointer_int64: spaces trimmed, empty is 0,
    else strconv.ParseInt's answer or its error."""
    text = text.strip()
    if not text:
        return 0
    if not _INT64.fullmatch(text):
        raise errors.BadRequest(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise errors.BadRequest(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


def flag(text: str | None) -> bool:
    """Go's Convert_Slice_string_To_bool: absent, `0` or `false` (any case) is false."""
    return text is not None and text != "0" and text.lower() != "false"


def parse(query: Mapping[str, str], name: str) -> dict[str, str]:
    """The options for the node agent: flags as "true"/"false", numbers as
    decimal text, sinceTime in canonical form; only the options given."""
    out: dict[str, str] = {}
    for key in FLAGS:
        if key in query:
            out[key] = "true" if flag(query[key]) else "false"
    numbers = {key: _int64(query[key]) for key in NUMBERS if key in query}
    since_time = None
    if "sinceTime" in query:
        raw = query["sinceTime"]
        try:
            since_time = "" if raw in ("", "null") else normalize(raw, micro=False) or ""
        except TimeParseError as exc:
            raise errors.BadRequest(str(exc)) from None
    errs = _validate(numbers, since_time)
    if errs:
        raise errors.Invalid.fields("PodLogOptions", "", name, errs)
    out.update({key: str(value) for key, value in numbers.items()})
    if since_time:
        out["sinceTime"] = since_time
    return out


def _validate(numbers: dict[str, int], since_time: str | None) -> list[FieldError]:
    """Upstream's ValidatePodLogOptions."""
    errs = []
    tail = numbers.get("tailLines")
    if tail is not None and tail < 0:
        errs.append(invalid("tailLines", tail, "must be greater than or equal to 0"))
    limit = numbers.get("limitBytes")
    if limit is not None and limit < 1:
        errs.append(invalid("limitBytes", limit, "must be greater than 0"))
    since = numbers.get("sinceSeconds")
    if since is not None and since_time is not None:
        errs.append(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif since is not None and since < 1:
        errs.append(invalid("sinceSeconds", since, "must be greater than 0"))
    return errs
