"""The collector as a part of `kubelite up`: its listeners and its retention loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from kubelite.tracing.otlp_app import create_otlp_app
from kubelite.tracing.serve import OTLP_PORT, ZIPKIN_PORT
from kubelite.tracing.store import SpanStore
from kubelite.tracing.zipkin_app import create_zipkin_app

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 60.0


class TracingCollector:
    name = "tracing-collector"

    def __init__(
        self, db: Path, *, zipkin_port: int = ZIPKIN_PORT, otlp_port: int = OTLP_PORT
    ) -> None:
        self.store = SpanStore(db)
        self.zipkin_port, self.otlp_port = zipkin_port, otlp_port

    def listeners(self) -> list[tuple[str, Any, int]]:
        return [
            ("zipkin", create_zipkin_app(self.store), self.zipkin_port),
            ("otlp", create_otlp_app(self.store), self.otlp_port),
        ]

    async def run(self, client: Any, ready: asyncio.Event) -> None:
        ready.set()
        try:
            while True:
                await asyncio.sleep(RETENTION_INTERVAL_S)
                try:
                    self.store.enforce_retention()
                except Exception:  # retention is best effort; the next round retries
                    log.exception("span retention failed")
        finally:
            with contextlib.suppress(Exception):
                self.store.close()
