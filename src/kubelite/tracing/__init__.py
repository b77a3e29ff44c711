"""kubelite's embedded tracing collector: Zipkin v2 and OTLP/HTTP intake, a SQLite span
store, the Zipkin v2 query API, and the service dependency graph.

Public surface (everything else in this package may change):

- :class:`SpanStore` — the store; call :meth:`SpanStore.enforce_retention` periodically.
- :func:`create_zipkin_app`, :func:`create_otlp_app` — ASGI apps for ports 9411 / 4318.
- :func:`serve`, :func:`uvicorn_configs`, :func:`retention_loop` — running them.
- :func:`dependency_links`, :func:`service_stats` — aggregations for the dashboard.
- :func:`merge_trace` — a trace's spans as Zipkin cleans them before showing them
  (pieces of one span joined, a server half missing ``shared`` marked shared).
- :class:`PlatformTracer` — the control plane's own spans (pod lives, rollouts), which
  the collector component runs against the API client it is handed.
"""

from __future__ import annotations

from kubelite.tracing.dependencies import DependencyLink, dependency_links, merge_trace
from kubelite.tracing.model import Span
from kubelite.tracing.otlp_app import create_otlp_app
from kubelite.tracing.platform import PlatformTracer
from kubelite.tracing.query import QueryRequest
from kubelite.tracing.serve import OTLP_PORT, ZIPKIN_PORT, retention_loop, serve, uvicorn_configs
from kubelite.tracing.stats import ServiceStats, service_stats
from kubelite.tracing.store import SpanStore
from kubelite.tracing.zipkin_app import create_zipkin_app

__all__ = [
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
