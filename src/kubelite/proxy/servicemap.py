"""What the proxy must forward, computed from Services and EndpointSlices alone.

As kube-proxy's ServicePortMap and EndpointsMap: one `ServicePort` per port
of every Service that has a cluster IP, with the frontends that reach it
(cluster IP, node port, load-balancer ingress) and the endpoints traffic may
go to. Endpoints are the `ready` ones; when none is ready, the `serving` ones
that are terminating (so a rollout's last pod still answers while it
drains), as upstream does. This module is pure: both proxy modes and the
tests share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
LB_POLICY_ANNOTATION = "proxy.kubelite.io/lb-policy"
LB_POLICIES = ("round-robin", "least-connections")


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP | UDP | SCTP
    cluster_ip: str
    port: int
    node_port: int = 0
    ingress_ips: tuple[str, ...] = ()
    affinity_timeout: int = 0  # seconds; 0 = no ClientIP affinity
    policy: str = "round-robin"
    endpoints: tuple[Endpoint, ...] = field(default=(), compare=True)

    @property
    def id(self) -> str:
        """`ns/name:port` as kube-proxy names a service port."""
        return f"{self.namespace}/{self.name}:{self.port_name}"

    def frontends(self, node_ip: str) -> list[tuple[str, int]]:
        out = [(self.cluster_ip, self.port)]
        if self.node_port:
            out.append((node_ip, self.node_port))
        out += [(ip, self.port) for ip in self.ingress_ips]
        return out


def _slice_endpoints(slices: Iterable[Obj], port_name: str, protocol: str) -> tuple[Endpoint, ...]:
    ready: set[Endpoint] = set()
    draining: set[Endpoint] = set()
    for s in slices:
        if s.get("addressType", "IPv4") != "IPv4":
            continue
        port = next(
            (
                p.get("port")
                for p in s.get("ports") or []
                if (p.get("name") or "") == port_name and p.get("protocol", "TCP") == protocol
            ),
            None,
        )
        if not port:
            continue
        for ep in s.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            for ip in ep.get("addresses") or []:
                if cond.get("ready") is not False:  # nil means ready
                    ready.add(Endpoint(ip, int(port)))
                elif cond.get("serving") and cond.get("terminating"):
                    draining.add(Endpoint(ip, int(port)))
    return tuple(sorted(ready or draining))


def _affinity_timeout(spec: Mapping[str, Any]) -> int:
    if spec.get("sessionAffinity") != "ClientIP":
        return 0
    cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP")) or {}
    return int(cfg.get("timeoutSeconds") or 10800)


def _policy(svc: Mapping[str, Any], default: str) -> str:
    asked = ((svc.get("metadata") or {}).get("annotations") or {}).get(LB_POLICY_ANNOTATION)
    return asked if asked in LB_POLICIES else default


def service_ports(
    services: Iterable[Obj],
    slices: Iterable[Obj],
    *,
    default_policy: str = "round-robin",
    headless: bool = False,
) -> list[ServicePort]:
    """The ports of the Services kube-proxy serves (those with a ClusterIP).

    `headless`: headless Services too (with `cluster_ip` ""), for an ingress, which
    routes to a Service's endpoints directly, as ingress-nginx does; ExternalName
    Services never have endpoints here."""
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for s in slices:
        md = s.get("metadata") or {}
        name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name:
            by_service.setdefault((md.get("namespace", ""), name), []).append(s)
    out: list[ServicePort] = []
    for svc in services:
        md, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if spec.get("type") == "ExternalName":
            continue
        if not ip or ip == "None":
            if not headless:
                continue
            ip = ""
        ingress = tuple(
            i["ip"]
            for i in (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
            if i.get("ip")
        )
        for sp in spec.get("ports") or []:
            protocol = sp.get("protocol", "TCP")
            out.append(
                ServicePort(
                    namespace=md.get("namespace", ""),
                    name=md["name"],
                    port_name=sp.get("name") or "",
                    protocol=protocol,
                    cluster_ip=ip,
                    port=int(sp["port"]),
                    node_port=int(sp.get("nodePort") or 0),
                    ingress_ips=ingress if spec.get("type") == "LoadBalancer" else (),
                    affinity_timeout=_affinity_timeout(spec),
                    policy=_policy(svc, default_policy),
                    endpoints=_slice_endpoints(
                        by_service.get((md.get("namespace", ""), md["name"]), []),
                        sp.get("name") or "",
                        protocol,
                    ),
                )
            )
    return sorted(out, key=lambda p: (p.namespace, p.name, p.port_name, p.protocol))


__all__ = ["Endpoint", "LB_POLICY_ANNOTATION", "ServicePort", "service_ports"]
