"""`resource.Quantity` as apimachinery parses and prints it.

A quantity is an exact decimal (or binary-suffixed) number such as `500m`,
`1Gi` or `1e3`. We hold the value as a `Fraction` so nothing is ever lost to
floating point, and we translate apimachinery's scanner rather than writing a
regular expression, because its quirks are visible on the wire: `"."` and
`"Mi"` parse as zero, values are rounded *up* to a nano, BinarySI values are
capped at 2^63-1, and a string already in canonical form is echoed back
verbatim (so `"+1"` stays `"+1"` while `"1000m"` becomes `"1"`). kubectl
shows whatever the server prints, so we print what kube-apiserver prints.

Deviations, all outside anything a real manifest contains: exponents beyond
±1000 are refused (the Fraction would be astronomically large), and negative
values always round away from zero in `value`/`milli_value`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Format = Literal["BinarySI", "DecimalSI", "DecimalExponent"]

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = "quantities must match the regular expression '" + _SPLIT_RE + "'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_MAX_INT64 = (1 << 63) - 1
_NANO = Fraction(1, 10**9)
_MAX_EXPONENT = 1000
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")

_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXP = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXP = {e: s for s, e in _BINARY_SUFFIXES.items()}


class QuantityError(ValueError):
    """A string that is not a quantity; the message is apimachinery's."""


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    format: Format
    # The input string when apimachinery would echo it unchanged (it caches the
    # string when the number was already in canonical form).
    cached: str | None = None

    def __str__(self) -> str:
        return self.cached if self.cached is not None else format_quantity(self.value, self.format)


def parse(s: str | int | float) -> Quantity:
    """Parse like `resource.ParseQuantity`, keeping the format for printing."""
    return _parse_text(_as_text(s))


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Quantity:
    """Cached: the same few quantities ("100m", "128Mi") recur on every pod."""
    if text == "":
        raise QuantityError(ERR_FORMAT)
    if text == "0":
        return Quantity(Fraction(0), "DecimalSI", "0")
    positive, value, num, denom, suffix = _scan(text)
    base, exponent, fmt = _interpret(suffix)
    fast = _parse_int64(text, positive, num, denom, exponent, fmt)
    if fast is not None:
        return fast
    return _parse_decimal(value, base, exponent, fmt)


def parse_quantity(s: str | int | float) -> Fraction:
    """The exact value of a quantity: `parse_quantity("1.5Gi") == 1610612736`."""
    return parse(s).value


def value(q: str | int | float | Fraction | Quantity) -> int:
    """`Quantity.Value()`: the value rounded up (away from zero) to an integer."""
    return _round_away(_value_of(q))


def milli_value(q: str | int | float | Fraction | Quantity) -> int:
    """`Quantity.MilliValue()`: the value in thousandths, rounded up (away from zero)."""
    return _round_away(_value_of(q) * 1000)


def canonicalize(s: str | int | float) -> str:
    """The string kube-apiserver stores for `s` (`"1.5Gi"` -> `"1536Mi"`, `"0.5"` -> `"500m"`)."""
    return str(parse(s))


def decode_json(value: object) -> str:
    """What Quantity.UnmarshalJSON then MarshalJSON make of a decoded JSON value:
    a string (spaces trimmed) or a number, canonical; null is the zero quantity."""
    if value is None:
        return "0"
    if isinstance(value, str):
        return canonicalize(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return canonicalize(value)
    raise QuantityError(ERR_FORMAT)  # ParseQuantity of `true`, `{...}` or `[...]`


def format_quantity(f: Fraction | int, format: Format = "DecimalSI") -> str:
    """`Quantity.String()` for a value in a format (`CanonicalizeBytes`)."""
    amount = _round_nano(Fraction(f))
    if amount == 0:
        return "0"
    fmt: str = format
    rounded = 0
    if fmt == "BinarySI":
        if -1024 < amount < 1024:
            fmt = "DecimalSI"  # avoids rounding (and confusion)
        else:
            rounded = _round_away(amount)
            if rounded != amount:
                fmt = "DecimalSI"  # don't lose precision
    if fmt == "BinarySI":
        mantissa, times = _remove_factors(rounded, 1024)
        return f"{mantissa}{_BINARY_BY_EXP.get(times * 10, '')}"
    if fmt != "DecimalSI":
        fmt = "DecimalExponent"
    mantissa, exponent = _decimal_parts(amount)
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if fmt == "DecimalExponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    # Upstream prints no suffix when none exists (exponent above 18): keep that.
    return f"{mantissa}{_DECIMAL_BY_EXP.get(exponent, '')}"


# --- parsing -------------------------------------------------------------------------


def _as_text(s: str | int | float) -> str:
    if isinstance(s, bool):
        raise QuantityError(ERR_FORMAT)
    if isinstance(s, int):
        return str(s)
    if isinstance(s, float):
        if not math.isfinite(s):
            raise QuantityError(ERR_FORMAT)
        return repr(s)  # "0.5", "1e-07": the JSON number's text
    if not isinstance(s, str):
        raise QuantityError(ERR_FORMAT)
    return s


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """`parseQuantityString`: (positive, value, numerator, denominator, suffix)."""
    positive, pos, end = True, 0, len(text)
    if end and text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while True:  # leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if text[pos] != "0":
            break
        pos += 1
    i = _skip_digits(text, pos)
    if i >= end:
        return positive, text, text[pos:], "", ""
    num, pos = text[pos:i] or "0", i
    denom = ""
    if text[pos] == ".":
        pos += 1
        i = _skip_digits(text, pos)
        if i >= end:
            return positive, text, num, text[pos:], ""
        denom, pos = text[pos:i], i
    value, suffix_start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    if _skip_digits(text, pos) < end:
        raise QuantityError(ERR_FORMAT)
    return positive, value, num, denom, text[suffix_start:]


def _skip_digits(text: str, i: int) -> int:
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    return i


def _interpret(suffix: str) -> tuple[int, int, Format]:
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = _go_parse_int64(suffix[1:])
        if exponent is not None:
            exponent = (exponent + 2**31) % 2**32 - 2**31  # Go's int32() conversion
            if abs(exponent) > _MAX_EXPONENT:
                raise QuantityError(ERR_NUMERIC)
            return 10, exponent, "DecimalExponent"
    raise QuantityError(ERR_SUFFIX)


def _parse_int64(
    text: str, positive: bool, num: str, denom: str, exponent: int, fmt: Format
) -> Quantity | None:
    """ParseQuantity's int64 fast path; None where upstream falls back to inf.Dec."""
    mantissa, scale = 1, 0
    if fmt == "BinarySI":
        if exponent < 0 or denom:
            return None
        mantissa = 1 << exponent
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        scale = exponent
        precision = 18 - (len(num) + len(denom))
    scale -= len(denom)
    if precision < 0 or scale < -9:
        return None
    shifted = num + denom
    digits = int(shifted)
    result = digits * mantissa
    if result > _MAX_INT64:
        return None
    if not positive:
        result = -result
    if fmt == "BinarySI":
        canonical = exponent % 10 == 0 and digits & 0x07 != 0
    else:
        canonical = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return Quantity(result * Fraction(10) ** scale, fmt, text if canonical else None)


def _parse_decimal(value: str, base: int, exponent: int, fmt: Format) -> Quantity:
    """ParseQuantity's inf.Dec path: round up to a nano, cap BinarySI at 2^63-1."""
    unsigned = value.lstrip("+-")
    if not any(c in _DIGITS for c in unsigned):
        raise QuantityError(ERR_NUMERIC)
    whole, _, frac = unsigned.partition(".")
    amount = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    amount *= Fraction(10) ** exponent if base == 10 else 2**exponent
    amount = _round_nano(amount)
    if fmt == "BinarySI" and amount > _MAX_INT64:
        amount = Fraction(_MAX_INT64)
    if fmt == "BinarySI" and 0 < amount < 1:
        fmt = "DecimalSI"
    return Quantity(-amount if value.startswith("-") else amount, fmt)


def _go_parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go reports an error."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or any(c not in _DIGITS for c in digits):
        return None
    n = int(text)
    return n if -_MAX_INT64 - 1 <= n <= _MAX_INT64 else None


# --- arithmetic ----------------------------------------------------------------------


def _value_of(q: str | int | float | Fraction | Quantity) -> Fraction:
    if isinstance(q, Quantity):
        return q.value
    if isinstance(q, Fraction):
        return q
    return parse_quantity(q)


def _round_away(f: Fraction) -> int:
    return math.ceil(f) if f >= 0 else math.floor(f)


def _round_nano(f: Fraction) -> Fraction:
    if f.denominator == 1 or (10**9) % f.denominator == 0:
        return f
    return _round_away(f / _NANO) * _NANO


def _remove_factors(n: int, factor: int) -> tuple[int, int]:
    times = 0
    while abs(n) >= factor and n % factor == 0:
        n //= factor
        times += 1
    return n, times


def _decimal_parts(f: Fraction) -> tuple[int, int]:
    """(mantissa, exponent) with f == mantissa * 10**exponent and no trailing zeros."""
    # f has been rounded to a nano, so its denominator divides 10**9.
    scale = 0
    while f.denominator != 1:
        f *= 10
        scale += 1
    mantissa, times = _remove_factors(f.numerator, 10)
    return mantissa, times - scale
