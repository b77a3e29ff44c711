"""GET /api/v2/*: each query parameter, names, lookups, and Zipkin's error answers."""

from __future__ import annotations

from typing import Any

import pytest
from tracing_builders import NOW_MS, NOW_US, make_span, request

from kubelite.tracing import SpanStore, create_zipkin_app

HOUR_US = 3_600_000_000
TRACE_A, TRACE_B, TRACE_C = "a" * 16, "b" * 16, "c" * 32


def dataset() -> list[dict[str, Any]]:
    """A: frontend -> backend, recent, with an error; B: frontend only, 2 h ago; C: batch."""
    return [
        make_span(
            trace=TRACE_A,
            id="1" * 16,
            kind="SERVER",
            name="get /",
            ts=NOW_US - 10_000,
            duration=9000,
            tags={"http.method": "GET", "error": "boom"},
            annotations=[{"timestamp": NOW_US - 9_000, "value": "ws"}],
        ),
        make_span(
            trace=TRACE_A,
            id="2" * 16,
            parent="1" * 16,
            kind="CLIENT",
            name="get /items",
            remote="backend",
            ts=NOW_US - 8_000,
            duration=5000,
        ),
        make_span(
            trace=TRACE_A,
            id="2" * 16,
            parent="1" * 16,
            kind="SERVER",
            service="backend",
            name="get /items",
            ts=NOW_US - 7_000,
            duration=4000,
            shared=True,
        ),
        make_span(
            trace=TRACE_B,
            id="3" * 16,
            kind="SERVER",
            name="post /",
            ts=NOW_US - 2 * HOUR_US,
            duration=200,
            tags={"http.method": "POST"},
        ),
        make_span(
            trace=TRACE_C,
            id="4" * 16,
            service="batch",
            name="nightly",
            ts=NOW_US - 5_000,
            duration=50_000,
        ),
    ]


@pytest.fixture
def app(store: SpanStore) -> Any:
    store.ingest(_normalized(dataset()))
    return create_zipkin_app(store, now_ms=lambda: NOW_MS)


def _normalized(spans: list[dict[str, Any]]) -> Any:
    import orjson

    from kubelite.tracing.zipkin_json import decode_span_list

    return decode_span_list(orjson.dumps(spans))


def trace_ids(app: Any, query: str) -> list[str]:
    response = request(app, "GET", f"/api/v2/traces?{query}")
    assert response.status_code == 200, response.text
    return [trace[0]["traceId"] for trace in response.json()]


SEARCHES = [
    pytest.param("", [TRACE_C, TRACE_A, TRACE_B], id="default-lookback-one-day-newest-first"),
    pytest.param("lookback=3600000", [TRACE_C, TRACE_A], id="lookback-one-hour"),
    pytest.param(
        f"endTs={NOW_MS - HOUR_US // 1000}&lookback=7200000", [TRACE_B], id="end-ts-window"
    ),
    pytest.param(
        "serviceName=Frontend&lookback=10800000",
        [TRACE_A, TRACE_B],
        id="service-name-case-insensitive",
    ),
    pytest.param("serviceName=backend", [TRACE_A], id="service-of-a-child-span"),
    pytest.param(
        "serviceName=frontend&remoteServiceName=backend", [TRACE_A], id="remote-service-name"
    ),
    pytest.param(
        "serviceName=backend&remoteServiceName=backend", [], id="remote-must-be-on-the-service"
    ),
    pytest.param("spanName=get%20/items", [TRACE_A], id="span-name"),
    pytest.param("spanName=all&serviceName=batch", [TRACE_C], id="span-name-all-means-any"),
    pytest.param("annotationQuery=error", [TRACE_A], id="annotation-query-tag-key"),
    pytest.param("annotationQuery=ws", [TRACE_A], id="annotation-query-annotation-value"),
    pytest.param(
        "annotationQuery=error%20and%20http.method=GET", [TRACE_A], id="annotation-query-and"
    ),
    pytest.param(
        "annotationQuery=http.method=POST&lookback=10800000",
        [TRACE_B],
        id="annotation-query-tag-value",
    ),
    pytest.param("annotationQuery=http.method=PUT", [], id="annotation-query-no-match"),
    pytest.param("minDuration=20000", [TRACE_C], id="min-duration"),
    pytest.param("minDuration=4000&maxDuration=4500", [TRACE_A], id="min-and-max-duration"),
    pytest.param(
        "serviceName=frontend&minDuration=4000&maxDuration=4500",
        [],
        id="duration-on-the-service-span",
    ),
    pytest.param("limit=1", [TRACE_C], id="limit"),
]


@pytest.mark.parametrize(("query", "expected"), SEARCHES)
def test_trace_search(app: Any, query: str, expected: list[str]) -> None:
    assert trace_ids(app, query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("limit=0", "limit <= 0", id="zero-limit"),
        pytest.param("lookback=0", "lookback <= 0", id="zero-lookback"),
        pytest.param("endTs=-1", "endTs <= 0", id="negative-end-ts"),
        pytest.param(
            "maxDuration=5", "maxDuration is only valid with minDuration", id="max-without-min"
        ),
        pytest.param(
            "minDuration=10&maxDuration=5", "maxDuration < minDuration", id="max-below-min"
        ),
        pytest.param("minDuration=0", "minDuration <= 0", id="zero-min-duration"),
        pytest.param("limit=ten", "Invalid limit: ten", id="non-numeric"),
        pytest.param("limit=2147483648", "Invalid limit: 2147483648", id="limit-past-an-int"),
        pytest.param(
            "minDuration=9223372036854775808",
            "Invalid minDuration: 9223372036854775808",
            id="min-duration-past-a-long",
        ),
        pytest.param(
            "endTs=99999999999999999999",
            "Invalid endTs: 99999999999999999999",
            id="end-ts-past-a-long",
        ),
    ],
)
def test_bad_search_is_400(app: Any, query: str, message: str) -> None:
    response = request(app, "GET", f"/api/v2/traces?{query}")
    assert (response.status_code, response.text) == (400, message)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/api/v2/services", ["backend", "batch", "frontend"], id="services"),
        pytest.param(
            "/api/v2/spans?serviceName=frontend", ["get /", "get /items", "post /"], id="span-names"
        ),
        pytest.param("/api/v2/spans?serviceName=nobody", [], id="span-names-unknown-service"),
        pytest.param(
            "/api/v2/remoteServices?serviceName=FRONTEND", ["backend"], id="remote-services"
        ),
        pytest.param("/api/v2/autocompleteKeys", ["http.method"], id="autocomplete-keys"),
        pytest.param(
            "/api/v2/autocompleteValues?key=http.method", ["GET", "POST"], id="autocomplete-values"
        ),
        pytest.param(
            "/api/v2/autocompleteValues?key=error", [], id="autocomplete-unconfigured-key"
        ),
    ],
)
def test_names(app: Any, path: str, expected: list[str]) -> None:
    response = request(app, "GET", path)
    assert (response.status_code, response.json()) == (200, expected)


def test_trace_lookup_returns_all_spans(app: Any) -> None:
    response = request(app, "GET", f"/api/v2/trace/{TRACE_A}")
    assert response.status_code == 200
    assert sorted(span["id"] for span in response.json()) == ["1" * 16, "2" * 16, "2" * 16]


def test_trace_lookup_normalizes_a_zero_high_128_bit_id(app: Any) -> None:
    response = request(app, "GET", f"/api/v2/trace/{'0' * 16}{TRACE_A}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("trace_id", "status", "message"),
    [
        pytest.param("d" * 16, 404, "dddddddddddddddd not found", id="absent"),
        pytest.param("XYZ", 400, "XYZ should be lower-hex encoded with no prefix", id="not-hex"),
    ],
)
def test_trace_lookup_errors(app: Any, trace_id: str, status: int, message: str) -> None:
    response = request(app, "GET", f"/api/v2/trace/{trace_id}")
    assert (response.status_code, response.text) == (status, message)


def test_trace_many(app: Any) -> None:
    response = request(app, "GET", f"/api/v2/traceMany?traceIds={TRACE_A},{TRACE_C},{'d' * 16}")
    assert response.status_code == 200
    assert [trace[0]["traceId"] for trace in response.json()] == [TRACE_A, TRACE_C]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("traceIds=", "traceIds parameter is empty", id="empty"),
        pytest.param(
            f"traceIds={TRACE_A}",
            "Use /api/v2/trace/{traceId} endpoint to retrieve a single trace",
            id="single",
        ),
        pytest.param(
            f"traceIds={TRACE_A},{TRACE_A}", f"redundant traceId: {TRACE_A}", id="redundant"
        ),
    ],
)
def test_trace_many_errors(app: Any, query: str, message: str) -> None:
    response = request(app, "GET", f"/api/v2/traceMany?{query}")
    assert (response.status_code, response.text) == (400, message)


def test_dependencies_endpoint(app: Any) -> None:
    response = request(app, "GET", f"/api/v2/dependencies?endTs={NOW_MS}&lookback=60000")
    assert response.json() == [
        {"parent": "frontend", "child": "backend", "callCount": 1, "errorCount": 0}
    ]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("endTs=0", 400),
        (f"endTs={NOW_MS}&lookback=-1", 400),
        ("endTs=99999999999999999999", 400),
        (f"endTs={NOW_MS}&lookback=1e3", 400),
    ],
    ids=["missing-end-ts", "zero-end-ts", "negative-lookback", "end-ts-past-a-long", "float"],
)
def test_dependencies_bad_parameters(app: Any, query: str, status: int) -> None:
    assert request(app, "GET", f"/api/v2/dependencies?{query}").status_code == status


def test_health(app: Any) -> None:
    assert request(app, "GET", "/health").json()["status"] == "UP"


def test_a_span_reported_twice_is_answered_once(store: SpanStore) -> None:
    """Reporters retry batches the collector had already stored; Zipkin keeps equal
    spans once, so neither the lookup nor a search shows the span twice."""
    span = make_span(trace=TRACE_A, ts=NOW_US - 1000)
    store.ingest(_normalized([span]))
    store.ingest(_normalized([span]))
    store.ingest(_normalized([{**span, "duration": 5}]))  # a different span with the id
    app = create_zipkin_app(store, now_ms=lambda: NOW_MS)
    trace = request(app, "GET", f"/api/v2/trace/{TRACE_A}").json()
    assert sorted(span["duration"] for span in trace) == [5, 1000]
    (found,) = request(app, "GET", "/api/v2/traces").json()
    assert sorted(span["duration"] for span in found) == [5, 1000]
    (many,) = request(app, "GET", f"/api/v2/traceMany?traceIds={TRACE_A},{TRACE_C}").json()
    assert len(many) == 2


def _services(count: int) -> list[dict[str, Any]]:
    return [
        make_span(trace=f"{index + 1:016x}", service=f"svc{index}", name=f"op{index}")
        for index in range(count)
    ]


@pytest.mark.parametrize(
    ("services", "cached"),
    [
        pytest.param(3, False, id="three-services-getting-started"),
        pytest.param(4, True, id="more-than-three-services-in-use"),
    ],
)
def test_name_answers_are_cacheable_by_service_count(
    store: SpanStore, services: int, cached: bool
) -> None:
    """Zipkin decides by the number of services (last listed), not of names answered:
    a service with many span names among few services is not cached, and the other way."""
    spans = _services(services - 1)  # and frontend, with more than 3 span names:
    spans += [make_span(trace="f" * 16, name=f"name{index}") for index in range(5)]
    spans[0]["remoteEndpoint"] = {"serviceName": "db"}
    store.ingest(_normalized(spans))
    app = create_zipkin_app(store, now_ms=lambda: NOW_MS)

    def cache_control(path: str) -> str | None:
        return request(app, "GET", path).headers.get("cache-control")

    expected = "max-age=300, must-revalidate" if cached else None
    assert cache_control("/api/v2/services") == expected
    assert cache_control("/api/v2/spans?serviceName=frontend") == expected
    assert cache_control("/api/v2/remoteServices?serviceName=svc0") == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/v2/traces?endTs=9223372036854775807", id="search"),
        pytest.param("/api/v2/traces?endTs=9223372036854775807&serviceName=frontend", id="service"),
        pytest.param("/api/v2/dependencies?endTs=9223372036854775807", id="dependencies"),
        pytest.param(
            "/api/v2/dependencies?endTs=1&lookback=9223372036854775807", id="lookback-past-epoch"
        ),
    ],
)
def test_the_largest_long_bounds_are_answered(app: Any, path: str) -> None:
    """Any long is a valid bound to Zipkin; in microseconds it must not overflow SQLite."""
    response = request(app, "GET", path)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("stamped", "expected"),
    [
        # Equal timestamps: the greater trace id first, whatever the arrival order.
        pytest.param(
            [("1" * 16, NOW_US - 500), ("3" * 16, NOW_US - 500), ("2" * 16, NOW_US - 500)],
            ["3" * 16, "2" * 16, "1" * 16],
            id="equal-timestamps",
        ),
        # NOW_US - 1001 and NOW_US - 1999 fall in one millisecond, Zipkin's resolution,
        # so the id decides, not the microseconds.
        pytest.param(
            [("1" * 16, NOW_US - 1001), ("2" * 16, NOW_US - 1999), ("3" * 16, NOW_US - 2001)],
            ["2" * 16, "1" * 16, "3" * 16],
            id="same-millisecond",
        ),
        # The low 64 bits are compared: ...02 beats ...01 despite its high half.
        pytest.param(
            [("f" * 16 + "0" * 15 + "1", NOW_US - 500), ("0" * 15 + "2", NOW_US - 500)],
            ["0" * 15 + "2", "f" * 16 + "0" * 15 + "1"],
            id="low-64-bits",
        ),
    ],
)
def test_search_orders_ties_like_zipkin(
    store: SpanStore, stamped: list[tuple[str, int]], expected: list[str]
) -> None:
    spans = [make_span(trace=trace, ts=ts) for trace, ts in stamped]
    store.ingest(_normalized(spans))
    app = create_zipkin_app(store, now_ms=lambda: NOW_MS)
    found = request(app, "GET", "/api/v2/traces").json()
    assert [trace[0]["traceId"] for trace in found] == expected
