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


# ---- timestamps, consistent chunked lists, WatchList -----------------------------------


def _status_of(exc) -> dict:
    import json

    return json.loads(exc.body)


def _post_raw(api, path: str, body: dict):
    """POST a body the client's own models would refuse before sending it."""
    method, url, headers, data, _ = api.param_serialize(
        "POST",
        path,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(method, url, header_params=headers, body=data)
    resp.read()
    return resp


def test_a_bad_timestamp_is_400_and_nothing_is_stored(cluster, namespace):
    import json

    api, client = cluster.api_client()
    core = client.CoreV1Api(api)
    event = {
        "metadata": {"name": "ev-bad"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": namespace},
        "reason": "X",
        "message": "m",
        "firstTimestamp": "yesterday",
    }
    resp = _post_raw(api, f"/api/v1/namespaces/{namespace}/events", event)
    assert resp.status == 400
    assert json.loads(resp.data)["message"] == (
        'Event in version "v1" cannot be handled as a Event: parsing time "yesterday" as '
        '"2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'
    )
    lease = {"metadata": {"name": "lbad"}, "spec": {"renewTime": "not a time"}}
    resp = _post_raw(api, f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", lease)
    assert resp.status == 400
    assert core.list_namespaced_event(namespace).items == []  # and reading still works
    assert client.CoordinationV1Api(api).list_namespaced_lease(namespace).items == []


def test_times_with_an_offset_read_back_in_utc(cluster, namespace):
    import json

    api, client = cluster.api_client()
    core, coordination = client.CoreV1Api(api), client.CoordinationV1Api(api)
    lease = {
        "metadata": {"name": "lts"},
        "spec": {"holderIdentity": "a", "renewTime": "2026-11-28T01:26:43.676189+01:00"},
    }
    coordination.create_namespaced_lease(namespace, lease)
    event = {
        "metadata": {"name": "ev-offset"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": namespace},
        "reason": "X",
        "message": "m",
        "firstTimestamp": "2026-11-28T01:28:47.261307+01:00",
    }
    core.create_namespaced_event(namespace, event)
    raw = coordination.read_namespaced_lease("lts", namespace, _preload_content=False)
    assert json.loads(raw.data)["spec"]["renewTime"] == "2026-11-28T00:26:43.676189Z"
    raw = core.read_namespaced_event("ev-offset", namespace, _preload_content=False)
    assert json.loads(raw.data)["firstTimestamp"] == "2026-11-28T00:28:47Z"
    assert [e.metadata.name for e in core.list_namespaced_event(namespace).items] == ["ev-offset"]


def test_a_chunked_list_is_the_first_pages_snapshot(cluster, namespace):
    core, _, client = _core(cluster)
    for i in range(6):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"s{i}"), data={"v": "orig"}),
        )
    first = core.list_namespaced_config_map(namespace, limit=3)
    assert [c.metadata.name for c in first.items] == ["kube-root-ca.crt", "s0", "s1"]
    core.patch_namespaced_config_map("s4", namespace, {"data": {"v": "CHANGED"}})
    core.delete_namespaced_config_map("s5", namespace)
    rest = []
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        rest += [(c.metadata.name, c.data["v"]) for c in page.items]
        token = page.metadata._continue
    assert rest == [(f"s{i}", "orig") for i in range(2, 6)]
    exact = core.list_namespaced_config_map(
        namespace, resource_version=first.metadata.resource_version, resource_version_match="Exact"
    )
    assert ("s5", "orig") in [(c.metadata.name, (c.data or {}).get("v")) for c in exact.items]


def test_send_initial_events_ends_with_the_initial_events_end_bookmark(cluster, namespace):
    import json

    from kubernetes.client.rest import ApiException

    core, _, client = _core(cluster)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="one"))
    )
    resp = core.list_namespaced_config_map(
        namespace,
        watch=True,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=1,
        _preload_content=False,
    )
    events = [json.loads(line) for line in resp.read().decode().splitlines() if line]
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[-1]["object"]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["resourceVersion"]) >= int(
        events[1]["object"]["metadata"]["resourceVersion"]
    )
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(
            namespace, watch=True, send_initial_events=True, timeout_seconds=1
        )
    assert err.value.status == 422
    assert _status_of(err.value)["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
    )


@pytest.fixture(scope="module")
def compacting_cluster(tmp_path_factory):
    """A cluster that keeps 20 revisions of history and compacts every second."""
    from tests.e2e.conftest import _new_cluster

    c = _new_cluster(tmp_path_factory.mktemp("compacting"))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("KUBELITE_HISTORY", "20")  # read by `kubelite up` at start
            env.setenv("KUBELITE_COMPACT_INTERVAL", "1")
            c.start()
        yield c
    finally:
        c.stop()


def test_an_expired_continue_is_410_with_a_token_to_go_on(compacting_cluster):
    from kubernetes.client.rest import ApiException

    core, _, client = _core(compacting_cluster)
    ns = "default"
    for i in range(5):
        core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"g{i}"))
        )
    first = core.list_namespaced_config_map(ns, limit=2)
    for i in range(30):
        core.patch_namespaced_config_map("g0", ns, {"data": {"i": str(i)}})
    deadline = time.monotonic() + 20
    while True:
        try:
            core.list_namespaced_config_map(ns, limit=2, _continue=first.metadata._continue)
        except ApiException as exc:
            err = exc
            break
        assert time.monotonic() < deadline, "the continue token never expired"
        time.sleep(0.5)
    assert err.status == 410
    status = _status_of(err)
    assert status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old")
    rest = core.list_namespaced_config_map(ns, limit=10, _continue=status["metadata"]["continue"])
    assert [c.metadata.name for c in rest.items] == ["g2", "g3", "g4", "kube-root-ca.crt"]
