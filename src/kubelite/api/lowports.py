"""Ports below 1024 on a machine where kubelite may not bind them: a contract
between the Service proxy, the cluster DNS and the node agent.

A Service answers on its own port at its ClusterIP (DESIGN.md), and pods find
the cluster DNS on port 53 (a resolv.conf names no port). Without root or
CAP_NET_BIND_SERVICE the kernel refuses those ports (below
`net.ipv4.ip_unprivileged_port_start`, 1024 by default) to kubelite, which is
how most developers run it. So such a frontend listens on `port + OFFSET` at
the same address instead (80 → 64592, 53 → 64565: above the kernel's
ephemeral range, and no Service is likely to use them), and the node agent
sends a pod's TCP connect to `address:port` there whenever nothing listens on
the port itself and something does on `port + OFFSET` (see
`kubelite.kubelet.podbind`). Inside pods every Service answers on its own port
and `ClusterFirst` DNS works, over TCP (`options use-vc`), since a resolver
checks that a UDP answer comes from the port it asked.

Pods' own listeners follow the same rule: a container's bind goes through the
node agent, which binds a port below 1024 it may not have on the stand-in. So
whatever kubelite dials on a pod's IP (Service backends, probes, port-forward,
the ingress, the API's proxy) dials `pod_port()`, and other pods reach it on
its own port through the node agent as above; so does the pod itself on
`localhost:80`, which the node agent takes to the pod's IP at `listen_port(80)`.
"""

from __future__ import annotations

import functools

OFFSET = 64512  # 65535 - 1023: ports 1..1023 map onto 64513..65535
CAP_NET_BIND_SERVICE = 10
DEFAULT_UNPRIVILEGED_START = 1024
POD_NETWORK = "127.244."  # pods' addresses: 127.244.0.0/16 (DESIGN.md)


def stand_in(port: int) -> int:
    """Where a frontend on `port` listens when this process may not bind it."""
    return port + OFFSET


def listen_port(port: int) -> int:
    """The port a listener for `port` takes: its stand-in where this process may not
    bind it, else the port itself (only ports below 1024 have a stand-in)."""
    if 0 < port < 1024 and not may_bind(port):
        return stand_in(port)
    return port


def pod_port(ip: str, port: int) -> int:
    """The port to dial for a pod's `port` at `ip`: where its listener is (pods bind
    through the node agent, which has this process's rights)."""
    return listen_port(port) if ip.startswith(POD_NETWORK) else port


def may_bind(port: int) -> bool:
    """Whether this process may bind `port` (the kernel's rule, not whether it is free)."""
    return port == 0 or port >= unprivileged_start() or _has_bind_capability()


@functools.cache
def unprivileged_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return DEFAULT_UNPRIVILEGED_START


@functools.cache
def _has_bind_capability() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_BIND_SERVICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


__all__ = ["OFFSET", "listen_port", "may_bind", "pod_port", "stand_in", "unprivileged_start"]
