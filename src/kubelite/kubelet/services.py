"""Service environment variables for a starting pod, and the Service cache they come from.

For every Service with a cluster IP: `NAME_SERVICE_HOST`, `NAME_SERVICE_PORT`
(the first port), `NAME_SERVICE_PORT_PORTNAME` for named ports, and the
Docker-link variables (`NAME_PORT`, `NAME_PORT_8080_TCP`, `..._PROTO`,
`..._PORT`, `..._ADDR`). NAME is the Service name upper-cased with `-` as
`_`. A pod sees the Services of its own namespace when `enableServiceLinks`
is on, and always the `kubernetes` Service of `default` (its own
namespace's Service of that name wins a clash), as upstream's kubelet does.

The variables are computed once per container start from `ServiceCache`, a
list-then-watch copy of every Service kept through the node agent's own API
client, so only Services that exist when the container starts appear (the
documented ordering caveat of Service links).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)
Obj = dict[str, Any]

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


def env_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _has_ip(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def pod_services(
    services: Iterable[Obj], namespace: str, *, enable_links: bool = True
) -> list[Obj]:
    """The Services whose variables a pod in `namespace` gets, sorted by name."""
    chosen: dict[str, Obj] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        if not _has_ip(svc):
            continue
        name, ns = md.get("name", ""), md.get("namespace", "default")
        if ns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, svc)
        elif enable_links and ns == namespace:
            chosen[name] = svc
    return [chosen[k] for k in sorted(chosen)]


def service_env(services: list[Obj]) -> dict[str, str]:
    """The variables for `services`, in the kubelet's order (dicts keep insertion order)."""
    env: dict[str, str] = {}
    for svc in services:
        if not _has_ip(svc):
            continue
        name = env_name(svc["metadata"]["name"])
        spec = svc["spec"]
        ports = spec.get("ports") or []
        env[f"{name}_SERVICE_HOST"] = spec["clusterIP"]
        if ports:
            env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for sp in ports:
            if sp.get("name"):
                env[f"{name}_SERVICE_PORT_{env_name(sp['name'])}"] = str(sp["port"])
        env.update(_link_vars(name, spec["clusterIP"], ports))
    return env


def _link_vars(prefix: str, ip: str, ports: list[Obj]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, sp in enumerate(ports):
        protocol = str(sp.get("protocol") or "TCP")
        url = f"{protocol.lower()}://{ip}:{sp['port']}"
        if i == 0:
            out[f"{prefix}_PORT"] = url  # Docker special-cases the first port
        base = f"{prefix}_PORT_{sp['port']}_{protocol.upper()}"
        out[base] = url
        out[f"{base}_PROTO"] = protocol.lower()
        out[f"{base}_PORT"] = str(sp["port"])
        out[f"{base}_ADDR"] = ip
    return out


def pod_service_env(pod: Obj, services: Iterable[Obj]) -> dict[str, str]:
    """What a container of `pod` gets from Services (enableServiceLinks defaults to true)."""
    spec = pod.get("spec") or {}
    links = spec.get("enableServiceLinks")
    chosen = pod_services(
        services,
        pod["metadata"].get("namespace", "default"),
        enable_links=True if links is None else bool(links),
    )
    return service_env(chosen)


class ServiceCache:
    """Every Service, kept current by list-then-watch (the kubelet's service lister).

    `run` relists whenever the watch ends (an expired revision included), so the
    cache converges on the API's state; `synced` is set after the first list, and
    pods wait for it before their first container starts, as upstream's kubelet
    refuses to build Service variables before its lister has synced once.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Obj] = {}
        self.synced = asyncio.Event()

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def apply(self, type_: str, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        key = (md.get("namespace", "default"), md.get("name", ""))
        if type_ == "DELETED":
            self._items.pop(key, None)
        elif type_ in ("ADDED", "MODIFIED"):
            self._items[key] = obj

    def replace(self, items: Iterable[Obj]) -> None:
        self._items = {}
        for obj in items:
            self.apply("ADDED", obj)

    async def env_for(self, pod: Obj) -> dict[str, str]:
        await self.synced.wait()
        return pod_service_env(pod, self.list())

    async def run(self, client: Any) -> None:
        while True:
            items, rv = await client.list("v1", "Service")
            self.replace(items)
            self.synced.set()
            async for type_, obj in client.watch("v1", "Service", resource_version=rv):
                if type_ == "ERROR":
                    log.info("Service watch expired; relisting")
                    break
                self.apply(type_, obj)


__all__ = ["ServiceCache", "env_name", "pod_service_env", "pod_services", "service_env"]
