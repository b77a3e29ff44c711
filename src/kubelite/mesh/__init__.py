"""kubelite.mesh: what a Python service imports to be a well-behaved microservice.

The policies here are plain, synchronous state machines with an injectable
clock (load balancers, circuit breakers, outlier ejection, adaptive
throttling, retries with a budget, deadlines, bulkheads); the async call path
wraps them. Everything else in this package is private.
"""

from kubelite.mesh.balancers import (
    BALANCERS,
    Balancer,
    Endpoint,
    LeastRequest,
    Random,
    RingHash,
    RoundRobin,
    Weighted,
    make_balancer,
    stable_hash64,
)
from kubelite.mesh.breaker import (
    CircuitBreaker,
    CircuitBreakerConfig,
    OutlierConfig,
    OutlierDetector,
    State,
    StateChange,
)
from kubelite.mesh.bulkhead import Bulkhead
from kubelite.mesh.clock import SYSTEM_CLOCK, Clock, FakeClock, MonotonicClock
from kubelite.mesh.deadline import (
    DEADLINE_HEADER,
    GRPC_TIMEOUT_HEADER,
    Deadline,
    deadline_from_headers,
    deadline_to_headers,
    parse_grpc_timeout,
    to_grpc_timeout,
)
from kubelite.mesh.errors import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceededError,
    InvalidTimeoutError,
    MeshError,
    NoEndpointsError,
    ResiliencySpecError,
    ThrottledError,
)
from kubelite.mesh.resiliency import Resiliency, parse_resiliency
from kubelite.mesh.retry import Backoff, RetryBudget, RetryPolicy, call_with_retries
from kubelite.mesh.throttle import AdaptiveThrottle

__all__ = [
    "BALANCERS",
    "DEADLINE_HEADER",
    "GRPC_TIMEOUT_HEADER",
    "SYSTEM_CLOCK",
    "AdaptiveThrottle",
    "Backoff",
    "Balancer",
    "Bulkhead",
    "BulkheadFullError",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "Clock",
    "Deadline",
    "DeadlineExceededError",
    "Endpoint",
    "FakeClock",
    "InvalidTimeoutError",
    "LeastRequest",
    "MeshError",
    "MonotonicClock",
    "NoEndpointsError",
    "OutlierConfig",
    "OutlierDetector",
    "Random",
    "Resiliency",
    "ResiliencySpecError",
    "RetryBudget",
    "RetryPolicy",
    "RingHash",
    "RoundRobin",
    "State",
    "StateChange",
    "ThrottledError",
    "Weighted",
    "call_with_retries",
    "deadline_from_headers",
    "deadline_to_headers",
    "make_balancer",
    "parse_grpc_timeout",
    "parse_resiliency",
    "stable_hash64",
    "to_grpc_timeout",
]
