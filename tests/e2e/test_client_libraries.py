"""What Python client libraries need of the API (kr8s, lightkube, the official client).

Each test is a QA finding with such a client, checked with raw HTTP or the
official client (kr8s is not a dependency): kr8s's start-up `GET /version/`,
objects the official client's models accept from the moment they are created,
one storage for core/v1 and events.k8s.io/v1 Events, `remainingItemCount`.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    token = (cluster.data_dir / "token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=cluster.status["api"], verify=ctx, headers=headers) as client:
        yield client


def test_version_with_a_trailing_slash_and_no_credentials(cluster: Cluster) -> None:
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    with httpx.Client(base_url=cluster.status["api"], verify=ctx) as anonymous:
        for path in ("/version", "/version/"):
            got = anonymous.get(path)
            assert got.status_code == 200 and got.json()["gitVersion"].startswith("v1.32.")
        assert anonymous.get("/openapi/v2/").status_code == 401


def _template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "python:3.11"}]},
    }


def test_official_client_creates_and_lists_workloads_before_any_status(
    cluster: Cluster, namespace: str
) -> None:
    """The models require the status fields Go always serializes (`replicas`, ...)."""
    api, client = cluster.api_client()
    apps = client.AppsV1Api(api)
    selector = {"matchLabels": {"app": "idle"}}
    rs = apps.create_namespaced_replica_set(
        namespace,
        {
            "metadata": {"name": "idle"},
            "spec": {"replicas": 0, "selector": selector, "template": _template("idle")},
        },
    )
    assert rs.status.replicas == 0
    sts = apps.create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": "idle"},
            "spec": {
                "replicas": 0,
                "serviceName": "idle",
                "selector": selector,
                "template": _template("idle"),
            },
        },
    )
    assert (sts.status.replicas, sts.status.available_replicas) == (0, 0)
    template = _template("nowhere")
    template["spec"]["nodeSelector"] = {"no-such-node": "true"}  # schedules nothing
    ds = apps.create_namespaced_daemon_set(
        namespace,
        {
            "metadata": {"name": "nowhere"},
            "spec": {"selector": {"matchLabels": {"app": "nowhere"}}, "template": template},
        },
    )
    assert ds.status.number_ready == 0 and ds.status.desired_number_scheduled == 0
    assert [r.metadata.name for r in apps.list_namespaced_replica_set(namespace).items] == ["idle"]
    assert len(apps.list_namespaced_stateful_set(namespace).items) == 1
    assert len(apps.list_namespaced_daemon_set(namespace).items) == 1
    hpa = client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "metadata": {"name": "idle"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "idle"},
                "minReplicas": 1,
                "maxReplicas": 2,
            },
        },
    )
    assert hpa.status.desired_replicas == 0


def test_events_k8s_io_and_core_events_are_one_storage(
    cluster: Cluster, namespace: str, http: httpx.Client
) -> None:
    api, client = cluster.api_client()
    created = client.EventsV1Api(api).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "newev"},
            # The client sends it as isoformat(): microseconds, as MicroTime must have.
            "eventTime": "2026-11-28T00:40:00.123456Z",
            "reportingController": "qa/ctl",
            "reportingInstance": "i1",
            "action": "Do",
            "reason": "Did",
            "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p1", "namespace": namespace},
            "note": "hello from events.k8s.io",
        },
    )
    core = client.CoreV1Api(api).read_namespaced_event("newev", namespace)
    assert core.message == "hello from events.k8s.io"
    assert core.involved_object.name == "p1" and core.reporting_component == "qa/ctl"
    assert core.metadata.resource_version == created.metadata.resource_version
    printed = cluster.kubectl("get", "events", "-n", namespace).stdout
    assert "Did" in printed and "hello from events.k8s.io" in printed
    # A legacy core Event, listed through events.k8s.io with its own field labels.
    legacy = {
        "metadata": {"name": "legacy"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": namespace},
        "reason": "Pulled",
        "message": "image present",
        "source": {"component": "kubelet"},
        "count": 3,
        "type": "Normal",
    }
    client.CoreV1Api(api).create_namespaced_event(namespace, legacy)
    listed = http.get(
        f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
        params={"fieldSelector": "regarding.name=p1"},
    ).json()
    by_name = {e["metadata"]["name"]: e for e in listed["items"]}
    assert set(by_name) == {"newev", "legacy"}
    assert by_name["legacy"]["note"] == "image present"
    assert by_name["legacy"]["deprecatedCount"] == 3
    assert by_name["legacy"]["eventTime"] is None  # as upstream serves a legacy Event
    wrong = http.get(
        f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
        params={"fieldSelector": "involvedObject.name=p1"},
    )
    assert wrong.status_code == 400
    assert json.loads(wrong.text)["message"] == "field label not supported: involvedObject.name"


def test_remaining_item_count(cluster: Cluster, namespace: str) -> None:
    api, client = cluster.api_client()
    core = client.CoreV1Api(api)
    for i in range(8):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm{i}"}})
    total = len(core.list_namespaced_config_map(namespace).items)  # kube-root-ca.crt too
    page = core.list_namespaced_config_map(namespace, limit=3)
    assert page.metadata.remaining_item_count == total - 3
    rest = core.list_namespaced_config_map(namespace, limit=3, _continue=page.metadata._continue)
    assert rest.metadata.remaining_item_count == total - 6
