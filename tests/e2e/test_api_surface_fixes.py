"""Less-travelled API surface, with the real kubectl and the official client.

The legacy `bindings` resource (custom schedulers), the full `/openapi/v2`
in protobuf (`kubectl explain --output=plaintext-openapiv2`), a type's
description once in `kubectl explain`, the Scale's Table, and the node proxy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e


def _node(cluster: Cluster) -> str:
    return str(cluster.status["nodes"][0]["name"])


def _unscheduled_pod(cluster: Cluster, ns: str, name: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        # A scheduler of its own: the default one leaves the pod to us.
        "spec": {
            "schedulerName": "my-scheduler",
            "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "300"]}],
        },
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))


def test_official_client_binds_through_the_bindings_resource(
    cluster: Cluster, namespace: str
) -> None:
    _unscheduled_pod(cluster, namespace, "manual")
    api, client = cluster.api_client()
    core = client.CoreV1Api(api)
    body = client.V1Binding(
        metadata=client.V1ObjectMeta(name="manual"),
        target=client.V1ObjectReference(api_version="v1", kind="Node", name=_node(cluster)),
    )
    # The answer is a Status, as upstream's; the client's V1Binding model cannot hold
    # it, so read it raw as custom schedulers do.
    resp = core.create_namespaced_binding(namespace, body, _preload_content=False)
    assert resp.status == 201
    assert json.loads(resp.data)["status"] == "Success"
    pod: Any = core.read_namespaced_pod("manual", namespace)
    assert pod.spec.node_name == _node(cluster)
    assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_binding(namespace, body, _preload_content=False)
    assert err.value.status == 409
    assert json.loads(err.value.body)["message"] == (
        f'Operation cannot be fulfilled on pods/binding "manual": '
        f'pod manual is already assigned to node "{_node(cluster)}"'
    )


def test_kubectl_sees_and_creates_bindings(cluster: Cluster, namespace: str) -> None:
    rows = cluster.kubectl("api-resources", "--verbs=create", "-o", "wide").stdout.splitlines()
    assert any(row.split()[:4] == ["bindings", "v1", "true", "Binding"] for row in rows)
    _unscheduled_pod(cluster, namespace, "by-kubectl")
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "by-kubectl"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": _node(cluster)},
    }
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(binding))
    pod = cluster.kubectl_json("get", "pod", "by-kubectl", "-n", namespace)
    assert pod["spec"]["nodeName"] == _node(cluster)


@pytest.mark.parametrize(("what", "kind"), [("pod", "Pod"), ("deploy", "Deployment")])
def test_explain_from_the_protobuf_openapi_v2(cluster: Cluster, what: str, kind: str) -> None:
    out = cluster.kubectl("explain", what, "--output=plaintext-openapiv2").stdout
    assert f"KIND:     {kind}" in out
    assert "FIELDS:" in out and "metadata\t<Object>" in out


def test_explain_prints_a_types_description_once(cluster: Cluster) -> None:
    for output in ("plaintext", "plaintext-openapiv2"):
        out = cluster.kubectl(
            "explain", "pod.spec.containers.resources", f"--output={output}"
        ).stdout
        type_line = "ResourceRequirements describes the compute resource requirements."
        assert out.count(type_line) == 1


def test_get_scale_subresource_prints_desired_and_available(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl(
        "create", "deployment", "web", "--image=busybox", "--replicas=2", "-n", namespace
    )
    out = cluster.kubectl("get", "deploy", "web", "--subresource=scale", "-n", namespace).stdout
    header, row = out.strip().splitlines()
    assert header.split() == ["NAME", "DESIRED", "AVAILABLE", "AGE"]
    assert row.split()[:2] == ["web", "2"]


def test_node_proxy_healthz_pods_and_stats_summary(cluster: Cluster, namespace: str) -> None:
    from tests.e2e.test_node_agent import apply, pod, simple_pod, wait_for

    node = _node(cluster)
    base = f"/api/v1/nodes/{node}/proxy"
    assert cluster.kubectl("get", "--raw", base + "/healthz").stdout == "ok"
    apply(cluster, namespace, simple_pod("sleeper", ["sleep", "3600"]))
    wait_for(
        lambda: pod(cluster, namespace, "sleeper").get("status", {}).get("phase") == "Running",
        what="sleeper running",
    )
    pods = json.loads(cluster.kubectl("get", "--raw", base + "/pods").stdout)
    assert pods["kind"] == "PodList"
    assert ("sleeper", namespace) in [
        (p["metadata"]["name"], p["metadata"]["namespace"]) for p in pods["items"]
    ]
    summary = json.loads(cluster.kubectl("get", "--raw", base + "/stats/summary").stdout)
    assert summary["node"]["nodeName"] == node
    assert summary["node"]["cpu"]["usageCoreNanoSeconds"] > 0
    assert summary["node"]["memory"]["workingSetBytes"] > 0
    [mine] = [p for p in summary["pods"] if p["podRef"]["namespace"] == namespace]
    assert mine["podRef"]["name"] == "sleeper"
    [container] = mine["containers"]
    assert container["name"] == "main" and container["memory"]["workingSetBytes"] > 0
    missing = cluster.kubectl("get", "--raw", base + "/configz", check=False)
    assert missing.returncode != 0  # not served (see apiserver/node_proxy.py)
