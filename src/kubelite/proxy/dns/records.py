"""The cluster zone's records, derived from Services and EndpointSlices (the CoreDNS kubernetes plugin's schema).

- `SVC.NS.svc.ZONE` A: the ClusterIP; for a headless Service, every ready
  endpoint; for an ExternalName Service, a CNAME to its external name.
- `_PORT._PROTO.SVC.NS.svc.ZONE` SRV (and SRV on `SVC.NS.svc.ZONE` for all
  ports): `0 W PORT SVC.NS.svc.ZONE.`; headless: one per endpoint, naming
  `HOST.SVC.NS.svc.ZONE.` where HOST is the endpoint's hostname (a
  StatefulSet pod's name) or its dashed IP.
- `HOST.SVC.NS.svc.ZONE` A for endpoints of headless Services.
- `A-B-C-D.NS.pod.ZONE` A: the IP in the name (the plugin's `pods insecure`).
- PTR for cluster IPs and headless endpoints; `dns-version.ZONE` TXT.

`Records.answer` is pure: name and type in, rcode and resource records out;
the server turns them into wire format. Names that exist only as parents of
other names (`svc.ZONE`, `NS.svc.ZONE`) answer NOERROR with no data.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SCHEMA_VERSION = "1.1.0"
TTL = 5

NOERROR, NXDOMAIN = 0, 3


@dataclass(frozen=True)
class RR:
    name: str  # absolute, lower case, trailing dot
    rtype: str  # A | SRV | CNAME | PTR | TXT
    value: str  # presentation format of the rdata
    ttl: int = TTL


@dataclass(frozen=True)
class Answer:
    rcode: int
    answer: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()
    authoritative: bool = True


@dataclass
class _Service:
    namespace: str
    name: str
    kind: str  # cluster | headless | external
    cluster_ip: str = ""
    external: str = ""
    ports: list[tuple[str, str, int]] = field(default_factory=list)  # (name, proto, port)
    endpoints: list[tuple[str, str]] = field(default_factory=list)  # (host label, ip), ready


LOOPBACK_REVERSE_ZONE = "127.in-addr.arpa."
LOCALHOST_PTR = "1.0.0.127.in-addr.arpa."


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


class Records:
    def __init__(self, zone: str = "cluster.local") -> None:
        self.zone = zone.strip(".").lower() + "."
        self.services: dict[tuple[str, str], _Service] = {}
        self.hosts: dict[str, list[str]] = {}  # name -> IPs (service and endpoint names)
        self.ptr: dict[str, str] = {}
        self.parents: set[str] = set()

    # ---- building ----------------------------------------------------------------

    @classmethod
    def build(
        cls, services: Iterable[Obj], slices: Iterable[Obj], zone: str = "cluster.local"
    ) -> Records:
        rec = cls(zone)
        by_service: dict[tuple[str, str], list[Obj]] = {}
        for s in slices:
            md = s.get("metadata") or {}
            name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if name and s.get("addressType", "IPv4") == "IPv4":
                by_service.setdefault((md.get("namespace", ""), name), []).append(s)
        for svc in services:
            entry = _service(svc, by_service)
            if entry is not None:
                rec._add(entry)
        return rec

    def _add(self, svc: _Service) -> None:
        self.services[(svc.namespace, svc.name)] = svc
        base = f"{svc.name}.{svc.namespace}.svc.{self.zone}"
        self._parents(base)
        if svc.kind == "cluster":
            self.hosts[base] = [svc.cluster_ip]
            self.ptr.setdefault(reverse_name(svc.cluster_ip), base)
        elif svc.kind == "headless":
            self.hosts[base] = sorted({ip for _, ip in svc.endpoints}, key=_ip_key)
            for host, ip in svc.endpoints:
                name = f"{host}.{base}"
                self.hosts.setdefault(name, []).append(ip)
                self.ptr.setdefault(reverse_name(ip), name)

    def _parents(self, name: str) -> None:
        labels = name.split(".")
        zone_len = len(self.zone.split("."))
        for i in range(1, len(labels) - zone_len + 1):
            self.parents.add(".".join(labels[i:]))

    # ---- answering -------------------------------------------------------------------

    def in_zone(self, qname: str) -> bool:
        q = qname.lower()
        return q == self.zone or q.endswith("." + self.zone)

    @staticmethod
    def loopback_reverse(qname: str) -> bool:
        """`127.in-addr.arpa` is served locally, never forwarded (RFC 6303's locally served zones).

        Pod IPs are loopback addresses here, and apps look their own up (Python's
        HTTPServer does, through getfqdn): an upstream resolver has nothing to say
        about them, and on a machine without one each lookup would wait for a timeout.
        """
        q = qname.lower()
        return q == LOOPBACK_REVERSE_ZONE or q.endswith("." + LOOPBACK_REVERSE_ZONE)

    def answer(self, qname: str, qtype: str) -> Answer:
        q = qname.lower()
        if not q.endswith("."):
            q += "."
        if q.endswith(".in-addr.arpa."):
            target = self.ptr.get(q)
            if target is None and q == LOCALHOST_PTR:
                target = "localhost."
            if target is None:
                return Answer(NXDOMAIN)
            return Answer(NOERROR, (RR(q, "PTR", target),) if qtype in ("PTR", "ANY") else ())
        rel = q[: -len(self.zone)].rstrip(".").split(".") if q != self.zone else []
        if rel == ["dns-version"]:
            return Answer(NOERROR, (RR(q, "TXT", f'"{SCHEMA_VERSION}"'),) if qtype == "TXT" else ())
        if len(rel) == 3 and rel[2] == "pod":
            return self._pod(q, rel[0], qtype)
        if len(rel) == 5 and rel[0].startswith("_") and rel[1].startswith("_") and rel[4] == "svc":
            return self._srv(q, rel[3], rel[2], port=rel[0][1:], proto=rel[1][1:], qtype=qtype)
        if len(rel) == 3 and rel[2] == "svc":
            svc = self.services.get((rel[1], rel[0]))
            if svc is not None and svc.kind == "external":
                return Answer(NOERROR, (RR(q, "CNAME", svc.external),))
            if svc is not None and qtype == "SRV":
                return self._srv(q, rel[1], rel[0], port=None, proto=None, qtype=qtype)
        return self._host(q, qtype)

    def _host(self, q: str, qtype: str) -> Answer:
        ips = self.hosts.get(q)
        if ips is None:
            return Answer(NOERROR if q in self.parents or q == self.zone else NXDOMAIN)
        if qtype not in ("A", "ANY"):
            return Answer(NOERROR)
        return Answer(NOERROR, tuple(RR(q, "A", ip) for ip in ips))

    def _pod(self, q: str, label: str, qtype: str) -> Answer:
        try:
            ip = str(ipaddress.IPv4Address(label.replace("-", ".")))
        except ValueError:
            return Answer(NXDOMAIN)
        return Answer(NOERROR, (RR(q, "A", ip),) if qtype in ("A", "ANY") else ())

    def _srv(
        self, q: str, ns: str, name: str, *, port: str | None, proto: str | None, qtype: str
    ) -> Answer:
        svc = self.services.get((ns, name))
        if svc is None or svc.kind == "external":
            return Answer(NXDOMAIN)
        ports = [
            p
            for p in svc.ports
            if (port is None or p[0].lower() == port) and (proto is None or p[1].lower() == proto)
        ]
        if not ports:
            return Answer(NXDOMAIN)
        if qtype not in ("SRV", "ANY"):
            return Answer(NOERROR)
        base = f"{name}.{ns}.svc.{self.zone}"
        if svc.kind == "cluster":
            targets = [(base, svc.cluster_ip)]
        else:
            targets = [(f"{host}.{base}", ip) for host, ip in svc.endpoints]
        weight = max(1, 100 // max(1, len(targets)))
        answer = [RR(q, "SRV", f"0 {weight} {p[2]} {t}") for p in ports for t, _ in targets]
        extra = [RR(t, "A", ip) for t, ip in dict(targets).items()]
        return Answer(NOERROR, tuple(answer), tuple(extra))


def _service(svc: Obj, slices: dict[tuple[str, str], list[Obj]]) -> _Service | None:
    md, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    ns, name = md.get("namespace", ""), md.get("name", "")
    ports = [
        (p.get("name") or "", p.get("protocol", "TCP"), int(p["port"]))
        for p in spec.get("ports") or []
    ]
    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").lower().rstrip(".") + "."
        return _Service(ns, name, "external", external=target)
    ip = spec.get("clusterIP")
    if ip and ip != "None":
        return _Service(ns, name, "cluster", cluster_ip=ip, ports=ports)
    if ip == "None":
        eps, eports = _ready_endpoints(slices.get((ns, name), []))
        return _Service(ns, name, "headless", ports=eports or ports, endpoints=eps)
    return None


def _ready_endpoints(slices: list[Obj]) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    seen: dict[str, str] = {}
    ports: dict[tuple[str, str], int] = {}
    for s in slices:
        for p in s.get("ports") or []:
            if p.get("port"):
                ports[(p.get("name") or "", p.get("protocol", "TCP"))] = int(p["port"])
        for ep in s.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for ip in ep.get("addresses") or []:
                seen.setdefault(ip, str(ep.get("hostname") or dashed(ip)).lower())
    eps = sorted(((host, ip) for ip, host in seen.items()), key=lambda e: _ip_key(e[1]))
    return eps, [(n, proto, port) for (n, proto), port in sorted(ports.items())]


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split(".")) if ip.count(".") == 3 else (0,)


__all__ = ["RR", "Answer", "Records", "reverse_name"]
