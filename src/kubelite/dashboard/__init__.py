"""kubelite's web dashboard: nodes, workloads, pods, events, logs, traces, breakers.

Server-rendered HTML with a little inline script, no external assets. It reads
the cluster only through the API client and the collector only through its
Zipkin v2 query API, so it can be pointed at any such pair.

Public surface (everything else in this package may change):

- :class:`Dashboard` — the `kubelite up` component (listener ``dashboard``,
  default port :data:`DASHBOARD_PORT`).
- :func:`create_app`, :class:`Context`, :class:`ZipkinClient` — the ASGI app
  and its inputs, for tests and embedding.
"""

from __future__ import annotations

from kubelite.dashboard.app import create_app
from kubelite.dashboard.component import DASHBOARD_PORT, Dashboard
from kubelite.dashboard.context import Context
from kubelite.dashboard.zipkin import TracesUnavailable, ZipkinClient

__all__ = [
    "DASHBOARD_PORT",
    "Context",
    "Dashboard",
    "TracesUnavailable",
    "ZipkinClient",
    "create_app",
]
