"""A `pods/log` request's options, decoded and checked as kube-apiserver does.

Upstream decodes the query into a PodLogOptions with its parameter codec
(a number that does not parse is a 400 with strconv's error, a time Go's
parse error; a flag is true unless it reads `0` or `false`) and then runs
ValidatePodLogOptions (a 422). The node agent gets the options back in one
spelling only.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubelite.api.fielderrors import FieldError, forbidden, invalid
from kubelite.api.timefields import TimeParseError, normalize
from kubelite.apiserver import errors
from kubelite.apiserver.queryparams import flag, int64

FLAGS = ("follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend")
NUMBERS = ("sinceSeconds", "tailLines", "limitBytes")


def parse(query: Mapping[str, str], name: str) -> dict[str, str]:
    """The options for the node agent: flags as "true"/"false", numbers as
    decimal text, sinceTime in canonical form; only the options given."""
    out: dict[str, str] = {}
    for key in FLAGS:
        if key in query:
            out[key] = "true" if flag(query[key]) else "false"
    numbers = {key: int64(query[key]) for key in NUMBERS if key in query}
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
