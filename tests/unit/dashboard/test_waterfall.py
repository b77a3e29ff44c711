"""Traces nest by parentId the way the Zipkin UI shows them."""

from __future__ import annotations

import pytest
from dash_builders import make_span

from kubelite.dashboard.waterfall import format_us, summarize, valid_trace_id, waterfall

ROOT, CALL, DB = "1" * 16, "2" * 16, "3" * 16


def _shape(spans: list[dict]) -> list[tuple[str, str, int]]:
    return [
        (r.span["localEndpoint"]["serviceName"], r.span["name"], r.depth) for r in waterfall(spans)
    ]


def test_shared_server_span_sits_under_its_client_and_takes_the_children() -> None:
    spans = [
        # A 100 ms request: frontend calls orders (client span 10-60 ms), which
        # serves it (shared server span 12-58 ms) and queries the database.
        make_span(ROOT, service="frontend", name="get /", duration_ms=100),
        make_span(
            CALL,
            parent=ROOT,
            service="frontend",
            name="call orders",
            kind="CLIENT",
            start_ms=10,
            duration_ms=50,
        ),  # fmt: skip
        make_span(
            CALL,
            parent=ROOT,
            service="orders",
            name="get /orders",
            shared=True,
            start_ms=12,
            duration_ms=46,
        ),  # fmt: skip
        make_span(
            DB,
            parent=CALL,
            service="orders",
            name="select",
            kind="CLIENT",
            start_ms=20,
            duration_ms=30,
        ),  # fmt: skip
    ]
    assert _shape(spans) == [
        ("frontend", "get /", 0),
        ("frontend", "call orders", 1),
        ("orders", "get /orders", 2),
        ("orders", "select", 3),
    ]
    rows = waterfall(spans)
    # offset = start / 100 ms, width = duration / 100 ms
    assert [(round(r.offset, 2), round(r.width, 2)) for r in rows] == [
        (0.0, 1.0), (0.1, 0.5), (0.12, 0.46), (0.2, 0.3),
    ]  # fmt: skip


def test_siblings_by_start_time_and_orphans_become_roots() -> None:
    spans = [
        make_span(ROOT, name="root", duration_ms=10),
        make_span(DB, parent=ROOT, name="second", start_ms=5, duration_ms=1),
        make_span(CALL, parent=ROOT, name="first", start_ms=1, duration_ms=1),
        make_span("4" * 16, parent="9" * 16, name="orphan", start_ms=2, duration_ms=1),
    ]
    assert [(r.span["name"], r.depth) for r in waterfall(spans)] == [
        ("root", 0), ("first", 1), ("second", 1), ("orphan", 0),
    ]  # fmt: skip


def test_a_parent_cycle_still_shows_every_span_once() -> None:
    spans = [
        make_span(ROOT, parent=CALL, name="a"),
        make_span(CALL, parent=ROOT, name="b", start_ms=1),
    ]
    assert sorted(r.span["name"] for r in waterfall(spans)) == ["a", "b"]


def test_summary() -> None:
    spans = [
        make_span(ROOT, service="frontend", name="get /", duration_ms=100),
        make_span(CALL, parent=ROOT, service="orders", start_ms=10, duration_ms=120, error=True),
    ]
    t = summarize(spans)
    # The child runs past the root: the trace lasts 10 + 120 = 130 ms.
    assert (t.root_service, t.root_name, t.duration_us, t.spans, t.errors) == (
        "frontend",
        "get /",
        130_000,
        2,
        1,
    )
    assert t.services == {"frontend": 1, "orders": 1}


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (850, "850µs"),
        (12_345, "12.3ms"),
        (1_520_000, "1.52s"),
        (0, "0µs"),
        (999_999, "1000ms"),  # never in exponent form
        (3_600_000_000, "3600s"),
    ],
)
def test_format_us(micros: int, text: str) -> None:
    assert format_us(micros) == text


def test_a_server_half_without_the_shared_flag_is_shown_under_its_client() -> None:
    """Some instrumentation re-uses the client's id for the server span but omits
    ``shared``; the Zipkin UI marks it shared, so it is not hidden behind the client."""
    spans = [
        make_span(ROOT, service="frontend", name="get /", duration_ms=100),
        make_span(CALL, parent=ROOT, name="call orders", kind="CLIENT", start_ms=10, duration_ms=50),
        make_span(CALL, parent=ROOT, service="orders", name="get /orders", start_ms=12, duration_ms=46),
    ]  # fmt: skip
    assert _shape(spans) == [
        ("frontend", "get /", 0),
        ("frontend", "call orders", 1),
        ("orders", "get /orders", 2),
    ]
    assert summarize(spans).services == {"frontend": 2, "orders": 1}


def test_pieces_of_one_span_reported_apart_show_as_one_row() -> None:
    """A span sent in two pieces (say, its annotations first, its end later) is one span."""
    first = make_span(CALL, parent=ROOT, name="call orders", kind="CLIENT", start_ms=10)
    del first["duration"]
    first["annotations"] = [{"timestamp": first["timestamp"] + 5, "value": "ws"}]
    late = {"traceId": first["traceId"], "id": CALL, "duration": 50_000,
            "localEndpoint": {"serviceName": "frontend"}}  # fmt: skip
    spans = [make_span(ROOT, duration_ms=100), first, late]
    rows = waterfall(spans)
    assert [r.span["id"] for r in rows] == [ROOT, CALL]
    assert rows[1].span["duration"] == 50_000
    assert rows[1].span["annotations"] == first["annotations"]
    assert summarize(spans).spans == 2


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("abcdef0123456789", True),  # 64-bit
        ("ABCDEF0123456789" * 2, True),  # 128-bit; case is the page's to fold
        ("1", True),  # short ids are zero-padded, as Zipkin pads them
        ("0" * 15 + "1", True),
        ("", False),
        ("0" * 16, False),  # all zeros: Zipkin answers 400
        ("0" * 32, False),
        ("a" * 33, False),  # longer than 128 bits
        ("abcdefg", False),
        ("abc\n", False),
        ("../api/v2/services", False),
    ],
)
def test_trace_id_rule_is_zipkins(text: str, valid: bool) -> None:
    assert valid_trace_id(text) is valid


def test_a_call_chain_deeper_than_pythons_stack_is_laid_out() -> None:
    depth = 3000
    ids = [f"{i + 1:016x}" for i in range(depth)]
    spans = [
        make_span(span_id, parent=ids[i - 1] if i else None, service="deep", name=f"call {i}",
                  start_ms=i, duration_ms=depth - i)
        for i, span_id in enumerate(ids)
    ]  # fmt: skip
    rows = waterfall(spans)
    assert [r.depth for r in rows] == list(range(depth))


# -- clock skew between hosts, corrected as the Zipkin UI corrects it ------------------


def _on(span: dict, ip: str) -> dict:
    span["localEndpoint"]["ipv4"] = ip
    return span


def _skewed_trace(orders_ip: str = "10.0.0.2") -> list[dict]:
    # frontend (10.0.0.1) waits 100 ms on orders, which served for 50 ms but whose
    # clock says it started 40 ms before it was called.
    return [
        _on(make_span(ROOT, service="frontend", duration_ms=200), "10.0.0.1"),
        _on(make_span(CALL, parent=ROOT, kind="CLIENT", start_ms=50, duration_ms=100), "10.0.0.1"),
        _on(make_span(DB, parent=CALL, service="orders", start_ms=10, duration_ms=50), orders_ip),
        _on(make_span("4" * 16, parent=DB, service="orders", kind=None, start_ms=20), orders_ip),
        _on(make_span("5" * 16, parent=DB, service="db", kind="CLIENT", start_ms=30), "10.0.0.3"),
    ]


def _starts_ms(spans: list[dict]) -> dict[str, float]:
    rows = waterfall(spans)
    root = rows[0].span["timestamp"]
    return {r.span["id"][0]: (r.span["timestamp"] - root) / 1000 for r in rows}


def test_a_server_seen_before_its_client_moves_with_its_host_beneath_it() -> None:
    # latency = (100 - 50) / 2 = 25 ms: orders starts at 75 ms, its own span 10 ms
    # later; the database client on another host keeps its time.
    assert _starts_ms(_skewed_trace()) == {"1": 0, "2": 50, "3": 75, "4": 85, "5": 30}
    assert summarize(_skewed_trace()).duration_us == 200_000


def test_no_correction_within_one_host_or_without_a_root() -> None:
    same_host = _starts_ms(_skewed_trace(orders_ip="10.0.0.1"))
    assert same_host == {"1": 0, "2": 50, "3": 10, "4": 20, "5": 30}
    headless = [s for s in _skewed_trace() if s["id"] != ROOT]
    rows = waterfall(headless)  # the Zipkin UI leaves a trace without its root as it came
    assert [r.span["timestamp"] for r in rows] == [s["timestamp"] for s in headless]


def test_a_one_way_server_span_is_pushed_just_after_its_client() -> None:
    spans = _skewed_trace()
    spans[2]["duration"] = 0  # the server reported no duration
    starts = _starts_ms(spans)
    assert starts["3"] == 50.001
