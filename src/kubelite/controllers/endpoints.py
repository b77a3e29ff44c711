"""The Endpoints controller: a Service's selected pods as `subsets`.

Level-triggered, as upstream's endpoints controller: a Service or Pod event
enqueues the Service's key; `reconcile` recomputes the Endpoints object from
the cached Service and Pods and writes it only when it differs. Services
without a selector, and ExternalName ones, are left alone (their Endpoints are the
user's), and an
Endpoints object whose Service is gone is deleted.

The pod-to-address rules here (which pods count, how a named targetPort is
resolved per pod, hostnames for headless Services) are shared with the
EndpointSlice controller.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from kubelite.api.selectors import selector_from_dict
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, key_of, labels, meta, pod_ready, split_key

log = logging.getLogger(__name__)

HEADLESS_LABEL = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_ADDRESSES = 1000


# ---- the shared pod rules -----------------------------------------------------------


def selects(svc: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    sel = (svc.get("spec") or {}).get("selector")
    if not sel or meta(svc).get("namespace") != meta(pod).get("namespace"):
        return False
    return all(labels(pod).get(k) == v for k, v in sel.items())


def pod_ip(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    return status.get("podIP") or next((x.get("ip") for x in status.get("podIPs") or []), None)


def should_include(pod: Mapping[str, Any], *, include_terminating: bool) -> bool:
    """`ShouldPodBeInEndpoints`: an IP, not finished, terminating only if asked."""
    if not pod_ip(pod):
        return False
    if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
        return False
    return include_terminating or not meta(pod).get("deletionTimestamp")


def find_port(pod: Mapping[str, Any], service_port: Mapping[str, Any]) -> int | None:
    """The pod's port for a service port: a number as is, a name looked up per pod."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return int(p["containerPort"])
    return None


def hostname_for(svc: Mapping[str, Any], pod: Mapping[str, Any]) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == meta(svc).get("name"):
        return str(spec["hostname"])
    return None


def target_ref(pod: Mapping[str, Any]) -> dict[str, str]:
    md = meta(pod)
    return {
        "kind": "Pod",
        "namespace": md["namespace"],
        "name": md["name"],
        "uid": md.get("uid", ""),
    }


def owned_labels(svc: Mapping[str, Any]) -> dict[str, str]:
    """The Service's labels, plus the headless marker, as upstream copies them."""
    out = dict(labels(svc))
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        out[HEADLESS_LABEL] = ""
    else:
        out.pop(HEADLESS_LABEL, None)
    return out


# ---- Endpoints ------------------------------------------------------------------------


def _address(svc: Obj, pod: Obj) -> Obj:
    addr: Obj = {"ip": pod_ip(pod), "targetRef": target_ref(pod)}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        addr["nodeName"] = node
    host = hostname_for(svc, pod)
    if host:
        addr["hostname"] = host
    return addr


def _endpoint_port(sp: Obj, port: int) -> Obj:
    out: Obj = {"port": port, "protocol": sp.get("protocol", "TCP")}
    if sp.get("name"):
        out["name"] = sp["name"]
    if sp.get("appProtocol"):
        out["appProtocol"] = sp["appProtocol"]
    return out


def desired_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """Subsets grouped by port set (RepackSubsets), addresses sorted by IP."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, dict[str, Obj]]] = {}
    ports_of: dict[tuple[tuple[str, int, str], ...], list[Obj]] = {}
    for pod in pods:
        if not should_include(pod, include_terminating=publish):
            continue
        ports = _pod_ports(svc, pod)
        if ports is None:
            continue
        sig = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        ports_of[sig] = ports
        group = groups.setdefault(sig, {"ready": {}, "notReady": {}})
        which = "ready" if publish or pod_ready(pod) else "notReady"
        group[which][str(pod_ip(pod))] = _address(svc, pod)
    subsets = []
    for sig in sorted(groups):
        subset: Obj = {}
        for field, which in (("addresses", "ready"), ("notReadyAddresses", "notReady")):
            addrs = [groups[sig][which][ip] for ip in sorted(groups[sig][which], key=_ip_key)]
            if addrs:
                subset[field] = addrs
        subset["ports"] = sorted(ports_of[sig], key=lambda p: (p.get("name", ""), p["port"]))
        subsets.append(subset)
    return subsets


def _pod_ports(svc: Obj, pod: Obj) -> list[Obj] | None:
    ports = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        port = find_port(pod, sp)
        if port is None:
            log.debug("pod %s/%s has no port %s", meta(pod)["namespace"], meta(pod)["name"], sp)
            continue
        ports.append(_endpoint_port(sp, port))
    # A headless Service without ports still lists its pods (for DNS).
    if not ports and (svc.get("spec") or {}).get("ports"):
        return None
    return ports


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split(".")) if "." in ip else (0,)


def _truncate(subsets: list[Obj]) -> tuple[list[Obj], bool]:
    total = sum(len(s.get("addresses", [])) + len(s.get("notReadyAddresses", [])) for s in subsets)
    if total <= MAX_ADDRESSES:
        return subsets, False
    left, out = MAX_ADDRESSES, []
    for s in subsets:
        kept = dict(s)
        for field in ("addresses", "notReadyAddresses"):
            kept[field] = s.get(field, [])[:left]
            left -= len(kept[field])
            if not kept[field]:
                kept.pop(field)
        out.append(kept)
    return out, True


def desired_endpoints(svc: Obj, pods: list[Obj], current: Obj | None) -> Obj:
    md = meta(svc)
    subsets, truncated = _truncate(desired_subsets(svc, pods))
    out: Obj = copy(current) if current else {"apiVersion": "v1", "kind": "Endpoints"}
    out_md = out.setdefault("metadata", {})
    out_md.update({"name": md["name"], "namespace": md["namespace"], "labels": owned_labels(svc)})
    ann = dict(out_md.get("annotations") or {})
    ann.pop(OVER_CAPACITY, None)
    if truncated:
        ann[OVER_CAPACITY] = "truncated"
    if ann:
        out_md["annotations"] = ann
    else:
        out_md.pop("annotations", None)
    if subsets:
        out["subsets"] = subsets
    else:  # an empty list is omitted on the wire, as upstream's omitempty does
        out.pop("subsets", None)
    return out


class EndpointsController(Controller):
    name = "endpoint-controller"
    workers = 2

    def setup(self) -> None:
        self.services = self.informers.informer("v1", "Service")
        self.pods = self.informers.informer("v1", "Pod")
        self.endpoints = self.informers.informer("v1", "Endpoints")
        self.services.add_handlers(
            Handlers(
                on_add=lambda s: self.enqueue(key_of(s)),
                on_update=lambda _o, s: self.enqueue(key_of(s)),
                on_delete=lambda s: self.enqueue(key_of(s)),
            )
        )
        self.pods.add_handlers(
            Handlers(
                on_add=self._pod_changed,
                on_update=lambda old, new: self._pod_changed(new, old),
                on_delete=self._pod_changed,
            )
        )

    def _pod_changed(self, pod: Obj, old: Obj | None = None) -> None:
        ns = meta(pod).get("namespace")
        for svc in self.services.list(ns):
            if selects(svc, pod) or (old is not None and selects(svc, old)):
                self.enqueue(key_of(svc))

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        current = self.endpoints.get(key)
        if svc is None:
            if current is not None:
                with contextlib.suppress(errors.NotFound):
                    await self.client.delete("v1", "Endpoints", name, ns)
            return None
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            # As upstream's syncService: ExternalName Services get no Endpoints from this
            # controller, selector or not (https://issues.k8s.io/105986).
            return None
        if not (svc.get("spec") or {}).get("selector"):
            return None
        sel = selector_from_dict({"matchLabels": svc["spec"]["selector"]})
        pods = self.pods.list(ns, sel)
        want = desired_endpoints(svc, pods, current)
        if current is None:
            want["metadata"].pop("resourceVersion", None)
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(want)
        elif _differs(want, current):
            await self.client.update(want)
        return None


def _differs(want: Obj, current: Obj) -> bool:
    a, b = meta(want), meta(current)
    return (
        (want.get("subsets") or []) != (current.get("subsets") or [])
        or a.get("labels") != (b.get("labels") or {})
        or a.get("annotations") != b.get("annotations")
    )


__all__ = [
    "EndpointsController",
    "desired_endpoints",
    "desired_subsets",
    "find_port",
    "hostname_for",
    "owned_labels",
    "pod_ip",
    "selects",
    "should_include",
    "target_ref",
]
