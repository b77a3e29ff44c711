"""LoadBalancer ingress on one address: each port to one Service, the rest pending."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness, drain

from kubelite.proxy.loadbalancer import LoadBalancerController, admitted

pytestmark = pytest.mark.anyio
Obj = dict[str, Any]


def lb(name: str, *ports: int, created: str = "2024-01-01T00:00:00Z", holds: bool = False) -> Obj:
    svc: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in ports],
        },
    }
    if holds:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    return svc


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        pytest.param([lb("a", 80), lb("b", 443)], {"default/a": None, "default/b": None}, id="distinct-ports"),
        pytest.param(
            [lb("b", 80, created="2024-01-02T00:00:00Z"), lb("a", 80)],
            {"default/a": None, "default/b": "default/a"}, id="oldest-first",
        ),
        pytest.param(
            [lb("a", 80), lb("b", 80, 8443, created="2024-01-02T00:00:00Z", holds=True)],
            {"default/a": "default/b", "default/b": None}, id="holder-keeps-its-ports",
        ),
        # all ports or none: b's 443 stays free for c
        pytest.param(
            [lb("a", 80), lb("b", 80, 443, created="2024-01-02T00:00:00Z"),
             lb("c", 443, created="2024-01-03T00:00:00Z")],
            {"default/a": None, "default/b": "default/a", "default/c": None}, id="all-or-nothing",
        ),
    ],
)  # fmt: skip
def test_admitted(services: list[Obj], expected: dict[str, str | None]) -> None:
    assert admitted(services) == expected


async def test_a_second_service_on_a_port_waits_until_it_is_free(h: Harness) -> None:
    ctrl = LoadBalancerController()
    h.bind(ctrl)
    await h.create(lb("first", 80, 443))
    await drain(h, ctrl)
    h.clock.step(5)  # the second is younger
    await h.create(lb("second", 80))
    await drain(h, ctrl)
    first, second = await h.get("Service", "first"), await h.get("Service", "second")
    assert first["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1", "ipMode": "VIP"}]
    assert (second.get("status") or {}).get("loadBalancer") in (None, {})  # EXTERNAL-IP <pending>
    assert await h.events("PortConflict") == [
        "a port of this Service is already used on 127.0.0.1 by Service default/first"
    ]
    await h.client.delete("v1", "Service", "first", "default")
    await drain(h, ctrl)
    second = await h.get("Service", "second")
    assert second["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1", "ipMode": "VIP"}]
