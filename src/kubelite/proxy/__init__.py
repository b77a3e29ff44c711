"""Service networking: the kube-proxy, CoreDNS and ServiceLB roles.

- `ServiceProxy`: forwards ClusterIP, NodePort and LoadBalancer traffic to
  ready endpoints (nftables DNAT when root, else asyncio relays).
- `ClusterDNS`: answers the cluster zone, forwards the rest.
- `LoadBalancerController`: the host loopback as LoadBalancer ingress.

What a starting pod gets from these (its resolv.conf and Service variables)
is the node agent's business (`kubelite.kubelet.dns`,
`kubelite.kubelet.services`). The ClusterIP/NodePort allocator is an
admission plugin in `kubelite.apiserver.service_ips`; the Endpoints and
EndpointSlice controllers live with the other controllers.
"""

from __future__ import annotations

from kubelite.proxy.component import ServiceProxy
from kubelite.proxy.dns import ClusterDNS
from kubelite.proxy.loadbalancer import LoadBalancerController
from kubelite.proxy.nftables import table_name

__all__ = [
    "ClusterDNS",
    "LoadBalancerController",
    "ServiceProxy",
    "table_name",
]
