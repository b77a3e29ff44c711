"""Objects every cluster has from its first start.

The system namespaces, the built-in PriorityClasses and the `kubernetes`
Service exist on a real cluster before any user request (and, as on k3s, the
default IngressClass of the bundled ingress controller); creating them here,
through the API, lets kubectl and controllers rely on them.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.apiserver import errors
from kubelite.apiserver.certs import SERVICE_IP
from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _priority_class(name: str, value: int, description: str) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "description": description,
        "preemptionPolicy": "PreemptLowerPriority",
    }


# The class the built-in ingress controller (kubelite.proxy.ingress) serves, the
# default one as k3s makes its bundled controller's class the default.
INGRESS_CLASS_NAME = "kubelite"
INGRESS_CONTROLLER = "kubelite.io/ingress"


def _default_ingress_class() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": INGRESS_CLASS_NAME,
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": INGRESS_CONTROLLER},
    }


def bootstrap_objects(api_port: int, service_ip: str = SERVICE_IP) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in SYSTEM_NAMESPACES
    ]
    objs += [
        _priority_class(
            "system-node-critical",
            2000001000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        _priority_class(
            "system-cluster-critical",
            2000000000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ]
    objs.append(_default_ingress_class())
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": service_ip,
                "clusterIPs": [service_ip],
                "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}
                ],
                "sessionAffinity": "None",
            },
        }
    )
    return objs


async def bootstrap(client: LocalClient, *, api_port: int, service_ip: str = SERVICE_IP) -> None:
    for obj in bootstrap_objects(api_port, service_ip):
        try:
            await client.create(obj)
        except errors.AlreadyExists:
            continue
        except errors.ApiError as exc:
            log.warning(
                "bootstrap object %s/%s not created: %s", obj["kind"], obj["metadata"]["name"], exc
            )
    await _kubernetes_endpoints(client, api_port)


async def _kubernetes_endpoints(client: LocalClient, api_port: int) -> None:
    """The API's own endpoints, refreshed with this start's port: the Endpoints and
    the EndpointSlice both named `kubernetes`, as upstream's endpoint reconciler
    writes them (the Endpoints marked so that no mirror slice is made of them)."""
    ports = [{"name": "https", "port": api_port, "protocol": "TCP"}]
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {SKIP_MIRROR: "true"}},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": ports}],
    }  # fmt: skip
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {SERVICE_NAME: "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        "ports": ports,
    }  # fmt: skip
    for obj, fields in ((endpoints, ("subsets",)), (endpoint_slice, ("endpoints", "ports"))):
        await _write(client, obj, fields)
    # Slices mirrored from the Endpoints before they were marked: gone.
    try:
        mirrored, _ = await client.list(
            "discovery.k8s.io/v1", "EndpointSlice", "default",
            label_selector=f"{SERVICE_NAME}=kubernetes,{MANAGED_BY}={MIRRORING}",
        )  # fmt: skip
        for old in mirrored:
            await client.delete("discovery.k8s.io/v1", "EndpointSlice", old["metadata"]["name"],
                                "default")  # fmt: skip
    except errors.ApiError as exc:
        log.warning("old kubernetes endpoint slices not removed: %s", exc)


async def _write(client: LocalClient, obj: dict[str, Any], fields: tuple[str, ...]) -> None:
    md = obj["metadata"]
    current = await client.get_or_none(obj["apiVersion"], obj["kind"], md["name"], md["namespace"])
    try:
        if current is None:
            await client.create(obj)
        else:
            for name in fields:
                current[name] = obj[name]
            current["metadata"].setdefault("labels", {}).update(md["labels"])
            await client.update(current)
    except errors.ApiError as exc:
        log.warning("kubernetes %s not written: %s", obj["kind"], exc)


SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
MIRRORING = "endpointslicemirroring-controller.k8s.io"
