"""LoadBalancer Services get the host's loopback address as their ingress.

The role k3s's ServiceLB (klipper-lb) plays on a one-machine cluster: no
cloud allocates an address, the machine itself is the load balancer. This
controller writes `status.loadBalancer.ingress: [{ip: 127.0.0.1, ipMode: VIP}]`
on every LoadBalancer Service and clears it when a Service stops being one;
the proxy then answers on that address and the Service's port.
"""

from __future__ import annotations

from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, key_of

DEFAULT_INGRESS_IP = "127.0.0.1"


def desired_ingress(svc: Obj, ingress_ip: str) -> list[dict[str, Any]]:
    if (svc.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    return [{"ip": ingress_ip, "ipMode": "VIP"}]


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
                on_add=lambda s: self.enqueue(key_of(s)),
                on_update=lambda _o, s: self.enqueue(key_of(s)),
            )
        )

    async def reconcile(self, key: str) -> float | None:
        svc = self.services.get(key)
        if svc is None:
            return None
        want = desired_ingress(svc, self.ingress_ip)
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


__all__ = ["LoadBalancerController", "desired_ingress"]
