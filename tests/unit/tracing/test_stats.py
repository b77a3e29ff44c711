"""service_stats: request rate, error rate and nearest-rank latency percentiles."""

from __future__ import annotations

import orjson
import pytest
from tracing_builders import NOW_MS, make_span

from kubelite.tracing import SpanStore, service_stats
from kubelite.tracing.stats import percentile
from kubelite.tracing.zipkin_json import decode_span_list


def served(count: int, *, errors: int = 0) -> list:
    # durations 1 ms, 2 ms, ... count ms; the first `errors` carry an error tag
    raw = [
        make_span(
            trace=f"{i + 1:016x}",
            id=f"{i + 1:016x}",
            kind="SERVER",
            service="api",
            duration=(i + 1) * 1000,
            tags={"error": "x"} if i < errors else None,
        )
        for i in range(count)
    ]
    return decode_span_list(orjson.dumps(raw))


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7], 0.99, 7),
        ([1, 2, 3, 4], 0.5, 2),  # rank ceil(0.5 * 4) = 2
        (list(range(1, 101)), 0.99, 99),  # rank ceil(0.99 * 100) = 99
        (list(range(1, 11)), 0.9, 9),  # rank ceil(0.9 * 10) = 9
    ],
    ids=["empty", "single", "median-of-four", "p99-of-hundred", "p90-of-ten"],
)
def test_percentile_nearest_rank(values: list[int], fraction: float, expected: int | None) -> None:
    assert percentile(values, fraction) == expected


def test_service_stats_over_spans() -> None:
    others = decode_span_list(orjson.dumps([make_span(kind="CLIENT", service="api", id="f" * 16)]))

    stats = service_stats(served(100, errors=5) + others, "API", window_s=50)

    # 100 served requests in 50 s = 2/s; 5 errors / 100; client spans are not requests
    assert (stats.requests, stats.request_rate, stats.error_rate) == (100, 2.0, 0.05)
    assert (stats.p50_ms, stats.p90_ms, stats.p99_ms) == (50.0, 90.0, 99.0)


def test_store_service_stats_uses_the_time_window(store: SpanStore) -> None:
    store.ingest(served(10, errors=1))

    stats = store.service_stats("api", end_ts_ms=NOW_MS + 1, lookback_ms=10_000)

    # 10 requests / 10 s = 1/s; 1 error in 10
    assert (stats.requests, stats.request_rate, stats.error_rate, stats.p50_ms) == (
        10,
        1.0,
        0.1,
        5.0,
    )
    empty = store.service_stats("api", end_ts_ms=NOW_MS - 60_000, lookback_ms=10_000)
    assert (empty.requests, empty.p99_ms) == (0, None)
