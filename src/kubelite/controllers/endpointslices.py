"""The EndpointSlice controller: a Service's endpoints in slices of at most 100.

As upstream's EndpointSlice controller: one endpoint per pod with `ready`,
`serving` and `terminating` conditions; slices grouped by their resolved port
set (a named targetPort may differ per pod); labelled
`kubernetes.io/service-name` and managed-by `endpointslice-controller.k8s.io`,
owned by the Service. Reconciling keeps endpoints in the slice they already
sit in, fills slices with room before creating new ones and deletes slices
left empty, so a rollout touches few slices. A Service with no endpoints keeps
one empty placeholder slice. Endpoint `hints` written by others are kept.

Services without a selector get their slices mirrored from the Endpoints
object the user (or the API, for `kubernetes`) wrote, managed-by
`endpointslicemirroring-controller.k8s.io`, as upstream's mirroring
controller does, so the proxy and the DNS server read slices alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.selectors import selector_from_dict
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.endpoints import (
    find_port,
    hostname_for,
    owned_labels,
    pod_ip,
    selects,
    should_include,
    target_ref,
)
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, key_of, labels, meta, owner_ref_for, split_key
from kubelite.controllers.objects import pod_ready as is_ready

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
MIRROR_MANAGED_BY = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
MAX_ENDPOINTS_PER_SLICE = 100
CACHE_WAIT_S = 2.0

PortSig = tuple[tuple[str, int, str], ...]


def port_sig(ports: Iterable[Obj]) -> PortSig:
    return tuple(
        sorted((p.get("name") or "", int(p["port"]), p.get("protocol", "TCP")) for p in ports)
    )


def _slice_port(sp: Obj, port: int) -> Obj:
    out: Obj = {"name": sp.get("name") or "", "port": port, "protocol": sp.get("protocol", "TCP")}
    if sp.get("appProtocol"):
        out["appProtocol"] = sp["appProtocol"]
    return out


def pod_endpoint(svc: Obj, pod: Obj) -> Obj:
    """`podToEndpoint`: a terminating pod is never `ready` unless publishNotReady."""
    serving = is_ready(pod)
    terminating = bool(meta(pod).get("deletionTimestamp"))
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: Obj = {
        "addresses": [pod_ip(pod)],
        "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
        "targetRef": target_ref(pod),
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        ep["nodeName"] = node
    host = hostname_for(svc, pod)
    if host:
        ep["hostname"] = host
    return ep


@dataclass
class Group:
    ports: list[Obj]
    endpoints: dict[str, Obj] = field(default_factory=dict)  # address -> endpoint


def desired_groups(svc: Obj, pods: list[Obj]) -> dict[PortSig, Group]:
    groups: dict[PortSig, Group] = {}
    svc_ports = (svc.get("spec") or {}).get("ports") or []
    for pod in pods:
        if not should_include(pod, include_terminating=True):
            continue
        # A port the pod does not name is left out; a pod naming none of them still
        # has its endpoint, in a slice with no ports (upstream's getEndpointPorts).
        ports = [_slice_port(sp, p) for sp in svc_ports if (p := find_port(pod, sp)) is not None]
        sig = port_sig(ports)
        group = groups.setdefault(sig, Group(ports))
        group.endpoints[str(pod_ip(pod))] = pod_endpoint(svc, pod)
    return groups


def mirrored_groups(endpoints: Obj) -> dict[PortSig, Group]:
    groups: dict[PortSig, Group] = {}
    for subset in endpoints.get("subsets") or []:
        ports = [_slice_port(p, int(p["port"])) for p in subset.get("ports") or []]
        group = groups.setdefault(port_sig(ports), Group(ports))
        for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
            for addr in subset.get(field_name) or []:
                ep: Obj = {
                    "addresses": [addr["ip"]],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                }
                for key in ("hostname", "nodeName", "targetRef"):
                    if addr.get(key):
                        ep[key] = addr[key]
                group.endpoints[addr["ip"]] = ep
    return groups


# ---- placing endpoints into slices (pure) ---------------------------------------------


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def plan_slices(
    groups: dict[PortSig, Group],
    existing: list[Obj],
    template: Obj,
    *,
    max_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
) -> Plan:
    """What to create, update and delete so `existing` holds exactly `groups`."""
    plan = Plan()
    by_sig: dict[PortSig, list[Obj]] = {}
    for s in sorted(existing, key=lambda s: meta(s)["name"]):
        by_sig.setdefault(port_sig(s.get("ports") or []), []).append(s)
    wanted = {sig: g for sig, g in groups.items() if g.endpoints}
    for sig, slices in by_sig.items():
        if sig not in wanted:
            plan.delete.extend(slices)
    for sig, group in wanted.items():
        _place(group, by_sig.get(sig, []), template, max_per_slice, plan)
    if not wanted:
        _placeholder(existing, template, plan)
    _recycle(plan)
    return plan


def _recycle(plan: Plan) -> None:
    """Reuse a slice being deleted for one being created (upstream fills the placeholder)."""
    while plan.create and plan.delete:
        old, new = plan.delete.pop(0), plan.create.pop(0)
        out = copy(old)
        out["metadata"]["labels"] = dict(meta(new)["labels"])
        out["metadata"]["ownerReferences"] = list(meta(new)["ownerReferences"])
        out["endpoints"], out["ports"] = new["endpoints"], new["ports"]
        plan.update.append(out)


def _place(group: Group, slices: list[Obj], template: Obj, most: int, plan: Plan) -> None:
    left = dict(group.endpoints)
    kept: list[tuple[Obj, list[Obj]]] = []
    for s in slices:
        eps: list[Obj] = []
        for old in s.get("endpoints") or []:
            addr = (old.get("addresses") or [""])[0]
            if addr in left and len(eps) < most:
                eps.append(_keep_hints(left.pop(addr), old))
        if eps:
            kept.append((s, eps))
        else:
            plan.delete.append(s)
    for s, eps in kept:  # fill slices with room before creating any
        while left and len(eps) < most:
            eps.append(left.pop(min(left, key=_addr_key)))
        _maybe_update(s, eps, group.ports, template, plan)
    rest = [left[a] for a in sorted(left, key=_addr_key)]
    for i in range(0, len(rest), most):
        plan.create.append(_new_slice(template, rest[i : i + most], group.ports))


def _placeholder(existing: list[Obj], template: Obj, plan: Plan) -> None:
    keep = next((s for s in sorted(existing, key=lambda s: meta(s)["name"])), None)
    for s in existing:
        if s is not keep and s not in plan.delete:
            plan.delete.append(s)
    if keep is None:
        plan.create.append(_new_slice(template, [], []))
        return
    if keep in plan.delete:
        plan.delete.remove(keep)
    _maybe_update(keep, [], [], template, plan)


def _keep_hints(new: Obj, old: Obj) -> Obj:
    if old.get("hints") is not None and "hints" not in new:
        new = {**new, "hints": old["hints"]}
    return new


def _addr_key(addr: str) -> tuple[int, ...]:
    return tuple(int(x) for x in addr.split(".")) if addr.count(".") == 3 else (0,)


def _new_slice(template: Obj, endpoints: list[Obj], ports: list[Obj]) -> Obj:
    out = copy(template)
    out["endpoints"] = endpoints
    out["ports"] = ports
    return out


def _maybe_update(s: Obj, eps: list[Obj], ports: list[Obj], template: Obj, plan: Plan) -> None:
    md, tmd = meta(s), meta(template)
    same = (
        (s.get("endpoints") or []) == eps
        and (s.get("ports") or []) == ports
        and (md.get("labels") or {}) == tmd["labels"]
        and (md.get("ownerReferences") or []) == tmd["ownerReferences"]
    )
    if same:
        return
    out = copy(s)
    out["endpoints"], out["ports"] = eps, ports
    out["metadata"]["labels"] = dict(tmd["labels"])
    out["metadata"]["ownerReferences"] = list(tmd["ownerReferences"])
    plan.update.append(out)


def slice_template(svc: Obj, managed_by: str) -> Obj:
    md = meta(svc)
    lbls = owned_labels(svc)
    lbls.update({SERVICE_NAME_LABEL: md["name"], MANAGED_BY_LABEL: managed_by})
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{md['name'][:57]}-",
            "namespace": md["namespace"],
            "labels": lbls,
            "ownerReferences": [owner_ref_for(svc)],
        },
        "addressType": "IPv4",
    }


# ---- the controller ---------------------------------------------------------------------


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    workers = 2

    def __init__(self, *, max_per_slice: int = MAX_ENDPOINTS_PER_SLICE, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_per_slice = max_per_slice
        self._written: dict[str, tuple[dict[str, int], set[str], float]] = {}

    def setup(self) -> None:
        self.services = self.informers.informer("v1", "Service")
        self.pods = self.informers.informer("v1", "Pod")
        self.endpoints = self.informers.informer("v1", "Endpoints")
        self.slices = self.informers.informer("discovery.k8s.io/v1", "EndpointSlice")
        by_key = Handlers(
            on_add=lambda o: self.enqueue(key_of(o)),
            on_update=lambda _o, n: self.enqueue(key_of(n)),
            on_delete=lambda o: self.enqueue(key_of(o)),
        )
        self.services.add_handlers(by_key)
        self.endpoints.add_handlers(by_key)
        self.pods.add_handlers(
            Handlers(
                on_add=self._pod_changed,
                on_update=lambda old, new: self._pod_changed(new, old),
                on_delete=self._pod_changed,
            )
        )
        self.slices.add_handlers(
            Handlers(
                on_add=self._slice_changed,
                on_update=lambda _o, n: self._slice_changed(n),
                on_delete=self._slice_changed,
            )
        )

    def _pod_changed(self, pod: Obj, old: Obj | None = None) -> None:
        for svc in self.services.list(meta(pod).get("namespace")):
            if selects(svc, pod) or (old is not None and selects(svc, old)):
                self.enqueue(key_of(svc))

    def _slice_changed(self, s: Obj) -> None:
        name = labels(s).get(SERVICE_NAME_LABEL)
        if name:
            self.enqueue(f"{meta(s).get('namespace')}/{name}")

    def owned_slices(self, namespace: str | None, name: str, managed_by: str) -> list[Obj]:
        return [
            s
            for s in self.slices.list(namespace)
            if labels(s).get(SERVICE_NAME_LABEL) == name
            and labels(s).get(MANAGED_BY_LABEL) == managed_by
        ]

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        if svc is None or meta(svc).get("deletionTimestamp"):
            return None  # the garbage collector removes owned slices
        spec = svc.get("spec") or {}
        if not self._cache_caught_up(key):
            return 0.02  # our last writes are not in the cache yet: look again soon
        if spec.get("type") == "ExternalName":
            await self._apply(Plan(delete=self.owned_slices(ns, name, MANAGED_BY)), key)
            return None
        if spec.get("selector"):
            sel = selector_from_dict({"matchLabels": spec["selector"]})
            groups, managed_by = desired_groups(svc, self.pods.list(ns, sel)), MANAGED_BY
        else:
            ep = self.endpoints.get(key)
            if ep is None or SKIP_MIRROR_LABEL in labels(ep):
                return None
            groups, managed_by = mirrored_groups(ep), MIRROR_MANAGED_BY
        existing = self.owned_slices(ns, name, managed_by)
        plan = plan_slices(
            groups, existing, slice_template(svc, managed_by), max_per_slice=self.max_per_slice
        )
        await self._apply(plan, key)
        return None

    def _cache_caught_up(self, key: str) -> bool:
        """Upstream's slice tracker: never plan from a cache older than our own writes."""
        written, deleted, at = self._written.get(key, ({}, set(), 0.0))
        ns, _ = split_key(key)
        if self.clock() - at > CACHE_WAIT_S:  # someone else changed them meanwhile
            written, deleted = {}, set()
        for name, rv in written.items():
            cached = self.slices.get(f"{ns}/{name}")
            if cached is None or int(meta(cached).get("resourceVersion") or 0) < rv:
                return False
        if any(self.slices.get(f"{ns}/{name}") is not None for name in deleted):
            return False
        self._written.pop(key, None)
        return True

    async def _apply(self, plan: Plan, key: str) -> None:
        written: dict[str, int] = {}
        deleted: set[str] = set()
        try:
            for s in plan.create:
                out = await self.client.create(s)
                written[meta(out)["name"]] = int(meta(out)["resourceVersion"])
            for s in plan.update:
                out = await self.client.update(s)
                written[meta(out)["name"]] = int(meta(out)["resourceVersion"])
            for s in plan.delete:
                md = meta(s)
                with contextlib.suppress(errors.NotFound):
                    await self.client.delete(
                        "discovery.k8s.io/v1", "EndpointSlice", md["name"], md["namespace"]
                    )
                deleted.add(md["name"])
        finally:
            if written or deleted:
                self._written[key] = (written, deleted, self.clock())


__all__ = [
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME_LABEL",
    "EndpointSliceController",
    "Plan",
    "desired_groups",
    "plan_slices",
    "pod_endpoint",
]
