"""LoadBalancer Services get the host's loopback address as their ingress.

The role k3s's ServiceLB (klipper-lb) plays on a one-machine cluster: no
cloud allocates an address, the machine itself is the load balancer. This
controller writes `status.loadBalancer.ingress: [{ip: 127.0.0.1, ipMode: VIP}]`
on every LoadBalancer Service and clears it when a Service stops being one;
the proxy then answers on that address and the Service's port.

One address has each port once: as with ServiceLB, whose per-node pods
bind the Service's ports on the host, a Service asking for a port another
LoadBalancer Service already holds stays pending (no ingress, EXTERNAL-IP
`<pending>`, a `PortConflict` event) until that port is free, rather than
showing an address where another Service answers. Holders keep their ports;
among the rest the oldest Service comes first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, key_of, meta

DEFAULT_INGRESS_IP = "127.0.0.1"


def desired_ingress(svc: Obj, ingress_ip: str, *, admitted: bool = True) -> list[dict[str, Any]]:
    if (svc.get("spec") or {}).get("type") != "LoadBalancer" or not admitted:
        return []
    return [{"ip": ingress_ip, "ipMode": "VIP"}]


def _ports(svc: Obj) -> set[tuple[int, str]]:
    return {
        (int(p["port"]), p.get("protocol", "TCP"))
        for p in (svc.get("spec") or {}).get("ports") or []
    }


def admitted(services: Iterable[Obj]) -> dict[str, str | None]:
    """Each LoadBalancer Service's key -> None if it gets the address, else who holds its port."""
    lbs = [s for s in services if (s.get("spec") or {}).get("type") == "LoadBalancer"]

    def order(svc: Obj) -> tuple[bool, str, str]:
        holds = bool(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"))
        return (not holds, str(meta(svc).get("creationTimestamp") or ""), key_of(svc))

    taken: dict[tuple[int, str], str] = {}
    out: dict[str, str | None] = {}
    for svc in sorted(lbs, key=order):
        ports = _ports(svc)
        clash = next((taken[p] for p in sorted(ports) if p in taken), None)
        out[key_of(svc)] = clash
        if clash is None:
            taken.update(dict.fromkeys(ports, key_of(svc)))
    return out


class LoadBalancerController(Controller):
    name = "service-lb-controller"
    workers = 1

    def __init__(self, *, ingress_ip: str = DEFAULT_INGRESS_IP, **kw: Any) -> None:
        super().__init__(**kw)
        self.ingress_ip = ingress_ip

    def setup(self) -> None:
        self.services = self.informers.informer("v1", "Service")
        self.services.add_handlers(
            Handlers(
                on_add=self._changed,
                on_update=lambda old, new: self._changed(new, old),
                on_delete=self._changed,
            )
        )

    def _changed(self, svc: Obj, old: Obj | None = None) -> None:
        """A LoadBalancer Service that changes or goes may free a port another waits for."""
        self.enqueue(key_of(svc))
        was_lb = old is not None and (old.get("spec") or {}).get("type") == "LoadBalancer"
        if was_lb or (svc.get("spec") or {}).get("type") == "LoadBalancer":
            for other in self.services.list():
                if (other.get("spec") or {}).get("type") == "LoadBalancer":
                    self.enqueue(key_of(other))

    async def reconcile(self, key: str) -> float | None:
        svc = self.services.get(key)
        if svc is None:
            return None
        holder = admitted(self.services.list()).get(key)
        if holder is not None:  # repeats become one event series
            msg = f"a port of this Service is already used on {self.ingress_ip} by Service {holder}"
            await self.recorder.event(svc, "Warning", "PortConflict", msg)
        want = desired_ingress(svc, self.ingress_ip, admitted=holder is None)
        status = svc.get("status") or {}
        if ((status.get("loadBalancer") or {}).get("ingress") or []) == want:
            return None
        out = copy(svc)
        out.setdefault("status", {})["loadBalancer"] = {"ingress": want} if want else {}
        try:
            await self.client.update_status(out)
        except errors.NotFound:
            return None
        return None


__all__ = ["LoadBalancerController", "admitted", "desired_ingress"]
