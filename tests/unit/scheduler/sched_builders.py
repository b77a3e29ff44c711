"""Builders for scheduler tests: small dicts in Kubernetes shape, no YAML walls."""

from __future__ import annotations

import random
from typing import Any

from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.scheduler import Scheduler

GI = 1024**3


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "32Gi",
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    images: list[tuple[list[str], int]] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    node: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {},
        "status": {"allocatable": alloc, "capacity": alloc},
    }
    if taints:
        node["spec"]["taints"] = taints
    if unschedulable:
        node["spec"]["unschedulable"] = True
    if images:
        node["status"]["images"] = [{"names": n, "sizeBytes": s} for n, s in images]
    return node


def make_pod(
    name: str,
    *,
    cpu: str | None = None,
    memory: str | None = None,
    node: str | None = None,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    priority: int | None = None,
    image: str = "app:1",
    **spec: Any,
) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "c", "image": image}
    if requests:
        container["resources"] = {"requests": requests}
    pod: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"containers": [container], **spec},
    }
    if node:
        pod["spec"]["nodeName"] = node
    if priority is not None:
        pod["spec"]["priority"] = priority
    return pod


def make_scheduler(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]] = (), *, seed: int = 0, **kw: Any
) -> Scheduler:  # type: ignore[assignment]
    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(p)
    return Scheduler(cache, rng=random.Random(seed), **kw)


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


def anti_affinity(
    labels: dict[str, str], topology_key: str = "kubernetes.io/hostname"
) -> dict[str, Any]:
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": labels}, "topologyKey": topology_key}
            ]
        }
    }


def affinity(
    labels: dict[str, str], topology_key: str = "kubernetes.io/hostname"
) -> dict[str, Any]:
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": labels}, "topologyKey": topology_key}
            ]
        }
    }


def plugin_for(
    module: Any,
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]] = (),
    args: dict[str, Any] | None = None,
    **handle_kw: Any,
) -> tuple[Any, Cache]:  # type: ignore[assignment]
    """Build one plugin over a cache holding ``nodes`` and ``pods``."""
    from kubelite.scheduler.framework.interfaces import Handle

    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(p)
    return module.new(dict(args or {}), Handle(cache, **handle_kw)), cache


def filter_all(plugin: Any, cache: Cache, pod: dict[str, Any]) -> dict[str, Any]:
    """node -> None (fits) or the reasons tuple; a PreFilter Skip means all fit."""
    from kubelite.scheduler.framework.cycle_state import CycleState
    from kubelite.scheduler.framework.status import Code
    from kubelite.scheduler.framework.types import PodInfo

    pi, state = PodInfo(pod), CycleState()
    if hasattr(plugin, "pre_filter"):
        st = plugin.pre_filter(state, pi)
        if st is not None and st.code == Code.SKIP:
            return {n.name: None for n in cache.node_infos()}
        if st is not None:
            return {n.name: ("prefilter", *st.reasons) for n in cache.node_infos()}
    out = {}
    for n in cache.node_infos():
        st = plugin.filter(state, pi, n)
        out[n.name] = None if st is None else st.reasons
    return out


def score_all(
    plugin: Any, cache: Cache, pod: dict[str, Any], names: list[str] | None = None
) -> dict[str, tuple[int, int]] | None:
    """node -> (raw, normalized); None when PreScore says Skip."""
    from kubelite.scheduler.framework.cycle_state import CycleState
    from kubelite.scheduler.framework.status import Code
    from kubelite.scheduler.framework.types import PodInfo

    pi, state = PodInfo(pod), CycleState()
    nodes = [n for n in cache.node_infos() if names is None or n.name in names]
    if hasattr(plugin, "pre_score"):
        st = plugin.pre_score(state, pi, nodes)
        if st is not None and st.code == Code.SKIP:
            return None
    raw = [[n.name, plugin.score(state, pi, n)] for n in nodes]
    norm = [list(p) for p in raw]
    if hasattr(plugin, "normalize_score"):
        plugin.normalize_score(state, pi, norm)
    return {r[0]: (r[1], s[1]) for r, s in zip(raw, norm, strict=True)}


class FakeBinder:
    """Records the binder calls apply_result makes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.annotations: list[dict[str, str]] = []

    async def bind(self, pod: Any, node_name: str) -> None:
        self.calls.append(("bind", node_name))

    async def record_event(
        self,
        *,
        regarding: Any,
        type: str,  # noqa: A002
        reason: str,
        action: str,
        note: str,
        related: Any = None,
        annotations: Any = None,
    ) -> None:
        self.calls.append(("event", (regarding["metadata"]["name"], type, reason, note)))
        self.annotations.append(dict(annotations or {}))

    async def update_pod_condition(
        self, pod: Any, condition: Any, *, nominated_node_name: str | None = None
    ) -> None:
        self.calls.append(("condition", (dict(condition), nominated_node_name)))

    async def clear_nominated_node_name(self, pod: Any) -> None:
        self.calls.append(("clear-nomination", pod["metadata"]["name"]))

    async def delete_pod(self, pod: Any, *, grace_period_seconds: int | None = None) -> None:
        self.calls.append(("delete", pod["metadata"]["name"]))
