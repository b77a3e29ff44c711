"""Go's encoding/json error wording, as the API quotes it."""

from __future__ import annotations

import pytest

from kubelite.api.gojson import syntax_error


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b'{"a": [1, 2.5e-3, true, null, "x\\u00e9"]}', None, id="valid"),
        pytest.param(b"{bad", "invalid character 'b' looking for beginning of object key string", id="object-key"),
        pytest.param(b"", "unexpected end of JSON input", id="empty"),
        pytest.param(b'{"a":1', "unexpected end of JSON input", id="truncated"),
        pytest.param(b"x", "invalid character 'x' looking for beginning of value", id="value"),
        pytest.param(b'{"a" 1}', "invalid character '1' after object key", id="after-key"),
        pytest.param(b'{"a":1 "b"}', "invalid character '\"' after object key:value pair", id="after-pair"),
        pytest.param(b"[1 2]", "invalid character '2' after array element", id="after-element"),
        pytest.param(b"{} x", "invalid character 'x' after top-level value", id="top-level"),
        pytest.param(b'"a\nb"', "invalid character '\\n' in string literal", id="control-in-string"),
        pytest.param(b'"\\q"', "invalid character 'q' in string escape code", id="escape"),
        pytest.param(b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape", id="hex"),
        pytest.param(b"-a", "invalid character 'a' in numeric literal", id="minus"),
        pytest.param(b"1.x", "invalid character 'x' after decimal point in numeric literal", id="decimal"),
        pytest.param(b"1e+", "unexpected end of JSON input", id="exponent-eof"),
        pytest.param(b"1ex", "invalid character 'x' in exponent of numeric literal", id="exponent"),
        pytest.param(b"01", "invalid character '1' after top-level value", id="leading-zero"),
        pytest.param(b"tru3", "invalid character '3' in literal true (expecting 'e')", id="literal"),
        pytest.param(b"{'a':1}", "invalid character '\\'' looking for beginning of object key string", id="quote"),
    ],
)  # fmt: skip
def test_syntax_errors_are_worded_as_gos_scanner(data: bytes, expected: str | None) -> None:
    assert syntax_error(data) == expected
