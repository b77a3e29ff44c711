"""v1 → v2 conversion: one v1 span becomes the v2 spans Zipkin's converter makes.

Each case is a v1 span and the v2 spans expected, first span first. Timestamps are
TS plus an offset in microseconds, so durations read as differences of offsets.
"""

from __future__ import annotations

from typing import Any

import pytest
from v1_builders import BACKEND, FRONTEND, ann, tag

from kubelite.tracing.v1_spans import V1SpanError, make_v1_span, to_v2

TS = 1_472_470_996_199_000
KAFKA = {"serviceName": "kafka"}
IDS = {"traceId": "0000000000000001", "parentId": "0000000000000002", "id": "0000000000000003"}


def v2(**fields: Any) -> dict[str, Any]:
    return {**IDS, "name": "get", **fields}


CASES = [
    pytest.param(
        {
            "timestamp": TS,
            "duration": 207_000,
            "annotations": [
                ann(TS, "cs", FRONTEND),
                ann(TS + 39_000, "ws", FRONTEND),
                ann(TS + 204_000, "wr", FRONTEND),
                ann(TS + 207_000, "cr", FRONTEND),
            ],
            "binary_annotations": [
                tag("http.path", "/api", FRONTEND),
                tag("sa", None, BACKEND),
            ],
        },
        [
            v2(
                kind="CLIENT",
                timestamp=TS,
                duration=207_000,
                localEndpoint=FRONTEND,
                remoteEndpoint=BACKEND,
                # ws/wr are not core annotations when there is no messaging side
                annotations=[
                    {"timestamp": TS + 39_000, "value": "ws"},
                    {"timestamp": TS + 204_000, "value": "wr"},
                ],
                tags={"http.path": "/api"},
            )
        ],
        id="client-with-sa-remote",
    ),
    pytest.param(
        {
            "timestamp": TS,
            "duration": 207_000,
            "annotations": [
                ann(TS, "cs", FRONTEND),
                ann(TS + 51_000, "sr", BACKEND),
                ann(TS + 151_000, "ss", BACKEND),
                ann(TS + 207_000, "cr", FRONTEND),
            ],
            "binary_annotations": [
                tag("http.path", "/api", FRONTEND),
                tag("http.path", "/backend", BACKEND),
                tag("ca", None, FRONTEND),
                tag("sa", None, BACKEND),
            ],
        },
        [
            # The client side owns the span's timestamp and duration ...
            v2(
                kind="CLIENT",
                timestamp=TS,
                duration=207_000,
                localEndpoint=FRONTEND,
                remoteEndpoint=BACKEND,
                tags={"http.path": "/api"},
            ),
            # ... the server side is ss - sr = 151_000 - 51_000 = 100_000 long, and shared.
            v2(
                kind="SERVER",
                timestamp=TS + 51_000,
                duration=100_000,
                localEndpoint=BACKEND,
                remoteEndpoint=FRONTEND,
                tags={"http.path": "/backend"},
                shared=True,
            ),
        ],
        id="client-and-server-split",
    ),
    pytest.param(
        {
            "timestamp": TS,
            "duration": 207_000,
            "annotations": [
                ann(TS, "cs", FRONTEND),
                ann(TS + 51_000, "sr", FRONTEND),
                ann(TS + 151_000, "ss", FRONTEND),
                ann(TS + 207_000, "cr", FRONTEND),
            ],
        },
        [
            v2(kind="CLIENT", timestamp=TS, duration=207_000, localEndpoint=FRONTEND),
            v2(
                kind="SERVER",
                timestamp=TS + 51_000,
                duration=100_000,
                localEndpoint=FRONTEND,
                shared=True,
            ),
        ],
        id="loopback-still-two-spans",
    ),
    pytest.param(
        {"annotations": [ann(TS, "cs", FRONTEND), ann(TS + 51_000, "sr", FRONTEND)]},
        [
            v2(kind="CLIENT", timestamp=TS, localEndpoint=FRONTEND),
            v2(kind="SERVER", timestamp=TS + 51_000, localEndpoint=FRONTEND, shared=True),
        ],
        id="one-way-loopback-no-durations",
    ),
    pytest.param(
        {"annotations": [ann(TS, "sr", BACKEND), ann(TS + 100_000, "ss", BACKEND)]},
        [
            v2(
                kind="SERVER",
                timestamp=TS,
                duration=100_000,
                localEndpoint=BACKEND,
                shared=True,
            )
        ],
        id="server-without-span-timestamp-is-shared",
    ),
    pytest.param(
        {
            "timestamp": TS,
            "duration": 207_000,
            "annotations": [ann(TS, "sr", BACKEND), ann(TS + 207_000, "ss", BACKEND)],
            "binary_annotations": [
                tag("ca", None, {**FRONTEND, "serviceName": "backend"}),
                tag("sa", None, BACKEND),
            ],
        },
        [
            v2(
                kind="SERVER",
                timestamp=TS,
                duration=207_000,
                localEndpoint=BACKEND,
                remoteEndpoint={"ipv4": "127.0.0.1", "port": 8080},
            )
        ],
        id="finagle-ca-under-server-name-loses-the-name",
    ),
    pytest.param(
        {
            "timestamp": TS,
            "duration": 207_000,
            "binary_annotations": [tag("lc", "", FRONTEND), tag("sa", None, BACKEND)],
        },
        [
            v2(
                timestamp=TS,
                duration=207_000,
                localEndpoint=FRONTEND,
                remoteEndpoint=BACKEND,
            )
        ],
        id="empty-lc-names-local-endpoint-only",
    ),
    pytest.param(
        {
            "timestamp": TS,
            "duration": 5,
            "binary_annotations": [tag("lc", "sql", FRONTEND)],
        },
        [v2(timestamp=TS, duration=5, localEndpoint=FRONTEND, tags={"lc": "sql"})],
        id="local-span-component-tag",
    ),
    pytest.param(
        {"binary_annotations": [tag("sa", None, BACKEND)]},
        [v2(remoteEndpoint=BACKEND)],
        id="sa-alone-is-not-a-client",
    ),
    pytest.param(
        {"binary_annotations": [tag("ca", None, FRONTEND)]},
        [v2(kind="SERVER", remoteEndpoint=FRONTEND)],
        id="ca-alone-is-a-server",
    ),
    pytest.param(
        {"binary_annotations": [tag("ca", None, FRONTEND), tag("sa", None, BACKEND)]},
        [v2(localEndpoint=FRONTEND, remoteEndpoint=BACKEND)],
        id="ca-and-sa-without-core-annotations",
    ),
    pytest.param(
        {
            "annotations": [
                ann(TS, "ms", FRONTEND),
                ann(TS + 39_000, "ws", FRONTEND),
                ann(TS + 204_000, "wr", BACKEND),
                ann(TS + 207_000, "mr", BACKEND),
            ],
            "binary_annotations": [tag("ma", None, KAFKA)],
        },
        [
            v2(
                kind="PRODUCER",
                timestamp=TS,
                duration=39_000,  # ws - ms
                localEndpoint=FRONTEND,
                remoteEndpoint=KAFKA,
            ),
            v2(
                kind="CONSUMER",
                timestamp=TS + 204_000,
                duration=3_000,  # mr - wr
                localEndpoint=BACKEND,
                remoteEndpoint=KAFKA,
                shared=True,
            ),
        ],
        id="producer-and-consumer-split-ma-on-both",
    ),
    pytest.param(
        {
            "annotations": [
                ann(TS, "foo", FRONTEND),
                ann(TS + 1, "baz", BACKEND),
                ann(TS + 2, "missing", None),
                ann(TS + 3, "cs", None),
            ],
            "binary_annotations": [tag("foo", "bar", FRONTEND), tag("baz", "qux", BACKEND)],
        },
        [
            v2(
                localEndpoint=FRONTEND,
                annotations=[
                    {"timestamp": TS, "value": "foo"},
                    {"timestamp": TS + 2, "value": "missing"},
                    # a core annotation without an endpoint is a plain annotation
                    {"timestamp": TS + 3, "value": "cs"},
                ],
                tags={"foo": "bar"},
            ),
            v2(
                localEndpoint=BACKEND,
                annotations=[{"timestamp": TS + 1, "value": "baz"}],
                tags={"baz": "qux"},
            ),
        ],
        id="annotations-stay-with-their-endpoint",
    ),
    pytest.param(
        {"annotations": [ann(TS, "cs", FRONTEND)], "debug": True, "parent_id": 0},
        [
            {
                "traceId": IDS["traceId"],
                "id": IDS["id"],
                "kind": "CLIENT",
                "name": "get",
                "timestamp": TS,
                "localEndpoint": FRONTEND,
                "debug": True,
            }
        ],
        id="debug-and-root",
    ),
    pytest.param(
        {"trace_id_high": 0x463AC35C9F6413AD, "name": "GET /Users"},
        [v2(traceId="463ac35c9f6413ad0000000000000001", name="get /users")],
        id="128-bit-trace-id-and-lower-case-name",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), CASES)
def test_v1_span_converts_as_zipkin_does(
    fields: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    source = make_v1_span(**{"trace_id": 1, "parent_id": 2, "id": 3, "name": "get", **fields})

    assert to_v2(source) == expected


@pytest.mark.parametrize(
    ("ids", "message"),
    [({"trace_id": 0, "id": 3}, "traceId == 0"), ({"trace_id": 1, "id": 0}, "id == 0")],
)
def test_zero_ids_are_refused_with_zipkins_words(ids: dict[str, int], message: str) -> None:
    with pytest.raises(V1SpanError, match=message):
        make_v1_span(**ids)
