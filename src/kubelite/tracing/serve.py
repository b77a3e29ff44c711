"""Running the collector's two listeners (Zipkin and OTLP/HTTP) with uvicorn.

kubelite's process owns the event loop and the lifetime of the store; it either
awaits :func:`serve` inside its task group, or builds the configs with
:func:`uvicorn_configs` and runs the servers itself. Retention is scheduled by the
caller too (see :func:`retention_loop`), so nothing here starts hidden tasks.
"""

from __future__ import annotations

import anyio
import uvicorn

from kubelite.tracing.collector_metrics import CollectorMetrics
from kubelite.tracing.otlp_app import create_otlp_app
from kubelite.tracing.store import SpanStore
from kubelite.tracing.zipkin_app import create_zipkin_app

ZIPKIN_PORT = 9411
OTLP_PORT = 4318


def uvicorn_configs(
    store: SpanStore,
    *,
    zipkin_port: int = ZIPKIN_PORT,
    otlp_port: int = OTLP_PORT,
    host: str = "127.0.0.1",
) -> tuple[uvicorn.Config, uvicorn.Config]:
    """Configs for the Zipkin and the OTLP listener; port 0 lets the OS pick.

    The two apps share their collector metrics, so the Zipkin port's ``/metrics``
    and ``/prometheus`` report OTLP intake too.
    """
    common = {"host": host, "log_level": "warning", "access_log": False, "lifespan": "off"}
    metrics = CollectorMetrics()
    zipkin_app = create_zipkin_app(store, metrics=metrics)
    otlp_app = create_otlp_app(store, metrics=metrics)
    zipkin = uvicorn.Config(zipkin_app, port=zipkin_port, **common)  # type: ignore[arg-type]
    otlp = uvicorn.Config(otlp_app, port=otlp_port, **common)  # type: ignore[arg-type]
    return zipkin, otlp


async def serve(
    store: SpanStore,
    *,
    zipkin_port: int = ZIPKIN_PORT,
    otlp_port: int = OTLP_PORT,
    host: str = "127.0.0.1",
) -> None:
    """Serve both listeners until cancelled."""
    configs = uvicorn_configs(store, zipkin_port=zipkin_port, otlp_port=otlp_port, host=host)
    async with anyio.create_task_group() as group:
        for config in configs:
            group.start_soon(uvicorn.Server(config).serve)


async def retention_loop(store: SpanStore, *, interval_s: float = 60.0) -> None:
    """Enforce retention every ``interval_s`` until cancelled."""
    while True:
        await anyio.to_thread.run_sync(store.enforce_retention)
        await anyio.sleep(interval_s)
