"""Services + EndpointSlices -> service ports with frontends and endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.proxy.nftables import chain_name, render
from kubelite.proxy.servicemap import Endpoint, ServicePort, service_ports


def svc(name: str = "web", **spec: Any) -> dict[str, Any]:
    base = {"clusterIP": "127.96.1.1", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {**base, **spec}}


def ep(ip: str, *, ready: bool = True, serving: bool = True, terminating: bool = False) -> dict:
    conds = {"ready": ready, "serving": serving, "terminating": terminating}
    return {"addresses": [ip], "conditions": conds}


def slice_(*eps: dict, service: str = "web", port: int = 8080, name: str = "http") -> dict:
    return {
        "metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": name, "port": port, "protocol": "TCP"}],
        "endpoints": list(eps),
    }


@pytest.mark.parametrize(
    ("slices", "expected"),
    [
        pytest.param(
            [slice_(ep("127.244.0.3"), ep("127.244.0.2"))],
            ["127.244.0.2", "127.244.0.3"],
            id="ready",
        ),
        pytest.param(
            [slice_(ep("127.244.0.2", ready=False, serving=False))], [], id="not-ready-skipped"
        ),
        pytest.param(
            [slice_(ep("127.244.0.2"), ep("127.244.0.3", ready=False, terminating=True))],
            ["127.244.0.2"],
            id="terminating-skipped-while-others-ready",
        ),
        pytest.param(
            [slice_(ep("127.244.0.3", ready=False, terminating=True))],
            ["127.244.0.3"],
            id="serving-terminating-used-when-nothing-ready",
        ),
        pytest.param([slice_(ep("127.244.0.2"), name="other")], [], id="port-name-must-match"),
        pytest.param([slice_(ep("127.244.0.2"), service="else")], [], id="other-service"),
    ],
)
def test_endpoints(slices: list[dict], expected: list[str]) -> None:
    (sp,) = service_ports([svc()], slices)
    assert [e.ip for e in sp.endpoints] == expected
    assert all(e.port == 8080 for e in sp.endpoints)


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        pytest.param({"clusterIP": "None"}, 0, id="headless"),
        pytest.param({"type": "ExternalName", "clusterIP": None}, 0, id="external-name"),
        pytest.param({}, 1, id="cluster-ip"),
    ],
)
def test_which_services_are_proxied(spec: dict, count: int) -> None:
    assert len(service_ports([svc(**spec)], [])) == count


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        pytest.param({"clusterIP": "None"}, 1, id="headless"),
        pytest.param({"type": "ExternalName", "clusterIP": None}, 0, id="external-name"),
        pytest.param({}, 1, id="cluster-ip"),
    ],
)
def test_which_services_an_ingress_reaches(spec: dict, count: int) -> None:
    ports = service_ports([svc(**spec)], [], headless=True)
    assert len(ports) == count
    assert all(p.cluster_ip in ("", "127.96.1.1") for p in ports)


def test_frontends_and_affinity() -> None:
    s = svc(
        type="LoadBalancer",
        sessionAffinity="ClientIP",
        sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
        ports=[{"name": "http", "port": 80, "nodePort": 30080}],
    )
    s["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    (sp,) = service_ports([s], [])
    assert sp.frontends("127.0.0.1") == [
        ("127.96.1.1", 80),
        ("127.0.0.1", 30080),
        ("127.0.0.1", 80),
    ]
    assert sp.affinity_timeout == 60


def test_nftables_ruleset_dnat_per_endpoint() -> None:
    (sp,) = service_ports(
        [svc(ports=[{"name": "http", "port": 80, "nodePort": 30080}])],
        [slice_(ep("127.244.0.2"), ep("127.244.0.3"))],
    )
    script = render("kubelite-t", [sp])
    # the whole table is replaced in one transaction
    assert script.startswith(
        "table ip kubelite-t\ndelete table ip kubelite-t\ntable ip kubelite-t {"
    )
    assert "type nat hook output priority -100; policy accept;" in script
    # dispatch is one verdict-map lookup per new connection, as kube-proxy's nftables mode
    assert "ip daddr . meta l4proto . th dport vmap @service-ips" in script
    assert "fib daddr type local meta l4proto . th dport vmap @service-nodeports" in script
    chain = chain_name(sp)
    assert f"elements = {{ 127.96.1.1 . tcp . 80 : goto {chain} }}" in script
    assert f"elements = {{ tcp . 30080 : goto {chain} }}" in script
    # a random pick by rules: the first endpoint one time in two, else the second
    assert (
        f"  chain {chain} {{\n"
        '    meta l4proto tcp numgen random mod 2 0 dnat to 127.244.0.2:8080 comment "default/web:http"\n'
        '    meta l4proto tcp dnat to 127.244.0.3:8080 comment "default/web:http"\n'
        "  }"
    ) in script
    assert Endpoint("127.244.0.2", 8080) in sp.endpoints


def test_nftables_no_rule_without_endpoints() -> None:
    script = render("kubelite-t", service_ports([svc()], []))
    assert "goto" not in script  # no listener on the ClusterIP: the kernel refuses at once
    assert "elements" not in script  # an empty map is declared without any


def test_nftables_first_frontend_wins_a_clash() -> None:
    """Two load balancers on one host port: a duplicate map element would fail
    the whole transaction, so the first keeps it (as the first rule would)."""
    a, b = (
        ServicePort(
            "ns", name, "", "TCP", ip, 80, ingress_ips=("127.0.0.1",),
            endpoints=(Endpoint("127.244.0.2", 8080),),
        )
        for name, ip in (("a", "127.96.1.1"), ("b", "127.96.1.2"))
    )  # fmt: skip
    script = render("kubelite-t", [a, b])
    assert script.count("127.0.0.1 . tcp . 80 :") == 1
    assert f"127.0.0.1 . tcp . 80 : goto {chain_name(a)}" in script


def test_nftables_ruleset_is_accepted_by_the_kernel() -> None:
    """`nft -c` parses and checks the script against the kernel without applying it."""
    import shutil
    import subprocess

    from kubelite.proxy.nftables import available

    why = available()
    if why is not None or shutil.which("nft") is None:
        pytest.skip(f"kernel mode cannot run here: {why}")
    ports = service_ports(
        [svc(ports=[{"name": "http", "port": 80, "nodePort": 30080}])],
        [slice_(ep("127.244.0.2"), ep("127.244.0.3"))],
    )
    assert ports and ports[0].endpoints
    for script in (render("kubelite-check", ports), render("kubelite-check", [])):
        proc = subprocess.run(
            ["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
