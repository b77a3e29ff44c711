"""Resource quantities for the scheduler.

Uses ``kubelite.api.quantity`` when it exists; until then a small private
parser of the Kubernetes quantity grammar (``100m``, ``1Gi``, ``2e3``) stands
in. Values are exact ``Fraction``s; the integer forms round up, as
``resource.Quantity.Value()`` and ``MilliValue()`` do upstream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache

__all__ = ["parse_quantity", "milli_value", "value"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def _local_parse(text: str | int | float) -> Fraction:
    if isinstance(text, int | float):
        return Fraction(text)
    m = _RE.match(text.strip())
    if not m:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    number, exponent, suffix = m.group(1), m.group(2), m.group(3) or ""
    base = Fraction(number)
    if exponent:
        return base * Fraction(10) ** int(exponent[1:])
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    return base * _DECIMAL[suffix]


_shared_parse: Callable[[str], Fraction] | None
try:  # the shared parser, once it lands
    from kubelite.api.quantity import parse_quantity as _shared_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the tree
    _shared_parse = None


@lru_cache(maxsize=4096)
def parse_quantity(text: str | int | float) -> Fraction:
    """Parse a quantity into an exact number of base units."""
    if _shared_parse is not None and isinstance(text, str):
        return Fraction(_shared_parse(text))
    return _local_parse(text)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def milli_value(q: Fraction) -> int:
    """Thousandths of the quantity, rounded up (``Quantity.MilliValue``), held to
    int64 as upstream's are: a node of absurd capacity must not stop scheduling."""
    return min(max(math.ceil(q * 1000), INT64_MIN), INT64_MAX)


def value(q: Fraction) -> int:
    """The quantity in whole units, rounded up (``Quantity.Value``), held to int64."""
    return min(max(math.ceil(q), INT64_MIN), INT64_MAX)
