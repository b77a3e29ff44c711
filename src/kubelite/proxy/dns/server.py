"""The cluster DNS server (the CoreDNS role), over UDP and TCP.

Names in the cluster zone are answered from `Records`, rebuilt lazily on the
first query after any Service or EndpointSlice event, so an answer always
reflects the informers' cache (which follows the API's watch), and so is
`127.in-addr.arpa` (pod IPs are loopback addresses). Every other
name is forwarded to the host's resolvers (from /etc/resolv.conf). A query
that does not parse gets FORMERR (when it has a header to answer) and the
server carries on.

Where it listens: port 53 at the tenth address of the cluster's own part of
the service range (`127.96.N.10` beside its `kubernetes` Service at
`127.96.N.1`, so `127.96.0.10` for the first cluster on a machine, as
upstream's kube-dns takes the range's tenth address). The address bound is
kept in the data dir (`remembered`) and tried first at the next start: pods
that outlive a restart keep the resolv.conf that names it. When it is taken
(another cluster on this machine) it tries port 53 on a free address of
127.53.0.0/16, so pods' resolv.conf (which cannot name a port) still works. Where this
process may not bind port 53 (no root), the same addresses on port 53's
stand-in (`kubelite.api.lowports`: 64565), to which the node agents send
pods' TCP connects to port 53; failing those, a free port on the same
address. `address` tells which; `bind()` may be called before `run()` so the
node agents can be configured with it (`kubelite.cli.parts` passes it on as
their cluster DNS when pods can reach it).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from kubelite.api import lowports
from kubelite.controllers.informer import Handlers, Informer
from kubelite.proxy.dns.records import LOOPBACK_REVERSE_ZONE, NXDOMAIN, Answer, Records

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.96.0.10"
FALLBACK_NET = "127.53"
SERVICE_NET = ipaddress.IPv4Network("127.96.0.0/16")
FORWARD_TIMEOUT_S = 2.0
MAX_FORWARDS = 256
CHASED = ("A", "AAAA", "ANY")  # query types whose ExternalName CNAME is followed


def host_for(service_ip: str) -> str:
    """The DNS address that goes with a cluster's `kubernetes` Service address:
    the tenth of its /24 (`127.96.N.1` -> `127.96.N.10`)."""
    try:
        net = ipaddress.IPv4Network(f"{service_ip}/24", strict=False)
    except ValueError:
        return DEFAULT_HOST
    return str(net[10]) if net.subnet_of(SERVICE_NET) else DEFAULT_HOST


def host_resolvers(path: str = "/etc/resolv.conf", *, exclude: Iterable[str] = ()) -> list[str]:
    skip = set(exclude)
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] not in skip:
            out.append(parts[1])
    return out


def _accepts(host: str, port: int) -> bool:
    """Whether something (another cluster's DNS) accepts TCP at host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def formerr_for(wire: bytes) -> bytes | None:
    """A FORMERR reply echoing the query's id and opcode; None if there is no header."""
    if len(wire) < 12:
        return None
    qid, flags = struct.unpack("!HH", wire[:4])
    opcode = flags & 0x7800
    rd = flags & 0x0100
    return struct.pack("!HHHHHH", qid, 0x8000 | opcode | rd | dns.rcode.FORMERR, 0, 0, 0, 0)


class ClusterDNS:
    name = "coredns"

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = 53,
        zone: str = "cluster.local",
        upstreams: list[str] | None = None,
        remembered: Path | None = None,
    ) -> None:
        self.host, self.port, self.zone = host, port, zone
        self.remembered = remembered  # the address bound last time, tried first
        self.upstreams = upstreams
        self.services = Informer("v1", "Service")
        self.slices = Informer("discovery.k8s.io/v1", "EndpointSlice")
        self.namespaces = Informer("v1", "Namespace")
        self._records: Records | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._forwards = 0

    # ---- where it listens ----------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def status(self) -> dict[str, Any]:
        return {"dns": f"{self.host}:{self.port}" if self._udp is not None else None}

    def bind(self) -> tuple[str, int]:
        if self._udp is not None:
            return self.address
        for host, port in self._candidates():
            try:
                self._udp, self._tcp = _bind_pair(host, port)
            except OSError:
                continue
            self.host, self.port = host, self._udp.getsockname()[1]
            self._records = None  # `ns.dns.ZONE` names the address just bound
            if port:
                self._remember(host)
            return self.address
        raise OSError(f"cluster DNS: no address to listen on (tried {self.host}:{self.port})")

    def _recalled(self) -> str | None:
        if self.remembered is None:
            return None
        try:
            text = self.remembered.read_text().strip()
            return text if ipaddress.ip_address(text).is_loopback else None
        except (OSError, ValueError):
            return None

    def _remember(self, host: str) -> None:
        if self.remembered is None or self._recalled() == host:
            return
        try:
            self.remembered.write_text(host + "\n")
        except OSError as exc:
            log.warning("cluster DNS: could not keep its address in %s: %s", self.remembered, exc)

    def _candidates(self) -> list[tuple[str, int]]:
        port = lowports.listen_port(self.port)
        out = [(host, port) for host in dict.fromkeys(filter(None, (self._recalled(), self.host)))]
        if self.port == 53:
            rng = random.Random()
            out += [
                (f"{FALLBACK_NET}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", port)
                for _ in range(8)
            ]
        if port != self.port:  # pods' connects go to the stand-in only where 53 is free
            out = [(host, p) for host, p in out if not _accepts(host, self.port)]
        out += [(self.host, 0)] * 3
        return out

    # ---- running --------------------------------------------------------------------

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        self.bind()
        if self.upstreams is None:
            self.upstreams = host_resolvers(exclude={self.host, DEFAULT_HOST})
        dirty = Handlers(
            on_add=lambda _o: self._invalidate(),
            on_update=lambda _o, _n: self._invalidate(),
            on_delete=lambda _o: self._invalidate(),
        )
        for informer in (self.services, self.slices, self.namespaces):
            informer.add_handlers(dirty)
        loop = asyncio.get_running_loop()
        assert self._udp is not None and self._tcp is not None
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                synced = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
                for informer, ev in zip(
                    (self.services, self.slices, self.namespaces), synced, strict=True
                ):
                    tg.create_task(informer.run(client, ev))
                for ev in synced:
                    await ev.wait()
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpServer(self), sock=self._udp
                )
                tg.create_task(self._tcp_accept(self._tcp))
                ready.set()
                try:
                    await asyncio.Future()
                finally:
                    transport.close()
        finally:
            self._tg = None
            self.close()

    def close(self) -> None:
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None

    def _invalidate(self) -> None:
        self._records = None

    @property
    def records(self) -> Records:
        if self._records is None:
            self._records = Records.build(
                self.services.list(),
                self.slices.list(),
                self.zone,
                namespaces=[
                    str((n.get("metadata") or {}).get("name")) for n in self.namespaces.list()
                ],
                ns_ips=[self.host],
            )
        return self._records

    # ---- answering ----------------------------------------------------------------------

    def handle_local(
        self, wire: bytes, *, udp: bool = False
    ) -> tuple[bytes | None, dns.message.Message | None]:
        """(reply, None) when answered here; (None, query) when it must be forwarded."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return formerr_for(wire), None
        if query.opcode() != dns.opcode.QUERY:
            return self._reply(query, rcode=dns.rcode.NOTIMP), None
        if len(query.question) != 1:
            return self._reply(query, rcode=dns.rcode.FORMERR), None
        question = query.question[0]
        qname = question.name.to_text()
        loopback = Records.loopback_reverse(qname)
        if not (loopback or self.records.in_zone(qname) or qname.lower() in self.records.ptr):
            return None, query
        qtype = dns.rdatatype.to_text(question.rdtype)
        answer = self.records.answer(qname, qtype)
        if qtype in CHASED and self.records.external_target(qname, answer) is not None:
            return None, query  # an ExternalName pointing outside: `forward` chases it
        zone = LOOPBACK_REVERSE_ZONE if loopback else None
        return self._render(query, answer, zone, udp=udp), None

    def _render(
        self,
        query: dns.message.Message,
        ans: Answer,
        zone: str | None = None,
        chased: list[dns.rrset.RRset] | None = None,
        *,
        udp: bool = False,
    ) -> bytes:
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AA
        resp.set_rcode(cast(dns.rcode.Rcode, ans.rcode))
        for section, rrs in ((resp.answer, ans.answer), (resp.additional, ans.additional)):
            for rr in rrs:
                section.append(dns.rrset.from_text(rr.name, rr.ttl, "IN", rr.rtype, rr.value))
        resp.answer.extend(chased or [])
        if not ans.answer:
            resp.authority.append(self._soa(zone or self.records.zone))
        return _wire(resp, query, udp=udp)

    def _soa(self, zone: str) -> dns.rrset.RRset:
        return _soa_rrset(zone, self.records.zone)

    def _reply(self, query: dns.message.Message, *, rcode: dns.rcode.Rcode) -> bytes:
        resp = dns.message.make_response(query)
        resp.set_rcode(rcode)
        return bytes(resp.to_wire())

    async def forward(self, query: dns.message.Message, *, tcp: bool = False) -> bytes:
        question = query.question[0]
        qname = question.name.to_text()
        target = self.records.external_target(qname) if self.records.in_zone(qname) else None
        if target is None:
            resp = await self._upstream(query)
            if resp is None:
                return self._reply(query, rcode=dns.rcode.SERVFAIL)
            return _wire(resp, query, udp=not tcp)
        # An ExternalName Service naming a host outside the cluster: our CNAME chain,
        # then what the upstreams say about its target (CoreDNS's upstream lookup).
        sub = dns.message.make_query(target, question.rdtype)
        resp = await self._upstream(sub)
        found = (
            [rr for rr in resp.answer if rr.rdtype in (question.rdtype, dns.rdatatype.CNAME)]
            if resp is not None and resp.rcode() == dns.rcode.NOERROR
            else []
        )
        qtype = dns.rdatatype.to_text(question.rdtype)
        return self._render(query, self.records.answer(qname, qtype), chased=found, udp=not tcp)

    async def _upstream(self, query: dns.message.Message) -> dns.message.Message | None:
        """The first upstream's answer; None if none answers.

        Over UDP first, and TCP only for a truncated answer, whatever the client
        used (CoreDNS's `prefer_udp`): pods ask over TCP where the server sits on
        port 53's stand-in, and many resolvers (a router's, a VM's) answer no TCP.
        The answer's size limit stays the client's transport's."""
        for server in self.upstreams or []:
            try:
                resp, _ = await dns.asyncquery.udp_with_fallback(
                    query, server, timeout=FORWARD_TIMEOUT_S
                )
                return resp
            except (dns.exception.DNSException, OSError, EOFError) as exc:
                log.debug("forwarding %s to %s failed: %s", query.question, server, exc)
        return None

    # ---- transports ---------------------------------------------------------------------

    def spawn_forward(self, query: dns.message.Message, reply: Any) -> None:
        if self._tg is None or self._forwards >= MAX_FORWARDS:
            reply(self._reply(query, rcode=dns.rcode.SERVFAIL))
            return
        self._forwards += 1
        self._tg.create_task(self._forward_then(query, reply))

    async def _forward_then(self, query: dns.message.Message, reply: Any) -> None:
        try:
            reply(await self.forward(query))
        except Exception:  # one query's failure is not the server's
            log.exception("forwarding %s failed", query.question)
        finally:
            self._forwards -= 1

    async def _tcp_accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        assert self._tg is not None
        while True:
            conn, _ = await loop.sock_accept(sock)
            self._tg.create_task(self._tcp_conn(conn))

    async def _tcp_conn(self, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        try:
            while True:
                async with asyncio.timeout(10):
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                    wire = await reader.readexactly(size)
                reply, query = self.handle_local(wire)
                if query is not None:
                    reply = await self.forward(query, tcp=True)
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return
        except Exception:  # one connection's failure is not the server's
            log.exception("cluster DNS: a TCP query failed")
        finally:
            writer.close()


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, server: ClusterDNS) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(
            asyncio.DatagramTransport, transport
        )  # uvloop's transports are not subclasses

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply, query = self.server.handle_local(data, udp=True)
        except Exception:  # one bad query must not stop the server
            log.exception("cluster DNS: query from %s failed", addr)
            reply, query = formerr_for(data), None
        if query is not None:
            self.server.spawn_forward(query, lambda wire: self._send(wire, addr))
        elif reply is not None:
            self._send(reply, addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)


def _wire(resp: dns.message.Message, query: dns.message.Message, *, udp: bool) -> bytes:
    """The reply's wire form; over UDP no larger than the client can take.

    That is 512 bytes (RFC 1035) or the payload size its EDNS record offers
    (RFC 6891); a larger answer (a headless Service with many endpoints) is
    truncated with TC set, so the client asks again over TCP, as CoreDNS
    makes it. Sent whole, it would be cut off by a client reading into a
    buffer of the size it announced (Go's resolver, musl).
    """
    if not udp:
        return bytes(resp.to_wire())
    limit = max(512, query.payload) if query.edns >= 0 else 512
    return bytes(resp.to_wire(max_size=limit, prefer_truncation=True))


@functools.lru_cache(maxsize=16)
def _soa_rrset(owner: str, cluster_zone: str) -> dns.rrset.RRset:
    """The SOA of a zone answered here (built once: parsing it is most of a negative answer)."""
    return dns.rrset.from_text(
        owner,
        5,
        "IN",
        "SOA",
        f"ns.dns.{cluster_zone} hostmaster.{cluster_zone} 1 7200 1800 86400 5",
    )


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((host, port))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((host, udp.getsockname()[1]))
        tcp.listen(128)
        udp.setblocking(False)
        tcp.setblocking(False)
    except OSError:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


__all__ = ["ClusterDNS", "NXDOMAIN", "formerr_for", "host_resolvers"]
