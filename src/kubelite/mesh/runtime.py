"""Process-wide defaults: one API connection, one discovery, one event recorder.

A service usually makes a handful of clients and configs; they should share
one API connection and one watch per service rather than open their own.
Everything is built on first use so that `import kubelite.mesh` touches no
network and no heavy module. Tests replace a default with `set_defaults`.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.mesh.breaker import State, StateChange
from kubelite.mesh.events import EventRecorder, pod_ref
from kubelite.mesh.upstream import Upstream

__all__ = [
    "BREAKER_EVENT_REASONS",
    "breaker_event",
    "default_access",
    "default_discovery",
    "default_events",
    "set_defaults",
    "wire_upstream_events",
]

log = logging.getLogger(__name__)
_defaults: dict[str, Any] = {}


def set_defaults(*, access: Any = None, discovery: Any = None, events: Any = None) -> None:
    """Replace (or with None, forget) the process-wide objects."""
    for key, value in (("access", access), ("discovery", discovery), ("events", events)):
        if value is None:
            _defaults.pop(key, None)
        else:
            _defaults[key] = value


def default_access() -> Any:
    if "access" not in _defaults:
        from kubelite.mesh.kube import connect

        _defaults["access"] = connect()
    return _defaults["access"]


def default_discovery() -> Any:
    if "discovery" not in _defaults:
        from kubelite.mesh.discovery import Discovery

        _defaults["discovery"] = Discovery(_lazy_access())
    return _defaults["discovery"]


def default_events() -> EventRecorder:
    if "events" not in _defaults:
        _defaults["events"] = EventRecorder(_defaults.get("access"))
    return _defaults["events"]


def _lazy_access() -> Any:
    return default_access()


# Event reasons and message form are a contract: the dashboard reads breaker
# states back from these Events (kubelite.dashboard.breakers). The message is
# "circuit breaker <namespace>/<service>: <from> -> <to> (<why>)", the why
# completing the new state's verb, e.g. "(after 5 consecutive failures)".
BREAKER_EVENT_REASONS = {
    State.OPEN: "CircuitBreakerOpened",
    State.HALF_OPEN: "CircuitBreakerHalfOpen",
    State.CLOSED: "CircuitBreakerClosed",
}


def breaker_event(up: Upstream, change: StateChange) -> tuple[str, str, str]:
    """(reason, message, type) of the Event for one breaker state change."""
    message = (
        f"circuit breaker {up.name}: {change.from_state.value} -> {change.to_state.value} "
        f"({change.reason})"
    )
    type_ = "Warning" if change.to_state is State.OPEN else "Normal"
    return BREAKER_EVENT_REASONS[change.to_state], message, type_


def wire_upstream_events(up: Upstream) -> None:
    """Breaker state changes become Kubernetes Events on this pod (when we know it)."""
    ref = pod_ref()
    if ref is None:
        return

    def on_change(change: StateChange) -> None:
        reason, message, type_ = breaker_event(up, change)
        default_events().record(ref, reason=reason, message=message, type_=type_)

    up.add_breaker_listener(on_change)
