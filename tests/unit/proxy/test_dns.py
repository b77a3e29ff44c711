"""Cluster DNS: the record schema, wire answers, FORMERR, forwarding."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from kubelite.api import lowports
from kubelite.apiserver.client import LocalClient
from kubelite.proxy.dns import ClusterDNS, Records
from kubelite.proxy.dns import server as dns_server
from kubelite.proxy.dns.server import formerr_for

from .conftest import make_service

pytestmark = pytest.mark.anyio


def svc(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "clusterIP": "127.96.1.5",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
    return {"metadata": {"name": name, "namespace": ns}, "spec": {**base, **spec}}


def slice_(service: str, *eps: tuple[str, str | None, bool], port: int = 80) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready}, **({"hostname": h} if h else {})}
            for ip, h, ready in eps
        ],
    }


RECORDS = Records.build(
    [
        svc("go-app"),
        svc("nginx", clusterIP="None"),
        svc("ext", type="ExternalName", externalName="example.com", clusterIP=None, ports=[]),
        svc(
            "alias",
            type="ExternalName",
            clusterIP=None,
            ports=[],
            externalName="go-app.default.svc.cluster.local",
        ),
        svc(
            "alias2",
            type="ExternalName",
            clusterIP=None,
            ports=[],
            externalName="alias.default.svc.cluster.local.",
        ),
        svc(
            "loop",
            type="ExternalName",
            clusterIP=None,
            ports=[],
            externalName="loop.default.svc.cluster.local",
        ),
        svc("empty", clusterIP="None"),
        svc("db", clusterIP="None"),
    ],
    [
        slice_(
            "nginx",
            ("127.244.0.2", "web-0", True),
            ("127.244.0.3", "web-1", True),
            ("127.244.0.4", None, False),
        ),
        slice_("db", ("127.244.0.5", "db-0", True)),
        slice_(
            "go-app",
            ("127.244.0.9", None, True),
            ("127.244.0.5", None, True),
            ("127.0.0.1", None, True),
        ),
    ],
    namespaces=["default", "kube-system"],
)


@pytest.mark.parametrize(
    ("name", "qtype", "rcode", "values"),
    [
        pytest.param("go-app.default.svc.cluster.local", "A", 0, ["127.96.1.5"], id="service-a"),
        pytest.param("GO-APP.default.svc.cluster.local.", "A", 0, ["127.96.1.5"], id="case-insensitive"),
        pytest.param("go-app.default.svc.cluster.local", "AAAA", 0, [], id="no-aaaa-nodata"),
        pytest.param(
            "_http._tcp.go-app.default.svc.cluster.local", "SRV", 0,
            ["0 100 8080 go-app.default.svc.cluster.local."], id="srv",
        ),
        pytest.param("_grpc._tcp.go-app.default.svc.cluster.local", "SRV", 3, [], id="srv-unknown-port"),
        pytest.param("nginx.default.svc.cluster.local", "A", 0, ["127.244.0.2", "127.244.0.3"], id="headless-ready-only"),
        pytest.param("web-0.nginx.default.svc.cluster.local", "A", 0, ["127.244.0.2"], id="statefulset-pod"),
        pytest.param(
            "_http._tcp.nginx.default.svc.cluster.local", "SRV", 0,
            ["0 50 80 web-0.nginx.default.svc.cluster.local.", "0 50 80 web-1.nginx.default.svc.cluster.local."],
            id="headless-srv",
        ),
        pytest.param("ext.default.svc.cluster.local", "A", 0, ["example.com."], id="external-name-cname"),
        # CoreDNS follows an in-cluster CNAME target: glibc's stub resolver does not
        pytest.param(
            "alias.default.svc.cluster.local", "A", 0,
            ["go-app.default.svc.cluster.local.", "127.96.1.5"], id="external-name-in-cluster",
        ),
        pytest.param(
            "alias2.default.svc.cluster.local", "A", 0,
            ["alias.default.svc.cluster.local.", "go-app.default.svc.cluster.local.", "127.96.1.5"],
            id="external-name-chain",
        ),
        pytest.param("alias.default.svc.cluster.local", "AAAA", 0, ["go-app.default.svc.cluster.local."], id="external-name-aaaa"),
        pytest.param("alias.default.svc.cluster.local", "TXT", 0, ["go-app.default.svc.cluster.local."], id="external-name-other-type"),
        pytest.param("loop.default.svc.cluster.local", "A", 0, ["loop.default.svc.cluster.local."] * 9, id="external-name-loop-bounded"),
        pytest.param("5.1.96.127.in-addr.arpa", "PTR", 0, ["go-app.default.svc.cluster.local."], id="ptr-cluster-ip"),
        pytest.param("2.0.244.127.in-addr.arpa", "PTR", 0, ["web-0.nginx.default.svc.cluster.local."], id="ptr-endpoint"),
        pytest.param("127-244-0-7.default.pod.cluster.local", "A", 0, ["127.244.0.7"], id="pod-a"),
        # CoreDNS names the endpoints of every Service, not only headless ones
        pytest.param("127-244-0-9.go-app.default.svc.cluster.local", "A", 0, ["127.244.0.9"], id="endpoint-of-cluster-ip-service"),
        pytest.param("9.0.244.127.in-addr.arpa", "PTR", 0, ["127-244-0-9.go-app.default.svc.cluster.local."], id="ptr-endpoint-of-cluster-ip-service"),
        pytest.param(
            "5.0.244.127.in-addr.arpa", "PTR", 0,
            ["127-244-0-5.go-app.default.svc.cluster.local.", "db-0.db.default.svc.cluster.local."],
            id="ptr-endpoint-of-two-services",
        ),
        pytest.param("1.0.0.127.in-addr.arpa", "PTR", 0, ["localhost."], id="ptr-localhost-wins"),
        pytest.param("nope.default.svc.cluster.local", "A", 3, [], id="nxdomain"),
        pytest.param("default.svc.cluster.local", "A", 0, [], id="namespace-exists-nodata"),
        # CoreDNS: an existing namespace is NODATA even with no Service in it
        pytest.param("kube-system.svc.cluster.local", "A", 0, [], id="empty-namespace-nodata"),
        pytest.param("nope.svc.cluster.local", "A", 3, [], id="no-namespace-nxdomain"),
        pytest.param("127-244-0-7.nope.pod.cluster.local", "A", 3, [], id="pod-in-no-namespace"),
        pytest.param("kube-system.pod.cluster.local", "A", 0, [], id="pod-namespace-nodata"),
        # a headless Service with no ready endpoint has no name at all (CoreDNS: NXDOMAIN)
        pytest.param("empty.default.svc.cluster.local", "A", 3, [], id="headless-no-endpoints"),
        pytest.param("_http._tcp.empty.default.svc.cluster.local", "SRV", 3, [], id="headless-no-endpoints-srv"),
        pytest.param(
            "cluster.local", "SOA", 0,
            ["ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"], id="apex-soa",
        ),
        pytest.param("dns-version.cluster.local", "TXT", 0, ['"1.1.0"'], id="schema-version"),
    ],
)  # fmt: skip
def test_records(name: str, qtype: str, rcode: int, values: list[str]) -> None:
    ans = RECORDS.answer(name, qtype)
    assert ans.rcode == rcode
    assert [rr.value for rr in ans.answer] == values


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(
            b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff\xff",
            "123481010000000000000000",
            id="garbage",
        ),
        pytest.param(b"\x12\x34", None, id="no-header-dropped"),
    ],
)
def test_formerr(wire: bytes, expected: str | None) -> None:
    reply = formerr_for(wire)
    assert (reply.hex() if reply else None) == expected


def _query(server: tuple[str, int], name: str, qtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q.to_wire(), server)
        return dns.message.from_wire(s.recv(4096))


async def test_server_follows_the_api(client: LocalClient) -> None:
    server = ClusterDNS(host="127.0.0.1", port=0, upstreams=[])
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(server.run(client, ready))
        await ready.wait()
        addr = server.address
        assert server.status() == {"dns": f"127.0.0.1:{addr[1]}"}
        created = await client.create(make_service("go-app"))
        while server.services.get("default/go-app") is None:  # the watch delivers it
            await asyncio.sleep(0)
        reply = await asyncio.to_thread(_query, addr, "go-app.default.svc.cluster.local")
        assert [r.to_text() for rr in reply.answer for r in rr] == [created["spec"]["clusterIP"]]
        # malformed: FORMERR, and the server still answers afterwards
        bad = await asyncio.to_thread(
            _raw, addr, b"\xab\xcd\x01\x00\x00\x01" + b"\x00" * 6 + b"\x07"
        )
        assert bad[:2] == b"\xab\xcd" and bad[3] & 0x0F == dns.rcode.FORMERR
        # no upstream to forward to: SERVFAIL, not a hang
        other = await asyncio.to_thread(_query, addr, "example.com")
        assert other.rcode() == dns.rcode.SERVFAIL
        # ...but loopback reverse names (pod IPs) are answered here, never forwarded
        pod_ptr = await asyncio.to_thread(_query, addr, "9.0.244.127.in-addr.arpa", "PTR")
        assert pod_ptr.rcode() == dns.rcode.NXDOMAIN and pod_ptr.flags & dns.flags.AA
        assert [rr.name.to_text() for rr in pod_ptr.authority] == ["127.in-addr.arpa."]
        soa = pod_ptr.authority[0][0]
        assert (soa.mname.to_text(), soa.rname.to_text()) == (
            "ns.dns.cluster.local.",
            "hostmaster.cluster.local.",
        )
        local = await asyncio.to_thread(_query, addr, "1.0.0.127.in-addr.arpa", "PTR")
        assert [r.to_text() for rr in local.answer for r in rr] == ["localhost."]
        reply = await asyncio.to_thread(_query, addr, "kubernetes.default.svc.cluster.local")
        assert [r.to_text() for rr in reply.answer for r in rr] == ["127.96.0.1"]
        task.cancel()


def _raw(server: tuple[str, int], wire: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(wire, server)
        return s.recv(4096)


class _FakeUpstream(asyncio.DatagramProtocol):
    """An upstream resolver knowing one name: what a chased ExternalName target meets."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        resp = dns.message.make_response(query)
        if query.question[0].name.to_text() == "db.example.org." and query.question[0].rdtype == 1:
            resp.answer.append(dns.rrset.from_text("db.example.org.", 60, "IN", "A", "192.0.2.7"))
        else:
            resp.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(resp.to_wire(), addr)  # type: ignore[attr-defined]


async def test_external_name_outside_the_cluster_is_chased_upstream(client: LocalClient) -> None:
    loop = asyncio.get_running_loop()
    upstream, _ = await loop.create_datagram_endpoint(_FakeUpstream, local_addr=("127.0.0.1", 0))
    up_port = upstream.get_extra_info("sockname")[1]
    server = ClusterDNS(host="127.0.0.1", port=0, upstreams=["127.0.0.1"])
    real_udp = dns.asyncquery.udp_with_fallback

    async def to_fake(q: Any, where: str, **kw: Any) -> Any:  # the upstream's port is not 53
        return await real_udp(q, where, port=up_port, **kw)

    ready = asyncio.Event()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(dns.asyncquery, "udp_with_fallback", to_fake)
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(server.run(client, ready))
                await ready.wait()
                svc_ = make_service("db", type="ExternalName", externalName="db.example.org")
                await client.create(svc_)
                while server.services.get("default/db") is None:
                    await asyncio.sleep(0)
                reply = await asyncio.to_thread(
                    _query, server.address, "db.default.svc.cluster.local"
                )
                assert reply.rcode() == dns.rcode.NOERROR
                assert [(rr.name.to_text(), r.to_text()) for rr in reply.answer for r in rr] == [
                    ("db.default.svc.cluster.local.", "db.example.org."),
                    ("db.example.org.", "192.0.2.7"),
                ]
                # other types are not chased: the alias alone, answered here
                txt = await asyncio.to_thread(
                    _query, server.address, "db.default.svc.cluster.local", "TXT"
                )
                assert [r.to_text() for rr in txt.answer for r in rr] == ["db.example.org."]
                task.cancel()
    finally:
        upstream.close()


def _many_endpoints(n: int) -> ClusterDNS:
    server = ClusterDNS(host="127.0.0.1", port=0, upstreams=[])
    eps = [(f"10.1.0.{i + 1}", None, True) for i in range(n)]
    server._records = Records.build([svc("big", clusterIP="None")], [slice_("big", *eps)])
    return server


@pytest.mark.parametrize(
    ("udp", "payload", "truncated"),
    [
        # 60 A records make ~1 KB: too much for a plain UDP client (RFC 1035: 512 bytes)
        pytest.param(True, None, True, id="udp-no-edns-truncated"),
        pytest.param(True, 1232, False, id="udp-edns-1232-fits"),
        pytest.param(False, None, False, id="tcp-whole"),
    ],
)
def test_udp_answers_fit_what_the_client_can_take(
    udp: bool, payload: int | None, truncated: bool
) -> None:
    server = _many_endpoints(60)
    query = dns.message.make_query(
        "big.default.svc.cluster.local", "A", use_edns=payload is not None, payload=payload or 0
    )
    reply, forwarded = server.handle_local(query.to_wire(), udp=udp)
    assert forwarded is None and reply is not None
    msg = dns.message.from_wire(reply)
    assert bool(msg.flags & dns.flags.TC) == truncated
    assert len(reply) <= (payload or 512) or not udp
    # truncated: the records that fit (as CoreDNS), the client asks again over TCP
    assert (sum(len(rr) for rr in msg.answer) < 60) == truncated


def test_srv_names_each_endpoint_with_its_own_port() -> None:
    """A named targetPort may resolve differently per pod (one slice per port set), and a
    pod naming no such port sits in a slice without ports: it answers A, never SRV."""
    records = Records.build(
        [svc("db", clusterIP="None"), svc("two", ports=[
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "admin", "port": 81, "protocol": "TCP"},
        ])],
        [
            slice_("db", ("127.244.0.2", "db-0", True), port=5432),
            slice_("db", ("127.244.0.3", "db-1", True), port=6432),
            {**slice_("db", ("127.244.0.4", "db-2", True)), "ports": []},
        ],
    )  # fmt: skip
    ans = records.answer("_http._tcp.db.default.svc.cluster.local", "SRV")
    assert [rr.value for rr in ans.answer] == [
        "0 50 5432 db-0.db.default.svc.cluster.local.",
        "0 50 6432 db-1.db.default.svc.cluster.local.",
    ]
    a = records.answer("db.default.svc.cluster.local", "A")
    assert [rr.value for rr in a.answer] == ["127.244.0.2", "127.244.0.3", "127.244.0.4"]
    # CoreDNS shares the weight among all the records of the answer
    both = records.answer("two.default.svc.cluster.local", "SRV")
    assert [rr.value for rr in both.answer] == [
        "0 50 80 two.default.svc.cluster.local.",
        "0 50 81 two.default.svc.cluster.local.",
    ]


@pytest.mark.parametrize(
    ("name", "qtype", "answer", "additional"),
    [
        # CoreDNS: the apex's name server is `ns.dns.ZONE`, glued to the server's address
        pytest.param(
            "cluster.local.", "NS",
            ["cluster.local. NS ns.dns.cluster.local."], ["ns.dns.cluster.local. A 127.96.0.10"],
            id="apex-ns",
        ),
        pytest.param(
            "ns.dns.cluster.local", "A", ["ns.dns.cluster.local. A 127.96.0.10"], [], id="ns-a",
        ),
        pytest.param(
            "NS.DNS.cluster.local.", "A", ["ns.dns.cluster.local. A 127.96.0.10"], [],
            id="ns-a-case-insensitive",
        ),
        pytest.param("ns.dns.cluster.local", "AAAA", [], [], id="ns-no-aaaa-nodata"),
    ],
)  # fmt: skip
def test_zone_name_server(name: str, qtype: str, answer: list[str], additional: list[str]) -> None:
    records = Records.build([], [], ns_ips=["127.96.0.10"])
    ans = records.answer(name, qtype)
    assert ans.rcode == 0
    assert [f"{rr.name} {rr.rtype} {rr.value}" for rr in ans.answer] == answer
    assert [f"{rr.name} {rr.rtype} {rr.value}" for rr in ans.additional] == additional


def test_server_names_itself_as_the_zone_name_server() -> None:
    server = ClusterDNS(host="127.0.0.1", port=0, upstreams=[])
    wire, forwarded = server.handle_local(
        dns.message.make_query("cluster.local.", "NS").to_wire(), udp=True
    )
    assert forwarded is None and wire is not None
    reply = dns.message.from_wire(wire)
    assert [r.to_text() for rr in reply.answer for r in rr] == ["ns.dns.cluster.local."]
    glue = [(rr.name.to_text(), r.to_text()) for rr in reply.additional for r in rr]
    assert glue == [("ns.dns.cluster.local.", "127.0.0.1")]


def test_without_the_right_to_port_53_it_takes_the_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lowports, "may_bind", lambda p: p >= 1024)
    taken: set[tuple[str, int]] = set()
    monkeypatch.setattr(dns_server, "_accepts", lambda host, port: (host, port) in taken)
    server = ClusterDNS(host="127.96.0.10", port=53, upstreams=[])
    candidates = server._candidates()
    assert candidates[0] == ("127.96.0.10", 64565)
    assert {p for _, p in candidates[1:-3]} == {64565}  # the fallback addresses too
    assert candidates[-1] == ("127.96.0.10", 0)
    # where another cluster's DNS has port 53, pods' connects would go there: skipped
    taken.add(("127.96.0.10", 53))
    candidates = server._candidates()
    assert candidates[0][0].startswith("127.53.") and candidates[0][1] == 64565


@pytest.mark.parametrize(
    ("service_ip", "host"),
    [
        ("127.96.0.1", "127.96.0.10"),
        ("127.96.7.1", "127.96.7.10"),
        ("10.0.0.1", "127.96.0.10"),  # outside the range: the default
        ("", "127.96.0.10"),
    ],
)
def test_each_cluster_has_its_dns_beside_its_kubernetes_service(service_ip: str, host: str) -> None:
    assert dns_server.host_for(service_ip) == host


def test_the_address_bound_is_kept_and_tried_first_next_time(tmp_path: Any) -> None:
    """Pods outlive a restart with a resolv.conf naming the address of the last start."""
    kept = tmp_path / "dns-address"
    first = ClusterDNS(host="127.96.211.10", port=53, upstreams=[], remembered=kept)
    try:
        host, _ = first.bind()
    finally:
        first.close()
    assert host == "127.96.211.10" and kept.read_text() == "127.96.211.10\n"
    # the last start had to fall back elsewhere: that address comes first now
    kept.write_text("127.53.211.9\n")
    again = ClusterDNS(host="127.96.211.10", port=53, upstreams=[], remembered=kept)
    assert [h for h, _ in again._candidates()[:2]] == ["127.53.211.9", "127.96.211.10"]
    try:
        assert again.bind()[0] == "127.53.211.9"
    finally:
        again.close()
    # an unreadable or foreign address is ignored
    kept.write_text("8.8.8.8\n")
    assert ClusterDNS(host="127.96.211.10", remembered=kept)._candidates()[0][0] == "127.96.211.10"


def _tcp_query(server: tuple[str, int], name: str) -> dns.message.Message:
    with socket.create_connection(server, timeout=5) as s:
        wire = dns.message.make_query(name, "A").to_wire()
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        size = int.from_bytes(s.recv(2), "big")
        data = b""
        while len(data) < size:
            data += s.recv(size - len(data))
        return dns.message.from_wire(data)


async def test_a_tcp_query_is_forwarded_over_udp_and_a_failing_upstream_is_servfail(
    client: LocalClient,
) -> None:
    loop = asyncio.get_running_loop()
    upstream, _ = await loop.create_datagram_endpoint(_FakeUpstream, local_addr=("127.0.0.1", 0))
    up_port = upstream.get_extra_info("sockname")[1]
    server = ClusterDNS(host="127.0.0.1", port=0, upstreams=["127.0.0.1"])
    real_udp = dns.asyncquery.udp_with_fallback
    broken = False

    async def to_fake(q: Any, where: str, **kw: Any) -> Any:
        if broken:  # an upstream that hangs up, as one without TCP does
            raise EOFError("EOF")
        return await real_udp(q, where, port=up_port, **kw)

    async def no_tcp(*args: Any, **kw: Any) -> Any:
        raise AssertionError("forwarded over TCP")

    ready = asyncio.Event()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(dns.asyncquery, "udp_with_fallback", to_fake)
            mp.setattr(dns.asyncquery, "tcp", no_tcp)
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(server.run(client, ready))
                await ready.wait()
                reply = await asyncio.to_thread(_tcp_query, server.address, "db.example.org")
                assert [r.to_text() for rr in reply.answer for r in rr] == ["192.0.2.7"]
                broken = True
                reply = await asyncio.to_thread(_tcp_query, server.address, "db.example.org")
                assert reply.rcode() == dns.rcode.SERVFAIL
                broken = False  # and the server is still there
                reply = await asyncio.to_thread(_query, server.address, "db.example.org")
                assert [r.to_text() for rr in reply.answer for r in rr] == ["192.0.2.7"]
                task.cancel()
    finally:
        upstream.close()
