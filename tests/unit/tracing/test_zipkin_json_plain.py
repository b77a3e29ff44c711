"""The plain-span fast path decodes exactly as the generic reader, or declines."""

from __future__ import annotations

from typing import Any

import pytest
from tracing_builders import make_span

from kubelite.tracing.zipkin_json import plain_span, read_span

FULL = make_span(
    trace="c" * 32,
    parent="2" * 16,
    kind="SERVER",
    service="Frontend",
    remote="backend",
    name="GET /Users",
    tags={"b": "2", "a": "1"},
    debug=True,
)
FULL["localEndpoint"].update({"ipv4": "10.0.0.1", "port": 8080})

# Spans the fast path must take: its result must equal read_span's.
TAKEN = [
    pytest.param(make_span(), id="minimal"),
    pytest.param(FULL, id="every-plain-field"),
    pytest.param(make_span(trace="0" * 16 + "a" * 16), id="128-bit-zero-high"),
    pytest.param(make_span(parent="1" * 16), id="self-parent"),
    pytest.param(make_span(kind="CLIENT", shared=True), id="shared-client"),
    pytest.param(make_span(kind="SERVER", shared=True), id="shared-server"),
    pytest.param(make_span(name="", ts=-1, duration=0), id="empty-name-nonpositive-numbers"),
    pytest.param(make_span(kind=None, debug=None, tags={}), id="nulls-and-empty-tags"),
    pytest.param(
        make_span(localEndpoint={"port": 0, "ipv6": "::ffff:10.0.0.2", "serviceName": ""}),
        id="endpoint-normalized",
    ),
    pytest.param(make_span(remoteEndpoint={"ipv4": "bad"}), id="endpoint-emptied"),
]

# Spans the fast path must leave to the generic reader (bad, or not canonical).
DECLINED = [
    pytest.param(make_span(trace="a" * 15), id="short-trace-id"),
    pytest.param(make_span(trace="0" * 32), id="zero-trace-id"),
    pytest.param(make_span(trace="A" * 16), id="upper-hex"),
    pytest.param(make_span(id=1), id="numeric-id"),
    pytest.param(make_span(parent="0" * 16), id="zero-parent"),
    pytest.param(make_span(kind=["SERVER"]), id="unhashable-kind"),
    pytest.param(make_span(kind="SEVER"), id="bad-kind"),
    pytest.param(make_span(ts="1"), id="timestamp-as-text"),
    pytest.param(make_span(duration=True), id="boolean-duration"),
    pytest.param(make_span(tags={"a": 1}), id="numeric-tag"),
    pytest.param(make_span(localEndpoint={"port": 70000}), id="bad-port"),
    pytest.param(make_span(annotations=[{"timestamp": 1, "value": "a"}]), id="annotations"),
    pytest.param(make_span(unknown=1), id="unknown-key"),
    pytest.param(make_span(debug=1), id="non-boolean-flag"),
]


@pytest.mark.parametrize("raw", TAKEN)
def test_plain_spans_decode_as_the_generic_reader(raw: dict[str, Any]) -> None:
    span = plain_span(raw)
    assert span is not None
    assert list(span.items()) == list(read_span(raw).items())  # key order matters too


@pytest.mark.parametrize("raw", DECLINED)
def test_other_spans_are_left_to_the_generic_reader(raw: dict[str, Any]) -> None:
    assert plain_span(raw) is None  # the generic reader owns the leniency and the wording
