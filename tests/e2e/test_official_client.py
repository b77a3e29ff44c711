"""The official `kubernetes` Python client: list, watch, create, patch, delete."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.e2e


def _core(cluster):
    api, client = cluster.api_client()
    return client.CoreV1Api(api), client.AppsV1Api(api), client


def test_create_list_patch_delete_configmap(cluster, namespace):
    core, _, client = _core(cluster)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="app"), data={"mode": "fast"})
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.uid and created.metadata.resource_version
    items = core.list_namespaced_config_map(namespace).items
    # every namespace also holds the cluster CA, as upstream
    assert [cm.metadata.name for cm in items] == ["app", "kube-root-ca.crt"]
    patched = core.patch_namespaced_config_map("app", namespace, {"data": {"mode": "slow"}})
    assert patched.data == {"mode": "slow"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_config_map("app", namespace)
    items = core.list_namespaced_config_map(namespace).items
    assert [cm.metadata.name for cm in items] == ["kube-root-ca.crt"]


def test_deployment_round_trip(cluster, namespace):
    _, apps, client = _core(cluster)
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="web:1")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment(namespace, dep)
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    scale = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    got = apps.read_namespaced_deployment("web", namespace)
    assert got.spec.replicas == 4 and got.metadata.generation == 2
    apps.delete_namespaced_deployment("web", namespace)


def test_watch_sends_existing_objects_then_changes(cluster, namespace):
    from kubernetes import watch

    core, _, client = _core(cluster)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="before"))
    )
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=15):
            if ev["object"].metadata.name == "kube-root-ca.crt":
                continue  # every namespace has it, as upstream
            events.append((ev["type"], ev["object"].metadata.name))
            if len(events) >= 3:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.5)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after"))
    )
    core.delete_namespaced_config_map("after", namespace)
    thread.join(20)
    assert events == [("ADDED", "before"), ("ADDED", "after"), ("DELETED", "after")]


def test_watch_resumes_from_resource_version(cluster, namespace):
    core, _, client = _core(cluster)
    listed = core.list_namespaced_config_map(namespace)
    rv = listed.metadata.resource_version
    for name in ("one", "two"):
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name))
        )
    resp = core.list_namespaced_config_map(
        namespace, watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    names = [line for line in resp.read().decode().splitlines() if line]
    import json

    got = [(json.loads(n)["type"], json.loads(n)["object"]["metadata"]["name"]) for n in names]
    assert got == [("ADDED", "one"), ("ADDED", "two")]


def test_limit_and_continue(cluster, namespace):
    core, _, client = _core(cluster)
    for i in range(5):
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{i}"))
        )
    first = core.list_namespaced_config_map(namespace, limit=2)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"]
    assert first.metadata._continue
    second = core.list_namespaced_config_map(namespace, limit=2, _continue=first.metadata._continue)
    assert [c.metadata.name for c in second.items] == ["cm-2", "cm-3"]
    third = core.list_namespaced_config_map(namespace, limit=2, _continue=second.metadata._continue)
    assert [c.metadata.name for c in third.items] == ["cm-4", "kube-root-ca.crt"]
    assert not third.metadata._continue


def test_generate_name_and_deletecollection(cluster, namespace):
    core, _, client = _core(cluster)
    for _ in range(3):
        cm = core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(generate_name="gen-", labels={"batch": "1"})
            ),
        )
        assert cm.metadata.name.startswith("gen-") and len(cm.metadata.name) == 9
    core.delete_collection_namespaced_config_map(namespace, label_selector="batch=1")
    assert core.list_namespaced_config_map(namespace, label_selector="batch=1").items == []


def test_finalizers_hold_deletion_until_removed(cluster, namespace):
    core, _, client = _core(cluster)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])
        ),
    )
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("held", namespace)
    assert info.value.status == 404


def test_namespace_deletion_removes_content(cluster):
    core, _, client = _core(cluster)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
    core.create_namespaced_config_map(
        "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
    )
    core.delete_namespace("doomed")
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            core.read_namespace("doomed")
        except ApiException as exc:
            assert exc.status == 404
            break
        time.sleep(0.1)
    else:
        pytest.fail("namespace was not deleted")
    with pytest.raises(ApiException):
        core.delete_namespace("default")
