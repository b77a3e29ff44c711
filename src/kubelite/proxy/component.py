"""The service proxy component (kube-proxy's role): watch, compute, sync.

It watches Services and EndpointSlices only, as kube-proxy does, and after
any change recomputes the whole service map and hands it to the mode in use:
`kernel` (nftables DNAT, when root and `nft` works) or `userspace` (asyncio
relays). Changes arriving during a sync are coalesced into the next one, so
a burst of endpoint updates costs one sync, and a failed sync is retried
with backoff. On cancellation the kernel rules are removed and every
listener closed.

The mode is chosen like kube-proxy's `--proxy-mode`: `auto` unless the
`KUBELITE_PROXY_MODE` environment variable of `kubelite up` says `kernel`
or `userspace` (how tests and benchmarks run both modes on one machine).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any, Literal

from kubelite.controllers.informer import Handlers, Informer
from kubelite.proxy import netpol, nftables
from kubelite.proxy.servicemap import service_ports
from kubelite.proxy.sync_loop import sync_forever
from kubelite.proxy.userspace import UserspaceProxy

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)

Mode = Literal["auto", "kernel", "userspace"]
MODES: tuple[Mode, ...] = ("auto", "kernel", "userspace")
MODE_ENV = "KUBELITE_PROXY_MODE"


def mode_from_env() -> Mode:
    value = os.environ.get(MODE_ENV, "") or "auto"
    for mode in MODES:
        if value == mode:
            return mode
    raise ValueError(f"{MODE_ENV}={value!r}: must be one of {', '.join(MODES)}")


class ServiceProxy:
    name = "kube-proxy"

    def __init__(
        self,
        *,
        mode: Mode | None = None,
        table: str = "kubelite",
        node_ip: str = "127.0.0.1",
        default_policy: str = "round-robin",
        cluster_dns: tuple[str, int] | None = None,
    ) -> None:
        self.requested: Mode = mode or mode_from_env()
        self.cluster_dns = cluster_dns  # host, port: a peer NetworkPolicies may allow
        self.mode: str = "none"
        self.table = table
        self.node_ip = node_ip
        self.default_policy = default_policy
        self.services = Informer("v1", "Service")
        self.slices = Informer("discovery.k8s.io/v1", "EndpointSlice")
        self._changed = asyncio.Event()
        self.userspace: UserspaceProxy | None = None
        self.kernel: nftables.NftablesProxy | None = None
        # NetworkPolicy enforcement: kernel mode only (its own table, see netpol.py).
        self.netpol: netpol.NetworkPolicyEnforcer | None = None
        self.syncs = 0

    def status(self) -> dict[str, Any]:
        return {"proxyMode": self.mode}

    def _pick_mode(self) -> str:
        if self.requested == "userspace":
            return "userspace"
        why_not = nftables.available()
        if why_not is None:
            return "kernel"
        if self.requested == "kernel":
            raise RuntimeError(f"kernel proxy mode unavailable: {why_not}")
        log.info("service proxy: userspace mode (%s)", why_not)
        return "userspace"

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        self.mode = self._pick_mode()
        poke = Handlers(
            on_add=lambda _o: self._changed.set(),
            on_update=lambda _o, _n: self._changed.set(),
            on_delete=lambda _o: self._changed.set(),
        )
        self.services.add_handlers(poke)
        self.slices.add_handlers(poke)
        try:
            async with asyncio.TaskGroup() as tg:
                synced = [asyncio.Event(), asyncio.Event()]
                tg.create_task(self.services.run(client, synced[0]))
                tg.create_task(self.slices.run(client, synced[1]))
                await self._start_mode(tg)
                if self.mode == "kernel":
                    peers = [netpol.cluster_dns_peer(*self.cluster_dns)] if self.cluster_dns else []
                    self.netpol = netpol.NetworkPolicyEnforcer(netpol.table_for(self.table), peers)
                    tg.create_task(self.netpol.run(client))
                for ev in synced:
                    await ev.wait()
                await self._sync_once()
                ready.set()
                await sync_forever(self._changed, self._sync_once, "service proxy")
        finally:
            if self.kernel is not None:
                self.kernel.remove()
            if self.netpol is not None:
                self.netpol.remove()

    async def _start_mode(self, tg: asyncio.TaskGroup) -> None:
        if self.mode == "kernel":
            self.kernel = nftables.NftablesProxy(self.table, node_ip=self.node_ip)
            return
        self.userspace = UserspaceProxy(node_ip=self.node_ip)
        started = asyncio.Event()
        tg.create_task(self.userspace.run(started))
        await started.wait()

    async def _sync_once(self) -> None:
        self._changed.clear()
        ports = service_ports(
            self.services.list(), self.slices.list(), default_policy=self.default_policy
        )
        if self.kernel is not None:
            await self.kernel.sync(ports)
        if self.userspace is not None:
            await self.userspace.sync(ports)
        self.syncs += 1


__all__ = ["ServiceProxy"]
