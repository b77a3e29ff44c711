"""autoscaling/v1 HorizontalPodAutoscalers, as tutorials write them: one object, two versions.

The HPA is stored as autoscaling/v2; everything here goes through the v1
API with the real kubectl and the official client, and reads the result back
through v2 to show it is the same object. Each test runs its own cluster.

kubectl drops the version from a short name (`hpa.v1.autoscaling` resolves
to the preferred v2, as against any cluster), so the v1 commands spell the
resource out: `horizontalpodautoscalers.v1.autoscaling`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e

HPA_V1 = "horizontalpodautoscalers.v1.autoscaling"
HPA_V2 = "hpa.v2.autoscaling"

MANIFEST = """\
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: php-apache
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: php-apache
  minReplicas: {min_replicas}
  maxReplicas: {max_replicas}
  targetCPUUtilizationPercentage: {target}
"""


def _manifest(
    tmp_path: Path, *, target: int = 50, min_replicas: int = 1, max_replicas: int = 10
) -> Path:
    path = tmp_path / "hpa-v1.yaml"
    path.write_text(
        MANIFEST.format(target=target, min_replicas=min_replicas, max_replicas=max_replicas)
    )
    return path


def _cpu_target(hpa_v2: dict[str, Any]) -> int:
    metric = hpa_v2["spec"]["metrics"][0]
    assert (metric["type"], metric["resource"]["name"]) == ("Resource", "cpu")
    assert metric["resource"]["target"]["type"] == "Utilization"
    return int(metric["resource"]["target"]["averageUtilization"])


def test_kubectl_apply_patch_delete_a_v1_manifest(fresh_cluster: Cluster, tmp_path: Path) -> None:
    c = fresh_cluster
    out = c.kubectl("apply", "-f", str(_manifest(tmp_path, target=50))).stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/php-apache created"
    v1 = c.kubectl_json("get", HPA_V1, "php-apache")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50

    out = c.kubectl("apply", "-f", str(_manifest(tmp_path, target=70))).stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/php-apache configured"
    v2 = yaml.safe_load(c.kubectl("get", HPA_V2, "php-apache", "-o", "yaml").stdout)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert _cpu_target(v2) == 70
    v1 = c.kubectl_json("get", HPA_V1, "php-apache")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 70
    assert (v1["metadata"]["uid"], v1["metadata"]["resourceVersion"]) == (
        v2["metadata"]["uid"],
        v2["metadata"]["resourceVersion"],
    )
    out = c.kubectl("apply", "-f", str(_manifest(tmp_path, target=70))).stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/php-apache unchanged"

    c.kubectl("patch", HPA_V1, "php-apache", "-p", '{"spec":{"maxReplicas":4}}')
    c.kubectl("patch", HPA_V1, "php-apache", "--type=merge", "-p", '{"spec":{"minReplicas":2}}')
    c.kubectl(
        "patch",
        HPA_V1,
        "php-apache",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/targetCPUUtilizationPercentage","value":65}]',
    )
    v2 = c.kubectl_json("get", HPA_V2, "php-apache")
    assert (v2["spec"]["minReplicas"], v2["spec"]["maxReplicas"], _cpu_target(v2)) == (2, 4, 65)
    cells = c.kubectl("get", HPA_V1, "php-apache", "--no-headers").stdout.split()
    assert cells[:3] == ["php-apache", "Deployment/php-apache", "cpu:"]
    assert cells[3].endswith("/65%") and cells[4:6] == ["2", "4"]

    out = c.kubectl("delete", "-f", str(_manifest(tmp_path))).stdout
    assert out.strip() == 'horizontalpodautoscaler.autoscaling "php-apache" deleted'
    gone = c.kubectl("get", HPA_V2, "php-apache", check=False)
    assert gone.returncode != 0
    assert 'horizontalpodautoscalers.autoscaling "php-apache" not found' in gone.stderr


def test_server_side_apply_and_explain_in_v1(fresh_cluster: Cluster, tmp_path: Path) -> None:
    c = fresh_cluster
    out = c.kubectl("apply", "--server-side", "-f", str(_manifest(tmp_path, target=40))).stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/php-apache serverside-applied"
    v1 = c.kubectl_json("get", HPA_V1, "php-apache", "--show-managed-fields")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 40
    managers = {(f["manager"], f["apiVersion"]) for f in v1["metadata"]["managedFields"]}
    assert ("kubectl", "autoscaling/v1") in managers
    c.kubectl("apply", "--server-side", "-f", str(_manifest(tmp_path, target=45)))
    assert _cpu_target(c.kubectl_json("get", HPA_V2, "php-apache")) == 45

    explained = c.kubectl("explain", "hpa.spec", "--api-version=autoscaling/v1").stdout
    assert "VERSION:    v1" in explained
    assert "targetCPUUtilizationPercentage" in explained


def test_official_client_v1_read_replace_list_watch(fresh_cluster: Cluster) -> None:
    from kubernetes import watch

    api, client = fresh_cluster.api_client()
    v1 = client.AutoscalingV1Api(api)
    v2 = client.AutoscalingV2Api(api)
    body = client.V1HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V1CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="web"
            ),
            max_replicas=5,
            target_cpu_utilization_percentage=50,
        ),
    )
    created = v1.create_namespaced_horizontal_pod_autoscaler("default", body)
    assert created.spec.min_replicas == 1  # defaulted, as upstream
    read = v1.read_namespaced_horizontal_pod_autoscaler("web", "default")
    assert read.spec.target_cpu_utilization_percentage == 50

    listed = v1.list_namespaced_horizontal_pod_autoscaler("default", label_selector="app=web")
    assert [h.metadata.name for h in listed.items] == ["web"]
    assert listed.items[0].spec.target_cpu_utilization_percentage == 50

    replaced = _replace_target(client, v1, 75)
    assert replaced.spec.target_cpu_utilization_percentage == 75
    stored = v2.read_namespaced_horizontal_pod_autoscaler("web", "default")
    assert stored.spec.metrics[0].resource.target.average_utilization == 75
    assert stored.metadata.resource_version == replaced.metadata.resource_version
    assert stored.metadata.uid == created.metadata.uid

    # Watch from the list's resourceVersion: the replace arrives as a v1 MODIFIED event.
    seen = []
    w = watch.Watch()
    for event in w.stream(
        v1.list_namespaced_horizontal_pod_autoscaler,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=60,
    ):
        assert event["object"].api_version == "autoscaling/v1"
        seen.append((event["type"], event["object"].spec.target_cpu_utilization_percentage))
        if seen[-1] == ("MODIFIED", 75):
            w.stop()
    # The controller's status writes may come first, as MODIFIED events of the old target.
    assert seen[-1] == ("MODIFIED", 75)
    assert set(seen[:-1]) <= {("MODIFIED", 50)}


def _replace_target(client: Any, v1: Any, target: int) -> Any:
    """Read, change, replace: again on a conflict, as the HPA controller writes status meanwhile."""
    for _ in range(20):
        hpa = v1.read_namespaced_horizontal_pod_autoscaler("web", "default")
        hpa.spec.target_cpu_utilization_percentage = target
        try:
            return v1.replace_namespaced_horizontal_pod_autoscaler("web", "default", hpa)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    raise AssertionError("the replace kept conflicting")


def test_invalid_v1_object_is_refused_and_changes_nothing(
    fresh_cluster: Cluster, tmp_path: Path
) -> None:
    c = fresh_cluster
    bad = c.kubectl("apply", "-f", str(_manifest(tmp_path, max_replicas=0)), check=False)
    assert bad.returncode != 0
    assert 'The HorizontalPodAutoscaler "php-apache" is invalid' in bad.stderr
    assert "spec.maxReplicas: Invalid value: 0: must be greater than 0" in bad.stderr
    assert c.kubectl("get", HPA_V1, "php-apache", check=False).returncode != 0

    c.kubectl("apply", "-f", str(_manifest(tmp_path, target=50)))
    before = c.kubectl_json("get", HPA_V2, "php-apache")
    # The controller may write status meanwhile; what a refused write would change is the rest.
    unchanged = ("spec", "metadata.annotations", "metadata.generation")
    bad = c.kubectl(
        "apply", "-f", str(_manifest(tmp_path, min_replicas=5, max_replicas=3)), check=False
    )
    assert bad.returncode != 0
    assert (
        'The HorizontalPodAutoscaler "php-apache" is invalid: spec.maxReplicas: Invalid value: 3: '
        "must be greater than or equal to `minReplicas`"
    ) in bad.stderr
    patched = c.kubectl(
        "patch",
        HPA_V1,
        "php-apache",
        "--type=merge",
        "-p",
        '{"spec":{"maxReplicas":0}}',
        check=False,
    )
    assert patched.returncode != 0
    assert "spec.maxReplicas: Invalid value: 0: must be greater than 0" in patched.stderr
    after = c.kubectl_json("get", HPA_V2, "php-apache")
    for path in unchanged:
        assert _at(after, path) == _at(before, path), path
    assert (
        json.loads(c.kubectl("get", HPA_V1, "php-apache", "-o", "json").stdout)["spec"][
            "maxReplicas"
        ]
        == 10
    )


def _at(obj: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) or {}
    return obj
