"""Validation: exact upstream field paths and messages, create and update.

Every object is defaulted first, as kube-apiserver defaults before it
validates. Cases compare `str(FieldError)` — `<field>: <message>` — which is
what kubectl prints after `The <Kind> "<name>" is invalid:`.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelite.api.defaults import apply_defaults
from kubelite.api.fielderrors import FieldError, aggregate_message
from kubelite.api.validation import validate
from kubelite.api.validation_service import prepare_service_update

Obj = dict[str, Any]
SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name' or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_RULE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


# --- builders ---


def make_pod(*, name: str = "web", **spec: Any) -> Obj:
    base: Obj = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    base.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": base,
    }


def make_container(name: str = "app", **fields: Any) -> Obj:
    return {"name": name, "image": "nginx:1.25", **fields}


def make_deployment(*, labels: Obj | None = None, **spec: Any) -> Obj:
    labels = {"app": "web"} if labels is None else labels
    base: Obj = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [make_container()]}},
    }
    base.update(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": base,
    }


def make_workload(kind: str, **spec: Any) -> Obj:
    obj = make_deployment(**spec)
    obj["kind"] = kind
    if kind == "StatefulSet":
        obj["spec"]["serviceName"] = "web"
    return obj


def make_service(*, name: str = "web", **spec: Any) -> Obj:
    base: Obj = {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    base.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": base,
    }


def make_config_map(**fields: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"app.properties": "a=b"},
        **fields,
    }


def make_secret(**fields: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"password": "aHVudGVyMg=="},
        **fields,
    }


def stored(obj: Obj) -> Obj:
    """`obj` as the store holds it: defaulted, with the fields the server sets."""
    out = apply_defaults(copy.deepcopy(obj))
    meta = out.setdefault("metadata", {})
    meta.update(
        {
            "uid": "1b4e28ba-2fa1",
            "resourceVersion": "7",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        }
    )
    spec = out.get("spec", {})
    if (
        out.get("kind") == "Service"
        and spec.get("type") != "ExternalName"
        and spec.get("clusterIP") != "None"
    ):
        spec["clusterIP"] = "127.96.0.10"  # what the allocator assigned
        spec["clusterIPs"] = ["127.96.0.10"]
    return out


def errors(obj: Obj, **kwargs: Any) -> list[str]:
    return [str(e) for e in validate(apply_defaults(copy.deepcopy(obj)), **kwargs)]


def update_errors(old: Obj, mutate: Callable[[Obj], None], **kwargs: Any) -> list[str]:
    before = stored(old)
    after = copy.deepcopy(before)
    mutate(after)
    return [str(e) for e in validate(apply_defaults(after), old=before, **kwargs)]


def setter(path: str, value: Any) -> Callable[[Obj], None]:
    def mutate(obj: Obj) -> None:
        *parents, last = path.split(".")
        for part in parents:
            obj = obj[int(part)] if isinstance(obj, list) else obj.setdefault(part, {})
        if isinstance(obj, list):
            obj[int(last)] = value
        elif value is _DELETE:
            obj.pop(last, None)
        else:
            obj[last] = value

    return mutate


_DELETE = object()


# --- valid objects ---


VALID = [
    pytest.param(make_pod(), id="pod"),
    pytest.param(make_deployment(), id="deployment"),
    pytest.param(make_workload("ReplicaSet"), id="replicaset"),
    pytest.param(make_workload("StatefulSet"), id="statefulset"),
    pytest.param(make_service(), id="service"),
    pytest.param(make_service(clusterIP="None", ports=[]), id="headless-service"),
    pytest.param(
        make_service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]),
        id="nodeport-service",
    ),
    pytest.param(
        make_service(type="ExternalName", externalName="db.example.com", selector=None, ports=[]),
        id="externalname-service",
    ),  # fmt: skip
    pytest.param(make_config_map(), id="configmap"),
    pytest.param(make_secret(), id="secret"),
    pytest.param(make_secret(stringData={"user": "admin"}), id="secret-stringdata"),
    pytest.param(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}, id="namespace"
    ),
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1"},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        },
        id="node",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": "default"},
        },
        id="serviceaccount",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "pv1"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/pv1"},
            },
        },
        id="pv",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        id="pvc",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "127.244.0.5"}], "ports": [{"port": 8080}]}],
        },
        id="endpoints-loopback",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "default"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.244.0.5"]}],
            "ports": [{"port": 8080}],
        },
        id="endpointslice",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
        },
        id="priorityclass",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "local"},
            "provisioner": "kubelite.io/hostpath",
        },
        id="storageclass",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40},
        },
        id="lease",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Scheduled",
            "message": "ok",
            "type": "Normal",
        },
        id="event",
    ),  # fmt: skip
    pytest.param(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.2", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "kubelite.io/scheduler",
            "reportingInstance": "s-1",
            "action": "Binding",
            "reason": "Scheduled",
            "type": "Normal",
        },
        id="events-v1-event",
    ),  # fmt: skip
    pytest.param({"apiVersion": "example.com/v1", "kind": "Unknown"}, id="unknown-kind"),
]


@pytest.mark.parametrize("obj", VALID)
def test_valid_objects_have_no_errors(obj):
    assert errors(obj) == []


def test_seed_deployment_is_valid():
    seed_file = Path(__file__).resolve().parents[4] / "shared" / "seed" / "deployment.yaml"
    seed = yaml.safe_load(seed_file.read_text()) if seed_file.exists() else make_deployment()
    seed["metadata"]["namespace"] = "default"  # the API server fills it from the URL
    assert errors(seed) == []


@pytest.mark.parametrize("obj", VALID)
def test_unchanged_update_is_valid(obj):
    assert update_errors(obj, lambda o: None) == []


# --- metadata ---


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            make_pod(name=""),
            ["metadata.name: Required value: name or generateName is required"],
            id="name-required",
        ),  # fmt: skip
        pytest.param(
            make_pod(name="Web_1"),
            [f'metadata.name: Invalid value: "Web_1": {SUBDOMAIN_RULE}'],
            id="pod-name-subdomain",
        ),  # fmt: skip
        pytest.param(
            make_service(name="web.v1"),
            [f'metadata.name: Invalid value: "web.v1": {DNS1035_RULE}'],
            id="service-name-dns1035",
        ),  # fmt: skip
        pytest.param(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team.a"}},
            ['metadata.name: Invalid value: "team.a": must not contain dots'],
            id="namespace-name-label",
        ),  # fmt: skip
        pytest.param(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "b"}},
            ["metadata.namespace: Forbidden: not allowed on this type"],
            id="cluster-scoped-namespace",
        ),  # fmt: skip
        pytest.param(
            {**make_pod(), "metadata": {"name": "web"}},
            ["metadata.namespace: Required value"],
            id="namespace-required",
        ),  # fmt: skip
        pytest.param(
            {**make_pod(), "metadata": {"name": "web", "namespace": "Team"}},
            [f'metadata.namespace: Invalid value: "Team": {LABEL_RULE}'],
            id="namespace-format",
        ),  # fmt: skip
        pytest.param(
            {
                **make_pod(),
                "metadata": {"name": "web", "namespace": "default", "labels": {"-bad": "x"}},
            },
            [
                'metadata.labels: Invalid value: "-bad": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' or "
                "'my.name' or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ],
            id="label-key",
        ),  # fmt: skip
        pytest.param(
            {
                **make_pod(),
                "metadata": {"name": "web", "namespace": "default", "labels": {"a": "v" * 64}},
            },
            [f'metadata.labels: Invalid value: "{"v" * 64}": must be no more than 63 characters'],
            id="label-value-63",
        ),  # fmt: skip
        pytest.param(
            {
                **make_pod(),
                "metadata": {
                    "name": "web",
                    "namespace": "default",
                    "annotations": {"a" * 10: "x" * (256 * 1024)},
                },
            },
            ["metadata.annotations: Too long: may not be more than 262144 bytes"],
            id="annotations-size",
        ),  # fmt: skip
        # The API server generates the name before validating, as upstream does.
        pytest.param(
            {
                **make_pod(),
                "metadata": {"namespace": "default", "generateName": "web-", "name": "web-x7k2p"},
            },
            [],
            id="generate-name-ok",
        ),  # fmt: skip
        pytest.param(
            {
                **make_pod(),
                "metadata": {"namespace": "default", "generateName": "Web_", "name": "web-x7k2p"},
            },
            [f'metadata.generateName: Invalid value: "Web_": {SUBDOMAIN_RULE}'],
            id="generate-name-bad",
        ),  # fmt: skip
        pytest.param(
            {
                **make_pod(),
                "metadata": {"name": "web", "namespace": "default", "finalizers": ["custom"]},
            },
            [
                'metadata.finalizers[0]: Invalid value: "custom": name is neither a standard finalizer '
                "name nor is it fully qualified"
            ],
            id="finalizer-name",
        ),  # fmt: skip
    ],
)
def test_metadata_rules(obj, expected):
    assert errors(obj) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("metadata.name", "other", 'metadata.name: Invalid value: "other": field is immutable'),
        (
            "metadata.namespace",
            "prod",
            'metadata.namespace: Invalid value: "prod": field is immutable',
        ),
        ("metadata.uid", "x-y", 'metadata.uid: Invalid value: "x-y": field is immutable'),
        (
            "metadata.creationTimestamp",
            "2025-01-01T00:00:00Z",
            'metadata.creationTimestamp: Invalid value: "2025-01-01T00:00:00Z": field is immutable',
        ),  # fmt: skip
        (
            "metadata.resourceVersion",
            "",
            'metadata.resourceVersion: Invalid value: "": must be specified for an update',
        ),
    ],
)
def test_metadata_immutable_on_update(field, value, expected):
    assert expected in update_errors(make_config_map(), setter(field, value))


# --- Pod ---


def pod_with(**container_fields: Any) -> Obj:
    return make_pod(containers=[make_container(**container_fields)])


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            make_pod(containers=[]), ["spec.containers: Required value"], id="no-containers"
        ),
        pytest.param(
            make_pod(containers=[{"image": "x:1"}]),
            ["spec.containers[0].name: Required value"],
            id="container-name-required",
        ),  # fmt: skip
        pytest.param(
            make_pod(containers=[{"name": "App", "image": "x:1"}]),
            [f'spec.containers[0].name: Invalid value: "App": {LABEL_RULE}'],
            id="container-name-label",
        ),  # fmt: skip
        pytest.param(
            make_pod(containers=[make_container("a"), make_container("a")]),
            ['spec.containers[1].name: Duplicate value: "a"'],
            id="duplicate-container",
        ),  # fmt: skip
        pytest.param(
            make_pod(containers=[{"name": "a"}]),
            ["spec.containers[0].image: Required value"],
            id="image-required",
        ),  # fmt: skip
        pytest.param(
            pod_with(ports=[{"containerPort": 70000}]),
            [
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ],
            id="container-port-range",
        ),  # fmt: skip
        pytest.param(
            pod_with(ports=[{"containerPort": 80, "protocol": "HTTP"}]),
            [
                'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
            ],
            id="port-protocol",
        ),  # fmt: skip
        pytest.param(
            pod_with(ports=[{"containerPort": 80, "name": "web--x"}]),
            [
                'spec.containers[0].ports[0].name: Invalid value: "web--x": must not contain consecutive hyphens'
            ],
            id="port-name-iana",
        ),  # fmt: skip
        pytest.param(
            pod_with(
                ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]
            ),
            ['spec.containers[0].ports[1].name: Duplicate value: "http"'],
            id="port-name-duplicate",
        ),  # fmt: skip
        pytest.param(
            make_pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
            ['spec.volumes[1].name: Duplicate value: "v"'],
            id="duplicate-volume",
        ),  # fmt: skip
        pytest.param(
            pod_with(volumeMounts=[{"name": "x", "mountPath": "/x"}]),
            ['spec.containers[0].volumeMounts[0].name: Not found: "x"'],
            id="mount-unknown-volume",
        ),  # fmt: skip
        pytest.param(
            make_pod(restartPolicy="Sometimes"),
            [
                'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
            ],
            id="restart-policy",
        ),  # fmt: skip
        pytest.param(
            pod_with(resources={"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}),
            [
                'spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m'
            ],
            id="requests-over-limits",
        ),  # fmt: skip
        pytest.param(
            pod_with(resources={"requests": {"memory": "-1Mi"}}),
            [
                'spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0'
            ],
            id="negative-quantity",
        ),  # fmt: skip
        pytest.param(
            pod_with(resources={"requests": {"gpu": "1"}}),
            [
                'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified'
            ],
            id="resource-name",
        ),  # fmt: skip
        pytest.param(
            pod_with(livenessProbe={"initialDelaySeconds": 3}),
            ["spec.containers[0].livenessProbe: Required value: must specify a handler type"],
            id="probe-no-handler",
        ),  # fmt: skip
        pytest.param(
            pod_with(readinessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}),
            [
                "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"
            ],
            id="probe-two-handlers",
        ),  # fmt: skip
        pytest.param(
            pod_with(livenessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2}),
            ["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"],
            id="liveness-success-threshold",
        ),  # fmt: skip
        pytest.param(
            pod_with(env=[{"name": "A=B", "value": "x"}]),
            [
                'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name '
                "must consist only of printable ASCII characters other than '='"
            ],
            id="env-name",
        ),  # fmt: skip
        pytest.param(
            pod_with(env=[{"name": "A", "valueFrom": {}}]),
            [
                'spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
                "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
            ],
            id="env-value-from",
        ),  # fmt: skip
        pytest.param(
            pod_with(imagePullPolicy="Sometimes"),
            [
                'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: '
                '"Always", "IfNotPresent", "Never"'
            ],
            id="pull-policy",
        ),  # fmt: skip
        pytest.param(
            make_pod(volumes=[{"name": "v", "secret": {}}]),
            ["spec.volumes[0].secret.secretName: Required value"],
            id="secret-volume-name",
        ),  # fmt: skip
        pytest.param(
            make_pod(volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
            ["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"],
            id="two-volume-sources",
        ),  # fmt: skip
        pytest.param(
            make_pod(dnsPolicy="Cluster"),
            [
                'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", '
                '"ClusterFirst", "Default", "None"'
            ],
            id="dns-policy",
        ),  # fmt: skip
        pytest.param(
            make_pod(nodeSelector={"disk": "ssd ok"}),
            [
                'spec.nodeSelector: Invalid value: "ssd ok": a valid label must be an empty string or consist '
                "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character (e.g. 'MyValue' or 'my_value' or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ],
            id="node-selector",
        ),  # fmt: skip
        pytest.param(
            make_pod(tolerations=[{"operator": "Equal", "value": "x"}]),
            [
                'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` '
                'is empty, which means "match all values and all keys"'
            ],
            id="toleration",
        ),  # fmt: skip
        pytest.param(
            make_pod(activeDeadlineSeconds=0),
            [
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
            ],
            id="active-deadline",
        ),  # fmt: skip
        pytest.param(
            make_pod(ephemeralContainers=[{"name": "dbg", "image": "busybox"}]),
            ["spec.ephemeralContainers: Forbidden: cannot be set on create"],
            id="ephemeral-on-create",
        ),  # fmt: skip
        pytest.param(
            make_pod(preemptionPolicy="Sometimes"),
            [
                'spec.preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"'
            ],
            id="preemption-policy",
        ),  # fmt: skip
    ],
)
def test_pod_rules(obj, expected):
    assert errors(obj) == expected


def test_unparsable_quantity_reports_the_parser_message():
    from kubelite.api.quantity import QuantityError, parse_quantity

    with pytest.raises(QuantityError) as exc:
        parse_quantity("lots")
    out = errors(pod_with(resources={"requests": {"cpu": "lots"}}))
    assert out == [
        f'spec.containers[0].resources.requests[cpu]: Invalid value: "lots": {exc.value}'
    ]


def test_pod_errors_keep_upstream_order():
    pod = make_pod(
        containers=[{"name": "a", "image": "", "ports": [{"containerPort": 0}]}],
        restartPolicy="Bad",
    )
    assert errors(pod) == [
        "spec.containers[0].image: Required value",
        "spec.containers[0].ports[0].containerPort: Required value",
        'spec.restartPolicy: Unsupported value: "Bad": supported values: "Always", "OnFailure", "Never"',
    ]


UPDATABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
    "was previously negative)"
)


@pytest.mark.parametrize(
    ("mutate", "ok"),
    [
        pytest.param(setter("spec.containers.0.image", "nginx:1.27"), True, id="image"),
        pytest.param(setter("spec.activeDeadlineSeconds", 30), True, id="active-deadline-set"),
        pytest.param(
            setter("spec.tolerations", [{"key": "k", "operator": "Exists"}]),
            True,
            id="toleration-added",
        ),
        pytest.param(setter("metadata.labels", {"tier": "web"}), True, id="labels"),
        pytest.param(setter("spec.restartPolicy", "Never"), False, id="restart-policy"),
        pytest.param(
            setter("spec.containers.0.ports", [{"containerPort": 80, "protocol": "TCP"}]),
            False,
            id="ports",
        ),
    ],
)
def test_pod_update_allowed_fields(mutate, ok):
    out = update_errors(make_pod(), mutate)
    if ok:
        assert out == []
    else:
        assert len(out) == 1
        assert out[0].startswith("spec: Forbidden: " + UPDATABLE + "\n")


def test_pod_update_may_not_add_containers():
    out = update_errors(make_pod(), lambda p: p["spec"]["containers"].append(make_container("b")))
    assert out == ["spec.containers: Forbidden: pod updates may not add or remove containers"]


def test_pod_update_active_deadline_may_only_shrink():
    pod = make_pod(activeDeadlineSeconds=30)
    out = update_errors(pod, setter("spec.activeDeadlineSeconds", 60))
    assert out == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"
    ]


def test_pod_update_toleration_removal_forbidden():
    pod = make_pod(tolerations=[{"key": "k", "operator": "Exists"}])
    out = update_errors(pod, setter("spec.tolerations", []))
    assert out == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    ]


# --- Deployment / ReplicaSet / StatefulSet ---

MISMATCH = 'spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match template `labels`'


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(make_deployment(labels={"app": "x"}), [MISMATCH], id="selector-mismatch"),
        pytest.param(
            make_deployment(labels={"app": "x"}, selector=None),
            ["spec.selector: Required value", MISMATCH],
            id="selector-required",
        ),  # fmt: skip
        pytest.param(
            make_deployment(replicas=-1),
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
            id="replicas",
        ),  # fmt: skip
        pytest.param(
            make_deployment(
                strategy={
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0},
                }
            ),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
            ],
            id="surge-and-unavailable-zero",
        ),  # fmt: skip
        pytest.param(
            make_deployment(
                strategy={
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"},
                }
            ),
            [
                'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'
            ],
            id="surge-and-unavailable-zero-percent",
        ),  # fmt: skip
        pytest.param(
            make_deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x"}}),
            [
                'spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": a valid percent string must be a '
                "numeric string followed by an ending '%' (e.g. '1%' or '93%', regex used for validation is "
                "'[0-9]+%')"
            ],
            id="surge-not-percent",
        ),  # fmt: skip
        pytest.param(
            make_deployment(strategy={"type": "Recreate", "rollingUpdate": {}}),
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ],
            id="recreate-with-rolling",
        ),  # fmt: skip
        pytest.param(
            make_deployment(progressDeadlineSeconds=5, minReadySeconds=10),
            [
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"
            ],
            id="progress-deadline",
        ),  # fmt: skip
    ],
)
def test_deployment_rules(obj, expected):
    assert errors(obj) == expected


def test_deployment_empty_selector():
    out = validate(apply_defaults(make_deployment(selector={"matchLabels": {}})))
    assert [(e.field, e.reason, e.detail) for e in out] == [
        ("spec.selector", "FieldValueInvalid", "empty selector is invalid for deployment")
    ]


def test_deployment_strategy_type_unsupported():
    out = validate(apply_defaults(make_deployment(strategy={"type": "BlueGreen"})))
    assert [(e.field, e.reason, e.detail) for e in out] == [
        ("spec.strategy", "FieldValueNotSupported", 'supported values: "Recreate", "RollingUpdate"')
    ]


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
def test_template_restart_policy_must_be_always(kind):
    obj = make_workload(kind)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
        in errors(obj)
    )


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet"])
def test_template_pod_spec_validated(kind):
    obj = make_workload(kind)
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    assert errors(obj) == ["spec.template.spec.containers[0].image: Required value"]


def test_replica_set_empty_selector_message():
    out = validate(apply_defaults(make_workload("ReplicaSet", selector={})))
    assert [e.detail for e in out] == ["empty selector is invalid for deployment"]  # sic upstream


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet"])
def test_selector_immutable_on_update(kind):
    def mutate(obj: Obj) -> None:
        obj["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
        obj["spec"]["template"]["metadata"]["labels"]["tier"] = "x"

    out = validate(
        apply_defaults(_mutated(make_workload(kind), mutate)), old=stored(make_workload(kind))
    )
    assert [(e.field, e.detail) for e in out] == [("spec.selector", "field is immutable")]


def _mutated(obj: Obj, mutate: Callable[[Obj], None]) -> Obj:
    out = stored(obj)
    mutate(out)
    return out


def test_deployment_replicas_and_template_change_allowed():
    def mutate(obj: Obj) -> None:
        obj["spec"]["replicas"] = 5
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"

    assert update_errors(make_deployment(), mutate) == []


def test_stateful_set_name_is_a_label():
    obj = make_workload("StatefulSet")
    obj["metadata"]["name"] = "db.v1"
    assert errors(obj) == ['metadata.name: Invalid value: "db.v1": must not contain dots']


STS_FORBIDDEN = (
    "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(setter("spec.replicas", 4), [], id="replicas"),
        pytest.param(setter("spec.minReadySeconds", 5), [], id="min-ready"),
        pytest.param(setter("spec.updateStrategy", {"type": "OnDelete"}), [], id="update-strategy"),
        pytest.param(setter("spec.template.spec.containers.0.image", "nginx:2"), [], id="template"),
        pytest.param(setter("spec.serviceName", "other"), [STS_FORBIDDEN], id="service-name"),
        pytest.param(
            setter("spec.podManagementPolicy", "Parallel"), [STS_FORBIDDEN], id="pod-management"
        ),
    ],
)
def test_stateful_set_update(mutate, expected):
    assert update_errors(make_workload("StatefulSet"), mutate) == expected


def test_stateful_set_pod_management_policy():
    obj = make_workload("StatefulSet", podManagementPolicy="Random")
    assert errors(obj) == [
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"
    ]


# --- Service ---


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(make_service(ports=[]), ["spec.ports: Required value"], id="ports-required"),
        pytest.param(
            make_service(ports=[{"port": 80}, {"port": 81}]),
            ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"],
            id="names-required-with-two-ports",
        ),  # fmt: skip
        pytest.param(
            make_service(ports=[{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]),
            ['spec.ports[1].name: Duplicate value: "a"'],
            id="duplicate-port-name",
        ),  # fmt: skip
        # targetPort defaults to port, so upstream reports both.
        pytest.param(
            make_service(ports=[{"port": 0}]),
            [
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            ],
            id="port-range",
        ),  # fmt: skip
        pytest.param(
            make_service(ports=[{"port": 80, "targetPort": 70000}]),
            [
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ],
            id="target-port-range",
        ),  # fmt: skip
        pytest.param(
            make_service(type="Balanced"),
            [
                'spec.type: Unsupported value: "Balanced": supported values: "ClusterIP", "ExternalName", '
                '"LoadBalancer", "NodePort"'
            ],
            id="type",
        ),  # fmt: skip
        pytest.param(
            make_service(type="ExternalName", selector=None, ports=[]),
            ["spec.externalName: Required value"],
            id="external-name-required",
        ),  # fmt: skip
        pytest.param(
            make_service(type="NodePort", ports=[{"port": 80, "nodePort": 80}]),
            [
                "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
                "The range of valid ports is 30000-32767"
            ],
            id="node-port-range",
        ),  # fmt: skip
        pytest.param(
            make_service(ports=[{"port": 80, "nodePort": 30001}]),
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
            id="node-port-on-cluster-ip",
        ),  # fmt: skip
        pytest.param(
            make_service(sessionAffinity="Sticky"),
            [
                'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'
            ],
            id="session-affinity",
        ),  # fmt: skip
        pytest.param(
            make_service(type="NodePort", clusterIP="None"),
            [
                "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
            ],
            id="headless-nodeport",
        ),  # fmt: skip
    ],
)
def test_service_rules(obj, expected):
    assert errors(obj) == expected


def test_node_port_range_is_a_parameter():
    svc = make_service(type="NodePort", ports=[{"port": 80, "nodePort": 31000}])
    assert errors(svc, node_port_range=(31000, 31010)) == []
    assert errors(svc, node_port_range=(40000, 40100)) == [
        "spec.ports[0].nodePort: Invalid value: 31000: provided port is not in the valid range. "
        "The range of valid ports is 40000-40100"
    ]


def test_service_cluster_ip_immutable():
    out = validate(apply_defaults(_mutated(make_service(), setter("spec.clusterIP", "127.96.0.99"))),
                   old=stored(make_service()))  # fmt: skip
    assert [(e.field, e.detail) for e in out] == [("spec.clusterIPs[0]", "may not change once set")]


def test_service_update_without_cluster_ip_keeps_the_allocated_one():
    def mutate(svc: Obj) -> None:
        svc["spec"].pop("clusterIP")
        svc["spec"].pop("clusterIPs")
        svc["spec"]["ports"][0]["port"] = 81

    assert update_errors(make_service(), mutate) == []
    old = stored(make_service())
    new = _mutated(make_service(), mutate)
    assert prepare_service_update(new, old)["spec"]["clusterIPs"] == ["127.96.0.10"]


# --- ConfigMap / Secret ---


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            make_config_map(data={"a b": "x"}),
            [
                'data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric '
                "characters, '-', '_' or '.' (e.g. 'key.name' or 'KEY_NAME' or 'key-name', regex used for "
                "validation is '[-._a-zA-Z0-9]+')"
            ],
            id="configmap-key",
        ),  # fmt: skip
        pytest.param(
            make_config_map(data={"k": "x" * (1024 * 1024 + 1)}),
            [": Too long: may not be more than 1048576 bytes"],
            id="configmap-size",
        ),  # fmt: skip
        pytest.param(
            make_config_map(data={"k": "x"}, binaryData={"k": "eA=="}),
            ['data[k]: Invalid value: "k": duplicate of key present in binaryData'],
            id="configmap-dup",
        ),  # fmt: skip
        pytest.param(
            make_secret(data={"k": "not base64!"}),
            [
                'data[k]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3'
            ],
            id="secret-base64",
        ),  # fmt: skip
        pytest.param(
            make_secret(type="kubernetes.io/tls", data={}),
            ["data[tls.crt]: Required value", "data[tls.key]: Required value"],
            id="secret-tls",
        ),  # fmt: skip
        pytest.param(
            make_secret(data={"..x": "eA=="}),
            ["data[..x]: Invalid value: \"..x\": must not start with '..'"],
            id="secret-key",
        ),  # fmt: skip
    ],
)
def test_config_rules(obj, expected):
    assert errors(obj) == expected


def test_immutable_config_map_data_cannot_change():
    out = update_errors(make_config_map(immutable=True), setter("data", {"app.properties": "a=c"}))
    assert out == ["data: Forbidden: field is immutable when `immutable` is set"]


def test_immutable_flag_cannot_be_unset():
    out = update_errors(make_config_map(immutable=True), setter("immutable", False))
    assert out == ["immutable: Forbidden: field is immutable when `immutable` is set"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"{bad", "invalid character 'b' looking for beginning of object key string", id="key"),
        pytest.param(b"[1]", "json: cannot unmarshal array into Go value of type map[string]interface {}", id="array"),
        pytest.param(b'"s"', "json: cannot unmarshal string into Go value of type map[string]interface {}", id="string"),
        pytest.param(b"", "unexpected end of JSON input", id="empty"),
        pytest.param(b"null", None, id="null-is-a-nil-map"),
        pytest.param(b'{"auths":{}}', None, id="ok"),
    ],
)  # fmt: skip
def test_docker_config_secret_json_errors_are_gos(content: bytes, expected: str | None) -> None:
    # pkg/apis/core/validation ValidateSecret: json.Unmarshal's err.Error() is the detail
    for kind, data_key in (
        ("kubernetes.io/dockerconfigjson", ".dockerconfigjson"),
        ("kubernetes.io/dockercfg", ".dockercfg"),
    ):
        data = {data_key: base64.b64encode(content).decode()}
        want = [] if expected is None else [
            f'data[{data_key}]: Invalid value: "<secret contents redacted>": {expected}'
        ]  # fmt: skip
        assert errors(make_secret(type=kind, data=data)) == want


def test_secret_type_immutable():
    out = update_errors(make_secret(), setter("type", "kubernetes.io/basic-auth"))
    assert out == ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']


# --- storage ---


def make_pv(**spec: Any) -> Obj:
    base = {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/tmp/pv"},
    }
    base.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "pv1"},
        "spec": base,
    }


def make_pvc(**spec: Any) -> Obj:
    base: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    base.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"},
        "spec": base,
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            make_pv(accessModes=[]), ["spec.accessModes: Required value"], id="pv-access-modes"
        ),
        pytest.param(
            make_pv(accessModes=["ReadWriteSometimes"]),
            [
                'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
                '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"'
            ],
            id="pv-access-mode-value",
        ),  # fmt: skip
        pytest.param(
            make_pv(hostPath=None),
            ["spec: Required value: must specify a volume type"],
            id="pv-no-source",
        ),
        pytest.param(
            make_pv(nfs={"server": "nas", "path": "/x"}),
            ["spec.nfs: Forbidden: may not specify more than 1 volume type"],
            id="pv-two-sources",
        ),  # fmt: skip
        pytest.param(
            make_pv(capacity={"storage": "0"}),
            ['spec.capacity[storage]: Invalid value: "0": must be greater than zero'],
            id="pv-capacity-zero",
        ),  # fmt: skip
        pytest.param(
            make_pvc(accessModes=[]),
            ["spec.accessModes: Required value: at least 1 access mode is required"],
            id="pvc-access-modes",
        ),  # fmt: skip
        pytest.param(
            make_pvc(resources={}), ["spec.resources[storage]: Required value"], id="pvc-storage"
        ),
        pytest.param(
            {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc"}},
            ["provisioner: Required value"],
            id="storageclass-provisioner",
        ),  # fmt: skip
    ],
)
def test_storage_rules(obj, expected):
    assert errors(obj) == expected


def test_pv_capacity_requires_storage():
    out = validate(apply_defaults(make_pv(capacity={"cpu": "1"})))
    assert [(e.field, e.reason, e.detail) for e in out] == [
        ("spec.capacity", "FieldValueNotSupported", 'supported values: "storage"')
    ]


def test_pvc_spec_immutable_except_bound_storage_growth():
    grow = setter("spec.resources.requests.storage", "2Gi")
    unbound = update_errors(make_pvc(), grow)
    assert len(unbound) == 1
    assert unbound[0].startswith(
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims\n"
    )

    def bound_grow(pvc: Obj) -> None:
        grow(pvc)
        pvc["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}}

    assert update_errors(_bound(make_pvc()), bound_grow) == []


def _bound(pvc: Obj) -> Obj:
    pvc = copy.deepcopy(pvc)
    pvc["spec"]["volumeName"] = "pv1"
    return pvc


def test_pvc_may_bind_volume_name_once():
    assert update_errors(make_pvc(), setter("spec.volumeName", "pv1")) == []


# --- other kinds ---


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": "huge"},
                "value": 2_000_000_000,
            },
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"],
            id="priority-value",
        ),  # fmt: skip
        pytest.param(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": "system-mine"},
                "value": 1,
            },
            [
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for "
                "system use only. error: system-mine is not a known system priority class"
            ],
            id="priority-system-prefix",
        ),  # fmt: skip
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "n"},
                "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]},
            },
            [
                'metadata.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
                '"PreferNoSchedule", "NoExecute"'
            ],
            id="node-taint-effect",
        ),  # fmt: skip
        pytest.param(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "l", "namespace": "d"},
                "spec": {"leaseDurationSeconds": 0},
            },
            ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"],
            id="lease-duration",
        ),  # fmt: skip
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "e", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"},
            },
            ['involvedObject.namespace: Invalid value: "other": does not match event.namespace'],
            id="event-namespace",
        ),  # fmt: skip
        pytest.param(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "s", "namespace": "default"},
            },
            ["addressType: Required value"],
            id="endpointslice-address-type",
        ),  # fmt: skip
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "e", "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 0}]}],
            },
            ["subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"],
            id="endpoints-port",
        ),  # fmt: skip
    ],
)
def test_other_kind_rules(obj, expected):
    assert errors(obj) == expected


def test_loopback_endpoints_refused_in_strict_mode():
    ep = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "127.244.0.5"}]}],
    }
    assert errors(ep, strict_endpoint_ips=True) == [
        'subsets[0].addresses[0].ip: Invalid value: "127.244.0.5": may not be in the loopback range '
        "(127.0.0.0/8, ::1/128)"
    ]


def test_priority_class_value_immutable():
    pc = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "h"},
        "value": 5,
    }
    assert update_errors(pc, setter("value", 6)) == [
        "value: Forbidden: may not be changed in an update."
    ]


def test_errors_aggregate_like_kube_apiserver():
    errs = validate(apply_defaults(make_deployment(labels={"app": "x"}, selector=None)))
    assert all(isinstance(e, FieldError) for e in errs)
    assert aggregate_message(errs) == f"[spec.selector: Required value, {MISMATCH}]"


KINDS = [
    ("v1", "Pod"), ("v1", "Service"), ("v1", "Endpoints"), ("v1", "ConfigMap"), ("v1", "Secret"),
    ("v1", "Namespace"), ("v1", "Node"), ("v1", "PersistentVolume"), ("v1", "PersistentVolumeClaim"),
    ("v1", "Event"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"), ("discovery.k8s.io/v1", "EndpointSlice"),
    ("scheduling.k8s.io/v1", "PriorityClass"), ("storage.k8s.io/v1", "StorageClass"),
    ("coordination.k8s.io/v1", "Lease"), ("events.k8s.io/v1", "Event"),
]  # fmt: skip
GARBAGE = [None, "x", 3, [], {}, [None, "x", 3], {"a": None}]


@pytest.mark.parametrize(("api_version", "kind"), KINDS)
@pytest.mark.parametrize("junk", GARBAGE, ids=lambda j: type(j).__name__ + repr(j)[:10])
def test_malformed_objects_give_errors_not_exceptions(api_version, kind, junk):
    """Decoders upstream reject wrong types; here they must at least not crash validation."""
    obj: Obj = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "d"},
    }
    for field in (
        "spec",
        "data",
        "subsets",
        "endpoints",
        "ports",
        "status",
        "involvedObject",
        "regarding",
    ):
        obj[field] = junk
    for nested in (
        {"containers": junk, "volumes": junk, "template": junk, "selector": junk, "ports": junk},
    ):
        obj2 = {**obj, "spec": dict(nested)}
        for candidate in (obj, obj2):
            defaulted = apply_defaults(copy.deepcopy(candidate))
            assert isinstance(validate(defaulted), list)
            assert isinstance(validate(defaulted, old=copy.deepcopy(defaulted)), list)


def test_unconvertible_selector_skips_the_template():
    dep = make_deployment(selector={"matchExpressions": [{"key": "app", "operator": "Near"}]})
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = ""  # not reported: template skipped
    out = validate(apply_defaults(dep))
    assert [(e.field, e.detail) for e in out] == [
        ("spec.selector.matchExpressions[0].operator", "not a valid selector operator"),
        ("spec.selector", "invalid label selector"),
    ]


def test_pvc_shrink_below_capacity_forbidden():
    pvc = _bound(make_pvc(resources={"requests": {"storage": "2Gi"}}))

    def shrink(obj: Obj) -> None:
        obj["spec"]["resources"]["requests"]["storage"] = "1Gi"
        obj["status"] = {"phase": "Bound", "capacity": {"storage": "2Gi"}}

    assert update_errors(pvc, shrink) == [
        "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"
    ]


def test_storage_class_parameters_immutable():
    sc = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "sc"},
        "provisioner": "kubelite.io/hostpath",
        "parameters": {"path": "/a"},
    }
    assert update_errors(sc, setter("parameters", {"path": "/b"})) == [
        "parameters: Forbidden: updates to parameters are forbidden."
    ]


def test_events_v1_strict_rules():
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e", "namespace": "default"},
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
        "type": "Loud",
    }
    assert errors(ev) == [
        "eventTime: Required value",
        'type: Invalid value: "": has invalid value: Loud',
    ]


def test_node_taints_unique_by_key_and_effect():
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n"},
        "spec": {
            "taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}]
        },
    }
    out = validate(apply_defaults(node))
    assert [(e.field, e.reason, e.detail) for e in out] == [
        (
            "metadata.taints[1]",
            "FieldValueDuplicate",
            "taints must be unique by key and effect pair",
        )
    ]


# --- Pod status (the pods/status subresource) ---


def status_errors(old: Obj, status: Obj) -> list[str]:
    return update_errors(old, setter("status", status), subresource="status")


def running_pod(policy: str, state: Obj) -> Obj:
    pod = make_pod(restartPolicy=policy)
    pod["spec"]["nodeName"] = "node-1"
    pod["status"] = {
        "qosClass": "BestEffort",
        "containerStatuses": [{"name": "app", "state": state}],
    }
    return pod


def test_pod_status_update_does_not_recheck_the_spec():
    pod = running_pod("Always", {"running": {}})
    pod["spec"]["containers"][0]["image"] = " nginx "  # invalid, but not this write's concern
    ok = {"qosClass": "BestEffort", "phase": "Running", "podIP": "127.244.0.5"}
    ok["podIPs"] = [{"ip": "127.244.0.5"}]
    assert status_errors(pod, ok) == []
    assert update_errors(pod, setter("status", ok)) != []  # a plain update still checks it


@pytest.mark.parametrize(
    ("policy", "exit_code", "allowed"),
    [("Never", 1, False), ("OnFailure", 0, False), ("OnFailure", 1, True), ("Always", 0, True)],
)
def test_pod_status_terminated_container_may_only_restart_per_policy(policy, exit_code, allowed):
    pod = running_pod(policy, {"terminated": {"exitCode": exit_code}})
    status = {
        "qosClass": "BestEffort",
        "containerStatuses": [{"name": "app", "state": {"running": {}}}],
    }
    out = status_errors(pod, status)
    expected = "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state"
    assert out == ([] if allowed else [expected])


def test_pod_status_rejects_bad_ips_qos_change_and_condition_types():
    pod = running_pod("Always", {"running": {}})
    status = {
        "qosClass": "Guaranteed",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "bad type!", "status": "True"},
        ],
        "podIPs": [{"ip": "127.244.0.5"}, {"ip": "127.244.0.5"}, {"ip": "nope"}],
    }
    out = status_errors(pod, status)
    assert out[0].startswith(
        'metadata.conditions[1].Type: Invalid value: "bad type!": name part must'
    )
    assert out[1:] == [
        'status.qosClass: Invalid value: "Guaranteed": field is immutable',
        'status.podIPs[1].ip: Duplicate value: "127.244.0.5"',
        'status.podIPs[2].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    ]


def test_pod_sysctls_and_app_armor_profiles_are_validated_as_upstream() -> None:
    sysctls = [
        {"name": "bad sysctl", "value": "1"},
        {"name": "kernel.shm_rmid_forced", "value": "1"},
        {"name": "kernel.shm_rmid_forced", "value": "0"},
    ]
    container = make_container(securityContext={"appArmorProfile": {"type": "Bogus"}})
    pod = make_pod(
        containers=[container],
        securityContext={"sysctls": sysctls, "appArmorProfile": {"type": "Localhost"}},
    )
    found = errors(pod)
    pattern = "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"
    assert (
        'spec.securityContext.sysctls[0].name: Invalid value: "bad sysctl": must have at most '
        f"253 characters and match regex {pattern}"
    ) in found
    assert (
        'spec.securityContext.sysctls[2].name: Duplicate value: "kernel.shm_rmid_forced"' in found
    )
    assert (
        "spec.securityContext.appArmorProfile.localhostProfile: Required value: "
        "must be set when AppArmor type is Localhost"
    ) in found
    assert (
        'spec.containers[0].securityContext.appArmorProfile.type: Unsupported value: "Bogus": '
        'supported values: "Localhost", "RuntimeDefault", "Unconfined"'
    ) in found
    host = make_pod(
        hostNetwork=True,
        securityContext={"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]},
    )
    assert (
        'spec.securityContext.sysctls[0].name: Invalid value: "net.ipv4.tcp_syncookies": '
        "may not be specified when 'hostNetwork' is true"
    ) in errors(host)
