"""An update ends a deletion only when nothing is left to wait for.

As upstream's ShouldDeleteDuringUpdate: no finalizers left, and the object's
grace period is 0 (or none). A pod deleted with a grace period waits for its
kubelet, whose status writes meanwhile must not remove it: the kubelet
writes the pod's final status, then deletes it with grace 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver.rest import DeleteOptions, RestStorage
from kubelite.apiserver.subresources import bind_pod
from kubelite.store import Store

Obj = dict[str, Any]


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[RestStorage]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    storage.create(
        storage.registry.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    yield storage
    store.close()


def pods(storage: RestStorage) -> Any:
    rt = storage.registry.by_kind("v1", "Pod")
    assert rt is not None
    return rt


def running_pod(storage: RestStorage, name: str = "p", **metadata: Any) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **metadata},
        "spec": {"containers": [{"name": "c", "image": "app:1"}]},
    }
    storage.create(pods(storage), "default", body)
    bind_pod(storage, "default", name, "node-1")


def stored(storage: RestStorage, name: str = "p") -> Obj | None:
    kv = storage.store.get(pods(storage).key("default", name))
    return None if kv is None else kv.obj()


def set_phase(pod: Obj) -> Obj:
    pod.setdefault("status", {})["phase"] = "Failed"
    return pod


def test_a_status_write_keeps_a_pod_in_its_grace_period(storage: RestStorage) -> None:
    running_pod(storage)
    storage.delete(pods(storage), "default", "p", DeleteOptions(grace_period_seconds=30))
    storage.replace_with(pods(storage), "default", "p", set_phase, subresource="status")
    pod = stored(storage)
    assert pod is not None and pod["status"]["phase"] == "Failed"
    # the kubelet's own delete with grace 0 ends it
    storage.delete(pods(storage), "default", "p", DeleteOptions(grace_period_seconds=0))
    assert stored(storage) is None


def test_removing_the_last_finalizer_ends_a_deletion_with_no_grace_left(
    storage: RestStorage,
) -> None:
    running_pod(storage, finalizers=["example.com/keep"])
    storage.delete(pods(storage), "default", "p", DeleteOptions(grace_period_seconds=0))
    assert stored(storage) is not None  # held by its finalizer

    def drop_finalizers(pod: Obj) -> Obj:
        pod["metadata"]["finalizers"] = []
        return pod

    storage.replace_with(pods(storage), "default", "p", drop_finalizers)
    assert stored(storage) is None


def test_removing_the_last_finalizer_in_a_grace_period_leaves_it_to_the_kubelet(
    storage: RestStorage,
) -> None:
    running_pod(storage, finalizers=["example.com/keep"])
    storage.delete(pods(storage), "default", "p", DeleteOptions(grace_period_seconds=30))

    def drop_finalizers(pod: Obj) -> Obj:
        pod["metadata"]["finalizers"] = []
        return pod

    storage.replace_with(pods(storage), "default", "p", drop_finalizers)
    pod = stored(storage)
    assert pod is not None and pod["metadata"].get("deletionTimestamp")
