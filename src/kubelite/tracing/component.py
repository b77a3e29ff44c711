"""The collector as a part of `kubelite up`: its listeners, its retention loop, and
the platform's own spans (see :mod:`kubelite.tracing.platform`).

Retention is set per cluster through the environment of `kubelite up`
(``KUBELITE_TRACES_MAX_AGE`` in seconds, ``KUBELITE_TRACES_MAX_SPANS``,
``KUBELITE_TRACES_MAX_MB``), or by the in-process ``tracing`` options, which win.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubelite.tracing.collector_metrics import CollectorMetrics
from kubelite.tracing.otlp_app import create_otlp_app
from kubelite.tracing.platform import PlatformTracer
from kubelite.tracing.serve import OTLP_PORT, ZIPKIN_PORT
from kubelite.tracing.store import DEFAULT_MAX_AGE_S, DEFAULT_MAX_SPANS, SpanStore
from kubelite.tracing.zipkin_app import create_zipkin_app

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 60.0
_MIB: Final = 1024 * 1024


class SettingError(ValueError):
    """A retention setting that is not a positive number; the message names it."""


@dataclass(frozen=True)
class Retention:
    """How long and how much the collector keeps."""

    max_age_s: float = DEFAULT_MAX_AGE_S
    max_spans: int = DEFAULT_MAX_SPANS
    max_bytes: int | None = None

    @classmethod
    def from_settings(
        cls, options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Retention:
        """Options (``max_age_s``, ``max_spans``, ``max_mb``) over the environment."""
        environ = os.environ if environ is None else environ
        options = options or {}

        def setting(option: str, variable: str) -> float | None:
            raw = options.get(option, environ.get(variable))
            if raw is None or raw == "":
                return None
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = -1.0
            if value <= 0:
                raise SettingError(f"{variable} must be a positive number, got {raw!r}")
            return value

        age = setting("max_age_s", "KUBELITE_TRACES_MAX_AGE")
        spans = setting("max_spans", "KUBELITE_TRACES_MAX_SPANS")
        mib = setting("max_mb", "KUBELITE_TRACES_MAX_MB")
        return cls(
            max_age_s=DEFAULT_MAX_AGE_S if age is None else age,
            max_spans=DEFAULT_MAX_SPANS if spans is None else int(spans),
            max_bytes=None if mib is None else int(mib * _MIB),
        )


def retention_settings(options: Mapping[str, Any] | None = None) -> Retention:
    """:meth:`Retention.from_settings`, but a bad value is one clear log line, not a crash."""
    try:
        return Retention.from_settings(options)
    except SettingError as error:
        log.error("%s; keeping the default trace retention", error)
        return Retention()


class TracingCollector:
    name = "tracing-collector"

    def __init__(
        self,
        db: Path,
        *,
        zipkin_port: int = ZIPKIN_PORT,
        otlp_port: int = OTLP_PORT,
        retention: Retention | None = None,
        retention_interval_s: float = RETENTION_INTERVAL_S,
        trace_platform: bool = True,
    ) -> None:
        retention = retention or Retention()
        self.store = SpanStore(
            db,
            max_age_s=retention.max_age_s,
            max_spans=retention.max_spans,
            max_bytes=retention.max_bytes,
        )
        self.zipkin_port, self.otlp_port = zipkin_port, otlp_port
        self.retention_interval_s = retention_interval_s
        self.platform = PlatformTracer(self.store) if trace_platform else None

    def listeners(self) -> list[tuple[str, Any, int]]:
        # One metrics object: the Zipkin port's /metrics and /prometheus report both intakes.
        metrics = CollectorMetrics()
        return [
            ("zipkin", create_zipkin_app(self.store, metrics=metrics), self.zipkin_port),
            ("otlp", create_otlp_app(self.store, metrics=metrics), self.otlp_port),
        ]

    async def run(self, client: Any, ready: asyncio.Event) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                if self.platform is not None:
                    group.create_task(self.platform.run(client))
                ready.set()
                group.create_task(self._retain())
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.close)

    async def _retain(self) -> None:
        """Retention in a worker thread: it prunes in short transactions, intake goes on."""
        while True:
            await asyncio.sleep(self.retention_interval_s)
            try:
                await asyncio.to_thread(self.store.enforce_retention)
            except Exception:  # retention is best effort; the next round retries
                log.exception("span retention failed")
