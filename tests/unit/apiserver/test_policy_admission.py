"""LimitRanger and ResourceQuota admission, and the policy kinds' Tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.tables import to_table
from kubelite.store import Store


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[RestStorage]:
    store = Store(tmp_path / "db")
    rest = RestStorage(store)
    create(rest, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    yield rest
    store.close()


def create(rest: RestStorage, obj: dict[str, Any]) -> dict[str, Any]:
    rt = rest.registry.by_kind(obj["apiVersion"], obj["kind"])
    assert rt is not None
    return rest.create(rt, "default" if rt.namespaced else None, obj).obj()


def make_pod(name: str, **resources: dict[str, str]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "app:1"}
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "lr"},
        "spec": {"limits": list(items)},
    }


def make_quota(**hard: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q"},
        "spec": {"hard": hard},
    }


def refused(rest: RestStorage, obj: dict[str, Any]) -> str:
    with pytest.raises(errors.Forbidden) as caught:
        create(rest, obj)
    assert caught.value.code == 403
    return str(caught.value)


def test_limit_range_fills_defaults_and_annotates(storage: RestStorage) -> None:
    create(
        storage,
        limit_range(
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "256Mi"},
                "defaultRequest": {"cpu": "100m"},
            }
        ),
    )
    pod = create(storage, make_pod("p"))
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; "
        "cpu, memory limit for container app"
    )
    assert pod["status"]["qosClass"] == "Burstable"  # computed after the defaults went in


def test_limits_already_set_become_requests_before_defaults(storage: RestStorage) -> None:
    create(
        storage,
        limit_range(
            {"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "100m"}}
        ),
    )
    pod = create(storage, make_pod("p", limits={"cpu": "300m"}))
    # the limit given is also the request (upstream defaults it while decoding)
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "300m"}
    assert "kubernetes.io/limit-ranger" not in (pod["metadata"].get("annotations") or {})


@pytest.mark.parametrize(
    ("item", "resources", "message"),
    [
        pytest.param(
            {"type": "Container", "max": {"memory": "1Gi"}},
            {"limits": {"memory": "2Gi"}},
            "maximum memory usage per Container is 1Gi, but limit is 2Gi",
            id="container-max",
        ),
        pytest.param(
            {"type": "Container", "min": {"cpu": "200m"}},
            {"requests": {"cpu": "100m"}},
            "minimum cpu usage per Container is 200m, but request is 100m",
            id="container-min",
        ),
        pytest.param(
            {"type": "Pod", "max": {"cpu": "1"}},
            {"requests": {"cpu": "1"}},
            "maximum cpu usage per Pod is 1.  No limit is specified",
            id="pod-max-needs-limit",
        ),
        pytest.param(
            {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
            {"requests": {"cpu": "100m"}, "limits": {"cpu": "400m"}},
            "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000",
            id="ratio",
        ),
    ],
)
def test_limit_range_bounds_refuse_with_upstream_words(
    storage: RestStorage, item: dict[str, Any], resources: dict[str, Any], message: str
) -> None:
    create(storage, limit_range(item))
    assert refused(storage, make_pod("big", **resources)) == f'pods "big" is forbidden: {message}'


def test_claim_storage_bounds(storage: RestStorage) -> None:
    create(storage, limit_range({"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}}))
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
    }
    assert refused(storage, claim) == (
        'persistentvolumeclaims "data" is forbidden: '
        "maximum storage usage per PersistentVolumeClaim is 1Gi, but request is 5Gi"
    )


def test_quota_refuses_the_pod_over_the_count(storage: RestStorage) -> None:
    create(storage, make_quota(pods="1"))
    create(storage, make_pod("one"))
    assert refused(storage, make_pod("two")) == (
        'pods "two" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'
    )


def test_quota_requires_compute_resources_it_limits(storage: RestStorage) -> None:
    create(storage, make_quota(**{"limits.cpu": "2", "requests.memory": "1Gi"}))
    assert refused(storage, make_pod("bare")) == (
        'pods "bare" is forbidden: failed quota: q: '
        "must specify limits.cpu for: app; requests.memory for: app"
    )
    create(storage, make_pod("ok", limits={"cpu": "1", "memory": "512Mi"}))
    assert refused(storage, make_pod("more", limits={"cpu": "1500m", "memory": "256Mi"})) == (
        'pods "more" is forbidden: exceeded quota: q, requested: limits.cpu=1500m, '
        "used: limits.cpu=1, limited: limits.cpu=2"
    )


def test_quota_counts_object_kinds(storage: RestStorage) -> None:
    create(storage, make_quota(configmaps="1"))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    create(storage, cm)
    assert "exceeded quota: q, requested: configmaps=1, used: configmaps=1" in refused(
        storage, {**cm, "metadata": {"name": "b"}}
    )


def test_tables() -> None:
    now = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
    created = {"creationTimestamp": "2024-01-01T00:00:00Z"}
    np = {"metadata": {"name": "np", **created}, "spec": {"podSelector": {}}}
    assert to_table("NetworkPolicy", [np], now=now)["rows"][0]["cells"] == ["np", "<none>", "60s"]
    rq = {
        "metadata": {"name": "q", **created},
        "status": {
            "hard": {"pods": "2", "limits.cpu": "2", "requests.memory": "1Gi"},
            "used": {"pods": "1", "limits.cpu": "500m"},
        },
    }
    cells = to_table("ResourceQuota", [rq], now=now)["rows"][0]["cells"]
    assert cells == ["q", "60s", "pods: 1/2, requests.memory: 0/1Gi", "limits.cpu: 500m/2"]
    lr = {"metadata": {"name": "lr", **created}}
    assert to_table("LimitRange", [lr], now=now)["rows"][0]["cells"] == [
        "lr",
        "2024-01-01T00:00:00Z",
    ]
    columns = [c["name"] for c in to_table("PodTemplate", [], now=now)["columnDefinitions"]]
    assert columns == ["Name", "Containers", "Images", "Pod Labels"]


def test_quota_names_a_grouped_resource_with_its_group(storage: RestStorage) -> None:
    create(storage, make_quota(**{"count/jobs.batch": "0"}))
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "app:1"}],
                }
            }
        },
    }
    rt = storage.registry.by_kind("batch/v1", "Job")
    assert rt is not None
    with pytest.raises(errors.Forbidden) as err:
        storage.create(rt, "default", job)
    assert err.value.message == (
        'jobs.batch "j" is forbidden: exceeded quota: q, requested: count/jobs.batch=1, '
        "used: count/jobs.batch=0, limited: count/jobs.batch=0"
    )
    assert err.value.details == {"name": "j", "group": "batch", "kind": "jobs"}


def test_network_policy_generation_counts_spec_changes(storage: RestStorage) -> None:
    # networkPolicyStrategy: 1 at create, +1 when the spec changes, not for metadata.
    np = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np", "namespace": "default"},
        "spec": {},
    }
    made = create(storage, np)
    assert made["metadata"]["generation"] == 1
    assert made["spec"]["podSelector"] == {}
    rt = storage.registry.by_kind("networking.k8s.io/v1", "NetworkPolicy")
    assert rt is not None
    made["metadata"]["labels"] = {"a": "b"}
    relabelled = storage.update(rt, "default", "np", made).obj()
    assert relabelled["metadata"]["generation"] == 1
    relabelled["spec"]["podSelector"] = {"matchLabels": {"a": "b"}}
    changed = storage.update(rt, "default", "np", relabelled).obj()
    assert changed["metadata"]["generation"] == 2
