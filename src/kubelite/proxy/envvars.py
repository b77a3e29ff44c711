"""Service environment variables for a starting pod, exactly as kubelet sets them.

For every Service with a cluster IP: `NAME_SERVICE_HOST`, `NAME_SERVICE_PORT`
(the first port), `NAME_SERVICE_PORT_PORTNAME` for named ports, and the
Docker-link variables (`NAME_PORT`, `NAME_PORT_8080_TCP`, `..._PROTO`,
`..._PORT`, `..._ADDR`). NAME is the Service name upper-cased with `-` as
`_`. The node agent passes the Services visible to the pod: those of its
namespace when `enableServiceLinks` is on, and always the `kubernetes`
Service of `default` (`pod_services` picks them, with the namespace's own
Services winning a name clash as upstream).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]


def env_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _has_ip(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def pod_services(
    services: Iterable[Obj], namespace: str, *, enable_links: bool = True
) -> list[Obj]:
    """The Services whose variables a pod in `namespace` gets (kubelet's getServiceEnvVarMap)."""
    chosen: dict[str, Obj] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        if not _has_ip(svc):
            continue
        if md.get("namespace") == "default" and md.get("name") == "kubernetes":
            chosen.setdefault(md["name"], svc)
        if enable_links and md.get("namespace") == namespace:
            chosen[md["name"]] = svc
    return [chosen[k] for k in sorted(chosen)]


def service_env(services: list[Obj]) -> dict[str, str]:
    """The variables for `services`, in kubelet's order (dicts keep insertion order)."""
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


__all__ = ["env_name", "pod_services", "service_env"]
