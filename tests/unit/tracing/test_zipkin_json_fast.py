"""The JSON fast path: it stores exactly what the careful reader stores, or steps aside.

Every case compares the rows (columns and the JSON blob, byte for byte) built from
the fast path's spans with those built from the careful reader's spans; a case that
the fast path cannot normalize exactly must make it return None, never a different row.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from tracing_builders import NOW_US, make_span

from kubelite.tracing.rows import rows_from_spans, rows_from_wire
from kubelite.tracing.zipkin_json import SpanListError, decode_span_list
from kubelite.tracing.zipkin_json_fast import decode_canonical

RECEIVED = NOW_US


def both_paths(body: bytes) -> tuple[Any, Any]:
    """(fast rows or None, careful rows or the careful reader's 400 message)."""
    fast = decode_canonical(body)
    try:
        careful: Any = rows_from_spans(decode_span_list(body), RECEIVED)
    except SpanListError as error:
        careful = str(error)
    return (None if fast is None else rows_from_wire(fast, RECEIVED)), careful


def reporter_span(index: int) -> dict[str, Any]:
    """A span as a typical reporter sends it: canonical, keys in any order."""
    return {
        "id": f"{index + 1:016x}",
        "traceId": "4f" * 16,
        "kind": "SERVER",
        "name": "get /api/v1/items",
        "timestamp": NOW_US + index,
        "duration": 1500,
        "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::1"},
        "tags": {"http.path": "/api/v1/items", "http.method": "GET", "error": "boom"},
        "annotations": [{"timestamp": NOW_US, "value": "ws"}, {"timestamp": NOW_US, "value": "wr"}][
            ::-1
        ],
        "parentId": "00000000000000aa",
        "debug": True,
        "shared": True,
    }


def test_a_reporters_canonical_batch_takes_the_fast_path_and_stores_the_same_rows() -> None:
    body = orjson.dumps([reporter_span(i) for i in range(50)])

    fast, careful = both_paths(body)

    assert fast is not None
    assert fast == careful
    values, names = fast
    assert orjson.loads(values[10]) == decode_span_list(body)[0]  # the stored JSON blob
    assert ("frontend", "r", "backend") in names


# Each case: fields merged into a canonical span; the fast path applies these fix-ups.
FIXED_UP = [
    pytest.param({"parentId": "1" * 16}, id="self-parent-dropped"),
    pytest.param({"name": "GET /Users"}, id="name-lowercased"),
    pytest.param({"name": "Ǆ title-case"}, id="name-lowercased-beyond-ascii"),
    pytest.param({"name": "123"}, id="name-without-letters-kept"),
    pytest.param({"name": ""}, id="empty-name-dropped"),
    pytest.param({"name": None, "kind": None, "parentId": None}, id="nulls-skipped"),
    pytest.param({"localEndpoint": {"serviceName": "FrontEnd"}}, id="service-lowercased"),
    pytest.param({"localEndpoint": {"serviceName": ""}}, id="empty-endpoint-dropped"),
    pytest.param({"localEndpoint": {}}, id="empty-object-endpoint-dropped"),
    pytest.param({"remoteEndpoint": {"port": 443}}, id="port-only-endpoint-kept"),
    pytest.param({"kind": "CLIENT", "shared": True}, id="shared-dropped-on-client"),
    pytest.param({"debug": False, "shared": False}, id="false-flags-omitted"),
    pytest.param({"tags": {}}, id="empty-tags-dropped"),
    pytest.param({"tags": {"b": "2", "a": "1", "é": "x", "Z": "z"}}, id="tags-sorted"),
    pytest.param({"annotations": []}, id="empty-annotations-dropped"),
    pytest.param({"traceId": "ab" * 16}, id="128-bit-trace-id"),
    pytest.param({"traceId": "a" * 16 + "0" * 16}, id="128-bit-trace-id-zero-low-half"),
    pytest.param({"timestamp": 2**63 - 1}, id="largest-timestamp"),
    pytest.param(
        {"name": 'quote " back \\ nl \n tab \t nul \u0000 del \x7f \u2028 😀'}, id="escapes"
    ),
]


@pytest.mark.parametrize("change", FIXED_UP)
def test_fix_ups_on_the_fast_path_match_the_careful_reader(change: dict[str, Any]) -> None:
    body = orjson.dumps([{**make_span(), **change}])

    fast, careful = both_paths(body)

    assert fast is not None
    assert fast == careful


# Each case: a batch the fast path must hand to the careful reader (which may store a
# normalized span or refuse the batch with Zipkin's message).
STEPS_ASIDE = [
    pytest.param(b'[{"traceId":"' + b"a" * 15 + b'","id":"' + b"1" * 16 + b'"}]', id="short-trace"),
    pytest.param(orjson.dumps([make_span(trace="0" * 16 + "a" * 16)]), id="zero-high-trace"),
    pytest.param(orjson.dumps([make_span(trace="b" * 20)]), id="trace-padded-to-32"),
    pytest.param(orjson.dumps([make_span(trace="0" * 16)]), id="zero-trace"),
    pytest.param(orjson.dumps([make_span(trace="A" * 16)]), id="upper-case-trace"),
    pytest.param(orjson.dumps([make_span(id="1")]), id="short-id"),
    pytest.param(orjson.dumps([make_span(id="0" * 16)]), id="zero-id"),
    pytest.param(orjson.dumps([make_span(id="g" * 16)]), id="non-hex-id"),
    pytest.param(orjson.dumps([make_span(id="é" * 16)]), id="non-ascii-id"),
    pytest.param(orjson.dumps([make_span(parent="0" * 16)]), id="zero-parent-is-root"),
    pytest.param(orjson.dumps([make_span(parent="12")]), id="short-parent"),
    pytest.param(orjson.dumps([make_span(ts=0)]), id="zero-timestamp"),
    pytest.param(orjson.dumps([make_span(duration=-5)]), id="negative-duration"),
    pytest.param(orjson.dumps([make_span(ts=1.0)]), id="float-timestamp"),
    pytest.param(orjson.dumps([make_span(ts=True)]), id="boolean-timestamp"),
    pytest.param(orjson.dumps([make_span(ts="12")]), id="string-timestamp"),
    pytest.param(orjson.dumps([make_span(ts=2**63)]), id="timestamp-beyond-a-long"),
    pytest.param(orjson.dumps([make_span(id=12345678)]), id="number-for-id"),
    pytest.param(orjson.dumps([make_span(kind="BROKER")]), id="unknown-kind"),
    pytest.param(orjson.dumps([make_span(unknown=1)]), id="unknown-field"),
    pytest.param(orjson.dumps([make_span(debug=None)]), id="null-flag"),
    pytest.param(orjson.dumps([make_span(tags={"a": 1})]), id="number-tag"),
    pytest.param(orjson.dumps([make_span(tags={"a": None})]), id="null-tag"),
    pytest.param(orjson.dumps([{**make_span(), "traceId": None}]), id="null-trace"),
    pytest.param(orjson.dumps([{"id": "1" * 16}]), id="missing-trace"),
    pytest.param(
        orjson.dumps([make_span(localEndpoint={"ipv4": "::10.0.0.1"})]), id="embedded-ipv4-text"
    ),
    pytest.param(
        orjson.dumps([make_span(localEndpoint={"ipv6": "::ffff:10.0.0.1"})]), id="mapped-ipv6"
    ),
    pytest.param(orjson.dumps([make_span(localEndpoint={"ipv6": "2001:DB8::1"})]), id="ipv6-case"),
    pytest.param(orjson.dumps([make_span(localEndpoint={"ipv4": "nope"})]), id="bad-ip"),
    pytest.param(orjson.dumps([make_span(localEndpoint={"port": 0})]), id="port-zero"),
    pytest.param(orjson.dumps([make_span(localEndpoint={"port": 70000})]), id="port-too-big"),
    pytest.param(orjson.dumps([make_span(localEndpoint={"port": 80.0})]), id="float-port"),
    pytest.param(orjson.dumps([make_span(localEndpoint={"host": "x"})]), id="endpoint-extra"),
    pytest.param(
        orjson.dumps(
            [
                make_span(
                    annotations=[{"timestamp": 2, "value": "b"}, {"timestamp": 1, "value": "a"}]
                )
            ]
        ),
        id="unsorted-annotations",
    ),
    pytest.param(
        orjson.dumps(
            [
                make_span(
                    annotations=[{"timestamp": 1, "value": "a"}, {"timestamp": 1, "value": "a"}]
                )
            ]
        ),
        id="duplicate-annotations",
    ),
    pytest.param(orjson.dumps([make_span(annotations=[{"value": "a"}])]), id="annotation-no-ts"),
    pytest.param(
        b'[{"traceId":"' + b"a" * 16 + b'","id":"' + b"1" * 16 + b'","x":1e999}]', id="inf"
    ),
    pytest.param(
        b'[{"traceId":"' + b"a" * 16 + b'","id":"' + b"1" * 16 + b'","name":"\xff"}]', id="utf8"
    ),
    pytest.param(b'[{"traceId":"' + b"a" * 16 + b'","name":"\\ud800"}]', id="lone-surrogate"),
    pytest.param(b"[null]", id="null-span"),
    pytest.param(b'[{"traceId":"' + b"a" * 16 + b'"', id="truncated"),
    pytest.param(b'{"traceId":"x"}', id="not-a-list"),
]


@pytest.mark.parametrize("body", STEPS_ASIDE)
def test_anything_else_goes_to_the_careful_reader(body: bytes) -> None:
    assert decode_canonical(body) is None


def random_span(rng: random.Random) -> dict[str, Any]:
    """A span whose every field is usually canonical and sometimes odd."""

    def pick(usual: list[Any], odd: list[Any]) -> Any:
        return rng.choice(usual if rng.random() < 0.93 else odd)

    span = make_span(
        trace=pick(["a" * 16, "ab" * 16], ["0" * 16 + "c" * 16, "f" * 20, "E" * 16]),
        id=pick(["1" * 16, "2" * 16], ["0" * 15 + "3", "3"]),
        parent=pick([None, "1" * 16, "9" * 16], ["0" * 16]),
        kind=pick([None, "CLIENT", "SERVER", "PRODUCER", "CONSUMER"], ["BROKER"]),
        service=pick([None, "frontend", "Backend"], [""]),
        remote=pick([None, "db", "DB"], [""]),
        name=pick([None, "get", "GET /x", "ünï", ""], ["ǅ"]),
        ts=pick([None, NOW_US], [0, -1]),
        duration=pick([None, 1, 10**6], [0]),
        tags=pick([None, {}, {"b": "1", "a": "2"}, {"error": ""}], [{"n": 1}]),
        shared=pick([False, True], [False]),
    )
    if rng.random() < 0.3:
        span["debug"] = pick([True, False], [None])
    if rng.random() < 0.3:
        span["annotations"] = pick(
            [[], [{"timestamp": 1, "value": "a"}]], [[{"timestamp": 1, "value": "a"}] * 2]
        )
    if rng.random() < 0.3 and "localEndpoint" in span:
        extra = pick([{"ipv4": "10.0.0.1"}, {"ipv6": "::1"}, {"port": 8080}], [{"ipv4": "1.2.3"}])
        span["localEndpoint"] = {**span["localEndpoint"], **extra}
    return span


def test_random_batches_store_the_same_rows_on_either_path() -> None:
    rng = random.Random(8)
    fast_taken = 0
    for _ in range(600):
        body = orjson.dumps([random_span(rng) for _ in range(rng.randrange(1, 4))])
        fast, careful = both_paths(body)
        if fast is not None:
            fast_taken += 1
            assert fast == careful, body
    assert 100 < fast_taken < 500  # both paths were exercised
