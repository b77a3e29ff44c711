"""dependency_links: the links Zipkin's DependencyLinker would compute."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tracing_builders import NOW_US, make_span

from kubelite.tracing import dependency_links
from kubelite.tracing.zipkin_json import decode_span_list


def links(*spans: dict[str, Any]) -> list[dict[str, Any]]:
    return dependency_links(decode_span_list(orjson.dumps(list(spans))))  # type: ignore[return-value]


def link(parent: str, child: str, calls: int = 1, errors: int = 0) -> dict[str, Any]:
    return {"parent": parent, "child": child, "callCount": calls, "errorCount": errors}


def three_hop_trace(trace: str, *, error_on_db: bool = False) -> list[dict[str, Any]]:
    """web -> api (shared span ids) -> auth (own ids) ; api -> db (uninstrumented)."""
    db_tags = {"error": "timeout"} if error_on_db else None
    return [
        make_span(trace=trace, id="1" * 16, kind="SERVER", service="web", ts=NOW_US),
        make_span(
            trace=trace,
            id="2" * 16,
            parent="1" * 16,
            kind="CLIENT",
            service="web",
            remote="api",
            ts=NOW_US + 1,
        ),
        make_span(
            trace=trace,
            id="2" * 16,
            parent="1" * 16,
            kind="SERVER",
            service="api",
            shared=True,
            ts=NOW_US + 2,
        ),
        make_span(
            trace=trace, id="3" * 16, parent="2" * 16, kind="CLIENT", service="api", ts=NOW_US + 3
        ),
        make_span(
            trace=trace, id="4" * 16, parent="3" * 16, kind="SERVER", service="auth", ts=NOW_US + 4
        ),
        make_span(
            trace=trace,
            id="5" * 16,
            parent="2" * 16,
            kind="CLIENT",
            service="api",
            remote="db",
            ts=NOW_US + 5,
            tags=db_tags,
        ),
    ]


def test_three_hop_trace_counts_each_hop_once() -> None:
    # Breadth-first, as Zipkin walks the tree: the db client (depth 2) before auth (depth 3).
    assert links(*three_hop_trace("a" * 16)) == [
        link("web", "api"),
        link("api", "db"),
        link("api", "auth"),
    ]


def test_counts_add_up_across_traces_and_errors_count_separately() -> None:
    spans = three_hop_trace("a" * 16) + three_hop_trace("b" * 16, error_on_db=True)
    assert links(*spans) == [link("web", "api", 2), link("api", "db", 2, 1), link("api", "auth", 2)]


# Arithmetic in comments: each case is one small trace and the links it yields.
CASES = [
    pytest.param(
        [make_span(kind="SERVER", service="api")],
        [],
        id="root-server-without-caller-is-no-link",
    ),
    pytest.param(
        [make_span(kind="SERVER", service="api", remote="gateway")],
        [link("gateway", "api")],
        id="root-server-with-known-caller",
    ),
    pytest.param(
        [make_span(kind="CLIENT", service="web", remote="payments")],
        [link("web", "payments")],
        id="client-to-uninstrumented-service",
    ),
    pytest.param(
        [make_span(service="web", remote="cache")],
        [link("web", "cache")],
        id="kindless-span-with-both-sides-is-a-client",
    ),
    pytest.param(
        [make_span(service="web")],
        [],
        id="local-span-is-no-link",
    ),
    pytest.param(
        [
            make_span(id="1" * 16, kind="PRODUCER", service="orders", remote="kafka"),
            make_span(
                id="2" * 16, parent="1" * 16, kind="CONSUMER", service="billing", remote="kafka"
            ),
        ],
        [link("orders", "kafka"), link("kafka", "billing")],
        id="messaging-through-a-broker",
    ),
    pytest.param(
        [
            make_span(id="1" * 16, kind="PRODUCER", service="orders"),
            make_span(id="2" * 16, parent="1" * 16, kind="CONSUMER", service="billing"),
        ],
        [],
        id="messaging-without-broker-is-skipped",
    ),
    pytest.param(
        # client error (1) counts for the server-side link, since the server span is skipped
        [
            make_span(id="1" * 16, kind="CLIENT", service="web", tags={"error": ""}),
            make_span(id="2" * 16, parent="1" * 16, kind="SERVER", service="api"),
        ],
        [link("web", "api", 1, 1)],
        id="error-on-calling-client-counts",
    ),
    pytest.param(
        # no shared flag: Zipkin backfills it from the CLIENT/SERVER pair on the same id
        [
            make_span(id="1" * 16, kind="CLIENT", service="web"),
            make_span(id="1" * 16, kind="SERVER", service="api"),
        ],
        [link("web", "api")],
        id="missing-shared-flag-backfilled",
    ),
    pytest.param(
        [
            make_span(id="1" * 16, kind="SERVER", service="api", remote="web"),
            make_span(id="2" * 16, parent="1" * 16, service="api", name="local"),
            make_span(id="3" * 16, parent="2" * 16, kind="CLIENT", service="api", remote="db"),
        ],
        [link("web", "api"), link("api", "db")],
        id="local-span-between-server-and-client",
    ),
    pytest.param(
        # headless: the parent span never arrived, the client still links
        [make_span(id="2" * 16, parent="9" * 16, kind="CLIENT", service="api", remote="db")],
        [link("api", "db")],
        id="headless-trace",
    ),
    pytest.param(
        # the same span reported in two pieces is merged, not counted twice
        [
            make_span(id="1" * 16, kind="CLIENT", service="web", remote="api", duration=None),
            make_span(id="1" * 16, kind="CLIENT", service="web", ts=None, duration=5),
        ],
        [link("web", "api")],
        id="span-in-pieces-merged",
    ),
]


@pytest.mark.parametrize(("spans", "expected"), CASES)
def test_link_rules(spans: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert links(*spans) == expected


def test_store_links_a_trace_whose_halves_differ_in_trace_id_width(store: Any) -> None:
    """A 128-bit caller and a 64-bit callee share the low half: Zipkin links them as one
    trace (the server span sits under its client), so the hop is counted once."""
    low = "b" * 16
    client = make_span(trace="a" * 16 + low, id="2" * 16, parent="1" * 16, kind="CLIENT", ts=NOW_US)
    server = make_span(
        trace=low, id="2" * 16, parent="1" * 16, kind="SERVER", service="backend", ts=NOW_US + 1
    )
    store.ingest(decode_span_list(orjson.dumps([client, server])))
    assert store.dependencies(NOW_US // 1000 + 1000, 60_000) == [link("frontend", "backend")]
