"""resource.Quantity parsing and printing, checked against apimachinery's behaviour."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kubelite.api.quantity import (
    ERR_FORMAT,
    ERR_NUMERIC,
    ERR_SUFFIX,
    QuantityError,
    canonicalize,
    format_quantity,
    milli_value,
    parse,
    parse_quantity,
    value,
)

Ki, Mi, Gi = 2**10, 2**20, 2**30
MAX_INT64 = 2**63 - 1


def dec(mantissa: int, exponent: int) -> Fraction:
    return Fraction(mantissa) * Fraction(10) ** exponent


# (input, exact value, format) — the cases of upstream's TestQuantityParse
PARSE = [
    ("0", dec(0, 0), "DecimalSI"),
    ("0Ki", dec(0, 0), "BinarySI"),
    ("1", dec(1, 0), "DecimalSI"),
    ("1Ki", dec(Ki, 0), "BinarySI"),
    ("7Mi", dec(7 * Mi, 0), "BinarySI"),
    ("3Ei", dec(3 * 2**60, 0), "BinarySI"),
    ("5n", dec(5, -9), "DecimalSI"),
    ("4u", dec(4, -6), "DecimalSI"),
    ("500m", dec(5, -1), "DecimalSI"),
    ("50k", dec(5, 4), "DecimalSI"),
    ("40T", dec(4, 13), "DecimalSI"),
    ("1E", dec(1, 18), "DecimalSI"),
    ("1E-3", dec(1, -3), "DecimalExponent"),
    ("1e3", dec(1, 3), "DecimalExponent"),
    ("1.3E+6", dec(13, 5), "DecimalExponent"),
    ("100.035k", dec(100035, 0), "DecimalSI"),
    ("0.5", dec(5, -1), "DecimalSI"),
    (".5", dec(5, -1), "DecimalSI"),
    ("+1", dec(1, 0), "DecimalSI"),
    ("0.0005k", dec(5, -1), "DecimalSI"),
    ("7.123456M", dec(7123456, 0), "DecimalSI"),
    ("1.01E", dec(101, 16), "DecimalSI"),
    # rounded up to a nano, never down
    ("3.001n", dec(4, -9), "DecimalSI"),
    ("1.1E-9", dec(2, -9), "DecimalExponent"),
    ("0.0000000005", dec(1, -9), "DecimalSI"),
    ("0.00000012345", dec(124, -9), "DecimalSI"),
    # BinarySI saturates at 2^63-1
    ("9Ei", dec(MAX_INT64, 0), "BinarySI"),
    ("9223372036854775807Ki", dec(MAX_INT64, 0), "BinarySI"),
    ("12E", dec(12, 18), "DecimalSI"),
    # fractional binary: 100.035 * 1024
    ("100.035Ki", dec(10243584, -2), "BinarySI"),
    ("0.5Mi", dec(Mi // 2, 0), "BinarySI"),
    # below 1, BinarySI becomes DecimalSI (1.024e-9 rounds up to 2n)
    ("0.000000000001Ki", dec(2, -9), "DecimalSI"),
    # odd but accepted upstream
    ("1.", dec(1, 0), "DecimalSI"),
    ("1.G", dec(1, 9), "DecimalSI"),
    (".", dec(0, 0), "DecimalSI"),
    ("Mi", dec(0, 0), "BinarySI"),
    ("-", dec(0, 0), "DecimalSI"),
]


@pytest.mark.parametrize(("text", "expected", "fmt"), PARSE, ids=[c[0] for c in PARSE])
def test_parse(text: str, expected: Fraction, fmt: str) -> None:
    q = parse(text)
    assert q.value == expected
    assert q.format == fmt
    assert parse_quantity(text) == expected


UNSIGNED = [c for c in PARSE if not c[0].startswith(("+", "-"))]


@pytest.mark.parametrize(("text", "expected", "fmt"), UNSIGNED, ids=[c[0] for c in UNSIGNED])
def test_parse_negative(text: str, expected: Fraction, fmt: str) -> None:
    q = parse("-" + text)
    assert q.value == -expected
    assert q.format == fmt


# (input, what kube-apiserver stores and prints)
CANONICAL = [
    ("1Gi", "1Gi"),
    ("1024Mi", "1Gi"),
    ("1.5Gi", "1536Mi"),
    ("300Mi", "300Mi"),
    ("307200Ki", "300Mi"),
    ("1025Mi", "1025Mi"),
    ("1025", "1025"),
    ("5000m", "5"),
    ("0.5", "500m"),
    ("1000m", "1"),
    ("2000m", "2"),
    ("1.08", "1080m"),
    ("1080000000n", "1080m"),
    ("1000M", "1G"),
    ("0.001T", "1G"),
    ("1000u", "1m"),
    ("0.1m", "100u"),
    (".001e12", "1e9"),
    ("0.001e0", "1e-3"),
    ("1000e-12", "1e-9"),
    ("1.5e3", "1500"),
    ("12e6", "12e6"),
    ("00", "0"),
    # strings already canonical are echoed verbatim, sign and all
    ("+1", "+1"),
    ("01", "01"),
    ("1E3", "1E3"),
    ("1.G", "1.G"),
    # a BinarySI value that is not an integer prints as DecimalSI
    ("1.1Ki", "1126400m"),
    (".001Ki", "1024m"),
    (".000000000001Ki", "2n"),
    ("1e-12", "1e-9"),
    ("-1.5", "-1500m"),
    ("-1024Mi", "-1Gi"),
    # upstream has no suffix past E and prints the bare mantissa
    ("1000E", "1"),
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL, ids=[c[0] for c in CANONICAL])
def test_canonicalize(text: str, expected: str) -> None:
    assert canonicalize(text) == expected
    assert str(parse(text)) == expected


@pytest.mark.parametrize(
    ("amount", "fmt", "expected"),
    [
        (Fraction(3 * Gi, 2), "BinarySI", "1536Mi"),
        (Fraction(1, 2), "DecimalSI", "500m"),
        (Fraction(1), "DecimalSI", "1"),
        (Fraction(5), "BinarySI", "5"),  # under 1024: decimal
        (Fraction(1, 2), "BinarySI", "500m"),
        (Fraction(6 * Ki), "BinarySI", "6Ki"),
        (Fraction(1001 * Gi), "BinarySI", "1001Gi"),
        (dec(1234567, 6), "DecimalSI", "1234567M"),
        (dec(80, -9), "DecimalSI", "80n"),
        (dec(3, 3), "DecimalExponent", "3e3"),
        (dec(80, -3), "DecimalExponent", "80e-3"),
        (Fraction(0), "BinarySI", "0"),
        (Fraction(1, 3), "DecimalSI", "333333334n"),  # rounded up to a nano
        (Fraction(-3, 2), "DecimalSI", "-1500m"),
    ],
)
def test_format_quantity(amount: Fraction, fmt: str, expected: str) -> None:
    assert format_quantity(amount, fmt) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [
        ("500m", 500, 1),  # ceil(0.5) = 1
        ("1", 1000, 1),
        ("1.5", 1500, 2),
        ("0.1m", 1, 1),  # ceil(0.1 milli) = 1
        ("1Ki", 1024000, 1024),
        ("1n", 1, 1),
        ("-1.5", -1500, -2),  # away from zero
    ],
)
def test_milli_value_and_value(text: str, milli: int, whole: int) -> None:
    assert milli_value(text) == milli
    assert value(text) == whole
    assert milli_value(parse(text)) == milli
    assert value(parse_quantity(text)) == whole


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, Fraction(3)), (0.5, Fraction(1, 2)), (1e-07, Fraction(1, 10**7)), (1e20, dec(1, 20))],
)
def test_json_numbers(raw: float, expected: Fraction) -> None:
    assert parse_quantity(raw) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ERR_FORMAT),
        ("aoeu", ERR_FORMAT),
        ("1.1.M", ERR_FORMAT),
        ("1+1.0M", ERR_FORMAT),
        (" 1", ERR_FORMAT),
        ("1 ", ERR_FORMAT),
        ("1x", ERR_FORMAT),
        ("0.1mi", ERR_SUFFIX),
        ("0.1am", ERR_FORMAT),
        (".5i", ERR_SUFFIX),
        ("1i", ERR_SUFFIX),
        ("-3.01e-", ERR_SUFFIX),
        ("1e", ERR_SUFFIX),
        ("--1", ERR_SUFFIX),
        ("-.e-20", ERR_NUMERIC),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_error_message_is_upstreams() -> None:
    assert ERR_FORMAT == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), None])
def test_non_quantity_values(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)  # type: ignore[arg-type]
