"""The resolv.conf a ClusterFirst pod sees, as kubelet writes it.

`search NS.svc.ZONE svc.ZONE ZONE`, the cluster DNS as the only nameserver,
`options ndots:5`, so `getaddrinfo("go-app")` inside a pod tries
`go-app.NS.svc.cluster.local` first. The node agent bind-mounts this text
over /etc/resolv.conf in the pod's mount namespace.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_NAMESERVER = "127.96.0.10"


def resolv_conf(
    namespace: str,
    *,
    nameserver: str = DEFAULT_NAMESERVER,
    cluster_domain: str = "cluster.local",
    host_search: Sequence[str] = (),
    ndots: int = 5,
) -> str:
    zone = cluster_domain.strip(".")
    search = [f"{namespace}.svc.{zone}", f"svc.{zone}", zone, *host_search]
    # glibc reads at most 6 search domains (kubelet's limit as well).
    return f"search {' '.join(search[:6])}\nnameserver {nameserver}\noptions ndots:{ndots}\n"


__all__ = ["DEFAULT_NAMESERVER", "resolv_conf"]
