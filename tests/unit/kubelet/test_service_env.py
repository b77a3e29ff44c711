"""Service environment variables: which Services, the names, precedence and $(VAR) expansion."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.kubelet.envvars import Sources, container_env
from kubelite.kubelet.services import ServiceCache, pod_service_env, pod_services, service_env


def make_service(
    name: str, ns: str = "default", ip: str = "127.96.0.20", ports: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": ports if ports is not None else [{"port": 8080}]},
    }


def make_pod(ns: str = "shop", links: bool | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if links is not None:
        spec["enableServiceLinks"] = links
    return {"metadata": {"name": "web-0", "namespace": ns, "uid": "u1"}, "spec": spec}


KUBERNETES = make_service("kubernetes", ip="127.96.0.1", ports=[{"name": "https", "port": 443}])
SERVICES = [
    KUBERNETES,
    make_service(
        "go-app",
        "shop",
        ports=[{"name": "http", "port": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}],
    ),
    make_service("headless", "shop", ip="None"),
    make_service("other-ns", "elsewhere", ip="127.96.0.30"),
]


def test_variables_of_one_service_in_kubelet_order() -> None:
    env = service_env([SERVICES[1]])
    assert list(env.items()) == [
        ("GO_APP_SERVICE_HOST", "127.96.0.20"),
        ("GO_APP_SERVICE_PORT", "8080"),
        ("GO_APP_SERVICE_PORT_HTTP", "8080"),
        ("GO_APP_SERVICE_PORT_DNS", "53"),
        ("GO_APP_PORT", "tcp://127.96.0.20:8080"),
        ("GO_APP_PORT_8080_TCP", "tcp://127.96.0.20:8080"),
        ("GO_APP_PORT_8080_TCP_PROTO", "tcp"),
        ("GO_APP_PORT_8080_TCP_PORT", "8080"),
        ("GO_APP_PORT_8080_TCP_ADDR", "127.96.0.20"),
        ("GO_APP_PORT_53_UDP", "udp://127.96.0.20:53"),
        ("GO_APP_PORT_53_UDP_PROTO", "udp"),
        ("GO_APP_PORT_53_UDP_PORT", "53"),
        ("GO_APP_PORT_53_UDP_ADDR", "127.96.0.20"),
    ]


@pytest.mark.parametrize(
    ("ns", "links", "expected"),
    [
        pytest.param("shop", None, ["go-app", "kubernetes"], id="links-default-on"),
        pytest.param("shop", True, ["go-app", "kubernetes"], id="own-namespace-only"),
        pytest.param("shop", False, ["kubernetes"], id="links-off-keeps-kubernetes"),
        pytest.param("default", False, ["kubernetes"], id="default-namespace-links-off"),
    ],
)
def test_which_services(ns: str, links: bool | None, expected: list[str]) -> None:
    env = pod_service_env(make_pod(ns, links), SERVICES)
    names = sorted({k.split("_SERVICE_HOST")[0] for k in env if k.endswith("_SERVICE_HOST")})
    assert names == sorted(n.upper().replace("-", "_") for n in expected)
    assert "HEADLESS_SERVICE_HOST" not in env  # no cluster IP, no variables


def test_own_namespace_kubernetes_service_wins_over_defaults() -> None:
    mine = make_service("kubernetes", "shop", ip="127.96.0.99")
    chosen = pod_services([KUBERNETES, mine], "shop")
    assert [s["spec"]["clusterIP"] for s in chosen] == ["127.96.0.99"]
    chosen = pod_services([mine, KUBERNETES], "shop")
    assert [s["spec"]["clusterIP"] for s in chosen] == ["127.96.0.99"]


def test_container_env_overrides_and_expands_service_variables() -> None:
    pod = make_pod()
    container = {
        "name": "c",
        "env": [
            {"name": "GO_APP_SERVICE_PORT", "value": "9999"},
            {"name": "URL", "value": "http://$(GO_APP_SERVICE_HOST):$(GO_APP_SERVICE_PORT_HTTP)"},
        ],
    }
    full, defined = container_env(
        pod,
        container,
        image_env=["GO_APP_SERVICE_HOST=from-image"],
        pod_ip="127.244.0.2",
        host_ip="127.0.0.1",
        sources=Sources(services=pod_service_env(pod, SERVICES)),
    )
    assert full["GO_APP_SERVICE_PORT"] == "9999"
    assert full["GO_APP_SERVICE_HOST"] == "127.96.0.20"  # the Service beats the image
    assert full["URL"] == "http://127.96.0.20:8080"
    assert defined["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"  # usable in $(VAR) of command


@pytest.mark.anyio
async def test_cache_follows_list_and_watch() -> None:
    class FakeClient:
        async def list(self, api_version: str, kind: str) -> tuple[list[Any], str]:
            return [KUBERNETES], "5"

        async def watch(self, api_version: str, kind: str, *, resource_version: str):  # type: ignore[no-untyped-def]
            assert resource_version == "5"
            yield "ADDED", SERVICES[1]
            yield "DELETED", KUBERNETES
            yield "ERROR", {"kind": "Status", "code": 410}

    cache = ServiceCache()
    cache.replace([])
    lists = 0

    class Once(FakeClient):
        async def list(self, api_version: str, kind: str) -> tuple[list[Any], str]:
            nonlocal lists
            lists += 1
            if lists > 1:
                raise RuntimeError("stop")
            return await super().list(api_version, kind)

    with pytest.raises(RuntimeError, match="stop"):
        await cache.run(Once())
    assert cache.synced.is_set()
    assert [s["metadata"]["name"] for s in cache.list()] == ["go-app"]
    env = await cache.env_for(make_pod())
    assert "GO_APP_SERVICE_HOST" in env and "KUBERNETES_SERVICE_HOST" not in env


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
