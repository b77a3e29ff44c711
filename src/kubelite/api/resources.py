"""A pod's effective resource requests and limits, as every part counts them.

The effective request is ``max(sum(containers) + sidecars, max init step)``
plus ``spec.overhead``, where an init step of a regular init container costs
its own request plus every restartable (sidecar) init container started before
it (upstream ``resourcehelper.PodRequests``, v1.32). The scheduler fits and
scores pods with it; the node agent weights a pod's CPU share by it. Limits
add up the same way (``PodLimits``), the overhead only to a resource that has
a limit; the node agent sizes memory-backed volumes by them.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from kubelite.api.quantity import parse_quantity

__all__ = ["pod_limits", "pod_requests"]


def pod_requests(
    pod: Mapping[str, Any], *, defaults: Mapping[str, Fraction] | None = None
) -> dict[str, Fraction]:
    """The pod's effective request per resource name (exact quantities).

    `defaults` stand in for what a container leaves unrequested (the
    scheduler's "non-zero" cpu and memory for scoring).
    """
    return _pod_total(pod, "requests", defaults)


def pod_limits(pod: Mapping[str, Any]) -> dict[str, Fraction]:
    """The pod's effective limit per resource name that any container limits."""
    return _pod_total(pod, "limits", None)


def _pod_total(
    pod: Mapping[str, Any], field: str, defaults: Mapping[str, Fraction] | None
) -> dict[str, Fraction]:
    spec = pod.get("spec", {})
    reqs: dict[str, Fraction] = {}
    for c in spec.get("containers") or ():
        _add(reqs, _container_amounts(c, field, defaults))
    sidecars: dict[str, Fraction] = {}
    init_max: dict[str, Fraction] = {}
    for c in spec.get("initContainers") or ():
        creqs = _container_amounts(c, field, defaults)
        if c.get("restartPolicy") == "Always":
            _add(reqs, creqs)
            _add(sidecars, creqs)
            step = dict(sidecars)
        else:
            step = dict(creqs)
            _add(step, sidecars)
        _max(init_max, step)
    _max(reqs, init_max)
    overhead = spec.get("overhead")
    if overhead:
        extra = {name: parse_quantity(q) for name, q in overhead.items()}
        if field == "limits":  # upstream adds it to the resources limited only
            extra = {name: q for name, q in extra.items() if name in reqs}
        _add(reqs, extra)
    return reqs


def _container_amounts(
    c: Mapping[str, Any], field: str, defaults: Mapping[str, Fraction] | None
) -> dict[str, Fraction]:
    raw = (c.get("resources") or {}).get(field) or {}
    reqs = {name: parse_quantity(q) for name, q in raw.items()}
    if defaults:
        for name, default in defaults.items():
            reqs.setdefault(name, default)
    return reqs


def _add(into: dict[str, Fraction], other: Mapping[str, Fraction]) -> None:
    for name, q in other.items():
        into[name] = into.get(name, Fraction(0)) + q


def _max(into: dict[str, Fraction], other: Mapping[str, Fraction]) -> None:
    for name, q in other.items():
        if name not in into or q > into[name]:
            into[name] = q
