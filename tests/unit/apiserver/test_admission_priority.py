"""Priority admission: the global default class, remembered until classes change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors
from kubelite.apiserver.admission import Priority
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


@dataclass
class Api:
    storage: RestStorage
    pod_rt: ResourceType
    pc_rt: ResourceType


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    pod_rt = storage.registry.by_kind("v1", "Pod")
    pc_rt = storage.registry.by_kind("scheduling.k8s.io/v1", "PriorityClass")
    ns_rt = storage.registry.by_kind("v1", "Namespace")
    assert pod_rt and pc_rt and ns_rt
    storage.create(
        ns_rt, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    )
    yield Api(storage, pod_rt, pc_rt)
    store.close()


def test_global_default_follows_priority_class_changes(api: Api) -> None:
    storage, pod_rt, pc_rt = api.storage, api.pod_rt, api.pc_rt

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


def test_one_global_default_and_pods_name_it(api: Api) -> None:
    storage, pod_rt, pc_rt = api.storage, api.pod_rt, api.pc_rt
    plain = storage.create(pod_rt, "default", _pod("plain")).obj()["spec"]
    assert (plain["priority"], plain["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in plain
    storage.create(pc_rt, None, _class("gd", 1000, default=True))
    with pytest.raises(errors.Forbidden) as second:
        storage.create(pc_rt, None, _class("gd2", 2000, default=True))
    assert second.value.message == (
        'priorityclasses.scheduling.k8s.io "gd2" is forbidden: PriorityClass gd is already '
        "marked as default. Only one default can exist"
    )
    storage.create(pc_rt, None, _class("other", 7, default=False))
    with pytest.raises(errors.Forbidden, match="PriorityClass gd is already marked as default"):
        storage.replace_with(pc_rt, None, "other", lambda o: {**o, "globalDefault": True})
    assert not storage.get(pc_rt, None, "other").obj()["globalDefault"]  # nothing changed
    # the default itself may be written again
    storage.replace_with(pc_rt, None, "gd", lambda o: {**o, "description": "d"})
    spec = storage.create(pod_rt, "default", _pod("p")).obj()["spec"]
    assert (spec["priorityClassName"], spec["priority"]) == ("gd", 1000)
    given = _pod("q")
    given["spec"]["preemptionPolicy"] = "Never"
    storage.create(pc_rt, None, {**_class("np", 5, default=False), "preemptionPolicy": "Never"})
    given["spec"]["priorityClassName"] = "gd"
    with pytest.raises(errors.Forbidden, match=r"the string value of PreemptionPolicy \(Never\)"):
        storage.create(pod_rt, "default", given)


def test_with_racing_defaults_the_lowest_value_wins(api: Api) -> None:
    # two defaults stored past admission (as two racing creates can leave them)
    for name, value in (("high", 900), ("low", 100)):
        api.storage.store.create(api.pc_rt.key(None, name), _class(name, value, default=True))
    found = Priority()._default_class(api.storage)
    assert found is not None and found["metadata"]["name"] == "low"
