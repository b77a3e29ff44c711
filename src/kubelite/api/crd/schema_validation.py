"""Custom resources checked against their CRD's OpenAPI v3 schema.

The messages are the ones kube-apiserver's validator gives (they name the
path "in body"), turned into field errors as apiextensions does, so kubectl
prints `spec.replicas: Invalid value: "string": spec.replicas in body must
be of type integer: "string"` as against a real cluster. A node whose type
is wrong is not checked further, as upstream stops there too.
CEL rules (`x-kubernetes-validations`) are evaluated after these checks, by
`cel_rules`, and only on an object whose shape these checks accept.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import uuid
from datetime import datetime
from functools import cache
from typing import Any

from kubelite.api.fielderrors import FieldError, duplicate, invalid, not_supported, required
from kubelite.api.validation_meta import too_long, too_many

Obj = dict[str, Any]
Errs = list[FieldError]


def json_type(value: Any) -> str:
    """The JSON type name of a value, as the validator reports it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, schema: Obj) -> bool:
    if value is None:
        return bool(schema.get("nullable"))
    if schema.get("x-kubernetes-int-or-string"):
        return json_type(value) in ("integer", "string")
    wanted = schema.get("type")
    if not wanted:
        return True
    actual = json_type(value)
    return actual == wanted or (wanted == "number" and actual == "integer")


def _type_error(path: str, value: Any, schema: Obj) -> FieldError:
    actual = json_type(value)
    wanted = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
    return FieldError(
        "FieldValueTypeInvalid",
        path,
        f'{path} in body must be of type {wanted}: "{actual}"',
        actual,
    )


def validate_value(value: Any, schema: Obj, path: str = "") -> Errs:
    """Errors of `value` against `schema`; `path` is where the value sits ("" at the root)."""
    if not isinstance(schema, dict) or not schema:
        return []
    if not _type_ok(value, schema):
        return [_type_error(path or "body", value, schema)]
    if value is None:
        return []
    errs: Errs = []
    errs += _enum(value, schema, path)
    if isinstance(value, str):
        errs += _string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        errs += _number(value, schema, path)
    elif isinstance(value, list):
        errs += _array(value, schema, path)
    elif isinstance(value, dict):
        errs += _object(value, schema, path)
    for sub in schema.get("allOf") or []:
        if isinstance(sub, dict):
            errs += validate_value(value, sub, path)
    errs += _junctors(value, schema, path)
    return errs


def _junctors(value: Any, schema: Obj, path: str) -> Errs:
    name = path or "body"
    errs: Errs = []
    for key, word in (("anyOf", "at least one"), ("oneOf", "one and only one")):
        options = schema.get(key)
        if not isinstance(options, list) or not options:
            continue
        passing = sum(1 for sub in options if not validate_value(value, sub, path))
        if (key == "anyOf" and passing == 0) or (key == "oneOf" and passing != 1):
            errs.append(invalid(name, value, f"{name} in body must validate {word} schema ({key})"))
    negated = schema.get("not")
    if isinstance(negated, dict) and not validate_value(value, negated, path):
        errs.append(invalid(name, value, f"{name} in body should not validate the given schema"))
    return errs


def _enum(value: Any, schema: Obj, path: str) -> Errs:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or value in allowed:
        return []
    return [not_supported(path, value, [_enum_text(a) for a in allowed])]


def _enum_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _string(value: str, schema: Obj, path: str) -> Errs:
    errs: Errs = []
    max_len = schema.get("maxLength")
    if isinstance(max_len, int) and len(value) > max_len:
        errs.append(too_long(path, max_len))
    min_len = schema.get("minLength")
    if isinstance(min_len, int) and len(value) < min_len:
        errs.append(invalid(path, value, f"{path} in body should be at least {min_len} chars long"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and _compiled(pattern).search(value) is None:
        errs.append(invalid(path, value, f"{path} in body should match '{pattern}'"))
    fmt = schema.get("format")
    if isinstance(fmt, str) and not format_ok(fmt, value):
        errs.append(
            FieldError(
                "FieldValueTypeInvalid",
                path,
                f'{path} in body must be of type {fmt}: "{value}"',
                value,
            )
        )
    return errs


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(re.escape(pattern))


def _number(value: float, schema: Obj, path: str) -> Errs:
    errs: Errs = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float):
        if schema.get("exclusiveMinimum") and value <= low:
            errs.append(invalid(path, value, f"{path} in body should be greater than {_num(low)}"))
        elif value < low:
            errs.append(
                invalid(
                    path, value, f"{path} in body should be greater than or equal to {_num(low)}"
                )
            )
    if isinstance(high, int | float):
        if schema.get("exclusiveMaximum") and value >= high:
            errs.append(invalid(path, value, f"{path} in body should be less than {_num(high)}"))
        elif value > high:
            errs.append(
                invalid(path, value, f"{path} in body should be less than or equal to {_num(high)}")
            )
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0 and (value / step) % 1 != 0:
        errs.append(invalid(path, value, f"{path} in body should be a multiple of {_num(step)}"))
    return errs


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _array(value: list[Any], schema: Obj, path: str) -> Errs:
    errs: Errs = []
    max_items, min_items = schema.get("maxItems"), schema.get("minItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errs.append(too_many(path, len(value), max_items))
    if isinstance(min_items, int) and len(value) < min_items:
        errs.append(
            invalid(path, len(value), f"{path} in body should have at least {min_items} items")
        )
    # x-kubernetes-list-type sets and maps are checked after this validator (`listtype`).
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                errs.append(duplicate(f"{path}[{i}]", item))
            seen.append(item)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            errs += validate_value(item, items, f"{path}[{i}]")
    return errs


def _object(value: Obj, schema: Obj, path: str) -> Errs:
    errs: Errs = []
    for name in schema.get("required") or []:
        if name not in value:
            errs.append(required(_child(path, name)))
    max_props, min_props = schema.get("maxProperties"), schema.get("minProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        errs.append(too_many(path, len(value), max_props))
    if isinstance(min_props, int) and len(value) < min_props:
        errs.append(
            invalid(path, len(value), f"{path} in body should have at least {min_props} properties")
        )
    if schema.get("x-kubernetes-embedded-resource"):
        errs += _embedded(value, path)
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for name in value:
        sub = properties.get(name)
        if sub is None and isinstance(extra, dict):
            sub = extra
        if isinstance(sub, dict):
            errs += validate_value(value[name], sub, _child(path, name))
    return errs


def _embedded(value: Obj, path: str) -> Errs:
    errs: Errs = []
    for name in ("apiVersion", "kind"):
        if not value.get(name):
            errs.append(required(_child(path, name), "must not be empty"))
    return errs


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---- formats --------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MAC = re.compile(r"^(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_DURATION = re.compile(r"^-?(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w))+$")


def _parses(fn: Any, value: str) -> bool:
    try:
        fn(value)
    except (ValueError, TypeError):
        return False
    return True


def format_ok(fmt: str, value: str) -> bool:
    """Formats the validator knows; an unknown format accepts anything, as upstream."""
    if fmt == "date":
        return _parses(lambda v: datetime.strptime(v, "%Y-%m-%d"), value)
    if fmt == "date-time":
        return _parses(lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")), value)
    if fmt == "byte":
        return _parses(lambda v: base64.b64decode(v, validate=True), value)
    if fmt == "uuid":
        return _parses(uuid.UUID, value)
    if fmt == "ipv4":
        return _parses(ipaddress.IPv4Address, value)
    if fmt == "ipv6":
        return _parses(ipaddress.IPv6Address, value)
    if fmt == "cidr":
        return _parses(lambda v: ipaddress.ip_network(v, strict=False), value)
    if fmt == "email":
        return bool(_EMAIL.match(value))
    if fmt == "hostname":
        return bool(_HOSTNAME.match(value))
    if fmt == "mac":
        return bool(_MAC.match(value))
    if fmt == "duration":
        return bool(_DURATION.match(value))
    return True
