"""Choosing an endpoint for a new connection: round-robin, least-connections, ClientIP affinity.

Sync state machines (no I/O), so the userspace proxy's choices are exact in
tests: the clock is injected. `pick` never returns an endpoint that has left
the set, which is what makes removal a drain: open connections keep their
backend, new ones go elsewhere. `exclude` lets the proxy retry a connect on
another endpoint when one refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from kubelite.proxy.servicemap import Endpoint

Clock = Callable[[], float]


class Balancer:
    """Round-robin over the current endpoints; subclasses change the choice."""

    def __init__(
        self,
        endpoints: Collection[Endpoint] = (),
        *,
        affinity_s: int = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.endpoints: tuple[Endpoint, ...] = ()
        self.active: dict[Endpoint, int] = {}
        self.affinity_s = affinity_s
        self.clock = clock
        self._next = 0
        self._sticky: dict[str, tuple[Endpoint, float]] = {}
        self.update(endpoints)

    def update(self, endpoints: Collection[Endpoint], *, affinity_s: int | None = None) -> None:
        fresh = tuple(sorted(set(endpoints)))
        if fresh != self.endpoints:
            self.endpoints = fresh
            self._next = self._next % len(fresh) if fresh else 0
        if affinity_s is not None:
            self.affinity_s = affinity_s
        live = set(fresh)
        self._sticky = {c: v for c, v in self._sticky.items() if v[0] in live}

    def pick(self, client_ip: str = "", exclude: Collection[Endpoint] = ()) -> Endpoint | None:
        choices = [e for e in self.endpoints if e not in exclude]
        if not choices:
            return None
        now = self.clock()
        sticky = self._sticky.get(client_ip) if self.affinity_s else None
        if sticky is not None and sticky[0] in choices and now - sticky[1] <= self.affinity_s:
            chosen = sticky[0]
        else:
            chosen = self._choose(choices)
        if self.affinity_s and client_ip:
            self._sticky[client_ip] = (chosen, now)
        return chosen

    def _choose(self, choices: list[Endpoint]) -> Endpoint:
        for _ in range(len(self.endpoints)):
            ep = self.endpoints[self._next % len(self.endpoints)]
            self._next = (self._next + 1) % len(self.endpoints)
            if ep in choices:
                return ep
        return choices[0]

    def opened(self, ep: Endpoint) -> None:
        self.active[ep] = self.active.get(ep, 0) + 1

    def closed(self, ep: Endpoint) -> None:
        left = self.active.get(ep, 0) - 1
        if left > 0:
            self.active[ep] = left
        else:
            self.active.pop(ep, None)


class LeastConnections(Balancer):
    """Fewest open connections; ties broken round-robin so idle backends share."""

    def _choose(self, choices: list[Endpoint]) -> Endpoint:
        fewest = min(self.active.get(e, 0) for e in choices)
        tied = [e for e in choices if self.active.get(e, 0) == fewest]
        return super()._choose(tied)


POLICIES = {"round-robin": Balancer, "least-connections": LeastConnections}


def new_balancer(policy: str, *, affinity_s: int = 0, clock: Clock = time.monotonic) -> Balancer:
    return POLICIES.get(policy, Balancer)(affinity_s=affinity_s, clock=clock)


__all__ = ["POLICIES", "Balancer", "LeastConnections", "new_balancer"]
