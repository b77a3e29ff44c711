"""Endpoints and EndpointSlice controllers: pods selected by a Service, as addresses and slices."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness

from kubelite.controllers.endpoints import EndpointsController, desired_subsets
from kubelite.controllers.endpointslices import (
    MANAGED_BY,
    EndpointSliceController,
    desired_groups,
    plan_slices,
    slice_template,
)

pytestmark = pytest.mark.anyio
Obj = dict[str, Any]


def service(name: str = "web", *, target: Any = 8080, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "labels": {"tier": "front"},
        },
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}],
            **spec,
        },
    }


def pod(
    name: str,
    ip: str | None = "127.244.0.2",
    *,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
    port_name: str = "http",
    port: int = 8080,
    hostname: str = "",
    subdomain: str = "",
    labels: dict[str, str] | None = None,
) -> Obj:
    md: Obj = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": labels or {"app": "web"},
    }
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: Obj = {
        "nodeName": "node-1",
        "containers": [
            {"name": "app", "image": "app", "ports": [{"name": port_name, "containerPort": port}]}
        ],
    }
    if hostname:
        spec["hostname"], spec["subdomain"] = hostname, subdomain
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def addresses(subsets: list[Obj], field: str = "addresses") -> list[str]:
    return [a["ip"] for s in subsets for a in s.get(field, [])]


# ---- the pure rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pods", "ready", "not_ready"),
    [
        pytest.param(
            [pod("a", "127.244.0.3"), pod("b", "127.244.0.2")],
            ["127.244.0.2", "127.244.0.3"],
            [],
            id="ready-sorted",
        ),
        pytest.param([pod("a", ready=False)], [], ["127.244.0.2"], id="not-ready"),
        pytest.param([pod("a", ip=None)], [], [], id="no-ip-yet"),
        pytest.param([pod("a", phase="Succeeded")], [], [], id="finished"),
        pytest.param([pod("a", deleting=True)], [], [], id="terminating-left-out"),
        pytest.param([pod("a", port_name="other")], [], [], id="named-port-missing"),
    ],
)
def test_endpoints_subsets(pods: list[Obj], ready: list[str], not_ready: list[str]) -> None:
    subsets = desired_subsets(service(target="http"), pods)
    assert addresses(subsets) == ready
    assert addresses(subsets, "notReadyAddresses") == not_ready


def test_named_target_port_resolved_per_pod() -> None:
    pods = [pod("a", "127.244.0.2", port=8080), pod("b", "127.244.0.3", port=9090)]
    subsets = desired_subsets(service(target="http"), pods)
    # different ports -> different subsets (RepackSubsets)
    assert sorted((s["ports"][0]["port"], addresses(s and [s])) for s in subsets) == [
        (8080, ["127.244.0.2"]),
        (9090, ["127.244.0.3"]),
    ]


def test_publish_not_ready_addresses() -> None:
    subsets = desired_subsets(
        service(publishNotReadyAddresses=True),
        [pod("a", ready=False), pod("b", "127.244.0.3", deleting=True)],
    )
    assert addresses(subsets) == ["127.244.0.2", "127.244.0.3"]


@pytest.mark.parametrize(
    ("p", "conditions"),
    [
        pytest.param(pod("a"), {"ready": True, "serving": True, "terminating": False}, id="ready"),
        pytest.param(
            pod("a", ready=False),
            {"ready": False, "serving": False, "terminating": False},
            id="starting",
        ),
        pytest.param(
            pod("a", deleting=True),
            {"ready": False, "serving": True, "terminating": True},
            id="draining",
        ),
        pytest.param(
            pod("a", ready=False, deleting=True),
            {"ready": False, "serving": False, "terminating": True},
            id="stopping",
        ),
    ],
)
def test_slice_conditions(p: Obj, conditions: dict[str, bool]) -> None:
    groups = desired_groups(service(), [p])
    (group,) = groups.values()
    assert group.endpoints["127.244.0.2"]["conditions"] == conditions


def test_statefulset_hostname_only_for_its_subdomain() -> None:
    groups = desired_groups(
        service("nginx", clusterIP="None"),
        [
            pod("web-0", hostname="web-0", subdomain="nginx"),
            pod("x", "127.244.0.3", hostname="x", subdomain="other"),
        ],
    )
    (group,) = groups.values()
    assert group.endpoints["127.244.0.2"]["hostname"] == "web-0"
    assert "hostname" not in group.endpoints["127.244.0.3"]


def test_slice_keeps_a_pod_whose_named_port_does_not_resolve() -> None:
    """Upstream's reconciler: such a pod sits in a slice of its own port set, with no ports
    (`kubectl get endpointslices` lists it, PORTS `<unset>`); the proxy sends it nothing."""
    groups = desired_groups(
        service(target="http"),
        [pod("a", "127.244.0.2"), pod("b", "127.244.0.3", port_name="other")],
    )
    by_ports = {sig: sorted(g.endpoints) for sig, g in groups.items()}
    assert by_ports == {(("http", 8080, "TCP"),): ["127.244.0.2"], (): ["127.244.0.3"]}
    plan = plan_slices(groups, [], slice_template(service(), MANAGED_BY))
    assert sorted((len(s["ports"]), len(s["endpoints"])) for s in plan.create) == [(0, 1), (1, 1)]


def _pods(n: int) -> list[Obj]:
    return [pod(f"p{i}", f"127.244.{i // 250}.{i % 250 + 2}") for i in range(n)]


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        pytest.param(0, [0], id="placeholder"),
        pytest.param(100, [100], id="exactly-one-slice"),
        pytest.param(250, [100, 100, 50], id="max-100-per-slice"),
    ],
)
def test_plan_new_slices(n: int, sizes: list[int]) -> None:
    svc = service()
    plan = plan_slices(desired_groups(svc, _pods(n)), [], slice_template(svc, MANAGED_BY))
    assert [len(s["endpoints"]) for s in plan.create] == sizes
    assert not plan.update and not plan.delete


def test_plan_keeps_endpoints_in_place_and_fills_room() -> None:
    svc = service()
    tmpl = slice_template(svc, MANAGED_BY)
    first = plan_slices(desired_groups(svc, _pods(150)), [], tmpl).create
    existing = [
        {**s, "metadata": {**s["metadata"], "name": f"web-{i}"}} for i, s in enumerate(first)
    ]
    # p0 (in the first slice) goes, three new pods come: they fill the room left, no new slice
    pods = _pods(153)[1:]
    plan = plan_slices(desired_groups(svc, pods), existing, tmpl)
    assert not plan.create and not plan.delete
    # slice 0: p1..p99 kept + 1 new = 100; slice 1: p100..p149 kept + 2 new = 52
    assert sorted(len(s["endpoints"]) for s in plan.update) == [52, 100]
    kept = [e["addresses"][0] for e in plan.update[0]["endpoints"][:99]]
    assert kept == [e["addresses"][0] for e in first[0]["endpoints"][1:]]


# ---- against the API ----------------------------------------------------------------------


async def _setup(
    h: Harness, *pods: Obj, svc: Obj | None = None
) -> tuple[EndpointsController, EndpointSliceController]:
    eps, slices = EndpointsController(clock=h.clock), EndpointSliceController(clock=h.clock)
    h.bind(eps, slices)
    await h.create(svc or service())
    for p in pods:
        status = p.pop("status")
        await h.create(p)
        await h.client.patch(
            "v1", "Pod", p["metadata"]["name"], {"status": status}, "default", subresource="status"
        )
    return eps, slices


async def _slices(h: Harness) -> list[Obj]:
    items, _ = await h.client.list("discovery.k8s.io/v1", "EndpointSlice", "default")
    return items


async def test_controllers_write_endpoints_and_slices(h: Harness) -> None:
    eps, slices = await _setup(h, pod("a", "127.244.0.2"), pod("b", "127.244.0.3", ready=False))
    await h.sync(eps)
    await h.sync(slices)
    ep = await h.get("Endpoints", "web")
    assert addresses(ep["subsets"]) == ["127.244.0.2"]
    assert addresses(ep["subsets"], "notReadyAddresses") == ["127.244.0.3"]
    (s,) = await _slices(h)
    assert s["metadata"]["labels"] == {
        "tier": "front",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"][0], e["conditions"]["ready"]) for e in s["endpoints"]] == [
        ("127.244.0.2", True),
        ("127.244.0.3", False),
    ]


async def test_selector_matching_nothing_gives_empty_endpoints(h: Harness) -> None:
    eps, slices = await _setup(h, pod("a", labels={"app": "other"}))
    await h.sync(eps)
    await h.sync(slices)
    assert "subsets" not in await h.get("Endpoints", "web")  # omitted when empty, as upstream
    (s,) = await _slices(h)
    assert s["endpoints"] == [] or s.get("endpoints") is None  # the placeholder


async def test_hints_preserved_and_resync_is_a_no_op(h: Harness) -> None:
    eps, slices = await _setup(h, pod("a"))
    await h.sync(slices)
    (s,) = await _slices(h)
    s["endpoints"][0]["hints"] = {"forZones": [{"name": "z1"}]}
    await h.client.update(s)
    h.clock.step(10)  # past the wait for our own writes
    await h.sync(slices)
    (again,) = await _slices(h)
    assert again["endpoints"][0]["hints"] == {"forZones": [{"name": "z1"}]}
    assert (
        again["metadata"]["resourceVersion"] == (await _slices(h))[0]["metadata"]["resourceVersion"]
    )


async def test_service_deleted_removes_endpoints(h: Harness) -> None:
    eps, _ = await _setup(h, pod("a"))
    await h.sync(eps)
    await h.client.delete("v1", "Service", "web", "default")
    await h.sync(eps)
    items, _ = await h.client.list("v1", "Endpoints", "default")
    assert items == []


async def test_external_name_service_gets_no_endpoints_even_with_a_selector(h: Harness) -> None:
    # As upstream's endpoints and endpointslice controllers (https://issues.k8s.io/105986).
    svc = service(type="ExternalName", externalName="example.com")
    eps, slices = await _setup(h, pod("a"), svc=svc)
    await h.sync(eps)
    await h.sync(slices)
    assert await h.list("Endpoints") == []
    assert await _slices(h) == []
