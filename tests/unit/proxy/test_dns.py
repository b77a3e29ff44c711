"""Cluster DNS: the record schema, wire answers, FORMERR, forwarding."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from kubelite.apiserver.client import LocalClient
from kubelite.proxy.dns import ClusterDNS, Records
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
    ],
    [
        slice_(
            "nginx",
            ("127.244.0.2", "web-0", True),
            ("127.244.0.3", "web-1", True),
            ("127.244.0.4", None, False),
        ),
        slice_("go-app", ("127.244.0.9", None, True)),
    ],
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
        pytest.param("5.1.96.127.in-addr.arpa", "PTR", 0, ["go-app.default.svc.cluster.local."], id="ptr-cluster-ip"),
        pytest.param("2.0.244.127.in-addr.arpa", "PTR", 0, ["web-0.nginx.default.svc.cluster.local."], id="ptr-endpoint"),
        pytest.param("127-244-0-7.default.pod.cluster.local", "A", 0, ["127.244.0.7"], id="pod-a"),
        pytest.param("nope.default.svc.cluster.local", "A", 3, [], id="nxdomain"),
        pytest.param("default.svc.cluster.local", "A", 0, [], id="namespace-exists-nodata"),
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
