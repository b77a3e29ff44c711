"""Client-side load balancers: pick one endpoint of a service per request.

The shapes follow Envoy's load balancers so behaviour carries over to a real
mesh: round robin, random, least request (power of two choices), ring hash
(ketama-style consistent hashing, minimum ring size 1024) and nginx's smooth
weighted round robin. A balancer is one small class with `pick`, plus
`on_start`/`on_done` hooks the client calls around each request so balancers
that care (least request) see in-flight counts.

Endpoint lists are snapshots: discovery hands over a new sequence when
membership changes. Balancers that build state from the list (ring hash,
weighted) rebuild only when the sequence object or its contents change.
Endpoints that are not `ready` are skipped; none left raises
`NoEndpointsError` naming the service and namespace.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kubelite.mesh.errors import NoEndpointsError

__all__ = [
    "Balancer",
    "BALANCERS",
    "Endpoint",
    "LeastRequest",
    "Random",
    "RingHash",
    "RoundRobin",
    "Weighted",
    "make_balancer",
    "stable_hash64",
]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One backend of a service: where to connect and how much to send it."""

    address: str
    port: int
    name: str = ""
    zone: str = ""
    weight: int = 1
    ready: bool = True

    @property
    def hostport(self) -> str:
        return f"{self.address}:{self.port}"


class Balancer(Protocol):
    """Chooses an endpoint per request; told when each request starts and ends."""

    def pick(self, endpoints: Sequence[Endpoint], *, key: str | None = None) -> Endpoint: ...

    def on_start(self, endpoint: Endpoint) -> None: ...

    def on_done(self, endpoint: Endpoint) -> None: ...


def stable_hash64(data: str) -> int:
    """A 64-bit hash that is the same in every process (unlike `hash()`).

    Envoy uses xxHash64; BLAKE2b truncated to 8 bytes is in the standard library,
    equally stable and well distributed.
    """
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


class _Base:
    """Shared plumbing: the service identity for errors and no-op hooks."""

    __slots__ = ("service", "namespace")

    def __init__(self, *, service: str = "unknown", namespace: str = "default") -> None:
        self.service = service
        self.namespace = namespace

    def _none(self) -> NoEndpointsError:
        return NoEndpointsError(self.service, self.namespace)

    def _ready(self, endpoints: Sequence[Endpoint]) -> Sequence[Endpoint]:
        for endpoint in endpoints:
            if not endpoint.ready:
                ready = [e for e in endpoints if e.ready]
                if not ready:
                    raise self._none()
                return ready
        if not endpoints:
            raise self._none()
        return endpoints

    def on_start(self, endpoint: Endpoint) -> None:
        return None

    def on_done(self, endpoint: Endpoint) -> None:
        return None


class RoundRobin(_Base):
    """Each ready endpoint in turn (Envoy ROUND_ROBIN with equal weights)."""

    __slots__ = ("_next",)

    def __init__(self, *, service: str = "unknown", namespace: str = "default") -> None:
        super().__init__(service=service, namespace=namespace)
        self._next = 0

    def pick(self, endpoints: Sequence[Endpoint], *, key: str | None = None) -> Endpoint:
        n = len(endpoints)
        for _ in range(n):
            i = self._next % n
            self._next = i + 1
            endpoint = endpoints[i]
            if endpoint.ready:
                return endpoint
        raise self._none()


class Random(_Base):
    """A uniformly random ready endpoint (Envoy RANDOM)."""

    __slots__ = ("_rng",)

    def __init__(
        self,
        *,
        service: str = "unknown",
        namespace: str = "default",
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(service=service, namespace=namespace)
        self._rng = rng or random.Random()

    def pick(self, endpoints: Sequence[Endpoint], *, key: str | None = None) -> Endpoint:
        ready = self._ready(endpoints)
        return ready[self._rng.randrange(len(ready))]


class _InFlight(_Base):
    """Counts requests in flight per endpoint through the start/done hooks."""

    __slots__ = ("active",)

    def __init__(self, *, service: str = "unknown", namespace: str = "default") -> None:
        super().__init__(service=service, namespace=namespace)
        self.active: dict[Endpoint, int] = {}

    def on_start(self, endpoint: Endpoint) -> None:
        self.active[endpoint] = self.active.get(endpoint, 0) + 1

    def on_done(self, endpoint: Endpoint) -> None:
        left = self.active.get(endpoint, 0) - 1
        if left > 0:
            self.active[endpoint] = left
        else:
            self.active.pop(endpoint, None)


class LeastRequest(_InFlight):
    """Power of two choices (Envoy LEAST_REQUEST with equal weights).

    Draws `choice_count` endpoints at random, with replacement as Envoy does,
    and keeps the one with the fewest active requests; the first drawn wins ties.
    """

    __slots__ = ("_rng", "choice_count")

    def __init__(
        self,
        *,
        service: str = "unknown",
        namespace: str = "default",
        choice_count: int = 2,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(service=service, namespace=namespace)
        if choice_count < 2:
            raise ValueError("choice_count must be at least 2")
        self.choice_count = choice_count
        self._rng = rng or random.Random()

    def pick(self, endpoints: Sequence[Endpoint], *, key: str | None = None) -> Endpoint:
        ready = self._ready(endpoints)
        n = len(ready)
        best = ready[self._rng.randrange(n)]
        best_active = self.active.get(best, 0)
        for _ in range(self.choice_count - 1):
            candidate = ready[self._rng.randrange(n)]
            active = self.active.get(candidate, 0)
            if active < best_active:
                best, best_active = candidate, active
        return best


class RingHash(_Base):
    """Consistent hashing on a request key over a ketama-style ring (Envoy RING_HASH).

    Ring size follows Envoy: each endpoint gets ceil(normalized_weight * scale)
    entries, where scale makes the lightest endpoint get at least its share of
    `minimum_ring_size` (default 1024) and the ring never exceeds
    `maximum_ring_size`. Entry i of an endpoint hashes "address:port_i". A key
    maps to the first entry at or after its hash, wrapping around, so adding or
    removing one endpoint only moves the keys near its entries. A request
    without a key gets a random endpoint, as Envoy does.
    """

    __slots__ = (
        "minimum_ring_size", "maximum_ring_size", "_hash", "_rng", "_seen", "_sig",
        "_hashes", "_owners",
    )  # fmt: skip

    def __init__(
        self,
        *,
        service: str = "unknown",
        namespace: str = "default",
        minimum_ring_size: int = 1024,
        maximum_ring_size: int = 8 * 1024 * 1024,
        hash_fn: Callable[[str], int] = stable_hash64,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(service=service, namespace=namespace)
        if not 1 <= minimum_ring_size <= maximum_ring_size:
            raise ValueError("need 1 <= minimum_ring_size <= maximum_ring_size")
        self.minimum_ring_size = minimum_ring_size
        self.maximum_ring_size = maximum_ring_size
        self._hash = hash_fn
        self._rng = rng or random.Random()
        self._seen: Sequence[Endpoint] | None = None
        self._sig: tuple[tuple[str, int], ...] = ()
        self._hashes: list[int] = []
        self._owners: list[Endpoint] = []

    def pick(self, endpoints: Sequence[Endpoint], *, key: str | None = None) -> Endpoint:
        if endpoints is not self._seen:
            self._rebuild(endpoints)
        if not self._hashes:
            raise self._none()
        if key is None:
            return self._owners[self._rng.randrange(len(self._owners))]
        i = bisect.bisect_left(self._hashes, self._hash(key))
        return self._owners[i if i < len(self._hashes) else 0]

    def ring_size(self) -> int:
        return len(self._hashes)

    def _rebuild(self, endpoints: Sequence[Endpoint]) -> None:
        ready = [e for e in endpoints if e.ready and e.weight > 0]
        sig = tuple((e.hostport, e.weight) for e in ready)
        self._seen = endpoints
        if sig == self._sig and self._hashes:
            return
        self._sig = sig
        entries = sorted(self._entries(ready), key=lambda entry: entry[0])
        self._hashes = [h for h, _ in entries]
        self._owners = [e for _, e in entries]

    def _entries(self, ready: list[Endpoint]) -> list[tuple[int, Endpoint]]:
        if not ready:
            return []
        total = sum(e.weight for e in ready)
        min_norm = min(e.weight for e in ready) / total
        scale = min(math.ceil(min_norm * self.minimum_ring_size) / min_norm, self.maximum_ring_size)
        entries: list[tuple[int, Endpoint]] = []
        for endpoint in ready:
            count = math.ceil(endpoint.weight / total * scale)
            prefix = endpoint.hostport + "_"
            entries.extend((self._hash(f"{prefix}{i}"), endpoint) for i in range(count))
        return entries


class Weighted(_Base):
    """Smooth weighted round robin, as nginx does it.

    Every pick adds each endpoint's weight to its current value, picks the
    largest current value and subtracts the total weight from it. Weights
    5,1,1 give a a b a c a a: heavy endpoints are spread out, not bunched.
    """

    __slots__ = ("_seen", "_sig", "_current", "_ready_list")

    def __init__(self, *, service: str = "unknown", namespace: str = "default") -> None:
        super().__init__(service=service, namespace=namespace)
        self._seen: Sequence[Endpoint] | None = None
        self._sig: tuple[tuple[str, int], ...] = ()
        self._current: list[int] = []
        self._ready_list: list[Endpoint] = []

    def pick(self, endpoints: Sequence[Endpoint], *, key: str | None = None) -> Endpoint:
        if endpoints is not self._seen:
            self._sync(endpoints)
        ready = self._ready_list
        if not ready:
            raise self._none()
        current = self._current
        total = 0
        best = 0
        for i, endpoint in enumerate(ready):
            current[i] += endpoint.weight
            total += endpoint.weight
            if current[i] > current[best]:
                best = i
        current[best] -= total
        return ready[best]

    def _sync(self, endpoints: Sequence[Endpoint]) -> None:
        ready = [e for e in endpoints if e.ready and e.weight > 0]
        sig = tuple((e.hostport, e.weight) for e in ready)
        self._seen = endpoints
        if sig == self._sig:
            return
        old = dict(zip((e.hostport for e in self._ready_list), self._current, strict=True))
        self._sig = sig
        self._ready_list = ready
        self._current = [old.get(e.hostport, 0) for e in ready]


BALANCERS: dict[str, Callable[..., Balancer]] = {
    "round_robin": RoundRobin,
    "random": Random,
    "least_request": LeastRequest,
    "ring_hash": RingHash,
    "weighted_round_robin": Weighted,
}


def make_balancer(policy: str, **kwargs: object) -> Balancer:
    """Build a balancer by its Envoy-style name; an unknown name is an error."""
    try:
        factory = BALANCERS[policy]
    except KeyError:
        known = ", ".join(sorted(BALANCERS))
        raise ValueError(f"unknown load balancer {policy!r} (known: {known})") from None
    return factory(**kwargs)
