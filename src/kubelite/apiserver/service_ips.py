"""ClusterIP and NodePort allocation, as an admission plugin.

kube-apiserver allocates a Service's cluster IP and node ports in the
Service REST storage, before validation. kubelite does the same from an
admission plugin, and keeps no allocator state of its own: what is taken is
read from the stored Services on every write. Deleting a Service releases
its addresses at once, and a restart cannot lose or double-book one. The API
serialises writes (the REST layer is synchronous), so two creates cannot pick
the same free address.

Dynamic cluster IPs come from the upper part of the range first, so the
lower band (where `kubernetes` = .1 and the cluster DNS = .10 live) stays
for explicit requests, as upstream's allocator prefers; the DNS addresses of
the other clusters this machine may run (`127.96.N.10`) are never picked. Refusals use
upstream's wording: `spec.clusterIPs: Invalid value: []string{"..."}:
failed to allocate IP ...: provided IP is already allocated`.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubelite.api.fielderrors import FieldError, invalid
from kubelite.api.registry import REGISTRY
from kubelite.api.validation_service import DEFAULT_NODE_PORT_RANGE, prepare_service_update
from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes
    from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]
SERVICE = REGISTRY.by_kind("v1", "Service")
DEFAULT_SERVICE_CIDR = "127.96.0.0/16"
DNS_SERVICE_IP = "127.96.0.10"
# every cluster's DNS address on this machine (`127.96.N.10` beside its `kubernetes`
# Service at `127.96.N.1`): never handed out dynamically
DNS_SERVICE_IPS = tuple(f"127.96.{n}.10" for n in range(256))
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


@dataclass(frozen=True)
class Taken:
    """What the other Services hold."""

    ips: frozenset[str]
    node_ports: frozenset[int]


def taken_by(services: Iterable[Obj]) -> Taken:
    ips: set[str] = set()
    ports: set[int] = set()
    for svc in services:
        spec = svc.get("spec") or {}
        ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip)
        ports.update(int(p.get("nodePort") or 0) for p in spec.get("ports") or [])
        ports.add(int(spec.get("healthCheckNodePort") or 0))
    ips.discard("None")
    ports.discard(0)
    return Taken(frozenset(ips), frozenset(ports))


@dataclass
class ServiceIPAllocator:
    """Admission plugin: fills and checks `clusterIP(s)`, `nodePort`, `healthCheckNodePort`."""

    # Runs after the admission webhooks, just before the write (as upstream allocates
    # in the Service storage): nothing awaited can come between choosing and storing.
    after_webhooks = True

    cidr: str = DEFAULT_SERVICE_CIDR
    node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
    reserved: tuple[str, ...] = DNS_SERVICE_IPS
    rng: random.Random = field(default_factory=random.Random)
    # What the other clusters running on this machine hold (their Services answer
    # on the same loopback addresses and node ports): taken here too.
    elsewhere: Callable[[], Taken] | None = None

    def __post_init__(self) -> None:
        self.network = ipaddress.ip_network(self.cidr)

    def admit(
        self, attrs: Attributes, obj: Obj | None, old: Obj | None, storage: RestStorage
    ) -> None:
        if attrs.resource.kind != "Service" or attrs.subresource or obj is None:
            return
        if attrs.operation not in ("CREATE", "UPDATE"):
            return
        if old is not None:
            prepare_service_update(obj, old)
        taken = taken_by(self._others(storage, attrs.namespace, attrs.name))
        if self.elsewhere is not None:
            other = self.elsewhere()
            taken = Taken(taken.ips | other.ips, taken.node_ports | other.node_ports)
        problems = self.allocate(obj, old, taken)
        if problems:
            raise errors.Invalid.fields("Service", "", attrs.name, problems)

    @staticmethod
    def _others(storage: RestStorage, namespace: str | None, name: str) -> list[Obj]:
        assert SERVICE is not None
        items, _, _ = storage.store.list(SERVICE.prefix())
        me = SERVICE.key(namespace, name)
        return [kv.obj() for kv in items if kv.key != me]

    # ---- the pure part -----------------------------------------------------------

    def allocate(self, svc: Obj, old: Obj | None, taken: Taken) -> list[FieldError]:
        """Fill in what is missing, check what was asked for; mutates `svc`."""
        if not isinstance(svc.get("spec"), dict):
            svc["spec"] = {}  # `spec: null` decodes as an empty spec upstream
        spec = svc["spec"]
        old_spec = (old or {}).get("spec") or {}
        problems = self._cluster_ip(spec, old_spec, taken)
        if problems:
            return problems
        return self._node_ports(spec, old_spec, taken)

    def _cluster_ip(self, spec: Obj, old_spec: Obj, taken: Taken) -> list[FieldError]:
        if spec.get("type") == "ExternalName":
            return []
        families = spec.get("ipFamilies") or []
        for i, family in enumerate(families):
            if family != "IPv4":
                return [invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster")]
        asked = spec.get("clusterIP")
        if asked == "None":
            return []
        if spec.get("ipFamilyPolicy") == "RequireDualStack":
            return [
                invalid(
                    "spec.ipFamilyPolicy",
                    "RequireDualStack",
                    "this cluster is not configured for dual-stack services",
                )
            ]
        if not asked:
            if spec.get("clusterIPs"):
                return []  # validation reports the mismatch
            ip = self._free_ip(taken.ips)
            if ip is None:
                return [
                    invalid("spec.clusterIPs", [], "failed to allocate a serviceIP: range is full")
                ]
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            return []
        if asked == old_spec.get("clusterIP"):
            return []
        return self._check_ip(asked, spec.get("clusterIPs") or [asked], taken.ips)

    def _check_ip(self, asked: str, ips: list[str], taken: frozenset[str]) -> list[FieldError]:
        try:
            addr = ipaddress.ip_address(asked)
        except ValueError:
            return []  # validation reports a malformed address
        if addr not in self.network:
            why = (
                f"the provided IP ({asked}) is not in the valid range. "
                f"The range of valid IPs is {self.cidr}"
            )
        elif asked in taken:
            why = "provided IP is already allocated"
        else:
            return []
        return [invalid("spec.clusterIPs", ips, f"failed to allocate IP {asked}: {why}")]

    def _free_ip(self, taken: frozenset[str]) -> str | None:
        """A random free address, from the dynamic (upper) band first."""
        size = self.network.num_addresses
        static = min(max(16, size // 16), 256)
        first, last = 1, size - 2  # no network or broadcast address
        blocked = taken | set(self.reserved)
        for lo, hi in ((static, last), (first, min(static - 1, last))):
            if lo > hi:
                continue
            start = self.rng.randint(lo, hi)
            for off in range(hi - lo + 1):
                cand = str(self.network[lo + (start - lo + off) % (hi - lo + 1)])
                if cand not in blocked:
                    return cand
        return None

    def _node_ports(self, spec: Obj, old_spec: Obj, taken: Taken) -> list[FieldError]:
        if spec.get("type") not in NODE_PORT_TYPES:
            return []
        lo, hi = self.node_port_range
        kept = {int(p.get("nodePort") or 0) for p in old_spec.get("ports") or []}
        kept.add(int(old_spec.get("healthCheckNodePort") or 0))
        used = set(taken.node_ports)
        allocate = spec.get("type") == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True)
        for i, port in enumerate(spec.get("ports") or []):
            asked = int(port.get("nodePort") or 0)
            if asked and asked not in kept and lo <= asked <= hi and asked in taken.node_ports:
                return [
                    invalid(
                        f"spec.ports[{i}].nodePort", asked, "provided port is already allocated"
                    )
                ]
            if not asked and allocate:
                free = self._free_port(used)
                if free is None:
                    return [invalid(f"spec.ports[{i}].nodePort", 0, "range is full")]
                port["nodePort"] = asked = free
            used.add(asked)
        if self._needs_health_check(spec) and not spec.get("healthCheckNodePort"):
            free = self._free_port(used)
            if free is not None:
                spec["healthCheckNodePort"] = free
        return []

    @staticmethod
    def _needs_health_check(spec: Obj) -> bool:
        return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"

    def _free_port(self, used: set[int]) -> int | None:
        lo, hi = self.node_port_range
        start = self.rng.randint(lo, hi)
        for off in range(hi - lo + 1):
            cand = lo + (start - lo + off) % (hi - lo + 1)
            if cand not in used:
                return cand
        return None


__all__ = ["DEFAULT_SERVICE_CIDR", "DNS_SERVICE_IP", "ServiceIPAllocator", "Taken", "taken_by"]
