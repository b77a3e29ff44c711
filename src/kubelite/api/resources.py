"""A pod's effective resource requests, as every part counts them.

The effective request is ``max(sum(containers) + sidecars, max init step)``
plus ``spec.overhead``, where an init step of a regular init container costs
its own request plus every restartable (sidecar) init container started before
it (upstream ``resourcehelper.PodRequests``, v1.32). The scheduler fits and
scores pods with it; the node agent weights a pod's CPU share by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from kubelite.api.quantity import parse_quantity

__all__ = ["pod_requests"]


def pod_requests(
    pod: Mapping[str, Any], *, defaults: Mapping[str, Fraction] | None = None
) -> dict[str, Fraction]:
    """The pod's effective request per resource name (exact quantities).

    `defaults` stand in for what a container leaves unrequested (the
    scheduler's "non-zero" cpu and memory for scoring).
    """
    spec = pod.get("spec", {})
    reqs: dict[str, Fraction] = {}
    for c in spec.get("containers") or ():
        _add(reqs, _container_requests(c, defaults))
    sidecars: dict[str, Fraction] = {}
    init_max: dict[str, Fraction] = {}
    for c in spec.get("initContainers") or ():
        creqs = _container_requests(c, defaults)
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
        _add(reqs, {name: parse_quantity(q) for name, q in overhead.items()})
    return reqs


def _container_requests(
    c: Mapping[str, Any], defaults: Mapping[str, Fraction] | None
) -> dict[str, Fraction]:
    raw = (c.get("resources") or {}).get("requests") or {}
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
