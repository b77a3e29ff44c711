"""Kernel proxy mode: DNAT rules in an nftables table kubelite owns.

As kube-proxy's nftables mode: a `nat` chain on the `output` hook (every
client here is a local process) dispatches each frontend through verdict
maps (`service-ips` for ClusterIP:port and load-balancer ingress,
`service-nodeports` for a nodePort on any local address) to a per-service
chain that picks an endpoint at random and DNATs to it. The maps make
dispatch one hash lookup whatever the number of Services, and only a
connection's first packet meets these rules at all: conntrack translates
the rest, so with kept-alive connections kernel mode costs about what direct
traffic does. A service with no endpoints gets no element: its loopback
address has no listener, so the kernel refuses the connection at once.

Every sync rewrites the table in one `nft -f` transaction: the first
creates it (or, finding the table a crashed kubelite left, reads it back
with `nft -j list` and goes on from it), later ones flush its rules and maps
and declare them again, which keeps the per-endpoint sets of ClientIP
session affinity (and the clients in them) across syncs, as kube-proxy does.
A sync after a failed one reads the table back the same way, so it too goes
in place. The table is deleted when the proxy stops. Each cluster names its
own table (derived from its data dir), so clusters side by side never touch
each other's rules.

One transaction is not enough on its own to keep a connection from meeting
half of a sync. A packet walks the rules of the generation current when it
entered the table, but each set or map lookup it makes reads the generation
current at that moment; a commit landing between the two gives it old rules
with new set contents. Two things keep that harmless:

- no rule looks anything up in an anonymous map: replacing a rule retires
  its inline map's elements in the new generation, so the old rule's lookup
  would come back empty and the connection would leave un-NATed, to a
  ClusterIP nothing listens on ("connection refused"). The random pick is a
  row of rules instead, `numgen random mod k 0` for k = N .. 2 and the last
  endpoint unconditionally (each endpoint 1/N, as kube-proxy's iptables mode
  chains its `statistic` rules); the named maps are flushed and refilled, so
  their keys never go missing;
- a chain is named after its service port (`svc-` and a digest of its id),
  never after its position, so a map element of the new generation leads to
  a chain whose old rules belong to the same service: the packet gets that
  service's old endpoints, never another service's (or an empty chain).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Objects:
    """The chains and sets a ruleset declares (besides the fixed ones)."""

    chains: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()


def render(
    table: str,
    ports: list[ServicePort],
    *,
    node_ip: str = "127.0.0.1",
    previous: Objects | None = None,
) -> str:
    """The `nft -f` script that makes `table` hold the rules for `ports`.

    Without `previous` (no table of this shape yet) it is replaced whole. After that
    it is emptied in place instead: rules and map elements are flushed and what
    is no longer declared is deleted, but the affinity sets and their elements
    (the clients' session affinity) survive the sync, as kube-proxy's do.
    """
    return _script(table, *_body(table, ports), previous)


def _script(table: str, body: list[str], objects: Objects, previous: Objects | None) -> str:
    if previous is None:
        # add-then-delete makes the delete safe when the table does not exist yet.
        head = [f"table {FAMILY} {table}", f"delete table {FAMILY} {table}"]
    else:
        head = [
            f"flush table {FAMILY} {table}",
            f"flush map {FAMILY} {table} service-ips",
            f"flush map {FAMILY} {table} service-nodeports",
            *(
                f"delete chain {FAMILY} {table} {c}"
                for c in sorted(previous.chains - objects.chains)
            ),
            *(f"delete set {FAMILY} {table} {n}" for n in sorted(previous.sets - objects.sets)),
        ]
    return "\n".join([*head, *body]) + "\n"


def _body(table: str, ports: list[ServicePort]) -> tuple[list[str], Objects]:
    service_ips: dict[str, str] = {}  # "ip . proto . port" -> "goto chain"
    node_ports: dict[str, str] = {}  # "proto . port" -> "goto chain"
    chains: list[str] = []
    names: set[str] = set()
    sets: list[str] = []
    for sp in ports:
        if not sp.endpoints or sp.protocol not in _L4:
            continue
        chain = chain_name(sp)
        l4 = _L4[sp.protocol]
        for ip in (sp.cluster_ip, *sp.ingress_ips):
            # First one wins a clash (two load balancers on one host port), as the
            # first matching rule would; a duplicate element would fail the transaction.
            service_ips.setdefault(f"{ip} . {l4} . {sp.port}", f"goto {chain}")
        if sp.node_port:
            node_ports.setdefault(f"{l4} . {sp.node_port}", f"goto {chain}")
        if sp.affinity_timeout:
            chains.extend(_affinity_chains(chain, sp, names, sets))
        else:
            chains.append(_service_chain(chain, sp))
        names.add(chain)
    body = [
        f"table {FAMILY} {table} {{",
        '  comment "kubelite service proxy rules"',
        *_map("service-ips", "ipv4_addr . inet_proto . inet_service", service_ips),
        *_map("service-nodeports", "inet_proto . inet_service", node_ports),
        *sets,
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
    set_names = {line.split()[1] for line in sets}
    return body, Objects(frozenset(names), frozenset(set_names))


def _map(name: str, key_type: str, elements: dict[str, str]) -> list[str]:
    """A verdict map: one hash lookup per new connection, however many Services."""
    lines = [f"  map {name} {{", f"    type {key_type} : verdict"]
    if elements:
        items = ", ".join(f"{k} : {v}" for k, v in elements.items())
        lines.append(f"    elements = {{ {items} }}")
    return [*lines, "  }"]


def chain_name(sp: ServicePort) -> str:
    """A service port's chain: the same name at every sync, whatever else comes and goes."""
    key = f"{sp.id}/{sp.protocol}"
    return "svc-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _pick(n: int, count: int) -> str:
    """The condition that picks the n-th of `count` candidates (with a trailing space).

    The n-th rule is reached with probability (count - n) / count and matches one
    time in count - n, so each candidate gets 1 / count; the last one matches
    whatever reaches it. No map: see the module docstring.
    """
    left = count - n
    return f"numgen random mod {left} 0 " if left > 1 else ""


def _service_chain(chain: str, sp: ServicePort) -> str:
    comment = f'comment "{sp.id}"'
    match = f"meta l4proto {_L4[sp.protocol]}"
    rules = [
        f"    {match} {_pick(n, len(sp.endpoints))}dnat to {ep.ip}:{ep.port} {comment}"
        for n, ep in enumerate(sp.endpoints)
    ]
    return "\n".join([f"  chain {chain} {{", *rules, "  }"])


def _affinity_chains(chain: str, sp: ServicePort, names: set[str], sets: list[str]) -> list[str]:
    """ClientIP affinity as kube-proxy's nftables mode: a set of recent clients per endpoint.

    The service chain sends a client found in an endpoint's set there; anyone
    else gets a random endpoint, whose chain records the client (`update`
    refreshes its timeout at each new connection). A set's name is derived
    from the service port, the endpoint and the timeout, so it outlives syncs
    and a changed timeout starts a fresh set.
    """
    comment = f'comment "{sp.id}"'
    match = f"meta l4proto {_L4[sp.protocol]}"
    sticky: list[str] = []
    picks: list[str] = []
    out: list[str] = []
    for n, ep in enumerate(sp.endpoints):
        ep_chain = f"{chain}-ep{n}"
        key = f"{sp.id}/{sp.protocol}/{ep}/{sp.affinity_timeout}"
        aff = "affinity-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        sets.append(
            f"  set {aff} {{ type ipv4_addr; flags dynamic,timeout; "
            f"timeout {sp.affinity_timeout}s; }}"
        )
        sticky.append(f"    ip saddr @{aff} goto {ep_chain}")
        picks.append(f"    {_pick(n, len(sp.endpoints))}goto {ep_chain}")
        out.append(
            f"  chain {ep_chain} {{\n    update @{aff} {{ ip saddr }}\n"
            f"    {match} dnat to {ep.ip}:{ep.port} {comment}\n  }}"
        )
        names.add(ep_chain)
    return [f"  chain {chain} {{", *sticky, *picks, "  }", *out]


class NftablesProxy:
    def __init__(self, table: str, *, node_ip: str = "127.0.0.1") -> None:
        self.table = table
        self.node_ip = node_ip
        self.last: str | None = None
        self.objects: Objects | None = None  # what the table holds, once synced
        self.nft = shutil.which("nft") or "nft"
        self._adopt = True  # the first sync may find the table a crashed kubelite left

    async def sync(self, ports: list[ServicePort]) -> None:
        body, objects = _body(self.table, ports)
        wanted = "\n".join(body)
        if wanted == self.last:
            return
        previous = self.objects
        if previous is None and self._adopt:
            # Pods outlive a crashed kubelite, and its rules keep serving them: the
            # table is synced in place (no window where a connection finds none, the
            # affinity sets kept), unless it turns out not to be one this code writes.
            self._adopt = False
            previous = await _existing(self.nft, self.table)
        script = _script(self.table, body, objects, previous)
        try:
            await run_script(self.nft, script)
        except RuntimeError:
            # A transaction is all or nothing, but what the table holds is read
            # again before the next sync rather than assumed: it then goes in place
            # too (replacing the table whole would refuse a connection racing it).
            self.objects, self._adopt = None, True
            raise
        self.last, self.objects = wanted, objects
        log.debug("nftables table %s synced (%d service ports)", self.table, len(ports))

    def remove(self) -> None:
        """Delete the table (sync: it runs while the proxy is being cancelled)."""
        delete_table(self.nft, self.table)
        self.last = self.objects = None


_FIXED_CHAINS = frozenset({"output", "services"})
_FIXED_MAPS = frozenset({"service-ips", "service-nodeports"})


async def _existing(nft: str, table: str) -> Objects | None:
    """The chains and sets of `table` as it stands, when it has the shape this code
    writes (its fixed chains and maps); None when there is no such table."""
    found = await list_table(nft, table)
    if found is None or not (found["chain"] >= _FIXED_CHAINS and found["map"] >= _FIXED_MAPS):
        return None
    return Objects(frozenset(found["chain"] - _FIXED_CHAINS), frozenset(found["set"]))


async def list_table(nft: str, table: str) -> dict[str, set[str]] | None:
    """The names of the chains, sets and maps `table` holds now (`nft -j list`),
    by kind; None when there is no such table or nft cannot say."""
    try:
        proc = await asyncio.create_subprocess_exec(
            nft, "-j", "list", "table", FAMILY, table,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return None
    try:
        items = json.loads(out)["nftables"]
        return {
            kind: {i[kind]["name"] for i in items if kind in i} for kind in ("chain", "set", "map")
        }
    except (ValueError, KeyError, TypeError):
        return None


async def run_script(nft: str, script: str) -> None:
    """Run one `nft -f` transaction; RuntimeError with nft's message if it fails."""
    proc = await asyncio.create_subprocess_exec(
        nft, "-f", "-",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await proc.communicate(script.encode())
    except asyncio.CancelledError:
        # Stopping mid-sync: the table's removal runs next, and an nft still running
        # would put the table back after it. End it first (its transaction is
        # all-or-nothing), and wait until it is gone.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"nft -f failed: {err.decode().strip()}")


def delete_table_script(table: str) -> str:
    """Delete `table`; adding it first makes the delete safe when it does not exist."""
    return f"table {FAMILY} {table}\ndelete table {FAMILY} {table}\n"


def delete_table(nft: str, table: str) -> None:
    """Delete `table` now (synchronously: it runs while a part is being cancelled)."""
    subprocess.run(
        [nft, "-f", "-"],
        input=delete_table_script(table),
        text=True,
        capture_output=True,
        check=False,
    )


__all__ = [
    "NftablesProxy",
    "Objects",
    "available",
    "chain_name",
    "delete_table",
    "delete_table_script",
    "render",
    "run_script",
    "table_name",
]
