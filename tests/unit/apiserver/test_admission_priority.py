"""Priority admission: the global default class, remembered until classes change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubelite.apiserver.rest import DeleteOptions, RestStorage
from kubelite.store import Store


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "app:1"}]},
    }


def _class(name: str, value: int, *, default: bool) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "globalDefault": default,
    }


def test_global_default_follows_priority_class_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    reg = storage.registry
    pod_rt = reg.by_kind("v1", "Pod")
    pc_rt = reg.by_kind("scheduling.k8s.io/v1", "PriorityClass")
    ns_rt = reg.by_kind("v1", "Namespace")
    assert pod_rt and pc_rt and ns_rt
    storage.create(
        ns_rt, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    )

    def priority(name: str) -> int:
        return storage.create(pod_rt, "default", _pod(name)).obj()["spec"]["priority"]

    assert priority("a") == 0
    storage.create(pc_rt, None, _class("low", 10, default=False))
    assert priority("b") == 0  # not a default
    storage.create(pc_rt, None, _class("everyone", 1000, default=True))
    assert priority("c") == 1000  # the cached answer was dropped when a class was written
    assert priority("d") == 1000
    storage.delete(pc_rt, None, "everyone", DeleteOptions())
    assert priority("e") == 0
    store.close()
