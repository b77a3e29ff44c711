"""The cluster zone's records, derived from Services and EndpointSlices (the CoreDNS kubernetes plugin's schema).

- `SVC.NS.svc.ZONE` A: the ClusterIP; for a headless Service, every ready
  endpoint; for an ExternalName Service, a CNAME to its external name,
  followed (for A/AAAA) by the target's records when it is in the zone.
- `_PORT._PROTO.SVC.NS.svc.ZONE` SRV (and SRV on `SVC.NS.svc.ZONE` for all
  ports): `0 W PORT SVC.NS.svc.ZONE.`; headless: one per endpoint, naming
  `HOST.SVC.NS.svc.ZONE.` where HOST is the endpoint's hostname (a
  StatefulSet pod's name) or its dashed IP.
- `HOST.SVC.NS.svc.ZONE` A for ready endpoints (the spec's, for headless
  Services; CoreDNS's, for any Service).
- `A-B-C-D.NS.pod.ZONE` A: the IP in the name (the plugin's `pods insecure`).
- PTR for cluster IPs, else for endpoint IPs (one per Service naming them);
  `dns-version.ZONE` TXT.
- `ZONE` NS: `ns.dns.ZONE.`, whose A (AAAA) records are the DNS server's own
  addresses, as the plugin answers when no Service fronts the server.

`Records.answer` is pure: name and type in, rcode and resource records out;
the server turns them into wire format. Names that exist only as parents of
other names (`svc.ZONE`, `NS.svc.ZONE` of an existing namespace) answer
NOERROR with no data; a headless Service with no ready endpoint, and a pod
name in a namespace that does not exist, are NXDOMAIN (as CoreDNS answers).
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
MAX_CHASE = 8  # CNAME hops followed inside the zone (ExternalName to ExternalName)


@dataclass(frozen=True)
class RR:
    name: str  # absolute, lower case, trailing dot
    rtype: str  # A | AAAA | SRV | CNAME | PTR | TXT | SOA | NS
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
    endpoint_ports: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # by ip


LOOPBACK_REVERSE_ZONE = "127.in-addr.arpa."
LOCALHOST_PTR = "1.0.0.127.in-addr.arpa."


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


class Records:
    def __init__(self, zone: str = "cluster.local", ns_ips: Iterable[str] = ()) -> None:
        self.zone = zone.strip(".").lower() + "."
        self.ns_name = f"ns.dns.{self.zone}"
        self.ns_ips = tuple(ip for ip in ns_ips if _is_ip(ip))  # where this server listens
        self.services: dict[tuple[str, str], _Service] = {}
        self.hosts: dict[str, list[str]] = {}  # name -> IPs (service and endpoint names)
        self.ptr: dict[str, list[str]] = {}  # reverse name -> targets
        self._vips: set[str] = set()  # reverse names of cluster IPs
        self.parents: set[str] = set()
        self.namespaces: set[str] = set()  # existing ones: `NS.svc.ZONE` is NODATA, not NXDOMAIN

    # ---- building ----------------------------------------------------------------

    @classmethod
    def build(
        cls,
        services: Iterable[Obj],
        slices: Iterable[Obj],
        zone: str = "cluster.local",
        namespaces: Iterable[str] = (),
        ns_ips: Iterable[str] = (),
    ) -> Records:
        rec = cls(zone, ns_ips)
        for ns in namespaces:
            rec.namespaces.add(ns.lower())
            rec.parents.update({f"{ns.lower()}.svc.{rec.zone}", f"{ns.lower()}.pod.{rec.zone}"})
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
            rev = reverse_name(svc.cluster_ip)
            if rev not in self._vips:
                self._vips.add(rev)
                self.ptr[rev] = [base]
        elif svc.kind == "headless" and svc.endpoints:  # none ready: NXDOMAIN, as CoreDNS
            self.hosts[base] = sorted({ip for _, ip in svc.endpoints}, key=_ip_key)
        for host, ip in svc.endpoints:
            # As CoreDNS: every ready endpoint is named under its Service (the spec asks
            # it of headless ones), and its IP points back at each such name.
            name = f"{host}.{base}"
            self.hosts.setdefault(name, []).append(ip)
            rev = reverse_name(ip)
            if rev not in self._vips:
                self.ptr.setdefault(rev, []).append(name)

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

    def answer(self, qname: str, qtype: str, depth: int = 0) -> Answer:
        q = qname.lower()
        if not q.endswith("."):
            q += "."
        if q.endswith(".in-addr.arpa."):
            # 127.0.0.1 stays localhost, though the API and host-network pods serve on it
            targets = ["localhost."] if q == LOCALHOST_PTR else self.ptr.get(q)
            if targets is None:
                return Answer(NXDOMAIN)
            if qtype not in ("PTR", "ANY"):
                return Answer(NOERROR)
            return Answer(NOERROR, tuple(RR(q, "PTR", t) for t in sorted(targets)))
        rel = q[: -len(self.zone)].rstrip(".").split(".") if q != self.zone else []
        if rel == ["dns-version"]:
            return Answer(NOERROR, (RR(q, "TXT", f'"{SCHEMA_VERSION}"'),) if qtype == "TXT" else ())
        if not rel and qtype == "SOA":
            return Answer(NOERROR, (RR(q, "SOA", self.soa()),))
        if not rel and qtype == "NS":
            return Answer(NOERROR, (RR(q, "NS", self.ns_name),), self._ns_addresses("ANY"))
        if q == self.ns_name:
            return Answer(NOERROR, self._ns_addresses(qtype))
        if len(rel) == 3 and rel[2] == "pod" and (not self.namespaces or rel[1] in self.namespaces):
            return self._pod(q, rel[0], qtype)
        if len(rel) == 5 and rel[0].startswith("_") and rel[1].startswith("_") and rel[4] == "svc":
            return self._srv(q, rel[3], rel[2], port=rel[0][1:], proto=rel[1][1:], qtype=qtype)
        if len(rel) == 3 and rel[2] == "svc":
            svc = self.services.get((rel[1], rel[0]))
            if svc is not None and svc.kind == "external":
                return self._external(q, svc.external, qtype, depth)
            if svc is not None and qtype == "SRV":
                return self._srv(q, rel[1], rel[0], port=None, proto=None, qtype=qtype)
        return self._host(q, qtype)

    def _external(self, q: str, target: str, qtype: str, depth: int) -> Answer:
        """The CNAME, followed by the target's records when the cluster holds them.

        As CoreDNS does: a stub resolver (glibc's) does not chase a CNAME itself,
        so an answer with the bare alias would leave `getaddrinfo` with no address.
        A target outside the zone is chased by the server, through its upstreams.
        """
        cname = RR(q, "CNAME", target)
        if qtype not in ("A", "AAAA", "ANY") or not self.in_zone(target) or depth >= MAX_CHASE:
            return Answer(NOERROR, (cname,))
        chased = self.answer(target, qtype, depth + 1)
        return Answer(NOERROR, (cname, *chased.answer))

    def external_target(self, qname: str, ans: Answer | None = None) -> str | None:
        """The name outside the zone that `qname`'s CNAME chain (in `ans`) ends at, if any."""
        if ans is None:
            ans = self.answer(qname, "A")
        last = ans.answer[-1] if ans.answer else None
        if last is None or last.rtype != "CNAME" or self.in_zone(last.value):
            return None
        return last.value

    def _ns_addresses(self, qtype: str) -> tuple[RR, ...]:
        records = []
        for ip in self.ns_ips:
            rtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
            if qtype in (rtype, "ANY"):
                records.append(RR(self.ns_name, rtype, ip))
        return tuple(records)

    def soa(self) -> str:
        return f"ns.dns.{self.zone} hostmaster.{self.zone} 1 7200 1800 86400 {TTL}"

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

        def wanted(p: tuple[str, str, int]) -> bool:
            return (port is None or p[0].lower() == port) and (
                proto is None or p[1].lower() == proto
            )

        base = f"{name}.{ns}.svc.{self.zone}"
        records: list[tuple[int, str, str]]  # (port, target, its address)
        if svc.kind == "cluster":
            records = [(p[2], base, svc.cluster_ip) for p in svc.ports if wanted(p)]
        else:  # each endpoint with the port of its own slice (a named targetPort varies)
            records = [
                (p[2], f"{host}.{base}", ip)
                for host, ip in svc.endpoints
                for p in svc.endpoint_ports.get(ip, ())
                if wanted(p)
            ]
        if not records:
            return Answer(NXDOMAIN)
        if qtype not in ("SRV", "ANY"):
            return Answer(NOERROR)
        weight = max(1, 100 // len(records))  # CoreDNS: 100 shared by the records
        answer = [RR(q, "SRV", f"0 {weight} {n} {t}") for n, t, _ in records]
        extra = [RR(t, "A", ip) for t, ip in {t: ip for _, t, ip in records}.items()]
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
    if not ip:
        return None
    eps, by_ip = _ready_endpoints(slices.get((ns, name), []))
    kind = "headless" if ip == "None" else "cluster"
    return _Service(
        ns, name, kind, cluster_ip="" if kind == "headless" else ip, ports=ports,
        endpoints=eps, endpoint_ports=by_ip,
    )  # fmt: skip


def _ready_endpoints(
    slices: list[Obj],
) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str, int]]]]:
    """Ready endpoints as (host label, IP), and each IP's ports (those of its slice)."""
    seen: dict[str, str] = {}
    by_ip: dict[str, list[tuple[str, str, int]]] = {}
    for s in slices:
        ports = [
            (p.get("name") or "", p.get("protocol", "TCP"), int(p["port"]))
            for p in s.get("ports") or []
            if p.get("port")
        ]
        for ep in s.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for ip in ep.get("addresses") or []:
                seen.setdefault(ip, str(ep.get("hostname") or dashed(ip)).lower())
                by_ip.setdefault(ip, []).extend(p for p in ports if p not in by_ip[ip])
    eps = sorted(((host, ip) for ip, host in seen.items()), key=lambda e: _ip_key(e[1]))
    return eps, {ip: sorted(ps) for ip, ps in by_ip.items()}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split(".")) if ip.count(".") == 3 else (0,)


__all__ = ["RR", "Answer", "Records", "reverse_name"]
