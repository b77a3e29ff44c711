"""Structured logs that carry trace ids, one JSON object per line.

A log line is only useful in a microservice if it can be joined to the request
that caused it: each record gets `trace_id` and `span_id` (hex, as the Zipkin
UI shows them) of the span active when it was logged, plus the service and pod
names, so `kubectl logs` lines can be pasted into the trace search.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from typing import Any

__all__ = ["JsonFormatter", "TraceContextFilter", "configure_logging", "remember_request_ids"]

# The server span's ids, kept for lines the same request logs once its span has
# ended: the server's "Exception in ASGI application" traceback, a deadline's
# "abandoned" line. Each request runs in its own task, so each has its own value.
_REQUEST_IDS: ContextVar[tuple[str, str]] = ContextVar("kubelite_request_ids", default=("", ""))


class TraceContextFilter(logging.Filter):
    """Adds `trace_id`/`span_id` of the current span, else of the request being
    served (empty when neither)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _ids()
        record.trace_id, record.span_id = ids if ids[0] else _REQUEST_IDS.get()
        return True


def remember_request_ids(app: Any) -> Any:
    """Wraps an ASGI app inside the tracing middleware, where the server span is current."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        ids = _ids()
        if ids[0]:
            _REQUEST_IDS.set(ids)
        await app(scope, receive, send)

    return wrapped


def _ids() -> tuple[str, str]:
    if "opentelemetry.trace" not in sys.modules:  # tracing never set up: nothing to add
        return "", ""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, trace ids, service, pod; exceptions as text."""

    def __init__(self) -> None:
        super().__init__()
        self._static = {
            "service": os.environ.get("OTEL_SERVICE_NAME", ""),
            "pod": os.environ.get("POD_NAME", ""),
        }

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
            **self._static,
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str | int | None = None) -> None:
    """JSON lines on stderr for the root logger (idempotent)."""
    root = logging.getLogger()
    level = level or os.environ.get("LOG_LEVEL", "INFO").upper()
    root.setLevel(level)
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceContextFilter())
    root.addHandler(handler)
