"""Resiliency specs: Dapr's Resiliency resource, read into kubelite policy objects.

Users already know Dapr's format, so kubelite reads it as is (from a file or a
ConfigMap, and again on every change for hot reload):

    spec:
      policies:
        timeouts:        {general: 5s}
        retries:         {retryFive: {policy: constant, duration: 1s, maxRetries: 5}}
        circuitBreakers: {simpleCB: {maxRequests: 1, interval: 8s, timeout: 45s,
                                     trip: consecutiveFailures > 5}}
      targets:
        apps:
          orders: {timeout: general, retry: retryFive, circuitBreaker: simpleCB}

Durations are Go duration strings ("300ms", "1m30s"). Retries map to
`RetryPolicy` (`maxRetries` -1 = unlimited; `constant` waits `duration`,
`exponential` uses full jitter from 500 ms up to `maxInterval`; `matching`
lists the HTTP statuses and gRPC codes to retry, all errors when unset).
Circuit breakers map to a gobreaker-style `CircuitBreakerConfig`: `trip` is a
condition over requests, totalSuccesses, totalFailures, consecutiveSuccesses,
consecutiveFailures (comparisons joined by && and ||), `maxRequests` probes in
half-open, `timeout` open time, `interval` how often closed counts reset.

Every problem is reported at once, each with the field path that has it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.mesh.breaker import CircuitBreakerConfig, Counts
from kubelite.mesh.errors import ResiliencySpecError
from kubelite.mesh.retry import RetryPolicy

__all__ = [
    "Resiliency",
    "TargetPolicies",
    "TripCondition",
    "parse_go_duration",
    "parse_resiliency",
    "parse_trip",
]

_UNIT_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}  # fmt: skip
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_COUNTERS = {
    "requests": "requests",
    "totalSuccesses": "total_successes",
    "totalFailures": "total_failures",
    "consecutiveSuccesses": "consecutive_successes",
    "consecutiveFailures": "consecutive_failures",
}
_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt,
}  # fmt: skip
_COMPARISON = re.compile(r"\s*([A-Za-z]+)\s*(>=|<=|==|!=|>|<)\s*([0-9]+)\s*")
_DEFAULT_TRIP = "consecutiveFailures > 5"  # gobreaker's default ReadyToTrip
_EXPONENTIAL_INITIAL = 0.5  # Dapr's exponential back-off starts at 500 ms


@dataclass(frozen=True, slots=True)
class TargetPolicies:
    """The policies that apply to calls to one app."""

    timeout: float | None = None
    retry: RetryPolicy | None = None
    circuit_breaker: CircuitBreakerConfig | None = None


@dataclass(frozen=True, slots=True)
class Resiliency:
    """A parsed spec: named policies and the per-app targets that use them."""

    name: str = ""
    scopes: tuple[str, ...] = ()
    timeouts: Mapping[str, float] = field(default_factory=dict)
    retries: Mapping[str, RetryPolicy] = field(default_factory=dict)
    circuit_breakers: Mapping[str, CircuitBreakerConfig] = field(default_factory=dict)
    apps: Mapping[str, TargetPolicies] = field(default_factory=dict)

    def for_app(self, app_id: str) -> TargetPolicies:
        """Policies for calls to `app_id`; none set when the spec does not name it."""
        return self.apps.get(app_id, TargetPolicies())


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string ("1h30m", "250ms", "-1.5s", "0")."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s[1:] if s[:1] in ("+", "-") else s
    if s == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(s):
        match = _DURATION_PART.match(s, pos)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}: want e.g. 300ms, 5s, 1m30s")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not s:
        raise ValueError(f"invalid duration {text!r}: empty")
    return sign * total


@dataclass(frozen=True, slots=True)
class TripCondition:
    """A compiled trip condition that compares equal to the same condition.

    Equality matters: a reload builds a new `CircuitBreakerConfig`, and the
    upstream keeps its breaker (open or not) only when the config is equal.
    A plain closure would differ every time and reset the breaker on every
    re-read of an unchanged ConfigMap.
    """

    terms: tuple[tuple[tuple[str, str, int], ...], ...]  # or-ed groups of and-ed tests

    def __call__(self, counts: Counts) -> bool:
        return any(
            all(_OPS[op](getattr(counts, attr), value) for attr, op, value in group)
            for group in self.terms
        )

    def __str__(self) -> str:
        names = {attr: name for name, attr in _COUNTERS.items()}
        return " || ".join(
            " && ".join(f"{names[attr]} {op} {value}" for attr, op, value in group)
            for group in self.terms
        )


def parse_trip(expression: str) -> TripCondition:
    """Compile a trip condition such as "consecutiveFailures > 5 && requests >= 10"."""
    alternatives = []
    for alternative in expression.split("||"):
        terms = []
        for term in alternative.split("&&"):
            match = _COMPARISON.fullmatch(term)
            if match is None:
                raise ValueError(f"cannot read {term.strip()!r}: want <counter> <op> <integer>")
            name, op, value = match.groups()
            if name not in _COUNTERS:
                raise ValueError(f"unknown counter {name!r} (known: {', '.join(_COUNTERS)})")
            terms.append((_COUNTERS[name], op, int(value)))
        alternatives.append(tuple(terms))
    return TripCondition(tuple(alternatives))


class _Reader:
    """Walks the document, collecting (field path, message) problems."""

    def __init__(self) -> None:
        self.causes: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.causes.append((path, message))

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(path, f"must be a mapping, got {type(value).__name__}")
            return {}
        return value

    def known(self, value: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                self.fail(f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def duration(self, value: Any, path: str, default: float) -> float:
        if value is None:
            return default
        try:
            seconds = parse_go_duration(str(value))
        except ValueError as exc:
            self.fail(path, str(exc))
            return default
        if seconds < 0:
            self.fail(path, f"must not be negative, got {value!r}")
            return default
        return seconds

    def integer(self, value: Any, path: str, default: int, minimum: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(path, f"must be an integer >= {minimum}, got {value!r}")
            return default
        return value

    def codes(self, value: Any, path: str, low: int, high: int) -> frozenset[int] | None:
        if value in (None, ""):
            return None
        codes: set[int] = set()
        for part in str(value).split(","):
            bounds = part.strip().split("-")
            if len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
                self.fail(path, f"cannot read {part.strip()!r}: want a code or a range a-b")
                continue
            start, end = int(bounds[0]), int(bounds[-1])
            if not low <= start <= end <= high:
                self.fail(path, f"{part.strip()!r} is outside {low}-{high}")
                continue
            codes.update(range(start, end + 1))
        return frozenset(codes)


def parse_resiliency(document: Mapping[str, Any]) -> Resiliency:
    """Parse a Resiliency object (or just its spec); raises `ResiliencySpecError`."""
    r = _Reader()
    doc = r.mapping(document, "<root>")
    spec = r.mapping(doc.get("spec") if "spec" in doc else doc, "spec")
    policies = r.mapping(spec.get("policies"), "spec.policies")
    r.known(policies, "spec.policies", {"timeouts", "retries", "circuitBreakers"})
    timeouts = _timeouts(r, policies.get("timeouts"))
    retries = _retries(r, policies.get("retries"))
    breakers = _breakers(r, policies.get("circuitBreakers"))
    targets = r.mapping(spec.get("targets"), "spec.targets")
    apps = _apps(r, targets.get("apps"), timeouts, retries, breakers)
    if r.causes:
        raise ResiliencySpecError(r.causes)
    metadata = r.mapping(doc.get("metadata"), "metadata")
    scopes = tuple(str(s) for s in doc.get("scopes") or ())
    return Resiliency(str(metadata.get("name", "")), scopes, timeouts, retries, breakers, apps)


def _timeouts(r: _Reader, value: Any) -> dict[str, float]:
    path = "spec.policies.timeouts"
    return {
        name: r.duration(v, f"{path}.{name}", 0.0) for name, v in r.mapping(value, path).items()
    }


def _retries(r: _Reader, value: Any) -> dict[str, RetryPolicy]:
    out = {}
    for name, raw in r.mapping(value, "spec.policies.retries").items():
        path = f"spec.policies.retries.{name}"
        out[name] = _retry(r, r.mapping(raw, path), path)
    return out


def _retry(r: _Reader, raw: Mapping[str, Any], path: str) -> RetryPolicy:
    r.known(raw, path, {"policy", "duration", "maxInterval", "maxRetries", "matching"})
    kind = raw.get("policy", "constant")
    if kind not in ("constant", "exponential"):
        r.fail(f"{path}.policy", f"must be constant or exponential, got {kind!r}")
    duration = r.duration(raw.get("duration"), f"{path}.duration", 5.0)
    max_interval = r.duration(raw.get("maxInterval"), f"{path}.maxInterval", 60.0)
    max_retries = r.integer(raw.get("maxRetries"), f"{path}.maxRetries", -1, -1)
    matching = r.mapping(raw.get("matching"), f"{path}.matching")
    r.known(matching, f"{path}.matching", {"httpStatusCodes", "gRPCStatusCodes"})
    http = r.codes(matching.get("httpStatusCodes"), f"{path}.matching.httpStatusCodes", 100, 599)
    grpc = r.codes(matching.get("gRPCStatusCodes"), f"{path}.matching.gRPCStatusCodes", 0, 16)
    exponential = kind == "exponential"
    base = min(_EXPONENTIAL_INITIAL, max_interval) if exponential else duration
    return RetryPolicy(
        max_attempts=None if max_retries < 0 else max_retries + 1,
        base=base,
        cap=max_interval if exponential else duration,
        backoff_mode="full_jitter" if exponential else "constant",
        retry_on_statuses=http if http is not None else frozenset(range(400, 600)),
        retry_on_grpc_codes=grpc if grpc is not None else frozenset(range(1, 17)),
    )


def _breakers(r: _Reader, value: Any) -> dict[str, CircuitBreakerConfig]:
    out = {}
    for name, raw in r.mapping(value, "spec.policies.circuitBreakers").items():
        path = f"spec.policies.circuitBreakers.{name}"
        out[name] = _breaker(r, r.mapping(raw, path), path)
    return out


def _breaker(r: _Reader, raw: Mapping[str, Any], path: str) -> CircuitBreakerConfig:
    r.known(raw, path, {"maxRequests", "interval", "timeout", "trip"})
    trip_text = str(raw.get("trip") or _DEFAULT_TRIP)
    try:
        trip = parse_trip(trip_text)
    except ValueError as exc:
        r.fail(f"{path}.trip", str(exc))
        trip = parse_trip(_DEFAULT_TRIP)
    # Dapr hands maxRequests to gobreaker, which reads 0 as 1.
    max_requests = r.integer(raw.get("maxRequests"), f"{path}.maxRequests", 1, 0) or 1
    return CircuitBreakerConfig(
        permitted_number_of_calls_in_half_open_state=max_requests,
        counts_interval=r.duration(raw.get("interval"), f"{path}.interval", 0.0),
        wait_duration_in_open_state=r.duration(raw.get("timeout"), f"{path}.timeout", 60.0),
        trip=trip,
    )


def _apps(
    r: _Reader,
    value: Any,
    timeouts: Mapping[str, float],
    retries: Mapping[str, RetryPolicy],
    breakers: Mapping[str, CircuitBreakerConfig],
) -> dict[str, TargetPolicies]:
    out = {}
    for app, raw in r.mapping(value, "spec.targets.apps").items():
        path = f"spec.targets.apps.{app}"
        target = r.mapping(raw, path)
        r.known(target, path, {"timeout", "retry", "circuitBreaker"})
        out[app] = TargetPolicies(
            timeout=_ref(r, target.get("timeout"), timeouts, f"{path}.timeout", "timeouts"),
            retry=_ref(r, target.get("retry"), retries, f"{path}.retry", "retries"),
            circuit_breaker=_ref(
                r,
                target.get("circuitBreaker"),
                breakers,
                f"{path}.circuitBreaker",
                "circuitBreakers",
            ),
        )
    return out


def _ref(r: _Reader, name: Any, named: Mapping[str, Any], path: str, section: str) -> Any:
    if name is None:
        return None
    if name not in named:
        r.fail(path, f"refers to {name!r}, which spec.policies.{section} does not define")
        return None
    return named[name]
