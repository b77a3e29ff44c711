"""From an Ingress backend to a pod: the Service port it names, then a ready endpoint.

The Service port is the one whose `port` equals the backend's number, or
whose `name` equals its port name; its endpoints (with the target port
resolved) come from the EndpointSlices, as the service proxy computes them
(`kubelite.proxy.servicemap`), ready ones only, terminating-but-serving ones
when nothing else is left. Each backend keeps a round-robin balancer across
rebuilds, so a change elsewhere does not reset its rotation.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubelite.proxy.balancer import Balancer
from kubelite.proxy.ingress.routes import Backend
from kubelite.proxy.servicemap import Endpoint, ServicePort


def _port_of(ports: Iterable[ServicePort], backend: Backend) -> ServicePort | None:
    for sp in ports:
        if sp.namespace != backend.namespace or sp.name != backend.service or sp.protocol != "TCP":
            continue
        if isinstance(backend.port, int) and sp.port == backend.port:
            return sp
        if isinstance(backend.port, str) and sp.port_name == backend.port:
            return sp
    return None


class Endpoints:
    """The endpoints of each backend in use; `pick` chooses one round-robin."""

    def __init__(self) -> None:
        self._balancers: dict[Backend, Balancer] = {}

    def update(self, backends: Iterable[Backend], ports: Iterable[ServicePort]) -> None:
        ports = list(ports)
        fresh: dict[Backend, Balancer] = {}
        for backend in backends:
            if backend.resource:
                continue
            sp = _port_of(ports, backend)
            balancer = self._balancers.get(backend) or Balancer()
            balancer.update(sp.endpoints if sp is not None else ())
            fresh[backend] = balancer
        self._balancers = fresh

    def pick(self, backend: Backend, exclude: Iterable[Endpoint] = ()) -> Endpoint | None:
        balancer = self._balancers.get(backend)
        return None if balancer is None else balancer.pick(exclude=tuple(exclude))

    def of(self, backend: Backend) -> tuple[Endpoint, ...]:
        balancer = self._balancers.get(backend)
        return () if balancer is None else balancer.endpoints


__all__ = ["Endpoints"]
