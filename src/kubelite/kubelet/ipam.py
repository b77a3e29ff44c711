"""Pod IPs from the node's /24 of 127.244.0.0/16.

All of 127.0.0.0/8 routes to the loopback device on Linux, so a pod can bind
its own address with no network setup. `.0`, `.1` and `.255` are never given
out (network, gateway, broadcast), as host-local IPAM does.
"""

from __future__ import annotations

import ipaddress


class PoolExhausted(RuntimeError):
    pass


class IpPool:
    def __init__(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr)
        self._free = [str(ip) for ip in list(net.hosts())[1:]]
        self._by_owner: dict[str, str] = {}
        self._next = 0

    def allocate(self, owner: str) -> str:
        if owner in self._by_owner:
            return self._by_owner[owner]
        taken = set(self._by_owner.values())
        # Round robin: a freed address is reused last, so a late packet never
        # reaches a new pod that just took its predecessor's IP.
        for step in range(len(self._free)):
            ip = self._free[(self._next + step) % len(self._free)]
            if ip not in taken:
                self._next = (self._next + step + 1) % len(self._free)
                self._by_owner[owner] = ip
                return ip
        raise PoolExhausted("no free pod IPs left on this node")

    def reserve(self, owner: str, ip: str) -> bool:
        if ip not in self._free or ip in self._by_owner.values():
            return self._by_owner.get(owner) == ip
        self._by_owner[owner] = ip
        return True

    def release(self, owner: str) -> None:
        self._by_owner.pop(owner, None)

    def owner_of(self, ip: str) -> str | None:
        return next((o for o, i in self._by_owner.items() if i == ip), None)
