"""Pod resource requests the way the scheduler counts them.

The effective request is `kubelite.api.resources.pod_requests`. For scoring, a container
that sets no cpu/memory request counts as 100m / 200MiB (the "non-zero"
defaults), so best-effort pods still spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubelite.api.resources import pod_requests as api_pod_requests
from kubelite.scheduler._quantity import milli_value, parse_quantity, value

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "Resource",
    "pod_requests",
    "requests_to_resource",
]

DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200 MiB

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
_NON_ZERO = {CPU: parse_quantity("100m"), MEMORY: Fraction(DEFAULT_MEMORY_REQUEST)}


@dataclass(slots=True)
class Resource:
    """Integer resource amounts: milli-CPU, bytes, pod count, scalar units."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * amount

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pod_number
        return self.scalar.get(name, 0)

    def copy(self) -> Resource:
        return Resource(
            self.milli_cpu,
            self.memory,
            self.ephemeral_storage,
            self.allowed_pod_number,
            dict(self.scalar),
        )


def requests_to_resource(reqs: Mapping[str, Fraction], *, allocatable: bool = False) -> Resource:
    """Convert a resource list into integer amounts (``pods`` only for allocatable)."""
    out = Resource()
    for name, q in reqs.items():
        if name == CPU:
            out.milli_cpu = milli_value(q)
        elif name == MEMORY:
            out.memory = value(q)
        elif name == EPHEMERAL:
            out.ephemeral_storage = value(q)
        elif name == PODS:
            if allocatable:
                out.allowed_pod_number = value(q)
        else:
            out.scalar[name] = value(q)
    return out


def pod_requests(pod: Mapping[str, Any], *, non_zero: bool = False) -> dict[str, Fraction]:
    """The pod's effective request per resource name (exact quantities)."""
    return api_pod_requests(pod, defaults=_NON_ZERO if non_zero else None)
