"""The functions of Kubernetes' CEL libraries that fit cel-python, and their value types.

cel-python brings CEL's standard functions and macros; Kubernetes adds
libraries on top (strings, lists, regex, quantity, optionals, the
admission `authorizer`; URLs, sets and `strings.quote` live in
`cel_library_ext`). The parts implemented here are registered as
cel-python functions: a method call `x.f(a)` arrives as `f(x, a)`, so each
checks its receiver's type and raises TypeError (CEL's "no such overload")
when it does not fit. Everything imports cel-python lazily, as `api.cel` does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


def _celpy() -> Any:
    import celpy

    return celpy


def _types() -> Any:
    from celpy import celtypes

    return celtypes


@dataclass(frozen=True)
class Optional:
    """CEL's optional value (`oldSelf` under `optionalOldSelf`)."""

    present: bool
    value: Any = None


@dataclass(frozen=True)
class Quantity:
    """A `resource.Quantity` in CEL (`quantity('1Gi')`), exact as a Fraction."""

    amount: Fraction

    def __str__(self) -> str:
        from kubelite.api.quantity import format_quantity

        return format_quantity(self.amount)


def _err(message: str) -> Any:
    return _celpy().CELEvalError(message)


def _quantity(text: Any) -> Any:
    from kubelite.api.quantity import QuantityError, parse_quantity

    try:
        return Quantity(parse_quantity(str(text)))
    except (QuantityError, ValueError) as exc:
        return _err(str(exc))


def _is_quantity(text: Any) -> Any:
    return _types().BoolType(not isinstance(_quantity(text), _celpy().CELEvalError))


def _q(value: Any) -> Fraction:
    if isinstance(value, Quantity):
        return value.amount
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(int(value))
    raise TypeError("no such overload")


def _add(a: Any, b: Any) -> Any:
    return Quantity(_q(a) + _q(b))


def _sub(a: Any, b: Any) -> Any:
    return Quantity(_q(a) - _q(b))


def _compare(a: Any, b: Any) -> Any:
    x, y = _q(a), _q(b)
    return _types().IntType((x > y) - (x < y))


def _as_integer(q: Any) -> Any:
    amount = _q(q)
    if amount.denominator != 1:
        return _err("cannot convert value to integer")
    return _types().IntType(int(amount))


def _index_of(target: Any, item: Any) -> Any:
    t = _types()
    if isinstance(target, str):
        return t.IntType(str(target).find(str(item)))
    try:
        return t.IntType(list(target).index(item))
    except ValueError:
        return t.IntType(-1)


def _last_index_of(target: Any, item: Any) -> Any:
    t = _types()
    if isinstance(target, str):
        return t.IntType(str(target).rfind(str(item)))
    items = list(target)
    for i in range(len(items) - 1, -1, -1):
        if items[i] == item:
            return t.IntType(i)
    return t.IntType(-1)


def _substring(s: Any, start: Any, end: Any = None) -> Any:
    text = str(s)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        return _err(f"index out of range: {int(start) if stop <= len(text) else stop}")
    return _types().StringType(text[int(start) : stop])


def _replace(s: Any, old: Any, new: Any, n: Any = -1) -> Any:
    return _types().StringType(str(s).replace(str(old), str(new), int(n)))


def _split(s: Any, sep: Any, n: Any = -1) -> Any:
    t = _types()
    limit = int(n)
    if limit == 0:
        return t.ListType([])
    parts = str(s).split(str(sep), limit - 1 if limit > 0 else -1)
    return t.ListType([t.StringType(p) for p in parts])


def _join(items: Any, sep: Any = "") -> Any:
    return _types().StringType(str(sep).join(str(i) for i in items))


def _is_sorted(items: Any) -> Any:
    values = list(items)
    return _types().BoolType(all(a <= b for a, b in zip(values, values[1:], strict=False)))


def _sum(items: Any) -> Any:
    values = list(items)
    if not values:
        return _types().IntType(0)
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _max(items: Any) -> Any:
    values = list(items)
    if not values:
        return _err("max(list) argument must not be empty")
    return max(values)


def _find(s: Any, pattern: Any) -> Any:
    import re2

    found = re2.search(str(pattern), str(s))
    return _types().StringType(found.group(0) if found else "")


def _find_all(s: Any, pattern: Any, n: Any = -1) -> Any:
    import re2

    t = _types()
    found = [m.group(0) for m in re2.finditer(str(pattern), str(s))]
    if int(n) >= 0:
        found = found[: int(n)]
    return t.ListType([t.StringType(f) for f in found])


def _has_value(o: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("no such overload")
    return _types().BoolType(o.present)


def _value(o: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("no such overload")
    return o.value if o.present else _err("optional.none() dereference")


def _or_value(o: Any, default: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("no such overload")
    return o.value if o.present else default


# What an `authorizer` check asks: the narrowed attributes plus "verb"; answers
# (allowed, reason). None: every check is allowed (`--authorization-mode AlwaysAllow`).
AuthorizerCheck = Callable[[dict[str, Any]], tuple[bool, str]]


@functools.cache
def _authorizer_type() -> Any:
    t = _types()

    class AuthorizerValue(t.MapType):  # type: ignore[misc,name-defined]
        """`authorizer` (and its narrowed checks) of admission expressions. A map, so
        that `authorizer.requestResource` selects the request's own resource."""

        def __init__(self, check: AuthorizerCheck | None, attrs: dict[str, Any]) -> None:
            super().__init__()
            self.check_fn = check
            self.attrs = attrs

    return AuthorizerValue


def Authorizer(  # noqa: N802 - the CEL variable's type, built as a value
    check: AuthorizerCheck | None = None, request: dict[str, Any] | None = None
) -> Any:
    """The `authorizer` variable; `request` holds the request's resource attributes
    (group, resource, subresource, namespace, name) for `authorizer.requestResource`."""
    cls = _authorizer_type()
    value = cls(check, {})
    if request is not None:
        value[_types().StringType("requestResource")] = cls(check, dict(request))
    return value


@dataclass(frozen=True)
class Decision:
    allowed: bool = True
    reason: str = ""


def _narrowing(field: str) -> Callable[..., Any]:
    def narrow(a: Any, *parts: Any) -> Any:
        cls = _authorizer_type()
        if not isinstance(a, cls):
            raise TypeError("no such overload")
        attrs = dict(a.attrs)
        if field == "serviceAccount":
            attrs["serviceAccount"] = (str(parts[0]), str(parts[1]))
        else:
            attrs[field] = str(parts[0])
        return cls(a.check_fn, attrs)

    return narrow


def _check(a: Any, verb: Any) -> Any:
    if not isinstance(a, _authorizer_type()):
        raise TypeError("no such overload")
    if a.check_fn is None:
        return Decision(True)
    allowed, reason = a.check_fn({**a.attrs, "verb": str(verb)})
    return Decision(allowed, reason)


def _decision(d: Any, answer: Callable[[Decision], Any]) -> Any:
    if not isinstance(d, Decision):
        raise TypeError("no such overload")
    return answer(d)


def _authorizer_functions() -> dict[str, Callable[..., Any]]:
    t = _types()
    narrowing = ("group", "resource", "subresource", "namespace", "name", "path")
    out: dict[str, Callable[..., Any]] = {n: _narrowing(n) for n in narrowing}
    out["serviceAccount"] = _narrowing("serviceAccount")
    out["check"] = _check
    out["allowed"] = lambda d: _decision(d, lambda x: t.BoolType(x.allowed))
    out["errored"] = lambda d: _decision(d, lambda x: t.BoolType(False))
    out["reason"] = lambda d: _decision(d, lambda x: t.StringType(x.reason))
    out["error"] = lambda d: _decision(d, lambda x: t.StringType(""))
    return out


AUTHORIZER_FUNCTIONS = frozenset(
    {"group", "resource", "subresource", "namespace", "name", "path", "serviceAccount"}
    | {"check", "allowed", "errored", "reason", "error"}
)


def _extensions() -> dict[str, Callable[..., Any]]:
    t = _types()
    return {
        "dyn": lambda v: v,
        "lowerAscii": lambda s: t.StringType(str(s).lower()),
        "upperAscii": lambda s: t.StringType(str(s).upper()),
        "trim": lambda s: t.StringType(str(s).strip()),
        "charAt": lambda s, i: t.StringType(str(s)[int(i) : int(i) + 1]),
        "indexOf": _index_of,
        "lastIndexOf": _last_index_of,
        "substring": _substring,
        "replace": _replace,
        "split": _split,
        "join": _join,
        "isSorted": _is_sorted,
        "sum": _sum,
        "max": _max,
        "find": _find,
        "format": _format,
        "findAll": _find_all,
        "quantity": _quantity,
        "isQuantity": _is_quantity,
        "add": _add,
        "sub": _sub,
        "compareTo": _compare,
        "isGreaterThan": lambda a, b: t.BoolType(_q(a) > _q(b)),
        "isLessThan": lambda a, b: t.BoolType(_q(a) < _q(b)),
        "sign": lambda q: t.IntType((_q(q) > 0) - (_q(q) < 0)),
        "isInteger": lambda q: t.BoolType(_q(q).denominator == 1),
        "asInteger": _as_integer,
        "asApproximateFloat": lambda q: t.DoubleType(float(_q(q))),
        "hasValue": _has_value,
        "value": _value,
        "orValue": _or_value,
    }


# ---- string formatting (the strings library's `format`) --------------------------------

_VERB = re.compile(r"%(?:\.(\d+))?([sdfeboxX%])")


def _as_text(value: Any) -> str:
    """`%s` of a CEL value, as cel-go prints it."""
    t = _types()
    if value is None:
        return "null"
    if isinstance(value, t.BoolType | bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_as_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_as_text(k)}: {_as_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, t.DoubleType):
        return (
            repr(float(value)).removesuffix(".0")
            if float(value).is_integer()
            else repr(float(value))
        )
    return str(value)


def _format(template: Any, args: Any) -> Any:
    if not isinstance(template, str) or not isinstance(args, list):
        raise TypeError("no such overload")
    values = list(args)
    out: list[str] = []
    position = 0
    used = 0
    for match in _VERB.finditer(str(template)):
        out.append(str(template)[position : match.start()])
        position = match.end()
        precision, verb = match.group(1), match.group(2)
        if verb == "%":
            out.append("%")
            continue
        if used >= len(values):
            return _err(f"index {used} out of range")
        value = values[used]
        used += 1
        try:
            out.append(_one_verb(verb, precision, value))
        except (TypeError, ValueError):
            return _err(f"error during formatting: unrecognized value for verb '{verb}'")
    out.append(str(template)[position:])
    return _types().StringType("".join(out))


def _one_verb(verb: str, precision: str | None, value: Any) -> str:
    if verb == "s":
        return _as_text(value)
    if verb == "d":
        t = _types()
        if isinstance(value, t.DoubleType | t.BoolType | bool) or not isinstance(value, int):
            raise TypeError(verb)
        return str(int(value))
    if verb in "fe":
        digits = int(precision) if precision is not None else 6
        return f"{float(value):.{digits}{verb}}"
    if isinstance(value, str) and verb in "xX":
        text = value.encode().hex()
        return text.upper() if verb == "X" else text
    number = int(value)
    return format(number, {"b": "b", "o": "o", "x": "x", "X": "X"}[verb])


# ---- ip and cidr (the Kubernetes IP library) -------------------------------------------


@dataclass(frozen=True)
class IP:
    """`ip('10.0.0.1')`: an address, with Go's netip rules (no zones, no IPv4-mapped IPv6)."""

    address: Any  # ipaddress.IPv4Address | IPv6Address

    def __str__(self) -> str:
        return str(self.address)


@dataclass(frozen=True)
class CIDR:
    """`cidr('10.0.0.0/8')`: an address with a prefix length, as written (not masked)."""

    interface: Any  # ipaddress.IPv4Interface | IPv6Interface

    def __str__(self) -> str:
        return f"{self.interface.ip}/{self.interface.network.prefixlen}"


def _parse_ip(text: str) -> Any:
    import ipaddress

    if "%" in text:
        raise ValueError("IPv6 zones are not allowed")
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError("IPv4-mapped IPv6 addresses are not allowed")
    return address


def _parse_cidr(text: str) -> Any:
    import ipaddress

    address, slash, bits = text.partition("/")
    if not slash or not bits.isdigit():
        raise ValueError("no '/'")
    _parse_ip(address)
    return ipaddress.ip_interface(text)


def _ip(value: Any) -> Any:
    if isinstance(value, CIDR):
        return IP(value.interface.ip)
    try:
        return IP(_parse_ip(str(value)))
    except ValueError as exc:
        return _err(f"IP Address '{value}' parse error during conversion from string: {exc}")


def _cidr(value: Any) -> Any:
    try:
        return CIDR(_parse_cidr(str(value)))
    except ValueError as exc:
        return _err(f"network address parse error during conversion from string: {exc}")


def _parses(parse: Any) -> Any:
    """`isIP`/`isCIDR`: whether `parse` accepts the string."""

    def check(value: Any) -> Any:
        try:
            parse(str(value))
        except ValueError:
            return _types().BoolType(False)
        return _types().BoolType(True)

    return check


def _address(value: Any) -> Any:
    if not isinstance(value, IP):
        raise TypeError("no such overload")
    return value.address


def _link_local_multicast(a: Any) -> bool:
    if a.version == 4:
        return int(a) >> 8 == 0xE00000  # 224.0.0.0/24
    return (int(a) >> 112) & 0xFF0F == 0xFF02  # ff02::/16, any flags


def _global_unicast(a: Any) -> bool:
    if a.is_unspecified or a.is_loopback or a.is_multicast or a.is_link_local:
        return False
    return not (a.version == 4 and int(a) == 0xFFFFFFFF)


def _contains_ip(c: Any, other: Any) -> Any:
    if not isinstance(c, CIDR):
        raise TypeError("no such overload")
    try:
        address = other.address if isinstance(other, IP) else _parse_ip(str(other))
    except ValueError as exc:
        return _err(f"IP Address '{other}' parse error during conversion from string: {exc}")
    network = c.interface.network
    return _types().BoolType(address.version == network.version and address in network)


def _contains_cidr(c: Any, other: Any) -> Any:
    if not isinstance(c, CIDR):
        raise TypeError("no such overload")
    try:
        inner = other.interface if isinstance(other, CIDR) else _parse_cidr(str(other))
    except ValueError as exc:
        return _err(f"network address parse error during conversion from string: {exc}")
    outer = c.interface.network
    return _types().BoolType(
        inner.version == outer.version
        and inner.network.prefixlen >= outer.prefixlen
        and inner.network.network_address in outer
    )


def _ip_functions() -> dict[str, Callable[..., Any]]:
    import ipaddress

    t = _types()

    def check(test: Callable[[Any], bool]) -> Callable[[Any], Any]:
        return lambda ip: t.BoolType(test(_address(ip)))

    def masked(c: Any) -> Any:
        if not isinstance(c, CIDR):
            raise TypeError("no such overload")
        return CIDR(ipaddress.ip_interface(str(c.interface.network)))

    def prefix_length(c: Any) -> Any:
        if not isinstance(c, CIDR):
            raise TypeError("no such overload")
        return t.IntType(c.interface.network.prefixlen)

    return {
        "ip": _ip,
        "isIP": _parses(_parse_ip),
        "cidr": _cidr,
        "isCIDR": _parses(_parse_cidr),
        "family": lambda ip: t.IntType(_address(ip).version),
        "isUnspecified": check(lambda a: a.is_unspecified),
        "isLoopback": check(lambda a: a.is_loopback),
        "isLinkLocalMulticast": check(_link_local_multicast),
        "isLinkLocalUnicast": check(lambda a: a.is_link_local),
        "isGlobalUnicast": check(_global_unicast),
        "containsIP": _contains_ip,
        "containsCIDR": _contains_cidr,
        "masked": masked,
        "prefixLength": prefix_length,
    }


def _numeric(value: Any) -> bool:
    t = _types()
    return isinstance(value, t.IntType | t.UintType | t.DoubleType) and not isinstance(
        value, t.BoolType
    )


def _plain(value: Any) -> int | float:
    return float(value) if isinstance(value, _types().DoubleType) else int(value)


def _comparisons() -> dict[str, Callable[..., Any]]:
    """Relations as Kubernetes' CEL has them: numbers compare across int, uint and
    double, and values of different types are unequal rather than an error."""
    import operator

    from celpy.evaluation import CELEvalError, base_functions

    t = _types()

    def ordering(name: str, op: Callable[[Any, Any], bool]) -> Callable[..., Any]:
        base = base_functions[name]

        def compare(a: Any, b: Any) -> Any:
            if _numeric(a) and _numeric(b) and type(a) is not type(b):
                return t.BoolType(op(_plain(a), _plain(b)))
            return base(a, b)

        return compare

    def equal(a: Any, b: Any) -> Any:
        for v in (a, b):
            if isinstance(v, CELEvalError):
                return v
        if _numeric(a) and _numeric(b):
            return t.BoolType(_plain(a) == _plain(b))
        if isinstance(a, t.BoolType) != isinstance(b, t.BoolType):
            return t.BoolType(False)  # a bool is not the int Python makes it
        try:
            return base_functions["_==_"](a, b)
        except TypeError:
            return t.BoolType(False)

    def not_equal(a: Any, b: Any) -> Any:
        same = equal(a, b)
        return same if isinstance(same, CELEvalError) else t.BoolType(not same)

    out = {
        name: ordering(name, op)
        for name, op in (
            ("_<_", operator.lt),
            ("_<=_", operator.le),
            ("_>_", operator.gt),
            ("_>=_", operator.ge),
        )
    }
    return {**out, "_==_": equal, "_!=_": not_equal}


@functools.cache
def functions() -> dict[str, Callable[..., Any]]:
    from kubelite.api import cel_library_ext

    return {
        **_authorizer_functions(),
        **_extensions(),
        **_ip_functions(),
        **cel_library_ext.functions(),
        **_comparisons(),
    }


@functools.cache
def function_names() -> frozenset[str]:
    """Every function name an expression may call; namespaced ones in full (`sets.contains`)."""
    from celpy.evaluation import base_functions

    from kubelite.api import cel_library_ext

    names = frozenset(base_functions) | frozenset(_extensions()) | frozenset(_ip_functions())
    names |= frozenset(cel_library_ext.functions())
    return (names | {"min"}) - AUTHORIZER_FUNCTIONS
