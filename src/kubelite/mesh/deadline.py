"""Deadlines: the caller's patience, carried from hop to hop.

A deadline is an instant on the monotonic clock. It travels between processes
as *remaining time*, never as a wall-clock instant, so clock skew between
machines cannot shorten or stretch it (gRPC's reasoning). Two header forms:

- `grpc-timeout`, exactly per the gRPC over HTTP/2 spec: 1 to 8 ASCII digits
  and a unit, H (hours) M (minutes) S (seconds) m (milliseconds) u (micro) n (nano).
  Encoding picks the finest unit whose value fits in 8 digits, rounding up, as
  grpc-go does, so precision is kept and the deadline is never shortened.
- `x-kubelite-deadline-ms`: remaining whole milliseconds (rounded up), for HTTP
  callers that find a plain number easier. On HTTP both are honoured; if both
  are present the earlier deadline wins.

Each try of a call gets `per_try(timeout)`: its own timeout capped by what is
left of the deadline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kubelite.mesh.clock import SYSTEM_CLOCK, Clock
from kubelite.mesh.errors import DeadlineExceededError, InvalidTimeoutError

__all__ = [
    "DEADLINE_HEADER",
    "Deadline",
    "GRPC_TIMEOUT_HEADER",
    "deadline_from_headers",
    "deadline_to_headers",
    "parse_grpc_timeout",
    "to_grpc_timeout",
]

GRPC_TIMEOUT_HEADER = "grpc-timeout"
DEADLINE_HEADER = "x-kubelite-deadline-ms"

_MAX_VALUE = 99_999_999
_NANOS = {"n": 1, "u": 1_000, "m": 1_000_000, "S": 10**9, "M": 60 * 10**9, "H": 3600 * 10**9}
_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")


@dataclass(frozen=True, slots=True)
class Deadline:
    """An instant (monotonic seconds) by which the call must be done."""

    at: float
    clock: Clock = SYSTEM_CLOCK

    @classmethod
    def after(cls, timeout: float, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        return cls(clock.now() + timeout, clock)

    def remaining(self, clock: Clock | None = None) -> float:
        """Seconds left; zero or negative once passed."""
        return self.at - (clock or self.clock).now()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self, what: str = "call") -> None:
        """Raise `DeadlineExceededError` if the deadline has passed."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceededError(what, overdue=-left)

    def per_try(self, timeout: float | None) -> float:
        """A try's timeout capped by the time left (raises if none is left)."""
        self.check()
        left = self.remaining()
        return left if timeout is None else min(timeout, left)

    def earliest(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other


def to_grpc_timeout(seconds: float) -> str:
    """Encode a timeout as a `grpc-timeout` value, e.g. 5.0 -> "5000000u"."""
    if seconds <= 0:
        raise DeadlineExceededError("grpc-timeout encoding", overdue=-seconds)
    # Tolerate float noise, then round up; a positive timeout never encodes as 0n (expired).
    nanos = max(1, math.ceil(seconds * 1e9 - 1e-3))
    for unit in ("n", "u", "m", "S", "M", "H"):
        value = -(-nanos // _NANOS[unit])
        if value <= _MAX_VALUE:
            return f"{value}{unit}"
    return f"{_MAX_VALUE}H"


def parse_grpc_timeout(value: str) -> float:
    """Decode a `grpc-timeout` value to seconds; anything malformed is an error."""
    match = _GRPC_TIMEOUT.fullmatch(value)
    if match is None:
        raise InvalidTimeoutError(
            f"invalid grpc-timeout {value!r}: want 1-8 digits then one of H M S m u n"
        )
    return int(match.group(1)) * _NANOS[match.group(2)] / 1e9


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():  # plain dicts are case-sensitive
        if key.lower() == name:
            return item
    return None


def deadline_from_headers(
    headers: Mapping[str, str], clock: Clock = SYSTEM_CLOCK
) -> Deadline | None:
    """The deadline an inbound request carries, or None when it has none."""
    found: Deadline | None = None
    grpc = _header(headers, GRPC_TIMEOUT_HEADER)
    if grpc is not None:
        found = Deadline.after(parse_grpc_timeout(grpc.strip()), clock)
    millis = _header(headers, DEADLINE_HEADER)
    if millis is not None:
        text = millis.strip()
        if not text.isascii() or not text.isdigit():
            raise InvalidTimeoutError(
                f"invalid {DEADLINE_HEADER} {millis!r}: want remaining whole milliseconds"
            )
        found = Deadline.after(int(text) / 1000, clock).earliest(found)
    return found


def deadline_to_headers(deadline: Deadline, *, grpc: bool = False) -> dict[str, str]:
    """Headers that carry the deadline onward (gRPC form or the HTTP form)."""
    left = deadline.remaining()
    if left <= 0:
        raise DeadlineExceededError("outbound request", overdue=-left)
    if grpc:
        return {GRPC_TIMEOUT_HEADER: to_grpc_timeout(left)}
    return {DEADLINE_HEADER: str(math.ceil(left * 1000))}
