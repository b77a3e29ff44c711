from __future__ import annotations

import re
from typing import Any

import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.discovery import (
    EndpointSet,
    ServiceNotFoundError,
    StaticDiscovery,
    endpoints_from_slice,
    fallback_endpoints,
)
from kubelite.mesh.errors import NoEndpointsError


def make_slice(
    name: str,
    *addresses: str,
    ready: bool | None = True,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    conditions = {} if ready is None else {"ready": ready}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "orders"}},
        "addressType": "IPv4",
        "ports": ports if ports is not None else [{"name": "http", "port": 8080}],
        "endpoints": [
            {"addresses": [a], "conditions": conditions, "targetRef": {"name": f"pod-{a}"}}
            for a in addresses
        ],
    }


@pytest.mark.parametrize(
    ("ports", "want", "names", "expected"),
    [
        ([{"name": "http", "port": 8080}], None, {}, 8080),  # one port: it
        ([{"name": "grpc", "port": 50051}, {"name": "http", "port": 8080}], None, {}, 8080),
        ([{"name": "grpc", "port": 50051}, {"name": "http", "port": 8080}], "grpc", {}, 50051),
        # Service port 80 is named "http", whose target port is 8080
        ([{"name": "grpc", "port": 50051}, {"name": "http", "port": 8080}], 80, {80: "http"}, 8080),
        ([{"name": "a", "port": 1}, {"name": "b", "port": 2}], 2, {}, 2),  # a target port
        ([{"name": "a", "port": 1}, {"name": "b", "port": 2}], "c", {}, None),
    ],
    ids=["single", "prefer-http", "by-name", "service-port", "target-port", "unknown-name"],
)
def test_port_choice(ports: list, want: Any, names: dict, expected: int | None) -> None:
    got = endpoints_from_slice(make_slice("s", "10.0.0.1", ports=ports), want, names)
    assert [e.port for e in got] == ([] if expected is None else [expected])


def test_ready_condition_and_unknown_counts_as_ready() -> None:
    eps = endpoints_from_slice(make_slice("s", "10.0.0.1", ready=None))
    assert eps == [Endpoint("10.0.0.1", 8080, name="pod-10.0.0.1", ready=True)]
    eps = endpoints_from_slice(make_slice("s", "10.0.0.1", ready=False))
    assert eps[0].ready is False


def test_events_update_the_snapshot_and_version() -> None:
    eset = EndpointSet("orders", "shop")
    seen: list[int] = []
    eset.add_listener(lambda eps: seen.append(len(eps)))
    assert eset.replace([make_slice("a", "10.0.0.1")])
    assert eset.apply("ADDED", make_slice("b", "10.0.0.2", "10.0.0.3"))
    assert [e.address for e in eset.ready()] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    # the same content again is not a change
    assert not eset.apply("MODIFIED", make_slice("b", "10.0.0.2", "10.0.0.3"))
    assert eset.apply("MODIFIED", make_slice("b", "10.0.0.2", "10.0.0.3", ready=False))
    assert [e.address for e in eset.ready()] == ["10.0.0.1"]
    assert eset.apply("DELETED", make_slice("a"))
    assert seen == [1, 3, 3, 2]
    assert eset.version == 4


def test_ready_snapshot_is_one_object_per_change() -> None:
    eset = EndpointSet("orders", "shop")
    eset.replace([make_slice("a", "10.0.0.1", "10.0.0.2")])
    assert eset.ready() is eset.ready()  # balancers key state on the sequence identity


def test_address_in_two_slices_counts_once() -> None:
    eset = EndpointSet("orders", "shop")
    eset.replace([make_slice("a", "10.0.0.1"), make_slice("b", "10.0.0.1")])
    assert len(eset.ready()) == 1


def test_no_ready_endpoints_is_a_typed_error_naming_service_and_namespace() -> None:
    eset = EndpointSet("orders", "shop")
    eset.replace([make_slice("a", "10.0.0.1", ready=False)])
    with pytest.raises(NoEndpointsError, match='"orders" in namespace "shop"'):
        eset.ready()


def test_unknown_service_says_not_found() -> None:
    disc = StaticDiscovery({}, namespace="shop")
    with pytest.raises(ServiceNotFoundError, match='service "nope" not found in namespace "shop"'):
        disc.endpoint_set("nope").ready()


def test_fallback_uses_service_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_API_SERVICE_HOST", "127.96.0.7")
    monkeypatch.setenv("ORDER_API_SERVICE_PORT", "8081")
    assert fallback_endpoints("order-api", "shop", None) == [
        Endpoint("127.96.0.7", 8081, name="order-api (ClusterIP)")
    ]
    assert fallback_endpoints("order-api", "shop", 9000)[0].port == 9000


def test_fallback_falls_back_to_dns_then_nothing() -> None:
    assert [e.address for e in fallback_endpoints("localhost", "x", 80)][:1] in (
        ["127.0.0.1"],
        ["::1"],
    )
    assert fallback_endpoints("no-such-service-kubelite-test", "nowhere", 80) == []


def test_a_service_made_after_the_list_is_read_when_its_slice_comes() -> None:
    from types import SimpleNamespace

    from kubelite.mesh.discovery import _SliceWatcher

    service_ports: list[Any] = []

    class Core:
        def read_namespaced_service(self, name: str, namespace: str) -> Any:
            return SimpleNamespace(spec=SimpleNamespace(ports=service_ports, type="ClusterIP"))

    eset = EndpointSet("orders", "shop", 9090)
    eset.service_exists = False  # what the first list found
    watcher = _SliceWatcher(SimpleNamespace(core=lambda: Core()), eset)
    service_ports[:] = [
        SimpleNamespace(port=80, name="http"),
        SimpleNamespace(port=9090, name="metrics"),
    ]
    ports = [{"name": "http", "port": 18101}, {"name": "metrics", "port": 18102}]
    watcher._on_event("ADDED", make_slice("orders-x", "10.0.0.1", ports=ports))
    assert eset.service_exists is True
    assert [e.port for e in eset.ready()] == [18102]  # Service port 9090 is `metrics`


def test_an_external_name_service_is_read_as_its_dns_name() -> None:
    from types import SimpleNamespace

    from kubelite.mesh.discovery import _SliceWatcher

    spec = SimpleNamespace(ports=[], type="ExternalName", external_name="API.Example.NET.")

    class Core:
        def read_namespaced_service(self, name: str, namespace: str) -> Any:
            return SimpleNamespace(spec=spec)

    eset = EndpointSet("legacy", "shop")
    watcher = _SliceWatcher(SimpleNamespace(core=lambda: Core()), eset)
    watcher._read_service()
    assert eset.external_name == "api.example.net"
    spec.type = "ClusterIP"  # turned into an ordinary Service
    watcher._read_service()
    assert eset.external_name is None


FORBIDDEN_BODY = (
    '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,'
    '"message":"services \\"orders\\" is forbidden: User \\"system:serviceaccount:shop:default\\" '
    'cannot get resource \\"services\\" in API group \\"\\" in the namespace \\"shop\\""}'
)


def test_a_forbidden_api_read_is_reported_as_forbidden_not_as_no_endpoints() -> None:
    from types import SimpleNamespace

    from kubernetes.client.exceptions import ApiException

    from kubelite.mesh.discovery import ServiceForbiddenError, _SliceWatcher
    from kubelite.mesh.errors import ForbiddenError

    class Core:
        def read_namespaced_service(self, name: str, namespace: str) -> Any:
            error = ApiException(status=403, reason="Forbidden")
            error.body = FORBIDDEN_BODY
            raise error

    eset = EndpointSet("orders-x-nowhere", "shop")
    access = SimpleNamespace(core=lambda: Core(), discovery=lambda: None)
    watcher = _SliceWatcher(access, eset)
    try:
        watcher._list()
    except ApiException as exc:
        watcher._on_error(exc)
    with pytest.raises(ServiceForbiddenError) as caught:
        eset.ready()
    assert isinstance(caught.value, ForbiddenError) and isinstance(caught.value, PermissionError)
    message = str(caught.value)
    assert 'cannot discover service "orders-x-nowhere" in namespace "shop"' in message
    assert 'User "system:serviceaccount:shop:default" cannot get resource "services"' in message
    assert "no ready endpoints" not in message
    eset.replace([make_slice("s1", "10.0.0.1")])  # granted later: listed, found
    assert [e.address for e in eset.ready()] == ["10.0.0.1"]


@pytest.mark.parametrize(
    ("want", "names", "says"),
    [
        (9999, {80: "http", 50051: "grpc"}, "has no port 9999 (its ports: 80/http, 50051/grpc)"),
        ("admin", {}, "has no port 'admin' (its ports: grpc, http)"),
    ],
    ids=["number", "name"],
)
def test_a_port_the_service_lacks_is_named_in_the_error(
    want: Any, names: dict[int, str], says: str
) -> None:
    from kubelite.mesh.discovery import PortNotFoundError

    eset = EndpointSet("orders", "shop", want)
    eset.port_names = names
    eset.replace([make_slice("s1", "10.0.0.1", ports=[{"name": "http", "port": 8080},
                                                       {"name": "grpc", "port": 50051}])])  # fmt: skip
    with pytest.raises(PortNotFoundError, match=re.escape(says)) as caught:
        eset.ready()
    assert "no ready endpoints" not in str(caught.value)
    assert isinstance(caught.value, NoEndpointsError)  # still the family callers catch


def test_a_known_port_without_endpoints_is_still_no_ready_endpoints() -> None:
    eset = EndpointSet("orders", "shop", 80)
    eset.port_names = {80: "http"}
    eset.replace([make_slice("s1")])  # the port exists; no pod behind it
    with pytest.raises(NoEndpointsError, match="no ready endpoints"):
        eset.ready()
