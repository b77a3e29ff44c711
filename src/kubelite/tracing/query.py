"""Zipkin's ``QueryRequest``: what ``GET /api/v2/traces`` asks for, and which traces match.

Matching is Zipkin's, which is looser than "one span satisfies everything": the
trace's timestamp (its root span's, else its earliest) must lie in
``[endTs - lookback, endTs]``; then, among the spans of ``serviceName`` (or all
spans when it is absent), each criterion must be met by *some* span —
``remoteServiceName``, ``spanName``, every ``annotationQuery`` term, and the
duration range (which one span must satisfy on its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from kubelite.tracing.model import Span, local_service, remote_service


class QueryError(ValueError):
    """A bad query parameter; ``str()`` is the 400 message Zipkin would send."""


@dataclass(frozen=True)
class QueryRequest:
    end_ts: int  # epoch milliseconds
    lookback: int  # milliseconds
    limit: int = 10
    service_name: str | None = None
    remote_service_name: str | None = None
    span_name: str | None = None
    annotation_query: Mapping[str, str] = field(default_factory=dict)
    min_duration: int | None = None  # microseconds
    max_duration: int | None = None

    def __post_init__(self) -> None:
        if self.end_ts <= 0:
            raise QueryError("endTs <= 0")
        if self.limit <= 0:
            raise QueryError("limit <= 0")
        if self.lookback <= 0:
            raise QueryError("lookback <= 0")
        if self.min_duration is not None:
            if self.min_duration <= 0:
                raise QueryError("minDuration <= 0")
            if self.max_duration is not None and self.max_duration < self.min_duration:
                raise QueryError("maxDuration < minDuration")
        elif self.max_duration is not None:
            raise QueryError("maxDuration is only valid with minDuration")

    @property
    def begin_ts(self) -> int:
        return self.end_ts - self.lookback

    def test(self, spans: Sequence[Span]) -> bool:
        timestamp = trace_timestamp(spans)
        if timestamp == 0 or not self.begin_ts * 1000 <= timestamp <= self.end_ts * 1000:
            return False
        return self._criteria_met(spans)

    def _criteria_met(self, spans: Sequence[Span]) -> bool:
        service_seen = self.service_name is None
        remote = self.remote_service_name
        name = self.span_name
        remaining = dict(self.annotation_query)
        duration_ok = self.min_duration is None
        for span in spans:
            if self.service_name is not None and self.service_name != local_service(span):
                continue
            service_seen = True
            _consume_annotation_terms(span, remaining)
            if remote is not None and remote == remote_service(span):
                remote = None
            if name is not None and name == span.get("name"):
                name = None
            if not duration_ok:
                duration_ok = self._duration_matches(span.get("duration", 0))
        return service_seen and remote is None and name is None and not remaining and duration_ok

    def _duration_matches(self, duration: int) -> bool:
        assert self.min_duration is not None
        if self.max_duration is not None:
            return self.min_duration <= duration <= self.max_duration
        return duration >= self.min_duration


def _consume_annotation_terms(span: Span, remaining: dict[str, str]) -> None:
    for annotation in span.get("annotations", ()):
        if remaining.get(annotation["value"]) == "":
            del remaining[annotation["value"]]
    for key, value in span.get("tags", {}).items():
        wanted = remaining.get(key)
        if wanted is not None and (wanted == "" or wanted == value):
            del remaining[key]


def trace_timestamp(spans: Sequence[Span]) -> int:
    """The root span's timestamp, else the earliest one; 0 when none has one."""
    timestamp = 0
    for span in spans:
        ts = span.get("timestamp", 0)
        if ts == 0:
            continue
        if "parentId" not in span:
            return ts
        if timestamp == 0 or ts < timestamp:
            timestamp = ts
    return timestamp


def parse_annotation_query(text: str | None) -> dict[str, str]:
    """``error and http.method=GET`` -> ``{"error": "", "http.method": "GET"}``."""
    terms: dict[str, str] = {}
    if not text:
        return terms
    for term in text.split(" and "):
        if "=" not in term:
            terms.setdefault(term.strip(), "")
        else:
            key, _, value = term.partition("=")
            terms[key.strip()] = value.strip()
    return terms


def _lower_or_none(value: str | None, *, all_means_none: bool = False) -> str | None:
    if value is None:
        return None
    value = value.lower()
    if value == "" or (all_means_none and value == "all"):
        return None
    return value


MAX_LONG: Final = 2**63 - 1
MAX_INT: Final = 2**31 - 1


def parse_long(raw: str, name: str, *, largest: int = MAX_LONG) -> int:
    """A Java ``long`` (``int`` for ``limit``) parameter; anything else is Zipkin's 400."""
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"Invalid {name}: {raw}") from None
    if not -largest - 1 <= value <= largest:
        raise QueryError(f"Invalid {name}: {raw}")
    return value


def _long(params: Mapping[str, str], name: str, *, largest: int = MAX_LONG) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    return parse_long(raw, name, largest=largest)


def micros(millis: int) -> int:
    """Epoch milliseconds as microseconds, held to SQLite's integer range.

    Zipkin's bounds are longs too; a far-future ``endTs`` just means "everything".
    """
    return max(-MAX_LONG - 1, min(MAX_LONG, millis * 1000))


def query_from_params(
    params: Mapping[str, str], *, now_ms: int, default_lookback_ms: int
) -> QueryRequest:
    end_ts = _long(params, "endTs")
    lookback = _long(params, "lookback")
    limit = _long(params, "limit", largest=MAX_INT)
    return QueryRequest(
        end_ts=now_ms if end_ts is None else end_ts,
        lookback=default_lookback_ms if lookback is None else lookback,
        limit=10 if limit is None else limit,
        service_name=_lower_or_none(params.get("serviceName")),
        remote_service_name=_lower_or_none(params.get("remoteServiceName")),
        span_name=_lower_or_none(params.get("spanName"), all_means_none=True),
        annotation_query=parse_annotation_query(params.get("annotationQuery")),
        min_duration=_long(params, "minDuration"),
        max_duration=_long(params, "maxDuration"),
    )
