"""The tracing package's public surface is deliberate; this pins it."""

from __future__ import annotations

import kubelite.tracing


def test_exports() -> None:
    assert sorted(kubelite.tracing.__all__) == sorted(
        [
            "OTLP_PORT",
            "ZIPKIN_PORT",
            "DependencyLink",
            "PlatformTracer",
            "QueryRequest",
            "ServiceStats",
            "Span",
            "SpanStore",
            "create_otlp_app",
            "create_zipkin_app",
            "dependency_links",
            "merge_trace",
            "retention_loop",
            "serve",
            "service_stats",
            "uvicorn_configs",
        ]
    )


def test_uvicorn_configs_use_the_given_ports(store: kubelite.tracing.SpanStore) -> None:
    zipkin, otlp = kubelite.tracing.uvicorn_configs(store, zipkin_port=0, otlp_port=0)
    assert (zipkin.port, otlp.port, zipkin.host) == (0, 0, "127.0.0.1")
