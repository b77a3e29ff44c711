"""kubelite.mesh: what a Python service imports to be a well-behaved microservice.

The policies here are plain, synchronous state machines with an injectable
clock (load balancers, circuit breakers, outlier ejection, adaptive
throttling, retries with a budget, deadlines, bulkheads); the async call path
wraps them. The runtime builds on them: discovery from EndpointSlices,
`http()`/`grpc_channel()` clients, `App`/`serve()` and `grpc_server()`, the
config center (`Config`), metrics, tracing and Events. Names whose modules pull
in heavy optional packages (uvicorn, grpcio, OpenTelemetry) are loaded on first
use, so `import kubelite.mesh` stays light. Everything else is private.
"""

from typing import TYPE_CHECKING, Any

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
from kubelite.mesh.config import Config, ConfigError
from kubelite.mesh.deadline import (
    DEADLINE_HEADER,
    GRPC_TIMEOUT_HEADER,
    Deadline,
    deadline_from_headers,
    deadline_to_headers,
    parse_grpc_timeout,
    to_grpc_timeout,
)
from kubelite.mesh.discovery import (
    Discovery,
    EndpointSet,
    PortNotFoundError,
    ServiceForbiddenError,
    ServiceNotFoundError,
    StaticDiscovery,
)
from kubelite.mesh.errors import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceededError,
    ForbiddenError,
    InvalidTimeoutError,
    MeshError,
    NoEndpointsError,
    ResiliencySpecError,
    ThrottledError,
)
from kubelite.mesh.events import EventRecorder, ObjectRef
from kubelite.mesh.kube import ApiAccess, connect
from kubelite.mesh.resiliency import Resiliency, parse_resiliency
from kubelite.mesh.retry import Backoff, RetryBudget, RetryPolicy, call_with_retries
from kubelite.mesh.throttle import AdaptiveThrottle
from kubelite.mesh.upstream import CallPolicy, Upstream, current_deadline, deadline_scope

if TYPE_CHECKING:
    from kubelite.mesh.client_grpc import grpc_channel
    from kubelite.mesh.client_http import MeshTransport, http
    from kubelite.mesh.grpc_server import grpc_server
    from kubelite.mesh.grpcweb import GrpcWebApp
    from kubelite.mesh.serve import App, Lifecycle, serve
    from kubelite.mesh.tracing import opentracing_tracer, setup_tracing

_LAZY = {
    "App": "kubelite.mesh.serve",
    "Lifecycle": "kubelite.mesh.serve",
    "serve": "kubelite.mesh.serve",
    "http": "kubelite.mesh.client_http",
    "MeshTransport": "kubelite.mesh.client_http",
    "grpc_channel": "kubelite.mesh.client_grpc",
    "grpc_server": "kubelite.mesh.grpc_server",
    "GrpcWebApp": "kubelite.mesh.grpcweb",
    "setup_tracing": "kubelite.mesh.tracing",
    "opentracing_tracer": "kubelite.mesh.tracing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kubelite.mesh' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "App",
    "ApiAccess",
    "CallPolicy",
    "Config",
    "ConfigError",
    "Discovery",
    "EndpointSet",
    "EventRecorder",
    "GrpcWebApp",
    "Lifecycle",
    "MeshTransport",
    "ObjectRef",
    "PortNotFoundError",
    "ServiceForbiddenError",
    "ServiceNotFoundError",
    "StaticDiscovery",
    "Upstream",
    "connect",
    "current_deadline",
    "deadline_scope",
    "grpc_channel",
    "grpc_server",
    "http",
    "opentracing_tracer",
    "serve",
    "setup_tracing",
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
    "ForbiddenError",
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
