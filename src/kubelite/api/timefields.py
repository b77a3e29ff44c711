"""Timestamps in built-in objects: decoded and re-encoded as kube-apiserver does.

Upstream, a `metav1.Time` field (`creationTimestamp`, `lastTransitionTime`,
`firstTimestamp`, ...) is parsed with Go's `time.Parse(time.RFC3339, s)` when
the body is decoded, and always written back in UTC to the second
(`2024-01-02T03:04:05Z`); a `metav1.MicroTime` (`eventTime`, a Lease's
`acquireTime`/`renewTime`) is parsed with the layout
`2006-01-02T15:04:05.000000Z07:00` (exactly six fractional digits) and written
in UTC to the microsecond. A value neither layout accepts makes the whole
request a 400 with Go's parse error (`parsing time "yesterday" as
"2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`); the zero
time is written as `null`.

Which fields are times comes from the official client's generated models
(the upstream OpenAPI in another form, where both types are `datetime`); the
few MicroTime fields are named in `MICRO_FIELDS`. The paths are worked out
per kind ahead of time (`python -m kubelite.api.timefields` writes them to
`decode_plans.py`): loading the models would cost the server ~20 MB. A
write only visits the fields that can hold a time, and a value already in
canonical form costs a dictionary lookup.

The same plans name the `resource.Quantity` fields (`quantityfields`): their
values are decoded as Quantity.UnmarshalJSON decodes them (a JSON number or
a string, spaces trimmed; anything else is apimachinery's parse error, a 400)
and stored in canonical form, as Quantity.MarshalJSON writes them back
(`1000m` is stored as `1`, `1024Ki` as `1Mi`).
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from kubelite.api import clientmodels
from kubelite.api.decode_plans import PLANS
from kubelite.api.quantity import QuantityError, decode_json
from kubelite.api.quantityfields import QUANTITY_FIELDS
from kubelite.api.registry import ResourceType

TIME_LAYOUT = "2006-01-02T15:04:05Z07:00"
MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"

# (model, JSON field) of every metav1.MicroTime field; every other `datetime`
# field of the generated models is a metav1.Time.
MICRO_FIELDS = frozenset(
    {
        ("CoreV1Event", "eventTime"),
        ("CoreV1EventSeries", "lastObservedTime"),
        ("EventsV1Event", "eventTime"),
        ("EventsV1EventSeries", "lastObservedTime"),
        ("V1LeaseSpec", "acquireTime"),
        ("V1LeaseSpec", "renewTime"),
        ("V1alpha2LeaseCandidateSpec", "pingTime"),
        ("V1alpha2LeaseCandidateSpec", "renewTime"),
        ("V1beta1LeaseCandidateSpec", "pingTime"),
        ("V1beta1LeaseCandidateSpec", "renewTime"),
    }
)


class DecodeError(ValueError):
    """A value its field's Go type cannot decode; the message is Go's."""


class TimeParseError(DecodeError):
    """A value a time field cannot hold; the message is Go's decode error."""


# ---- parsing, as Go's time.Parse does for the two layouts ---------------------------

_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_CANONICAL_MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
# Canonical values already checked: a status write carries the same times again
# and again, so most values are found here.
_KNOWN: dict[str, bool] = {}
_KNOWN_MAX = 8192
_DAYS_IN = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ZERO_EPOCH = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time


def normalize(value: str, *, micro: bool) -> str | None:
    """`value` as upstream stores it (None for the zero time); TimeParseError if invalid."""
    if _KNOWN.get(value) is micro:
        return value
    canonical = (_CANONICAL_MICRO if micro else _CANONICAL_TIME).fullmatch(value)
    out = _format(*_parse(value, micro=micro), micro=micro)
    if canonical and out == value:
        if len(_KNOWN) >= _KNOWN_MAX:
            _KNOWN.clear()
        _KNOWN[value] = micro
    return out


def _quote(s: str) -> str:
    # Go's time.quote: printable ASCII as is, `"` and `\` escaped, other bytes as \x.
    out = ['"']
    for byte in s.encode("utf-8", "surrogatepass"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


def _error(
    value: str, layout: str, value_elem: str, layout_elem: str, message: str = ""
) -> NoReturn:
    if message:
        raise TimeParseError(f"parsing time {_quote(value)}{message}")
    raise TimeParseError(
        f"parsing time {_quote(value)} as {_quote(layout)}: cannot parse "
        f"{_quote(value_elem)} as {_quote(layout_elem)}"
    )


def _digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _getnum(s: str, fixed: bool) -> tuple[int, str] | None:
    if not _digit(s, 0):
        return None
    if not _digit(s, 1):
        return None if fixed else (int(s[0]), s[1:])
    return int(s[:2]), s[2:]


def _atoi(s: str) -> int | None:
    # Go's time.atoi: an optional sign, then digits only.
    body = s[1:] if s[:1] in ("-", "+") else s
    if not body or not body.isascii() or not body.isdigit():
        return None
    n = int(body)
    return -n if s[:1] == "-" else n


# The layouts as Go's nextStdChunk splits them: (literal prefix, std element).
_CHUNKS = (
    ("", "2006"),
    ("-", "01"),
    ("-", "02"),
    ("T", "15"),
    (":", "04"),
    (":", "05"),
)


def _parse(value: str, *, micro: bool) -> tuple[int, int]:
    """(seconds since the epoch in UTC, nanoseconds); raises TimeParseError."""
    layout = MICRO_LAYOUT if micro else TIME_LAYOUT
    chunks = (*_CHUNKS, *((("", ".000000"),) if micro else ()), ("", "Z07:00"))
    fields = {"2006": 0, "01": 0, "02": 0, "15": 0, "04": 0, "05": 0}
    nsec = offset = 0
    rest = value
    for prefix, std in chunks:
        if not rest.startswith(prefix):
            _error(value, layout, rest, prefix)
        rest = rest[len(prefix) :]
        hold = rest
        got, rest, range_error = _element(std, rest, micro=micro)
        if range_error:
            _error(value, layout, std, rest, f": {range_error} out of range")
        if got is None:
            _error(value, layout, hold, std)
        if std == "Z07:00":
            offset = got
        elif std == ".000000":
            nsec = got
        elif std == "05" and isinstance(got, tuple):
            fields[std], nsec = got
        else:
            fields[std] = got
    if rest:
        _error(value, layout, "", rest, f": extra text: {_quote(rest)}")
    year, month, day = fields["2006"], fields["01"], fields["02"]
    days_in = _DAYS_IN[month - 1] + (month == 2 and _leap(year))
    if day < 1 or day > days_in:
        _error(value, layout, "", rest, ": day out of range")
    seconds = (
        _days_from_civil(year, month, day) * 86400
        + fields["15"] * 3600
        + fields["04"] * 60
        + fields["05"]
        - offset
    )
    return seconds, nsec


def _element(std: str, s: str, *, micro: bool) -> tuple[Any, str, str]:
    """(parsed value or None for a mismatch, the rest, a range error or "")."""
    if std == "2006":
        if len(s) < 4 or not _digit(s, 0):
            return None, s, ""
        return _atoi(s[:4]), s[4:], ""
    if std in ("01", "02", "15", "04", "05"):
        got = _getnum(s, std != "15")
        if got is None:
            return None, s, ""
        n, rest = got
        limit = {"01": 13, "15": 24, "04": 60, "05": 60}.get(std)
        if std == "01" and n == 0:
            return n, rest, "month"
        if limit is not None and n >= limit:
            return n, rest, {"01": "month", "15": "hour", "04": "minute", "05": "second"}[std]
        if std == "05" and not micro and len(rest) >= 2 and rest[0] in ".," and _digit(rest, 1):
            # A fraction the layout does not ask for is accepted (and dropped).
            end = 2
            while _digit(rest, end):
                end += 1
            return (n, _nanos(rest[1:end])), rest[end:], ""
        return n, rest, ""
    if std == ".000000":
        if len(s) < 7 or s[0] not in ".,":
            return None, s, ""
        frac = _atoi(s[1:7])
        if frac is None:
            return None, s, ""
        if frac < 0:
            return frac, s[7:], "fractional second"
        return frac * 1000, s[7:], ""
    return _zone(s)


def _zone(s: str) -> tuple[int | None, str, str]:
    if s[:1] == "Z":
        return 0, s[1:], ""
    if len(s) < 6 or s[3] != ":":
        return None, s, ""
    sign, hh, mm, rest = s[0], s[1:3], s[4:6], s[6:]
    hour, minute = _getnum(hh, True), _getnum(mm, True)
    if hour is None or minute is None:
        return None, s, ""
    if hour[0] > 24:
        return 0, rest, "time zone offset hour"
    if minute[0] > 60:
        return 0, rest, "time zone offset minute"
    if sign not in ("+", "-"):
        return None, s, ""
    offset = (hour[0] * 60 + minute[0]) * 60
    return (-offset if sign == "-" else offset), rest, ""


def _nanos(digits: str) -> int:
    # Go keeps at most nine digits of a fraction (parseNanoseconds' cap).
    return int(digits[:9].ljust(9, "0"))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _format(seconds: int, nsec: int, *, micro: bool) -> str | None:
    if seconds == _ZERO_EPOCH and (nsec == 0 or not micro):
        return None  # Go's zero time: MarshalJSON writes null
    days, secs = divmod(seconds, 86400)
    y, m, d = _civil_from_days(days)
    hh, rem = divmod(secs, 3600)
    mi, ss = divmod(rem, 60)
    year = f"{y:04d}" if y >= 0 else f"-{-y:04d}"
    base = f"{year}-{m:02d}-{d:02d}T{hh:02d}:{mi:02d}:{ss:02d}"
    return f"{base}.{nsec // 1000:06d}Z" if micro else f"{base}Z"


# ---- where the times are ----------------------------------------------------------

# A plan: ((json field, how), ...); `how` is "t" (Time), "m" (MicroTime), "q"
# (Quantity), or a (container, sub-plan) pair, container "" for an object, "[]"
# for a list, "{}" for a map.
Plan = tuple[tuple[str, Any], ...]


def plan_for(model: str) -> Plan:
    """Where `model`'s objects hold times, () when nowhere."""
    return PLANS.get(model, ())


def computed_plans() -> dict[str, Plan]:
    """Every built-in kind's plan, from the official client's models (slow, big)."""
    from kubelite.api.registry import REGISTRY

    plans = {}
    for rt in REGISTRY.resources:
        model = clientmodels.model_name(rt)
        plan = _plan(model, frozenset())
        if plan:
            plans[model] = plan
    return dict(sorted(plans.items()))


def write_plans(path: str) -> None:
    import kubernetes

    lines = [
        '"""Where built-in kinds hold times and quantities: generated by',
        "`python -m kubelite.api.timefields`",
        f"from the official client's models (kubernetes {kubernetes.__version__}); do not edit.",
        '"""',
        "",
        "from typing import Any",
        "",
        f'CLIENT_VERSION = "{kubernetes.__version__}"',
        "",
        "# fmt: off",
        "PLANS: dict[str, Any] = {",
        *(f"    {model!r}: {plan!r}," for model, plan in computed_plans().items()),
        "}",
        "# fmt: on",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _plan(model: str, seen: frozenset[str]) -> Plan:
    models = clientmodels.models()
    cls = getattr(models, model, None) if models is not None else None
    types = getattr(cls, "openapi_types", None)
    if not isinstance(types, dict) or model in seen:
        return ()
    seen = seen | {model}
    out: list[tuple[str, Any]] = []
    for attr, type_name in types.items():
        field = cls.attribute_map[attr]  # type: ignore[union-attr]
        quantity_map = QUANTITY_FIELDS.get(model, {}).get(field)
        if quantity_map is not None:
            how = ("{}", "q") if quantity_map else "q"
        else:
            how = _how(type_name, micro=(model, field) in MICRO_FIELDS, seen=seen)
        if how is not None:
            out.append((field, how))
    return tuple(out)


def _how(type_name: str, *, micro: bool, seen: frozenset[str]) -> Any:
    if type_name == "datetime":
        return "m" if micro else "t"
    for container, pattern in (("[]", clientmodels.LIST), ("{}", clientmodels.DICT)):
        if m := pattern.match(type_name):
            inner = _how(m.group(1), micro=micro, seen=seen)
            return None if inner is None else (container, inner)
    if type_name[:1].isupper() and type_name not in ("Dict", "List"):
        sub = _plan(type_name, seen)
        return ("", sub) if sub else None
    return None


# ---- normalizing an object ----------------------------------------------------------


def normalize_object(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Parse and rewrite every time and quantity field of a built-in kind's `obj`
    in place.

    Raises DecodeError (Go's message) for a value upstream cannot decode.
    """
    plan = plan_for(clientmodels.model_name(rt))
    if plan:
        _walk_object(obj, plan)


def _walk_object(obj: dict[str, Any], plan: Plan) -> None:
    for field, how in plan:
        value = obj.get(field)
        if value is None:
            continue
        if isinstance(how, str):
            obj[field] = _leaf(value, how)
        else:
            _walk(value, how)


def _walk(value: Any, how: Any) -> None:
    if isinstance(how, str):
        return  # times inside containers are handled by their container
    container, inner = how
    if container == "":
        if isinstance(value, dict):
            _walk_object(value, inner)
        return
    if container == "[]" and isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(inner, str):
                if item is not None:
                    value[i] = _leaf(item, inner)
            elif item is not None:
                _walk(item, inner)
    elif container == "{}" and isinstance(value, dict):
        for key, item in value.items():
            if isinstance(inner, str):
                if item is not None or inner == "q":
                    value[key] = _leaf(item, inner)
            elif item is not None:
                _walk(item, inner)


def _leaf(value: Any, how: str) -> str | None:
    if how == "q":
        try:
            return decode_json(value)
        except QuantityError as exc:
            raise DecodeError(str(exc)) from None
    return _time(value, micro=how == "m")


def _time(value: Any, *, micro: bool) -> str | None:
    if not isinstance(value, str):
        kind = "number" if isinstance(value, int | float) and not isinstance(value, bool) else None
        kind = kind or {bool: "bool", list: "array", dict: "object"}.get(type(value), "value")
        raise TimeParseError(f"json: cannot unmarshal {kind} into Go value of type string")
    return normalize(value, micro=micro)


if __name__ == "__main__":
    import pathlib

    write_plans(str(pathlib.Path(__file__).with_name("decode_plans.py")))
