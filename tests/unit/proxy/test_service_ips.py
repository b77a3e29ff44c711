"""ClusterIP / NodePort allocation through the API, as kubectl would see it."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.service_ips import ServiceIPAllocator, Taken

from .conftest import make_service

pytestmark = pytest.mark.anyio


async def test_allocates_distinct_ips_in_range_and_skips_taken(client: LocalClient) -> None:
    ips = set()
    for i in range(30):
        svc = await client.create(make_service(f"s{i}"))
        ips.add(svc["spec"]["clusterIP"])
        assert svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
    assert len(ips) == 30
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("127.96.0.0/16") for ip in ips)
    assert not ips & {"127.96.0.1", "127.96.0.10", "127.96.0.0", "127.96.255.255"}


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        pytest.param(
            "127.96.0.1",
            'Service "b" is invalid: spec.clusterIPs: Invalid value: ["127.96.0.1"]: '
            "failed to allocate IP 127.96.0.1: provided IP is already allocated",
            id="taken-by-kubernetes",
        ),
        pytest.param(
            "10.0.0.5",
            'Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.0.0.5"]: '
            "failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid "
            "range. The range of valid IPs is 127.96.0.0/16",
            id="out-of-range",
        ),
    ],
)
async def test_explicit_ip_refused(client: LocalClient, asked: str, message: str) -> None:
    with pytest.raises(errors.Invalid) as exc:
        await client.create(make_service("b", clusterIP=asked))
    assert str(exc.value) == message
    assert exc.value.status()["details"]["causes"][0]["field"] == "spec.clusterIPs"


async def test_release_on_delete_and_explicit_reuse(client: LocalClient) -> None:
    await client.create(make_service("a", clusterIP="127.96.0.50"))
    with pytest.raises(errors.Invalid):
        await client.create(make_service("b", clusterIP="127.96.0.50"))
    await client.delete("v1", "Service", "a", "default")
    b = await client.create(make_service("b", clusterIP="127.96.0.50"))
    assert b["spec"]["clusterIP"] == "127.96.0.50"


async def test_update_keeps_ip_and_node_ports(client: LocalClient) -> None:
    svc = await client.create(make_service("a", type="NodePort"))
    ip, np = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    svc["spec"].pop("clusterIP")
    svc["spec"].pop("clusterIPs")
    svc["spec"]["ports"][0].pop("nodePort")
    again = await client.update(svc)
    assert again["spec"]["clusterIP"] == ip
    assert again["spec"]["ports"][0]["nodePort"] == np


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        pytest.param({"clusterIP": "None"}, {"clusterIP": "None"}, id="headless"),
        pytest.param(
            {"type": "ExternalName", "externalName": "example.com"},
            {"externalName": "example.com"},
            id="external-name",
        ),
    ],
)
async def test_no_ip_needed(client: LocalClient, spec: dict[str, Any], check: dict) -> None:
    svc = await client.create(make_service("x", **spec))
    for key, value in check.items():
        assert svc["spec"][key] == value
    if spec.get("type") == "ExternalName":
        assert "clusterIP" not in svc["spec"]


async def test_node_port_allocated_and_duplicate_refused(client: LocalClient) -> None:
    a = await client.create(make_service("a", type="NodePort"))
    np = a["spec"]["ports"][0]["nodePort"]
    assert 30000 <= np <= 32767
    with pytest.raises(errors.Invalid) as exc:
        await client.create(
            make_service("b", type="NodePort", ports=[{"port": 80, "nodePort": np}])
        )
    assert str(exc.value) == (
        f'Service "b" is invalid: spec.ports[0].nodePort: Invalid value: {np}: '
        "provided port is already allocated"
    )
    assert exc.value.status()["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"


async def test_load_balancer_gets_node_ports(client: LocalClient) -> None:
    lb = await client.create(make_service("lb", type="LoadBalancer"))
    assert lb["spec"]["ports"][0]["nodePort"] >= 30000


@pytest.mark.parametrize(
    ("taken_ports", "expected"),
    [
        pytest.param(set(range(30000, 30010)), 30010, id="skips-taken"),
        pytest.param(set(range(30000, 30012)), None, id="full"),
    ],
)
def test_free_port_range(taken_ports: set[int], expected: int | None) -> None:
    alloc = ServiceIPAllocator(node_port_range=(30000, 30011 if expected is None else 30010))
    spec: dict[str, Any] = {"type": "NodePort", "clusterIP": "None", "ports": [{"port": 1}]}
    problems = alloc.allocate({"spec": spec}, None, Taken(frozenset(), frozenset(taken_ports)))
    if expected is None:
        assert problems and "range is full" in str(problems[0])
    else:
        assert spec["ports"][0]["nodePort"] == expected


def test_small_range_fills_every_address() -> None:
    # 127.96.0.0/29: 8 addresses, minus network and broadcast = 6 usable, .10 not in it.
    alloc = ServiceIPAllocator(cidr="127.96.0.0/29")
    taken: set[str] = set()
    for _ in range(6):
        spec: dict[str, Any] = {"ports": [{"port": 1}]}
        assert alloc.allocate({"spec": spec}, None, Taken(frozenset(taken), frozenset())) == []
        taken.add(spec["clusterIP"])
    assert len(taken) == 6
    spec = {"ports": [{"port": 1}]}
    assert alloc.allocate({"spec": spec}, None, Taken(frozenset(taken), frozenset()))
