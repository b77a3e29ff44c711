"""What an Ingress's `status.loadBalancer` should say, and whether to write it.

The machine is the load balancer, as for LoadBalancer Services
(`kubelite.proxy.loadbalancer`): `ingress: [{ip: 127.0.0.1}]`, so
`kubectl get ingress` shows the ADDRESS as on k3s. When a listener is not
on its standard port (80, and 443 for an Ingress with TLS), the ports go
along (`ports: [{port, protocol}]`), since a client cannot guess them. An Ingress that is no longer ours loses the
status we wrote, and only that one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STANDARD_PORT = 80
STANDARD_TLS_PORT = 443


def desired_load_balancer(
    address: str, port: int | None, tls_port: int | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"ip": address}
    if (port and port != STANDARD_PORT) or (tls_port and tls_port != STANDARD_TLS_PORT):
        entry["ports"] = [{"port": p, "protocol": "TCP"} for p in (port, tls_port) if p]
    return {"ingress": [entry]}


def current_load_balancer(ingress: Mapping[str, Any]) -> dict[str, Any]:
    status = ingress.get("status") or {}
    lb = status.get("loadBalancer") or {}
    return {"ingress": lb["ingress"]} if lb.get("ingress") else {}


def status_change(
    ingress: Mapping[str, Any],
    *,
    served: bool,
    address: str,
    port: int | None,
    tls_port: int | None = None,
) -> dict[str, Any] | None:
    """The loadBalancer status to write, or None when it already says the right thing.

    `tls_port` is the HTTPS listener's, for an Ingress with `spec.tls`."""
    current = current_load_balancer(ingress)
    ours = desired_load_balancer(address, port, tls_port)
    if served:
        return None if current == ours else ours
    return {} if current == ours else None


__all__ = ["current_load_balancer", "desired_load_balancer", "status_change"]
