"""Kernel proxy mode: DNAT rules in an nftables table kubelite owns.

As kube-proxy's nftables mode: a `nat` chain on the `output` hook (every
client here is a local process) dispatches each frontend through verdict
maps (`service-ips` for ClusterIP:port and load-balancer ingress,
`service-nodeports` for a nodePort on any local address) to a per-service
chain that picks an endpoint with `numgen random mod N` and DNATs to it.
The maps make dispatch one hash lookup whatever the number of Services, and
only a connection's first packet meets these rules at all: conntrack
translates the rest, so with kept-alive connections kernel mode costs about
what direct traffic does. A service with no endpoints gets no element: its
loopback address has no listener, so the kernel refuses the connection at
once.

Every sync replaces the whole table in one `nft -f` transaction (add, delete,
re-create), so readers never see a half-written ruleset; the table is
deleted when the proxy stops. Each cluster names its own table (derived from
its data dir), so clusters side by side never touch each other's rules.
ClientIP session affinity is not implemented in this mode (see issue notes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import subprocess

from kubelite.proxy.servicemap import ServicePort

log = logging.getLogger(__name__)

FAMILY = "ip"
_L4 = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def table_name(data_dir: str) -> str:
    """A per-cluster table name: `kubelite-` and 8 hex digits of the data dir."""
    return "kubelite-" + hashlib.sha256(os.path.abspath(data_dir).encode()).hexdigest()[:8]


def available() -> str | None:
    """None when kernel mode can run here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    nft = shutil.which("nft")
    if nft is None:
        return "the nft command is not installed"
    probe = f"table {FAMILY} kubelite-probe\ndelete table {FAMILY} kubelite-probe\n"
    proc = subprocess.run(
        [nft, "-f", "-"], input=probe, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return f"nft failed: {proc.stderr.strip()}"
    return None


def render(table: str, ports: list[ServicePort], *, node_ip: str = "127.0.0.1") -> str:
    """The `nft -f` script that replaces `table` with rules for `ports`."""
    service_ips: dict[str, str] = {}  # "ip . proto . port" -> "goto chain"
    node_ports: dict[str, str] = {}  # "proto . port" -> "goto chain"
    chains: list[str] = []
    for i, sp in enumerate(p for p in ports if p.endpoints and p.protocol in _L4):
        chain = f"svc-{i}"
        l4 = _L4[sp.protocol]
        for ip in (sp.cluster_ip, *sp.ingress_ips):
            # First one wins a clash (two load balancers on one host port), as the
            # first matching rule would; a duplicate element would fail the transaction.
            service_ips.setdefault(f"{ip} . {l4} . {sp.port}", f"goto {chain}")
        if sp.node_port:
            node_ports.setdefault(f"{l4} . {sp.node_port}", f"goto {chain}")
        chains.append(_service_chain(chain, sp))
    body = [
        f"table {FAMILY} {table} {{",
        '  comment "kubelite service proxy rules"',
        *_map("service-ips", "ipv4_addr . inet_proto . inet_service", service_ips),
        *_map("service-nodeports", "inet_proto . inet_service", node_ports),
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    jump services",
        "  }",
        "  chain services {",
        "    ip daddr . meta l4proto . th dport vmap @service-ips",
        "    fib daddr type local meta l4proto . th dport vmap @service-nodeports",
        "  }",
        *chains,
        "}",
    ]
    # add-then-delete makes the delete safe when the table does not exist yet.
    return f"table {FAMILY} {table}\ndelete table {FAMILY} {table}\n" + "\n".join(body) + "\n"


def _map(name: str, key_type: str, elements: dict[str, str]) -> list[str]:
    """A verdict map: one hash lookup per new connection, however many Services."""
    lines = [f"  map {name} {{", f"    type {key_type} : verdict"]
    if elements:
        items = ", ".join(f"{k} : {v}" for k, v in elements.items())
        lines.append(f"    elements = {{ {items} }}")
    return [*lines, "  }"]


def _service_chain(chain: str, sp: ServicePort) -> str:
    comment = f'comment "{sp.id}"'
    match = f"meta l4proto {_L4[sp.protocol]}"
    if len(sp.endpoints) == 1:
        ep = sp.endpoints[0]
        rule = f"{match} dnat to {ep.ip}:{ep.port} {comment}"
    else:
        pairs = ", ".join(f"{n} : {ep.ip} . {ep.port}" for n, ep in enumerate(sp.endpoints))
        rule = (
            f"{match} dnat ip to numgen random mod {len(sp.endpoints)} map {{ {pairs} }} {comment}"
        )
    return f"  chain {chain} {{\n    {rule}\n  }}"


class NftablesProxy:
    def __init__(self, table: str, *, node_ip: str = "127.0.0.1") -> None:
        self.table = table
        self.node_ip = node_ip
        self.last: str | None = None
        self.nft = shutil.which("nft") or "nft"

    async def sync(self, ports: list[ServicePort]) -> None:
        script = render(self.table, ports, node_ip=self.node_ip)
        if script == self.last:
            return
        proc = await asyncio.create_subprocess_exec(
            self.nft, "-f", "-",
            stdin=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            _, err = await proc.communicate(script.encode())
        except asyncio.CancelledError:
            # Stopping mid-sync: `remove()` runs next, and an nft still running would
            # put the table back after it. End it first (its transaction is
            # all-or-nothing), and wait until it is gone.
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"nft -f failed: {err.decode().strip()}")
        self.last = script
        log.debug("nftables table %s synced (%d service ports)", self.table, len(ports))

    def remove(self) -> None:
        """Delete the table (sync: it runs while the proxy is being cancelled)."""
        script = f"table {FAMILY} {self.table}\ndelete table {FAMILY} {self.table}\n"
        subprocess.run(
            [self.nft, "-f", "-"], input=script, text=True, capture_output=True, check=False
        )
        self.last = None


__all__ = ["NftablesProxy", "available", "render", "table_name"]
