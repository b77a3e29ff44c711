"""The scheduler's view of pods and nodes.

:class:`PodInfo` parses a pod dict once (requests, affinity terms, host ports)
so plugins never re-read YAML-shaped data in the per-node loop.
:class:`NodeInfo` aggregates one node and the pods on it, kept up to date
incrementally by the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.scheduler._quantity import parse_quantity
from kubelite.scheduler.framework.helpers import Selector, compile_label_selector, pod_priority
from kubelite.scheduler.framework.resources import (
    CPU,
    MEMORY,
    Resource,
    pod_requests,
    requests_to_resource,
)

__all__ = [
    "AffinityTerm",
    "ImageState",
    "NodeInfo",
    "PodInfo",
    "WeightedAffinityTerm",
    "pod_key",
]

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A pod (anti-)affinity term with its namespaces resolved."""

    namespaces: frozenset[str]
    selector: Selector
    topology_key: str
    namespace_selector: Selector  # match-nothing when the term has none

    def matches(self, pod: PodInfo, ns_labels: Mapping[str, str] | None) -> bool:
        """upstream AffinityTerm.Matches."""
        if pod.namespace in self.namespaces or (
            ns_labels is not None and self.namespace_selector.matches(ns_labels)
        ):
            return self.selector.matches(pod.labels)
        return False


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


def _affinity_term(namespace: str, raw: Obj) -> AffinityTerm:
    namespaces = frozenset(raw.get("namespaces") or ())
    ns_sel_raw = raw.get("namespaceSelector")
    if not namespaces and ns_sel_raw is None:
        namespaces = frozenset((namespace,))
    return AffinityTerm(
        namespaces=namespaces,
        selector=compile_label_selector(raw.get("labelSelector")),
        topology_key=raw.get("topologyKey", ""),
        namespace_selector=compile_label_selector(ns_sel_raw),
    )


def _terms(namespace: str, section: Obj, key: str) -> list[AffinityTerm]:
    return [_affinity_term(namespace, t) for t in section.get(key) or ()]


def _weighted(namespace: str, section: Obj, key: str) -> list[WeightedAffinityTerm]:
    return [
        WeightedAffinityTerm(_affinity_term(namespace, w["podAffinityTerm"]), int(w["weight"]))
        for w in section.get(key) or ()
        if w.get("weight")
    ]


_REQ = "requiredDuringSchedulingIgnoredDuringExecution"
_PREF = "preferredDuringSchedulingIgnoredDuringExecution"


def pod_key(pod: Obj) -> str:
    """``namespace/name``, as :attr:`PodInfo.key`, without parsing the rest."""
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


class PodInfo:
    """A pod dict plus everything the plugins derive from it."""

    __slots__ = (
        "pod", "key", "name", "namespace", "uid", "labels", "priority", "request",
        "non_zero_cpu", "non_zero_mem", "required_affinity", "required_anti_affinity",
        "preferred_affinity", "preferred_anti_affinity", "host_ports", "terminating",
        "start_time", "node_name",
    )  # fmt: skip

    def __init__(self, pod: Obj) -> None:
        meta = pod.get("metadata", {})
        spec = pod.get("spec", {})
        self.pod = pod
        self.name: str = meta.get("name", "")
        self.namespace: str = meta.get("namespace") or "default"
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid") or self.key
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.priority = pod_priority(pod)
        self.request, self.non_zero_cpu, self.non_zero_mem = _pod_resources(pod)
        affinity = spec.get("affinity") or {}
        pa = affinity.get("podAffinity") or {}
        paa = affinity.get("podAntiAffinity") or {}
        self.required_affinity = _terms(self.namespace, pa, _REQ)
        self.required_anti_affinity = _terms(self.namespace, paa, _REQ)
        self.preferred_affinity = _weighted(self.namespace, pa, _PREF)
        self.preferred_anti_affinity = _weighted(self.namespace, paa, _PREF)
        self.host_ports = _host_ports(spec)
        self.terminating = meta.get("deletionTimestamp") is not None
        self.start_time: str = (pod.get("status") or {}).get("startTime") or meta.get(
            "creationTimestamp", ""
        )
        self.node_name: str = spec.get("nodeName") or ""

    def bound_to(self, pod: Obj, node_name: str) -> PodInfo:
        """A copy for ``pod`` (the same pod with ``spec.nodeName`` set), skipping the re-parse."""
        out = PodInfo.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(out, slot, getattr(self, slot))
        out.pod = pod
        out.node_name = node_name
        return out

    @property
    def has_affinity(self) -> bool:
        return bool(
            self.required_affinity
            or self.required_anti_affinity
            or self.preferred_affinity
            or self.preferred_anti_affinity
        )


def _requests_key(containers: Any) -> tuple[Any, ...]:
    return tuple(
        (
            c.get("restartPolicy"),
            tuple(sorted(((c.get("resources") or {}).get("requests") or {}).items())),
        )
        for c in containers or ()
    )


def _pod_resources(pod: Obj) -> tuple[Resource, int, int]:
    """(effective request, non-zero milli-CPU, non-zero memory) of the pod.

    Pods of one workload ask for the same amounts, and quantity arithmetic is
    exact (slow) fractions, so the result is remembered by the requests alone.
    """
    spec = pod.get("spec", {})
    try:
        key = (
            _requests_key(spec.get("containers")),
            _requests_key(spec.get("initContainers")),
            tuple(sorted((spec.get("overhead") or {}).items())),
        )
        hash(key)
    except TypeError:  # unhashable quantities: compute without the memo
        return _compute_resources(pod)
    cached = _RESOURCES_MEMO.get(key)
    if cached is None:
        cached = _compute_resources(pod)
        if len(_RESOURCES_MEMO) >= _RESOURCES_MEMO_SIZE:
            _RESOURCES_MEMO.clear()
        _RESOURCES_MEMO[key] = cached
    request, cpu, mem = cached
    return request.copy(), cpu, mem


def _compute_resources(pod: Obj) -> tuple[Resource, int, int]:
    request = requests_to_resource(pod_requests(pod))
    non_zero = pod_requests(pod, non_zero=True)
    cpu = requests_to_resource({CPU: non_zero[CPU]}).milli_cpu
    mem = requests_to_resource({MEMORY: non_zero[MEMORY]}).memory
    return request, cpu, mem


_RESOURCES_MEMO: dict[tuple[Any, ...], tuple[Resource, int, int]] = {}
_RESOURCES_MEMO_SIZE = 4096


def _host_ports(spec: Obj) -> list[tuple[str, str, int]]:
    out = []
    for c in spec.get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                out.append(
                    (p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"]))
                )
    return out


@dataclass(slots=True)
class ImageState:
    """An image's size and the names of nodes that have it (shared by the cache)."""

    size: int
    nodes: set[str] = field(default_factory=set)


def node_allocatable(node: Obj) -> Resource:
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    return requests_to_resource({k: parse_quantity(v) for k, v in alloc.items()}, allocatable=True)


class NodeInfo:
    """One node and the aggregate of the pods assigned (or assumed) to it."""

    __slots__ = (
        "node", "name", "labels", "taints", "unschedulable", "allocatable", "pods", "requested",
        "non_zero_requested", "used_ports", "image_states", "pods_with_affinity",
        "pods_with_required_anti_affinity", "generation",
    )  # fmt: skip

    def __init__(self, node: Obj | None = None) -> None:
        self.pods: list[PodInfo] = []
        self.requested = Resource()
        self.non_zero_requested = Resource()
        self.used_ports: dict[tuple[str, int], set[str]] = {}
        self.image_states: dict[str, ImageState] = {}
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.generation = 0
        self.node: Obj = {}
        self.name = ""
        self.labels: dict[str, str] = {}
        self.taints: list[Obj] = []
        self.unschedulable = False
        self.allocatable = Resource()
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj) -> None:
        meta = node.get("metadata", {})
        spec = node.get("spec") or {}
        self.node = node
        self.name = meta.get("name", "")
        self.labels = meta.get("labels") or {}
        self.taints = list(spec.get("taints") or ())
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = node_allocatable(node)
        self.generation += 1

    def add_pod(self, pi: PodInfo) -> None:
        self.pods.append(pi)
        self._account(pi, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        for i, pi in enumerate(self.pods):
            if pi.key == key:
                del self.pods[i]
                self._account(pi, -1)
                return pi
        return None

    def _account(self, pi: PodInfo, sign: int) -> None:
        self.requested.add(pi.request, sign)
        self.non_zero_requested.milli_cpu += sign * pi.non_zero_cpu
        self.non_zero_requested.memory += sign * pi.non_zero_mem
        for ip, proto, port in pi.host_ports:
            ips = self.used_ports.setdefault((proto, port), set())
            if sign > 0:
                ips.add(ip)
            else:
                ips.discard(ip)
                if not ips:
                    del self.used_ports[(proto, port)]
        if pi.has_affinity:
            _update_list(self.pods_with_affinity, pi, sign)
        if pi.required_anti_affinity:
            _update_list(self.pods_with_required_anti_affinity, pi, sign)
        self.generation += 1

    def clone(self) -> NodeInfo:
        out = NodeInfo()
        out.node, out.name, out.labels = self.node, self.name, self.labels
        out.taints, out.unschedulable = self.taints, self.unschedulable
        out.allocatable = self.allocatable
        out.pods = list(self.pods)
        out.requested = self.requested.copy()
        out.non_zero_requested = self.non_zero_requested.copy()
        out.used_ports = {k: set(v) for k, v in self.used_ports.items()}
        out.image_states = self.image_states
        out.pods_with_affinity = list(self.pods_with_affinity)
        out.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        out.generation = self.generation
        return out


def _update_list(lst: list[PodInfo], pi: PodInfo, sign: int) -> None:
    if sign > 0:
        lst.append(pi)
        return
    for i, other in enumerate(lst):
        if other.key == pi.key:
            del lst[i]
            return
