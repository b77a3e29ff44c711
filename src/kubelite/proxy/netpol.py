"""NetworkPolicy enforcement in kernel (nftables) proxy mode.

Every packet here is local (on `lo`), so each one crosses the `output` hook:
after the service proxy's DNAT (nat priority), a `filter`-priority chain in a
table of its own (the proxy's table name plus `-np`) sees the real pod
destination. It accepts `established,related` traffic (replies of allowed
connections), then looks the source up in a verdict map of egress-isolated
pod IPs and the destination in one of ingress-isolated pod IPs; each such
pod has a chain holding the union of the rules of the policies selecting it.
An allowed egress `return`s (the ingress check still follows), an allowed
ingress `accept`s; anything else is rejected, TCP with a reset and the rest
with ICMP port-unreachable, so clients fail at once with "connection
refused" (many CNIs drop instead, which makes clients time out).

Semantics are upstream's (policyTypes default to Ingress, plus Egress when
`spec.egress` is given; peers by podSelector, namespaceSelector, both, or
ipBlock with `except`; ports by number, name (resolved against the
destination pod's container ports) or `endPort` range; SCTP ports are
ignored), with kubelite's choices:

- an ingress-isolated pod still accepts sources that are not pod IPs
  (outside 127.244.0.0/16): the host, where the kubelet's probes, the ingress
  controller, port-forward and the userspace proxy live, is the node, which
  most CNIs let in;
- a pod may always reach itself (on a cluster that never leaves its network
  namespace);
- egress is not relaxed: a pod isolated for egress reaches the host (the API
  server, the cluster DNS on port 53) only where a rule allows it, as
  upstream, e.g. with an ipBlock or a rule with ports and no `to`;
- a named port in an egress rule matches destination pods only (never an
  ipBlock address);
- the cluster DNS is a peer as CoreDNS's pods are on a cluster: in namespace
  `kube-system`, labelled `k8s-app: kube-dns`, with ports `dns` (UDP 53) and
  `dns-tcp` (TCP 53). So the usual "allow DNS" egress rule (that namespace and
  label, port 53) lets an egress-isolated pod resolve names here too. It is
  never a subject (nothing isolates it).

Every sync rewrites the table in one `nft -f` transaction; with no
NetworkPolicy at all there is no table (nothing for packets to cross), and
it is deleted when the proxy stops. As in the service proxy's table
(`nftables`), a packet walks the rules of the generation it entered with but
looks maps up in the current one, so a sync keeps every such mix harmless:
once a table is in place (the first sync reads back one a crashed kubelite
left, as does a sync after a failed one), it flushes the table's rules and
its two maps and declares them again, never deleting the table (a deleted map answers no lookup, and
the packet would pass unchecked), and each pod's chain is named after its
IP, so a new map element leads to the same pod's old rules, never another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import shutil
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.api.selectors import LabelSelector, SelectorError, nothing, selector_from_dict
from kubelite.controllers.informer import Handlers, Informer
from kubelite.proxy.nftables import (
    FAMILY,
    delete_table,
    delete_table_script,
    list_table,
    run_script,
)
from kubelite.proxy.sync_loop import sync_forever

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)

POD_CIDR = "127.244.0.0/16"
_L4 = {"TCP": "tcp", "UDP": "udp"}  # SCTP ports are ignored

Obj = Mapping[str, Any]


def table_for(proxy_table: str) -> str:
    """The policy table that goes with a service proxy table."""
    return proxy_table + "-np"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    ip: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, number)

    def named_port(self, name: str, protocol: str) -> int | None:
        for n, proto, number in self.ports:
            if n == name and proto == protocol:
                return number
        return None


def cluster_dns_peer(host: str, port: int) -> Pod:
    """The cluster DNS as peers see it: CoreDNS's namespace, label and ports."""
    return Pod(
        "kube-dns",
        "kube-system",
        host,
        {"k8s-app": "kube-dns"},
        (("dns", "UDP", port), ("dns-tcp", "TCP", port)),
    )


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def subject_pods(pods: Iterable[Obj]) -> list[Pod]:
    """Pods with a pod IP of their own (not hostNetwork, not finished)."""
    out: list[Pod] = []
    for p in pods:
        spec = p.get("spec") or {}
        status = p.get("status") or {}
        ip = status.get("podIP")
        if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        try:
            if ipaddress.ip_address(ip).version != 4:
                continue
        except ValueError:
            continue
        ports = tuple(
            (str(cp["name"]), str(cp.get("protocol") or "TCP"), int(cp["containerPort"]))
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
            for cp in c.get("ports") or []
            if cp.get("name") and cp.get("containerPort")
        )
        m = _meta(p)
        out.append(Pod(m.get("name", ""), m.get("namespace", ""), ip, m.get("labels") or {}, ports))
    return sorted(out, key=lambda p: (p.ip, p.namespace, p.name))


def _selector(sel: Any) -> LabelSelector:
    try:
        return selector_from_dict(sel or {})
    except SelectorError:
        return nothing()


def policy_types(policy: Obj) -> set[str]:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress", "Egress"} if "egress" in spec and spec["egress"] is not None else {"Ingress"}


class _World:
    def __init__(self, pods: list[Pod], namespaces: Iterable[Obj]) -> None:
        self.pods = pods
        self.ns_labels: dict[str, Mapping[str, str]] = {}
        for ns in namespaces:
            name = _meta(ns).get("name", "")
            labels = dict(_meta(ns).get("labels") or {})
            labels.setdefault("kubernetes.io/metadata.name", name)
            self.ns_labels[name] = labels

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        return self.ns_labels.get(name, {"kubernetes.io/metadata.name": name})

    def peer_pods(self, peer: Obj, policy_ns: str) -> list[Pod] | None:
        """The pods a peer selects (None for an ipBlock peer)."""
        if "ipBlock" in peer and peer["ipBlock"] is not None:
            return None
        pod_sel = _selector(peer.get("podSelector")) if "podSelector" in peer else None
        if peer.get("namespaceSelector") is not None:
            ns_sel = _selector(peer["namespaceSelector"])
            return [
                p
                for p in self.pods
                if ns_sel.matches(self.namespace_labels(p.namespace))
                and (pod_sel is None or pod_sel.matches(p.labels))
            ]
        sel = pod_sel if pod_sel is not None else _selector({})
        return [p for p in self.pods if p.namespace == policy_ns and sel.matches(p.labels)]


def _addr_set(ips: Iterable[str]) -> str:
    items = sorted(set(ips), key=lambda s: ipaddress.ip_network(s, strict=False))
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _ip_block(block: Obj, field: str) -> str | None:
    """`ip saddr <cidr> ip saddr != { except }`, or None when not IPv4."""
    try:
        cidr = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
    except ValueError:
        return None
    if cidr.version != 4:
        return None
    expr = f"ip {field} {cidr}"
    excepts = []
    for e in block.get("except") or []:
        with contextlib.suppress(ValueError):
            net = ipaddress.ip_network(str(e), strict=False)
            if net.version == 4:
                excepts.append(str(net))
    if excepts:
        expr += f" ip {field} != {_addr_set(excepts)}"
    return expr


def _port_exprs(ports: list[Obj] | None, named: dict[str, int] | None) -> list[str] | None:
    """Match expressions for a rule's `ports` (None: any port and protocol).

    `named` resolves named ports (for one destination pod); without it named
    ports match nothing. An empty list means the rule matches nothing.
    """
    if not ports:
        return None
    by_proto: dict[str, list[str]] = {}
    anyport: set[str] = set()
    for p in ports:
        proto = str(p.get("protocol") or "TCP")
        if proto not in _L4:
            continue
        port = p.get("port")
        if port is None:
            anyport.add(proto)
            continue
        if isinstance(port, str) and not port.isdigit():
            number = (named or {}).get(f"{proto}/{port}")
            if number is None:
                continue
            by_proto.setdefault(proto, []).append(str(number))
            continue
        start = int(port)
        end = p.get("endPort")
        if end is not None and int(end) > start:
            by_proto.setdefault(proto, []).append(f"{start}-{int(end)}")
        else:
            by_proto.setdefault(proto, []).append(str(start))
    out: list[str] = []
    for proto in sorted(set(by_proto) | anyport):
        if proto in anyport:
            out.append(f"meta l4proto {_L4[proto]}")
            continue
        values = sorted(set(by_proto[proto]), key=lambda v: int(v.split("-")[0]))
        dport = values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"
        out.append(f"meta l4proto {_L4[proto]} th dport {dport}")
    return out


def _has_named(ports: list[Obj] | None) -> bool:
    return any(isinstance(p.get("port"), str) and not p["port"].isdigit() for p in ports or [])


def _named_of(pod: Pod) -> dict[str, int]:
    return {f"{proto}/{name}": number for name, proto, number in pod.ports}


def _rule_lines(
    peers_field: str,
    field: str,
    rule: Obj,
    policy_ns: str,
    world: _World,
    verdict: str,
    dest: Pod | None,
) -> list[str]:
    """nft rules for one ingress (dest given) or egress (dest None) rule."""
    ports: list[Obj] | None = rule.get("ports")
    peers: list[Obj] = rule.get(peers_field) or []
    lines: list[str] = []

    def emit(match: str, port_exprs: list[str] | None) -> None:
        if port_exprs is None:
            lines.append(f"{match} {verdict}".strip())
        else:
            lines.extend(f"{match} {pe} {verdict}".strip() for pe in port_exprs)

    if dest is not None or not _has_named(ports):
        # Ports resolve against the destination pod (ingress), or need no resolving.
        port_exprs = _port_exprs(ports, _named_of(dest) if dest else None)
        if not peers:
            emit("", port_exprs)
            return lines
        ips: set[str] = set()
        for peer in peers:
            selected = world.peer_pods(peer, policy_ns)
            if selected is None:
                expr = _ip_block(peer["ipBlock"], field)
                if expr is not None:
                    emit(expr, port_exprs)
            else:
                ips.update(p.ip for p in selected)
        if ips:
            emit(f"ip {field} {_addr_set(ips)}", port_exprs)
        return lines
    # Egress with named ports: these resolve per destination pod, numbers do not.
    numeric = [p for p in ports or [] if not _has_named([p])]
    named = [p for p in ports or [] if _has_named([p])]
    targets: list[Pod] = []
    if peers:
        for peer in peers:
            selected = world.peer_pods(peer, policy_ns)
            if selected is None:
                expr = _ip_block(peer["ipBlock"], field)
                if expr is not None and numeric:
                    emit(expr, _port_exprs(numeric, None))
            else:
                targets.extend(selected)
        if targets and numeric:
            emit(f"ip {field} {_addr_set(p.ip for p in targets)}", _port_exprs(numeric, None))
    else:
        targets = list(world.pods)
        if numeric:
            emit("", _port_exprs(numeric, None))
    for pod in sorted({p.ip: p for p in targets}.values(), key=lambda p: p.ip):
        exprs = _port_exprs(named, _named_of(pod))
        if exprs:
            emit(f"ip {field} {pod.ip}", exprs)
    return lines


@dataclass
class _Isolation:
    ingress: list[tuple[Obj, Obj]]  # (policy, rule) pairs
    egress: list[tuple[Obj, Obj]]
    ingress_isolated: bool = False
    egress_isolated: bool = False


def compute(
    policies: Iterable[Obj], pods: Iterable[Obj], namespaces: Iterable[Obj]
) -> dict[str, _Isolation]:
    """Per isolated pod IP: whether ingress/egress isolated, and the rules that apply."""
    subjects = subject_pods(pods)
    out: dict[str, _Isolation] = {}
    for policy in sorted(
        policies, key=lambda o: (_meta(o).get("namespace", ""), _meta(o).get("name", ""))
    ):
        ns = _meta(policy).get("namespace", "")
        spec = policy.get("spec") or {}
        sel = _selector(spec.get("podSelector"))
        types = policy_types(policy)
        for pod in subjects:
            if pod.namespace != ns or not sel.matches(pod.labels):
                continue
            iso = out.setdefault(pod.ip, _Isolation([], []))
            if "Ingress" in types:
                iso.ingress_isolated = True
                iso.ingress.extend((policy, r or {}) for r in spec.get("ingress") or [])
            if "Egress" in types:
                iso.egress_isolated = True
                iso.egress.extend((policy, r or {}) for r in spec.get("egress") or [])
    return out


def _reject() -> list[str]:
    return ["    meta l4proto tcp reject with tcp reset", "    reject"]


def render(
    table: str,
    policies: Iterable[Obj],
    pods: Iterable[Obj],
    namespaces: Iterable[Obj],
    peers: Iterable[Pod] = (),
) -> str:
    """The whole table for these objects, as the body of an `nft -f` script.
    `peers` are what rules may select besides pods (the cluster DNS)."""
    pods = list(pods)
    subjects = subject_pods(pods)
    by_ip = {p.ip: p for p in subjects}
    world = _World([*subjects, *peers], namespaces)
    isolation = compute(policies, pods, namespaces)
    ingress_map: dict[str, str] = {}
    egress_map: dict[str, str] = {}
    chains: list[str] = []
    for ip, iso in sorted(isolation.items(), key=lambda kv: ipaddress.ip_address(kv[0])):
        pod = by_ip[ip]
        comment = f'comment "{pod.namespace}/{pod.name}"'
        if iso.ingress_isolated:
            chain = _chain("ingress", ip)
            ingress_map[ip] = f"jump {chain}"
            lines = [
                f"    ip saddr != {POD_CIDR} accept {comment}",
                f"    ip saddr {ip} accept",
            ]
            for policy, rule in iso.ingress:
                ns = _meta(policy).get("namespace", "")
                lines.extend(
                    "    " + r for r in _rule_lines("from", "saddr", rule, ns, world, "accept", pod)
                )
            chains.extend([f"  chain {chain} {{", *lines, *_reject(), "  }"])
        if iso.egress_isolated:
            chain = _chain("egress", ip)
            egress_map[ip] = f"jump {chain}"
            lines = [f"    ip daddr {ip} return {comment}"]
            for policy, rule in iso.egress:
                ns = _meta(policy).get("namespace", "")
                lines.extend(
                    "    " + r for r in _rule_lines("to", "daddr", rule, ns, world, "return", None)
                )
            chains.extend([f"  chain {chain} {{", *lines, *_reject(), "  }"])
    body = [
        f"table {FAMILY} {table} {{",
        '  comment "kubelite network policy rules"',
        *_vmap("ingress-pods", ingress_map),
        *_vmap("egress-pods", egress_map),
        "  chain output {",
        "    type filter hook output priority filter; policy accept;",
        "    ct state established,related accept",
        "    ip saddr vmap @egress-pods",
        "    ip daddr vmap @ingress-pods",
        "  }",
        *chains,
        "}",
    ]
    return "\n".join(body)


def _vmap(name: str, elements: dict[str, str]) -> list[str]:
    lines = [f"  map {name} {{", "    type ipv4_addr : verdict"]
    if elements:
        items = ", ".join(f"{k} : {v}" for k, v in elements.items())
        lines.append(f"    elements = {{ {items} }}")
    return [*lines, "  }"]


def _chain(kind: str, ip: str) -> str:
    """A pod's chain: named after its IP, so the same at every sync."""
    return f"{kind}-{ip.replace('.', '-')}"


_CHAIN_LINE = re.compile(r"^  chain (\S+) \{$", re.MULTILINE)
_FIXED_CHAINS = frozenset({"output"})
_FIXED_MAPS = frozenset({"ingress-pods", "egress-pods"})


def chains_of(body: str) -> frozenset[str]:
    """The chains a rendered table declares."""
    return frozenset(_CHAIN_LINE.findall(body))


def script(table: str, body: str, in_place: Collection[str] | None = None) -> str:
    """One transaction that makes the table `body`: replaced whole when no table
    of this shape is in place (`in_place` None), else flushed and declared again,
    deleting the chains of `in_place` that `body` no longer declares."""
    if in_place is None:
        return f"{delete_table_script(table)}{body}\n"
    gone = set(in_place) - chains_of(body) - _FIXED_CHAINS
    head = [
        f"flush table {FAMILY} {table}",
        f"flush map {FAMILY} {table} ingress-pods",
        f"flush map {FAMILY} {table} egress-pods",
        *(f"delete chain {FAMILY} {table} {c}" for c in sorted(gone)),
    ]
    return "\n".join([*head, body]) + "\n"


async def chains_in_place(nft: str, table: str) -> frozenset[str] | None:
    """The chains of the policy table as it stands, when it has this code's shape
    (its output chain and two maps); None when there is no such table."""
    found = await list_table(nft, table)
    if found is None or "output" not in found["chain"] or not found["map"] >= _FIXED_MAPS:
        return None
    return frozenset(found["chain"])


class NetworkPolicyEnforcer:
    """Watches NetworkPolicies, Pods and Namespaces; keeps the policy table in sync."""

    debounce_s = 0.05

    def __init__(self, table: str, peers: Iterable[Pod] = ()) -> None:
        self.table = table
        self.peers = tuple(peers)
        self.nft = shutil.which("nft") or "nft"
        self.policies = Informer("networking.k8s.io/v1", "NetworkPolicy")
        self.pods = Informer("v1", "Pod")
        self.namespaces = Informer("v1", "Namespace")
        self._changed = asyncio.Event()
        self._following = False  # pods and namespaces watched (once a policy exists)
        self.last: str | None = None  # the body in place, as far as this enforcer knows
        # the chains of the table in place; None: not known, read back before a sync
        self._in_place: frozenset[str] | None = None
        self.syncs = 0

    async def run(self, client: LocalClient) -> None:
        poke = Handlers(
            on_add=lambda _o: self._changed.set(),
            on_update=lambda _o, _n: self._changed.set(),
            on_delete=lambda _o: self._changed.set(),
        )
        for inf in (self.policies, self.pods, self.namespaces):
            inf.add_handlers(poke)
        async with asyncio.TaskGroup() as tg:
            await self._follow(tg, client, self.policies)

            async def sync() -> None:
                if not self._following and self.policies.list():
                    # Pods and namespaces matter once a policy exists: until then a
                    # burst of pod starts does not pay for a watcher that renders nothing.
                    await self._follow(tg, client, self.pods)
                    await self._follow(tg, client, self.namespaces)
                    self._following = True
                await self.sync_once()

            self._changed.set()
            await sync_forever(self._changed, sync, "network policy", debounce_s=self.debounce_s)

    @staticmethod
    async def _follow(tg: asyncio.TaskGroup, client: LocalClient, informer: Informer) -> None:
        synced = asyncio.Event()
        tg.create_task(informer.run(client, synced))
        await synced.wait()

    async def sync_once(self) -> None:
        self._changed.clear()
        policies = self.policies.list()
        # No policy, no table: packets meet no extra chain, and pod churn costs no render.
        body = (
            render(self.table, policies, self.pods.list(), self.namespaces.list(), self.peers)
            if policies
            else ""
        )
        if body == self.last:
            return
        if body and self._in_place is None:
            # At start (a crashed kubelite's table still guards its pods) and after a
            # failed sync: go on from the table as it stands, never replacing it whole
            # (a packet racing that would find no map and pass unchecked).
            self._in_place = await chains_in_place(self.nft, self.table)
        text = script(self.table, body, self._in_place) if body else delete_table_script(self.table)
        try:
            await run_script(self.nft, text)
        except RuntimeError:
            self.last = self._in_place = None
            raise
        self.last = body
        self._in_place = chains_of(body) if body else None
        self.syncs += 1
        log.debug("network policy table %s synced", self.table)

    def remove(self) -> None:
        """Delete the table (sync: it runs while the proxy is being cancelled)."""
        delete_table(self.nft, self.table)
        self.last = self._in_place = None


__all__ = [
    "NetworkPolicyEnforcer",
    "chains_of",
    "cluster_dns_peer",
    "compute",
    "policy_types",
    "render",
    "script",
    "subject_pods",
    "table_for",
]
