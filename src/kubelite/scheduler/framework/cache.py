"""The scheduler cache: NodeInfos kept current from node and pod events.

Upstream keeps a cache and copies changed NodeInfos into a per-cycle
snapshot because scheduling and binding run concurrently. kubelite schedules
one pod at a time on one thread, so the cache *is* the snapshot: it is updated
incrementally (add/update/delete of nodes and pods, plus assumed pods that are
placed before their binding is confirmed) and read directly by the plugins.
Observers (the vectorized fast path) are told which node changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kubelite.scheduler.framework.images import normalized_image_name
from kubelite.scheduler.framework.types import ImageState, NodeInfo, PodInfo, pod_key

__all__ = ["Cache", "CacheObserver"]

log = logging.getLogger(__name__)
Obj = Mapping[str, Any]


class CacheObserver(Protocol):
    def node_changed(self, info: NodeInfo) -> None: ...

    def node_removed(self, name: str) -> None: ...


class Cache:
    """NodeInfos by node name, in node insertion order."""

    def __init__(self) -> None:
        self._infos: dict[str, NodeInfo] = {}
        self._node_list: list[NodeInfo] | None = None
        self._pods: dict[str, tuple[str, PodInfo]] = {}
        self._assumed: set[str] = set()
        self._images: dict[str, ImageState] = {}
        self._observers: list[CacheObserver] = []
        self.pods_with_affinity = 0
        self.pods_with_required_anti_affinity = 0

    # -- reading ---------------------------------------------------------
    def node_infos(self) -> list[NodeInfo]:
        if self._node_list is None:
            self._node_list = [i for i in self._infos.values() if i.node]
        return self._node_list

    def get(self, name: str) -> NodeInfo | None:
        info = self._infos.get(name)
        return info if info is not None and info.node else None

    def __len__(self) -> int:
        return len(self.node_infos())

    def pod_info(self, key: str) -> PodInfo | None:
        entry = self._pods.get(key)
        return entry[1] if entry else None

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def subscribe(self, observer: CacheObserver) -> None:
        self._observers.append(observer)

    # -- nodes -----------------------------------------------------------
    def add_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        info = self._infos.get(name)
        if info is None:
            info = self._infos[name] = NodeInfo()
        else:
            self._drop_images(info)
        info.set_node(node)
        self._add_images(info)
        self._node_list = None
        self._notify(info)

    update_node = add_node

    def remove_node(self, name: str) -> None:
        info = self._infos.get(name)
        if info is None:
            return
        self._drop_images(info)
        if info.pods:  # pods still reference it; keep a node-less placeholder
            info.node = {}
        else:
            del self._infos[name]
        self._node_list = None
        for obs in self._observers:
            obs.node_removed(name)

    def _add_images(self, info: NodeInfo) -> None:
        states: dict[str, ImageState] = {}
        for image in (info.node.get("status") or {}).get("images") or ():
            for raw in image.get("names") or ():
                name = normalized_image_name(raw)
                state = self._images.get(name)
                if state is None:
                    state = self._images[name] = ImageState(int(image.get("sizeBytes") or 0))
                state.nodes.add(info.name)
                states.setdefault(name, state)
        info.image_states = states

    def _drop_images(self, info: NodeInfo) -> None:
        for name, state in info.image_states.items():
            state.nodes.discard(info.name)
            if not state.nodes:
                self._images.pop(name, None)
        info.image_states = {}

    # -- pods ------------------------------------------------------------
    def add_pod(self, pod: Obj) -> None:
        """A pod bound to a node (``spec.nodeName`` set) was seen by the watch."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        key = pod_key(pod)
        pi = self._confirm_assumed(key, pod, node_name) or PodInfo(pod)
        if pi.key in self._pods:
            self._remove(pi.key)
        self._assumed.discard(pi.key)
        self._add(pi)

    def _confirm_assumed(self, key: str, pod: Obj, node_name: str) -> PodInfo | None:
        """The watch confirming an assumed placement: reuse its parsed PodInfo.

        Only when nothing the plugins read changed (same spec, labels, status
        start time and deletion state); otherwise the pod is parsed afresh.
        """
        if key not in self._assumed:
            return None
        entry = self._pods.get(key)
        if entry is None or entry[0] != node_name:
            return None
        old = entry[1]
        meta = pod.get("metadata", {})
        same = (
            pod.get("spec") == old.pod.get("spec")
            and (meta.get("labels") or {}) == old.labels
            and (meta.get("deletionTimestamp") is not None) == old.terminating
            and meta.get("uid", old.uid) == old.uid
        )
        if not same:
            return None
        start = (pod.get("status") or {}).get("startTime") or meta.get("creationTimestamp", "")
        pi = old.bound_to(pod, node_name)
        pi.start_time = start
        return pi

    def update_pod(self, pod: Obj) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: Obj) -> None:
        key = pod_key(pod)
        self._remove(key)
        self._assumed.discard(key)

    def assume_pod(self, pod: Obj, node_name: str, pod_info: PodInfo | None = None) -> Obj:
        """Account the pod on ``node_name`` before its binding is confirmed."""
        assumed = dict(pod)
        assumed["spec"] = {**pod.get("spec", {}), "nodeName": node_name}
        pi = pod_info.bound_to(assumed, node_name) if pod_info is not None else PodInfo(assumed)
        if pi.key in self._pods:
            self._remove(pi.key)
        self._add(pi)
        self._assumed.add(pi.key)
        return assumed

    def forget_pod(self, pod: Obj) -> None:
        key = pod_key(pod)
        if key in self._assumed:
            self._assumed.discard(key)
            self._remove(key)

    def _add(self, pi: PodInfo) -> None:
        info = self._infos.get(pi.node_name)
        if info is None:
            info = self._infos[pi.node_name] = NodeInfo()
            info.name = pi.node_name
        info.add_pod(pi)
        self._pods[pi.key] = (pi.node_name, pi)
        self._count(pi, 1)
        if info.node:
            self._notify(info)

    def _remove(self, key: str) -> None:
        entry = self._pods.pop(key, None)
        if entry is None:
            return
        node_name, pi = entry
        info = self._infos.get(node_name)
        if info is None:
            return
        info.remove_pod(key)
        self._count(pi, -1)
        if not info.node and not info.pods:
            del self._infos[node_name]
        elif info.node:
            self._notify(info)

    def _count(self, pi: PodInfo, sign: int) -> None:
        if pi.has_affinity:
            self.pods_with_affinity += sign
        if pi.required_anti_affinity:
            self.pods_with_required_anti_affinity += sign

    def _notify(self, info: NodeInfo) -> None:
        for obs in self._observers:
            obs.node_changed(info)
