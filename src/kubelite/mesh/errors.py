"""The mesh policy errors: one narrow class per way a call can be refused.

Callers catch the specific class they can act on (`CircuitOpenError` means
"fail fast, maybe fall back"; `DeadlineExceededError` means "give up, the caller
no longer waits"). All share `MeshError` so an SDK boundary can catch them at once.
Each message names what was refused and why, in words a log reader understands.
"""

from __future__ import annotations

__all__ = [
    "BulkheadFullError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "ForbiddenError",
    "InvalidTimeoutError",
    "MeshError",
    "NoEndpointsError",
    "ResiliencySpecError",
    "ThrottledError",
]


class MeshError(Exception):
    """Base class of every error raised by the mesh policies."""


class NoEndpointsError(MeshError):
    """The service has no ready endpoint to send the request to."""

    def __init__(self, service: str, namespace: str) -> None:
        self.service = service
        self.namespace = namespace
        super().__init__(f'no ready endpoints for service "{service}" in namespace "{namespace}"')


class ForbiddenError(MeshError, PermissionError):
    """The API refused the SDK's own read (403): the pod's service account lacks a grant.

    `message` is the API's Forbidden message, which names the user, verb and resource.
    """

    def __init__(self, what: str, message: str, *, hint: str = "") -> None:
        self.what = what
        self.message = message
        text = f"{what}: the API refused access (403 Forbidden): {message}"
        super().__init__(text + (f" ({hint})" if hint else ""))


class CircuitOpenError(MeshError):
    """The breaker refused the call without sending it.

    `retry_after` is the number of seconds until the breaker will let a probe
    through, or None when that is not known (half-open with no permits left).
    """

    def __init__(self, name: str, state: str, retry_after: float | None = None) -> None:
        self.name = name
        self.state = state
        self.retry_after = retry_after
        hint = "" if retry_after is None else f", retry after {retry_after:.3f}s"
        super().__init__(f'circuit breaker "{name}" is {state}: call not permitted{hint}')


class ThrottledError(CircuitOpenError):
    """The adaptive throttle dropped the call (client-side load shedding)."""

    def __init__(self, name: str, drop_ratio: float) -> None:
        self.drop_ratio = drop_ratio
        MeshError.__init__(
            self, f'adaptive throttle "{name}" dropped the call (drop ratio {drop_ratio:.2f})'
        )
        self.name = name
        self.state = "throttling"
        self.retry_after = None


class DeadlineExceededError(MeshError, TimeoutError):
    """The caller's deadline passed before the call could complete."""

    def __init__(self, what: str = "call", *, overdue: float | None = None) -> None:
        self.what = what
        self.overdue = overdue
        extra = "" if overdue is None else f" ({overdue * 1000:.1f} ms ago)"
        super().__init__(f"deadline exceeded for {what}{extra}")


class BulkheadFullError(MeshError):
    """The upstream already has its maximum number of calls in flight."""

    def __init__(self, name: str, max_concurrent: int) -> None:
        self.name = name
        self.max_concurrent = max_concurrent
        super().__init__(f'bulkhead "{name}" is full: {max_concurrent} calls already in flight')


class InvalidTimeoutError(MeshError, ValueError):
    """A timeout header value is malformed."""


class ResiliencySpecError(MeshError, ValueError):
    """A resiliency spec is invalid; `causes` lists (field path, message) pairs."""

    def __init__(self, causes: list[tuple[str, str]]) -> None:
        self.causes = list(causes)
        lines = "; ".join(f"{field}: {message}" for field, message in self.causes)
        super().__init__(f"invalid resiliency spec: {lines}")

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.causes]
