"""Defaulting: what a real cluster fills in, and that set values are kept."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelite.api.defaults import apply_defaults, apply_priority_class, image_tag, prepare_update

SEED = Path(__file__).resolve().parents[4] / "shared" / "seed" / "deployment.yaml"
# The same document, for checkouts that do not have shared/ beside them.
SEED_TEXT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: go-app
spec:
  replicas: 3
  selector:
    matchLabels:
      app: go-app
  template:
    metadata:
      labels:
        app: go-app
    spec:
      containers:
      - name: go-app
        image: go-app:latest
        ports:
        - containerPort: 8080
"""


def load_seed() -> dict[str, Any]:
    return yaml.safe_load(SEED.read_text() if SEED.exists() else SEED_TEXT)


def make_pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx:1.25"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": base}


def container(obj: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return obj["spec"]["containers"][i]


def get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


# --- the golden case: the seed Deployment as `kubectl get deploy -o yaml` shows its spec ---

GOLDEN_SEED_SPEC = {
    "progressDeadlineSeconds": 600,
    "replicas": 3,
    "revisionHistoryLimit": 10,
    "selector": {"matchLabels": {"app": "go-app"}},
    "strategy": {
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        "type": "RollingUpdate",
    },
    "template": {
        "metadata": {"labels": {"app": "go-app"}},
        "spec": {
            "containers": [
                {
                    "image": "go-app:latest",
                    "imagePullPolicy": "Always",
                    "name": "go-app",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        },
    },
}


def test_seed_deployment_golden():
    seed = load_seed()
    out = apply_defaults(seed)
    assert out is seed  # mutates and returns
    assert out["spec"] == GOLDEN_SEED_SPEC
    assert out["metadata"] == {"name": "go-app"}  # defaulting never touches metadata here


def test_defaulting_is_idempotent():
    seed = load_seed()
    once = copy.deepcopy(apply_defaults(seed))
    assert apply_defaults(seed) == once


# --- Pod ---


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("spec.restartPolicy", "Always"),
        ("spec.terminationGracePeriodSeconds", 30),
        ("spec.dnsPolicy", "ClusterFirst"),
        ("spec.schedulerName", "default-scheduler"),
        ("spec.securityContext", {}),
        ("spec.enableServiceLinks", True),
        ("spec.priority", 0),  # Priority admission: no class, no global default
        ("spec.preemptionPolicy", "PreemptLowerPriority"),
        ("spec.containers.0.terminationMessagePath", "/dev/termination-log"),
        ("spec.containers.0.terminationMessagePolicy", "File"),
        ("spec.containers.0.imagePullPolicy", "IfNotPresent"),
        ("spec.containers.0.resources", {}),
    ],
)
def test_pod_defaults(path, expected):
    assert get(apply_defaults(make_pod()), path) == expected


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        pytest.param("nginx", "Always", id="no-tag-is-latest"),
        pytest.param("nginx:latest", "Always", id="latest"),
        pytest.param("nginx:1.25", "IfNotPresent", id="tag"),
        pytest.param("localhost:5000/app", "Always", id="registry-port-no-tag"),
        pytest.param("localhost:5000/app:v1", "IfNotPresent", id="registry-port-tag"),
        pytest.param("nginx@sha256:" + "a" * 64, "IfNotPresent", id="digest"),
        pytest.param("nginx:latest@sha256:" + "a" * 64, "Always", id="latest-and-digest"),
        pytest.param("Bad/Image", "IfNotPresent", id="unparsable"),
        pytest.param("", "IfNotPresent", id="empty"),
    ],
)
def test_image_pull_policy(image, policy):
    pod = make_pod(containers=[{"name": "c", "image": image}])
    assert container(apply_defaults(pod))["imagePullPolicy"] == policy


def test_image_tag_parsing():
    assert image_tag("docker.io/library/nginx:1.2") == "1.2"
    assert image_tag("go-app:latest") == "latest"


def test_container_ports_protocol_and_env_field_ref():
    pod = make_pod(
        containers=[
            {
                "name": "c",
                "image": "x:1",
                "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }
        ]
    )
    c = container(apply_defaults(pod))
    assert [p["protocol"] for p in c["ports"]] == ["TCP", "UDP"]
    assert c["env"][0]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name",
        "apiVersion": "v1",
    }


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_probe_defaults(probe):
    pod = make_pod(containers=[{"name": "c", "image": "x:1", probe: {"httpGet": {"port": 80}}}])
    assert container(apply_defaults(pod))[probe] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_grpc_probe_service_defaults_to_empty():
    """kubectl 1.32's describe dereferences it: a nil one panicked there."""
    probe = {"grpc": {"port": 9000}}
    pod = make_pod(containers=[{"name": "c", "image": "x:1", "readinessProbe": probe}])
    out = container(apply_defaults(pod))["readinessProbe"]
    assert out["grpc"] == {"port": 9000, "service": ""}
    named = {"grpc": {"port": 9000, "service": "health"}}
    pod = make_pod(containers=[{"name": "c", "image": "x:1", "livenessProbe": named}])
    assert container(apply_defaults(pod))["livenessProbe"]["grpc"]["service"] == "health"


def test_probe_values_kept():
    probe = {
        "exec": {"command": ["true"]},
        "timeoutSeconds": 5,
        "periodSeconds": 2,
        "failureThreshold": 9,
    }
    pod = make_pod(containers=[{"name": "c", "image": "x:1", "livenessProbe": dict(probe)}])
    out = container(apply_defaults(pod))["livenessProbe"]
    assert out == {**probe, "successThreshold": 1}


def test_lifecycle_http_get_defaults():
    hook = {"httpGet": {"port": 80}}
    pod = make_pod(containers=[{"name": "c", "image": "x:1", "lifecycle": {"preStop": hook}}])
    assert container(apply_defaults(pod))["lifecycle"]["preStop"]["httpGet"] == {
        "port": 80,
        "path": "/",
        "scheme": "HTTP",
    }


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        pytest.param({"name": "v"}, {"name": "v", "emptyDir": {}}, id="no-source-is-emptyDir"),
        pytest.param(
            {"name": "v", "configMap": {"name": "cm"}},
            {"name": "v", "configMap": {"name": "cm", "defaultMode": 420}},
            id="configMap",
        ),
        pytest.param(
            {"name": "v", "secret": {"secretName": "s"}},
            {"name": "v", "secret": {"secretName": "s", "defaultMode": 420}},
            id="secret",
        ),
        pytest.param(
            {"name": "v", "secret": {"secretName": "s", "defaultMode": 256}},
            {"name": "v", "secret": {"secretName": "s", "defaultMode": 256}},
            id="secret-mode-kept",
        ),
        pytest.param(
            {"name": "v", "hostPath": {"path": "/tmp"}},
            {"name": "v", "hostPath": {"path": "/tmp", "type": ""}},
            id="hostPath",
        ),
        pytest.param(
            {
                "name": "v",
                "downwardAPI": {
                    "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]
                },
            },
            {
                "name": "v",
                "downwardAPI": {
                    "items": [
                        {
                            "path": "n",
                            "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"},
                        }
                    ],
                    "defaultMode": 420,
                },
            },
            id="downwardAPI",
        ),
        pytest.param(
            {"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
            {
                "name": "v",
                "projected": {
                    "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}],
                    "defaultMode": 420,
                },
            },
            id="projected",
        ),
    ],
)
def test_volume_defaults(volume, expected):
    pod = apply_defaults(make_pod(volumes=[volume]))
    assert pod["spec"]["volumes"] == [expected]


def test_pod_requests_default_from_limits():
    res = {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}
    pod = make_pod(containers=[{"name": "c", "image": "x:1", "resources": res}])
    assert container(apply_defaults(pod))["resources"]["requests"] == {
        "cpu": "100m",
        "memory": "64Mi",
    }


def test_pod_host_network_defaults_host_ports():
    pod = make_pod(
        hostNetwork=True,
        containers=[{"name": "c", "image": "x:1", "ports": [{"containerPort": 8080}]}],
    )
    assert container(apply_defaults(pod))["ports"][0]["hostPort"] == 8080


def test_pod_values_never_overwritten():
    spec = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "dnsPolicy": "Default",
        "schedulerName": "mine",
        "securityContext": {"runAsUser": 1000},
        "enableServiceLinks": False,
        "priority": 0,
        "preemptionPolicy": "Never",
        "containers": [
            {
                "name": "c",
                "image": "x:latest",
                "imagePullPolicy": "Never",
                "terminationMessagePath": "/m",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "resources": {"requests": {"cpu": "1"}},
            }
        ],
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": copy.deepcopy(spec),
    }
    out = apply_defaults(pod)["spec"]
    out_container = out["containers"][0]
    for k, v in spec.items():
        if k != "containers":
            assert out[k] == v, k
    for k, v in spec["containers"][0].items():
        assert out_container[k] == v, k


def test_pod_with_priority_class_left_to_admission():
    pod = apply_defaults(make_pod(priorityClassName="high"))
    assert "priority" not in pod["spec"]
    pc = {"metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "Never"}
    apply_priority_class(pod, pc)
    assert pod["spec"]["priority"] == 1000
    assert pod["spec"]["preemptionPolicy"] == "Never"


# --- workloads ---


def make_template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "a"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "x:1", "resources": {"limits": {"cpu": "1"}}},
            ]
        },
    }


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
def test_template_gets_pod_spec_defaults_but_not_pod_only_ones(kind):
    obj = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "w"},
        "spec": {"template": make_template()},
    }
    spec = apply_defaults(obj)["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["containers"][0]["terminationMessagePolicy"] == "File"
    # SetDefaults_Pod only: no requests-from-limits, enableServiceLinks, priority in templates.
    assert "requests" not in spec["containers"][0]["resources"]
    assert "enableServiceLinks" not in spec
    assert "priority" not in spec


def test_deployment_defaults():
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}
    spec = apply_defaults(d)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600


def test_deployment_recreate_gets_no_rolling_update():
    d = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"strategy": {"type": "Recreate"}, "replicas": 0},
    }
    spec = apply_defaults(d)["spec"]
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["replicas"] == 0


def test_replica_set_defaults():
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {}}
    assert apply_defaults(rs)["spec"]["replicas"] == 1


def test_stateful_set_defaults():
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ]
        },
    }
    spec = apply_defaults(sts)["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert spec["volumeClaimTemplates"][0] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }


def test_stateful_set_on_delete_strategy_untouched():
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "spec": {"updateStrategy": {"type": "OnDelete"}},
    }
    assert apply_defaults(sts)["spec"]["updateStrategy"] == {"type": "OnDelete"}


def _sts_with_max_unavailable(value: Any, **meta: Any) -> dict[str, Any]:
    rolling = {"maxUnavailable": value}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", **meta},
        "spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling}},
    }


def test_stateful_set_max_unavailable_is_dropped_on_create():
    # The MaxUnavailableStatefulSet gate is off in 1.32: PrepareForCreate drops the field.
    spec = apply_defaults(_sts_with_max_unavailable(2))["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}


def test_stateful_set_max_unavailable_kept_on_update_only_when_already_used():
    unused = apply_defaults({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {}})
    new = _sts_with_max_unavailable(2, resourceVersion="7")
    rolling = prepare_update(new, unused)["spec"]["updateStrategy"]["rollingUpdate"]
    assert "maxUnavailable" not in rolling
    used = _sts_with_max_unavailable(1, resourceVersion="6")  # stored before the gate was off
    new = _sts_with_max_unavailable(2, resourceVersion="7")
    spec = apply_defaults(prepare_update(new, used))["spec"]
    assert spec["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 2, "partition": 0}


# --- Service ---


def make_service(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"app": "a"}, "ports": [{"port": 80}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": base}


def test_service_cluster_ip_defaults():
    spec = apply_defaults(make_service())["spec"]
    assert spec == {
        "selector": {"app": "a"},
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "sessionAffinity": "None",
        "type": "ClusterIP",
        "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
    }


def test_service_target_port_kept():
    spec = apply_defaults(make_service(ports=[{"port": 80, "targetPort": "http"}]))["spec"]
    assert spec["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("kind", ["NodePort", "LoadBalancer"])
def test_service_external_traffic_policy(kind):
    spec = apply_defaults(make_service(type=kind))["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert ("allocateLoadBalancerNodePorts" in spec) is (kind == "LoadBalancer")


def test_service_external_name_gets_no_ip_fields():
    spec = apply_defaults(make_service(type="ExternalName", externalName="example.com", ports=[]))[
        "spec"
    ]
    assert "ipFamilies" not in spec
    assert "ipFamilyPolicy" not in spec
    assert "internalTrafficPolicy" not in spec


def test_service_headless_with_selector_is_single_stack():
    spec = apply_defaults(make_service(clusterIP="None"))["spec"]
    assert spec["clusterIPs"] == ["None"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ipFamilies"] == ["IPv4"]


def test_service_headless_selectorless_is_require_dual_stack():
    svc = make_service(clusterIP="None")
    del svc["spec"]["selector"]
    spec = apply_defaults(svc)["spec"]
    assert spec["ipFamilyPolicy"] == "RequireDualStack"
    assert spec["ipFamilies"] == ["IPv4", "IPv6"]


def test_service_client_ip_affinity_timeout():
    spec = apply_defaults(make_service(sessionAffinity="ClientIP"))["spec"]
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


# --- other kinds ---


@pytest.mark.parametrize(
    ("obj", "path", "expected"),
    [
        pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
                     "spec.finalizers", ["kubernetes"], id="namespace-finalizers"),
        pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
                     "status.phase", "Active", id="namespace-phase"),
        pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
                     "metadata.labels", {"kubernetes.io/metadata.name": "team"}, id="namespace-name-label"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolume", "spec": {}},
                     "spec.persistentVolumeReclaimPolicy", "Retain", id="pv-reclaim"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolume", "spec": {}},
                     "spec.volumeMode", "Filesystem", id="pv-volume-mode"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolume", "spec": {}},
                     "status.phase", "Pending", id="pv-phase"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolume", "spec": {"hostPath": {"path": "/d"}}},
                     "spec.hostPath.type", "", id="pv-host-path-type"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {}},
                     "spec.volumeMode", "Filesystem", id="pvc-volume-mode"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {}},
                     "status.phase", "Pending", id="pvc-phase"),
        pytest.param({"apiVersion": "v1", "kind": "Secret"}, "type", "Opaque", id="secret-type"),
        pytest.param({"apiVersion": "v1", "kind": "Node", "status": {"capacity": {"cpu": "4"}}},
                     "status.allocatable", {"cpu": "4"}, id="node-allocatable"),
        pytest.param({"apiVersion": "v1", "kind": "Endpoints", "subsets": [{"ports": [{"port": 80}]}]},
                     "subsets.0.ports.0.protocol", "TCP", id="endpoints-protocol"),
        pytest.param({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "ports": [{"port": 80}]},
                     "ports.0", {"port": 80, "name": "", "protocol": "TCP"}, id="endpointslice-port"),
        pytest.param({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 5},
                     "preemptionPolicy", "PreemptLowerPriority", id="priorityclass"),
        pytest.param({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "p"},
                     "reclaimPolicy", "Delete", id="storageclass-reclaim"),
        pytest.param({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "p"},
                     "volumeBindingMode", "Immediate", id="storageclass-binding"),
    ],
)  # fmt: skip
def test_other_kind_defaults(obj, path, expected):
    assert get(apply_defaults(obj), path) == expected


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls"}, id="secret"),
        pytest.param({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "reclaimPolicy": "Retain",
                      "volumeBindingMode": "WaitForFirstConsumer"}, id="storageclass"),
        pytest.param({"apiVersion": "v1", "kind": "PersistentVolume", "spec": {
            "persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Block"}, "status": {"phase": "Bound"}}, id="pv"),
        pytest.param({"apiVersion": "v1", "kind": "Node", "status": {"capacity": {"cpu": "4"},
                      "allocatable": {"cpu": "3"}}}, id="node"),
    ],
)  # fmt: skip
def test_set_values_kept(obj):
    before = copy.deepcopy(obj)
    after = apply_defaults(obj)
    for k, v in before.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                assert after[k][k2] == v2
        else:
            assert after[k] == v


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}},
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}},
        {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}},
        {"apiVersion": "example.com/v1", "kind": "Unknown", "spec": {}},
    ],
    ids=["configmap", "serviceaccount", "lease", "event", "unknown"],
)
def test_kinds_without_defaults_are_untouched(obj):
    before = copy.deepcopy(obj)
    assert apply_defaults(obj) == before


@pytest.mark.parametrize(
    ("api_version", "kind", "status"),
    [
        ("apps/v1", "ReplicaSet", {"replicas": 0}),
        ("apps/v1", "StatefulSet", {"replicas": 0, "availableReplicas": 0}),
        (
            "apps/v1",
            "DaemonSet",
            {
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0,
            },
        ),
        ("v1", "ReplicationController", {"replicas": 0}),
        (
            "policy/v1",
            "PodDisruptionBudget",
            {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
        ),
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {"desiredReplicas": 0, "currentMetrics": None},  # a nil slice: null
        ),
        ("apps/v1", "Deployment", {}),  # every DeploymentStatus field is omitempty
        ("batch/v1", "Job", {}),
    ],
    ids=["rs", "sts", "ds", "rc", "pdb", "hpa", "deployment", "job"],
)
def test_status_fields_without_omitempty_are_always_there(api_version, kind, status):
    obj = apply_defaults({"apiVersion": api_version, "kind": kind, "status": {}})
    assert obj["status"] == status


def test_status_fields_without_omitempty_keep_their_values():
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "status": {"replicas": 3}}
    assert apply_defaults(rs)["status"] == {"replicas": 3}
    rs["status"] = {"replicas": None, "readyReplicas": 2}  # null decodes as 0
    assert apply_defaults(rs)["status"] == {"replicas": 0, "readyReplicas": 2}
    assert apply_defaults({"apiVersion": "apps/v1", "kind": "ReplicaSet"})["status"] == {
        "replicas": 0
    }


def test_secret_string_data_merged_into_data():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "data": {"a": "eA==", "b": "eA=="},
        "stringData": {"b": "hunter2", "c": "x"},
    }
    out = apply_defaults(secret)
    assert "stringData" not in out
    assert out["data"] == {"a": "eA==", "b": "aHVudGVyMg==", "c": "eA=="}


# --- prepare_update: what the API server copies from the stored object ---


def test_prepare_update_keeps_server_owned_metadata():
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "c", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 3}}  # fmt: skip
    new = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "creationTimestamp": "2030-01-01T00:00:00Z"},
    }
    meta = prepare_update(new, old)["metadata"]
    assert meta == {
        "name": "c",
        "uid": "u1",
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "generation": 3,
    }


def test_prepare_update_service_keeps_allocations():
    old = apply_defaults(make_service(type="NodePort"))
    old["spec"].update(clusterIP="127.96.0.7", clusterIPs=["127.96.0.7"])
    old["spec"]["ports"][0]["nodePort"] = 30007
    new = make_service(type="NodePort")
    spec = prepare_update(apply_defaults(new), old)["spec"]
    assert spec["clusterIP"] == "127.96.0.7"
    assert spec["clusterIPs"] == ["127.96.0.7"]
    assert spec["ports"][0]["nodePort"] == 30007


def test_prepare_update_namespace_keeps_finalizers():
    old = apply_defaults({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    new = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "n"},
        "spec": {"finalizers": []},
    }
    assert prepare_update(new, old)["spec"]["finalizers"] == ["kubernetes"]
