"""Per-service request statistics for the dashboard: rate, error rate, latency percentiles.

A "request" of a service is a span it served: SERVER or CONSUMER kind with the
service as local endpoint. An error is a span carrying the ``error`` tag (the same
rule Zipkin's dependency linker uses). Percentiles use the nearest-rank method on
durations in microseconds, reported in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubelite.tracing.model import Span, local_service

SERVED_KINDS = ("SERVER", "CONSUMER")


@dataclass(frozen=True)
class ServiceStats:
    service: str
    requests: int
    errors: int
    window_s: float
    request_rate: float  # requests per second over the window
    error_rate: float  # errors / requests, 0.0 when there were none
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None


def percentile(sorted_values: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile of an ascending sequence; None when it is empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def stats_from_samples(
    service: str, samples: Iterable[tuple[int | None, bool]], *, window_s: float
) -> ServiceStats:
    """``samples`` are (duration in µs or None, is_error) per served request."""
    durations: list[int] = []
    requests = errors = 0
    for duration, is_error in samples:
        requests += 1
        errors += bool(is_error)
        if duration:
            durations.append(duration)
    durations.sort()

    def ms(fraction: float) -> float | None:
        value = percentile(durations, fraction)
        return None if value is None else value / 1000

    return ServiceStats(
        service=service,
        requests=requests,
        errors=errors,
        window_s=window_s,
        request_rate=requests / window_s if window_s > 0 else 0.0,
        error_rate=errors / requests if requests else 0.0,
        p50_ms=ms(0.50),
        p90_ms=ms(0.90),
        p99_ms=ms(0.99),
    )


def service_stats(spans: Iterable[Span], service: str, *, window_s: float) -> ServiceStats:
    """Statistics of ``service`` over already-selected spans (e.g. one time window)."""
    service = service.lower()
    samples = (
        (span.get("duration"), "error" in span.get("tags", {}))
        for span in spans
        if span.get("kind") in SERVED_KINDS and local_service(span) == service
    )
    return stats_from_samples(service, samples, window_s=window_s)
