"""Process-wide defaults: one API connection, one discovery, one event recorder.

A service usually makes a handful of clients and configs; they should share
one API connection and one watch per service rather than open their own.
Everything is built on first use so that `import kubelite.mesh` touches no
network and no heavy module. Tests replace a default with `set_defaults`.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.mesh.breaker import StateChange
from kubelite.mesh.events import EventRecorder, pod_ref
from kubelite.mesh.upstream import Upstream

__all__ = [
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


_BREAKER_REASONS = {"open": "CircuitBreakerOpened", "half_open": "CircuitBreakerHalfOpen",
                    "closed": "CircuitBreakerClosed"}  # fmt: skip


def wire_upstream_events(up: Upstream) -> None:
    """Breaker state changes become Kubernetes Events on this pod (when we know it)."""
    ref = pod_ref()
    if ref is None:
        return

    def on_change(change: StateChange) -> None:
        warning = change.to_state.value == "open"
        default_events().record(
            ref,
            reason=_BREAKER_REASONS[change.to_state.value],
            message=f"circuit breaker {change.name}: {change.from_state.value} -> "
            f"{change.to_state.value} ({change.reason})",
            type_="Warning" if warning else "Normal",
        )

    up.add_breaker_listener(on_change)
