"""Decoding Pods sent as `application/vnd.kubernetes.protobuf` (what `kubectl debug` sends).

Bodies are built with the small encoder below (field numbers as upstream's
core/v1 `generated.proto`), plus one real body recorded from `kubectl debug
node/vm --image=python:3.11 -- sh -c '...'`. Each case states the JSON the same
object has, which is what the decoder must produce.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubelite.api.protobuf import _MESSAGES, ProtobufError, decode_k8s_protobuf, supported_kinds

# --- a small protobuf encoder (the ConfigMap tests' one, kept local to this file) ----


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s are ten-byte two's complement varints
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, n: int | bool) -> bytes:
    return varint(field << 3) + varint(int(n))


def raw(field: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return varint(field << 3 | 2) + varint(len(data)) + data


def msg(field: int, *parts: bytes) -> bytes:
    return raw(field, b"".join(parts))


def entry(field: int, key: str, value: bytes | str) -> bytes:
    return msg(field, raw(1, key), raw(2, value))


def qty(field: int, key: str, amount: str) -> bytes:
    """One `ResourceList` entry: the value is a Quantity message {string = 1}."""
    return entry(field, key, raw(1, amount))


def port(field: int, value: int | str) -> bytes:
    """An IntOrString {type = 1, intVal = 2, strVal = 3}."""
    if isinstance(value, int):
        return msg(field, num(1, 0), num(2, value), raw(3, ""))
    return msg(field, num(1, 1), num(2, 0), raw(3, value))


def time(field: int, seconds: int) -> bytes:
    return msg(field, num(1, seconds), num(2, 0))


def pod(*parts: bytes) -> bytes:
    return b"k8s\x00" + msg(1, raw(1, "v1"), raw(2, "Pod")) + msg(2, *parts)


def spec_of(*parts: bytes) -> dict[str, Any]:
    return decode_k8s_protobuf(pod(msg(2, *parts)))["spec"]


def container(*parts: bytes) -> bytes:
    """A Container (PodSpec field 2) named "app": the empty fields gogo always writes, then `parts`.

    A field given twice keeps its last value, as in any protobuf decoder.
    """
    return msg(2, raw(1, "app"), raw(13, ""), raw(14, ""), num(16, 0), msg(8), *parts)


def selector_term(field: int, key: str, op: str, *values: str) -> bytes:
    """A NodeSelectorTerm holding one matchExpressions requirement."""
    return msg(field, msg(1, raw(1, key), raw(2, op), *(raw(3, v) for v in values)))


JAN_1_2024 = 1704067200
JAN_1_2024_JSON = "2024-01-01T00:00:00Z"

# --- a real body ---------------------------------------------------------------------

# kubectl 1.32: `kubectl debug node/vm --image=python:3.11 -- sh -c
# 'ls /host/etc >/dev/null && echo host-ok'` (the pod name's suffix is random)
DEBUG_NODE = (
    "azhzAAoJCgJ2MRIDUG9kEoECCiYKFm5vZGUtZGVidWdnZXItdm0tdG01bTgSABoAIgAqADIAOABCABLEAQoSCglob3N0"
    "LXJvb3QSBQoDCgEvEnoKCGRlYnVnZ2VyEgtweXRob246My4xMRoCc2gaAi1jGidscyAvaG9zdC9ldGMgPi9kZXYvbnVs"
    "bCAmJiBlY2hvIGhvc3Qtb2sqAEIAShgKCWhvc3Qtcm9vdBAAGgUvaG9zdCIAMgBqAHIAgAEAiAEAkAEAogEERmlsZRoF"
    "TmV2ZXIyAEIASgBSAnZtWAFgAWgBggEAigEAmgEAsgEOCgASBkV4aXN0cxoAIgDCAQAaEAoAGgAiACoAMgBKAFoAcgAa"
    "ACIA"
)


def test_the_pod_kubectl_debug_node_sends() -> None:
    obj = decode_k8s_protobuf(base64.b64decode(DEBUG_NODE))
    assert obj == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "node-debugger-vm-tm5m8", "creationTimestamp": None},
        "spec": {
            "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
            "containers": [
                {
                    "name": "debugger",
                    "image": "python:3.11",
                    "command": ["sh", "-c", "ls /host/etc >/dev/null && echo host-ok"],
                    "resources": {},
                    "volumeMounts": [{"name": "host-root", "mountPath": "/host"}],
                    "terminationMessagePolicy": "File",
                }
            ],
            "restartPolicy": "Never",
            "nodeName": "vm",
            "hostNetwork": True,
            "hostPID": True,
            "hostIPC": True,
            "tolerations": [{"operator": "Exists"}],
        },
        "status": {},
    }


def test_pod_is_a_supported_kind() -> None:
    assert ("v1", "Pod") in supported_kinds()


# --- PodSpec, one concern per case ----------------------------------------------------

SPEC_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    (
        "volumes-common",
        b"".join(
            [
                msg(1, raw(1, "root"), msg(2, msg(1, raw(1, "/"), raw(2, "Directory")))),
                msg(1, raw(1, "scratch"), msg(2, msg(2, raw(1, "Memory"), msg(2, raw(1, "64Mi"))))),
                msg(
                    1,
                    raw(1, "cfg"),
                    msg(
                        2,
                        msg(
                            19,
                            msg(1, raw(1, "app-cfg")),
                            msg(2, raw(1, "app.conf"), raw(2, "app.conf"), num(3, 0o400)),
                            num(3, 420),
                            num(4, True),
                        ),
                    ),
                ),
                msg(1, raw(1, "creds"), msg(2, msg(6, raw(1, "db"), num(3, 256), num(4, False)))),
                msg(1, raw(1, "data"), msg(2, msg(10, raw(1, "data-pvc"), num(2, True)))),
                msg(
                    1, raw(1, "share"), msg(2, msg(7, raw(1, "nas"), raw(2, "/export"), num(3, 0)))
                ),
            ]
        ),
        {
            "volumes": [
                {"name": "root", "hostPath": {"path": "/", "type": "Directory"}},
                {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                {
                    "name": "cfg",
                    "configMap": {
                        "name": "app-cfg",
                        "items": [{"key": "app.conf", "path": "app.conf", "mode": 0o400}],
                        "defaultMode": 420,
                        "optional": True,
                    },
                },
                {
                    "name": "creds",
                    "secret": {"secretName": "db", "defaultMode": 256, "optional": False},
                },
                {
                    "name": "data",
                    "persistentVolumeClaim": {"claimName": "data-pvc", "readOnly": True},
                },
                {"name": "share", "nfs": {"server": "nas", "path": "/export"}},
            ]
        },
    ),
    (
        "volumes-projected-downward-csi-ephemeral",
        b"".join(
            [
                msg(
                    1,
                    raw(1, "kube-api-access"),
                    msg(
                        2,
                        msg(
                            26,
                            msg(1, msg(4, raw(1, ""), num(2, 3607), raw(3, "token"))),
                            msg(
                                1,
                                msg(
                                    3,
                                    msg(1, raw(1, "kube-root-ca.crt")),
                                    msg(2, raw(1, "ca.crt"), raw(2, "ca.crt")),
                                ),
                            ),
                            msg(
                                1,
                                msg(
                                    2,
                                    msg(
                                        1,
                                        raw(1, "namespace"),
                                        msg(2, raw(1, "v1"), raw(2, "metadata.namespace")),
                                    ),
                                ),
                            ),
                            msg(1, msg(1, msg(1, raw(1, "tls")), num(4, True))),
                            num(2, 420),
                        ),
                    ),
                ),
                msg(
                    1,
                    raw(1, "podinfo"),
                    msg(
                        2,
                        msg(
                            16,
                            msg(1, raw(1, "labels"), msg(2, raw(2, "metadata.labels"))),
                            msg(
                                1,
                                raw(1, "cpu"),
                                msg(3, raw(1, "app"), raw(2, "limits.cpu"), msg(3, raw(1, "1m"))),
                            ),
                        ),
                    ),
                ),
                msg(
                    1,
                    raw(1, "secrets-store"),
                    msg(
                        2,
                        msg(
                            28,
                            raw(1, "secrets.csi.k8s.io"),
                            num(2, True),
                            entry(4, "class", "vault"),
                            msg(5, raw(1, "nps")),
                        ),
                    ),
                ),
                msg(
                    1,
                    raw(1, "work"),
                    msg(
                        2,
                        msg(
                            29,
                            msg(
                                1,
                                msg(1, msg(11, raw(1, "team"), raw(2, "a"))),
                                msg(
                                    2,
                                    raw(1, "ReadWriteOnce"),
                                    msg(2, qty(2, "storage", "1Gi")),
                                    raw(5, "fast"),
                                ),
                            ),
                        ),
                    ),
                ),
            ]
        ),
        {
            "volumes": [
                {
                    "name": "kube-api-access",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                            {"secret": {"name": "tls", "optional": True}},
                        ],
                        "defaultMode": 420,
                    },
                },
                {
                    "name": "podinfo",
                    "downwardAPI": {
                        "items": [
                            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                            {
                                "path": "cpu",
                                "resourceFieldRef": {
                                    "containerName": "app",
                                    "resource": "limits.cpu",
                                    "divisor": "1m",
                                },
                            },
                        ]
                    },
                },
                {
                    "name": "secrets-store",
                    "csi": {
                        "driver": "secrets.csi.k8s.io",
                        "readOnly": True,
                        "volumeAttributes": {"class": "vault"},
                        "nodePublishSecretRef": {"name": "nps"},
                    },
                },
                {
                    "name": "work",
                    "ephemeral": {
                        "volumeClaimTemplate": {
                            "metadata": {"labels": {"team": "a"}},
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "1Gi"}},
                                "storageClassName": "fast",
                            },
                        }
                    },
                },
            ]
        },
    ),
    (
        "container-probes-and-lifecycle",
        container(
            msg(
                10,
                msg(
                    1,
                    msg(
                        2,
                        raw(1, "/healthz"),
                        port(2, "http"),
                        raw(3, ""),
                        raw(4, "HTTP"),
                        msg(5, raw(1, "X-Probe"), raw(2, "1")),
                    ),
                ),
                num(2, 5),
                num(3, 1),
                num(4, 10),
                num(5, 1),
                num(6, 3),
            ),
            msg(11, msg(1, msg(3, port(1, 8080), raw(2, ""))), num(4, 2), num(7, 15)),
            msg(22, msg(1, msg(4, num(1, 9090), raw(2, "liveness"))), num(6, 30)),
            msg(
                12,
                msg(1, msg(1, raw(1, "sh"), raw(1, "-c"), raw(1, "touch /ready"))),
                msg(2, msg(4, num(1, 5))),
            ),
        ),
        {
            "containers": [
                {
                    "name": "app",
                    "resources": {},
                    "livenessProbe": {
                        "httpGet": {
                            "path": "/healthz",
                            "port": "http",
                            "scheme": "HTTP",
                            "httpHeaders": [{"name": "X-Probe", "value": "1"}],
                        },
                        "initialDelaySeconds": 5,
                        "timeoutSeconds": 1,
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "readinessProbe": {
                        "tcpSocket": {"port": 8080},
                        "periodSeconds": 2,
                        "terminationGracePeriodSeconds": 15,
                    },
                    "startupProbe": {
                        "grpc": {"port": 9090, "service": "liveness"},
                        "failureThreshold": 30,
                    },
                    "lifecycle": {
                        "postStart": {"exec": {"command": ["sh", "-c", "touch /ready"]}},
                        "preStop": {"sleep": {"seconds": 5}},
                    },
                }
            ]
        },
    ),
    (
        "container-security-env-resources",
        container(
            raw(2, "python:3.11"),
            msg(6, raw(1, "http"), num(2, 0), num(3, 8080), raw(4, "TCP"), raw(5, "")),
            msg(19, raw(1, "CFG_"), msg(2, msg(1, raw(1, "app-cfg")), num(2, True))),
            msg(
                7,
                raw(1, "PASSWORD"),
                raw(2, ""),
                msg(3, msg(4, msg(1, raw(1, "db")), raw(2, "password"))),
            ),
            msg(
                8,
                qty(1, "memory", "128Mi"),
                qty(2, "cpu", "100m"),
                msg(3, raw(1, "gpu"), raw(2, "first")),
            ),
            msg(23, raw(1, "cpu"), raw(2, "NotRequired")),
            msg(9, raw(1, "cfg"), num(2, True), raw(3, "/etc/app"), raw(4, ""), raw(6, "")),
            msg(21, raw(1, "raw"), raw(2, "/dev/xvda")),
            raw(13, "/dev/termination-log"),
            msg(
                15,
                msg(1, raw(1, "NET_ADMIN"), raw(2, "ALL")),
                num(2, False),
                msg(3, raw(1, "system_u"), raw(3, "spc_t"), raw(4, "s0")),
                num(4, 1000),
                num(5, True),
                num(6, True),
                num(7, False),
                raw(9, "Default"),
                msg(11, raw(1, "Localhost"), raw(2, "profiles/audit.json")),
                msg(12, raw(1, "RuntimeDefault")),
            ),
        ),
        {
            "containers": [
                {
                    "name": "app",
                    "image": "python:3.11",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "envFrom": [
                        {"prefix": "CFG_", "configMapRef": {"name": "app-cfg", "optional": True}}
                    ],
                    "env": [
                        {
                            "name": "PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                        }
                    ],
                    "resources": {
                        "limits": {"memory": "128Mi"},
                        "requests": {"cpu": "100m"},
                        "claims": [{"name": "gpu", "request": "first"}],
                    },
                    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                    "volumeMounts": [{"name": "cfg", "readOnly": True, "mountPath": "/etc/app"}],
                    "volumeDevices": [{"name": "raw", "devicePath": "/dev/xvda"}],
                    "terminationMessagePath": "/dev/termination-log",
                    "securityContext": {
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                        "privileged": False,
                        "seLinuxOptions": {"user": "system_u", "type": "spc_t", "level": "s0"},
                        "runAsUser": 1000,
                        "runAsNonRoot": True,
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "procMount": "Default",
                        "seccompProfile": {
                            "type": "Localhost",
                            "localhostProfile": "profiles/audit.json",
                        },
                        "appArmorProfile": {"type": "RuntimeDefault"},
                    },
                }
            ]
        },
    ),
    (
        "init-and-ephemeral-containers",
        msg(20, raw(1, "setup"), raw(2, "busybox"), raw(24, "Always"))
        + msg(
            34,
            msg(1, raw(1, "debugger-x"), raw(2, "python:3.11"), num(16, True), num(18, True)),
            raw(2, "app"),
        ),
        {
            "initContainers": [{"name": "setup", "image": "busybox", "restartPolicy": "Always"}],
            "ephemeralContainers": [
                {
                    "name": "debugger-x",
                    "image": "python:3.11",
                    "stdin": True,
                    "tty": True,
                    "targetContainerName": "app",
                }
            ],
        },
    ),
    (
        "pod-security-context",
        msg(
            14,
            msg(1, raw(2, "system_r")),
            num(2, 1000),
            num(6, 3000),
            num(3, True),
            num(4, 4000),
            num(4, 5000),
            raw(12, "Strict"),
            num(5, 2000),
            msg(7, raw(1, "net.ipv4.ip_unprivileged_port_start"), raw(2, "0")),
            raw(9, "OnRootMismatch"),
            msg(10, raw(1, "RuntimeDefault")),
            raw(13, "MountOption"),
        ),
        {
            "securityContext": {
                "seLinuxOptions": {"role": "system_r"},
                "runAsUser": 1000,
                "runAsGroup": 3000,
                "runAsNonRoot": True,
                "supplementalGroups": [4000, 5000],
                "supplementalGroupsPolicy": "Strict",
                "fsGroup": 2000,
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
                "seLinuxChangePolicy": "MountOption",
            }
        },
    ),
    (
        "affinity",
        msg(
            18,
            msg(
                1,
                msg(1, selector_term(1, "kubernetes.io/os", "In", "linux")),
                msg(2, num(1, 10), selector_term(2, "disk", "Exists")),
            ),
            msg(
                2,
                msg(
                    1,
                    msg(1, entry(1, "app", "cache")),
                    raw(2, "prod"),
                    raw(3, "kubernetes.io/hostname"),
                    msg(4),
                    raw(5, "pod-template-hash"),
                ),
            ),
            msg(
                3,
                msg(
                    2,
                    num(1, 100),
                    msg(
                        2,
                        msg(1, msg(2, raw(1, "app"), raw(2, "In"), raw(3, "web"))),
                        raw(3, "zone"),
                        raw(6, "tenant"),
                    ),
                ),
            ),
        ),
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/os",
                                        "operator": "In",
                                        "values": ["linux"],
                                    }
                                ]
                            }
                        ]
                    },
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 10,
                            "preference": {
                                "matchExpressions": [{"key": "disk", "operator": "Exists"}]
                            },
                        }
                    ],
                },
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {"app": "cache"}},
                            "namespaces": ["prod"],
                            "topologyKey": "kubernetes.io/hostname",
                            "namespaceSelector": {},
                            "matchLabelKeys": ["pod-template-hash"],
                        }
                    ]
                },
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {
                                    "matchExpressions": [
                                        {"key": "app", "operator": "In", "values": ["web"]}
                                    ]
                                },
                                "topologyKey": "zone",
                                "mismatchLabelKeys": ["tenant"],
                            },
                        }
                    ]
                },
            }
        },
    ),
    (
        "scheduling-and-dns",
        b"".join(
            [
                msg(
                    22,
                    raw(1, "node.kubernetes.io/not-ready"),
                    raw(2, "Exists"),
                    raw(3, ""),
                    raw(4, "NoExecute"),
                    num(5, 300),
                ),
                msg(23, raw(1, "10.0.0.5"), raw(2, "db.local"), raw(2, "db")),
                msg(
                    26, raw(1, "1.1.1.1"), raw(2, "svc.local"), msg(3, raw(1, "ndots"), raw(2, "2"))
                ),
                msg(28, raw(1, "example.com/ready")),
                qty(32, "cpu", "250m"),
                msg(
                    33,
                    num(1, 1),
                    raw(2, "zone"),
                    raw(3, "DoNotSchedule"),
                    msg(4, entry(1, "app", "web")),
                    num(5, 2),
                    raw(6, "Honor"),
                    raw(8, "version"),
                ),
                msg(36, raw(1, "linux")),
                msg(38, raw(1, "example.com/quota")),
                msg(39, raw(1, "gpu"), raw(4, "gpu-template")),
                msg(40, qty(1, "memory", "1Gi")),
                num(25, 0),
                num(21, False),
            ]
        ),
        {
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
            "hostAliases": [{"ip": "10.0.0.5", "hostnames": ["db.local", "db"]}],
            "dnsConfig": {
                "nameservers": ["1.1.1.1"],
                "searches": ["svc.local"],
                "options": [{"name": "ndots", "value": "2"}],
            },
            "readinessGates": [{"conditionType": "example.com/ready"}],
            "overhead": {"cpu": "250m"},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "minDomains": 2,
                    "nodeAffinityPolicy": "Honor",
                    "matchLabelKeys": ["version"],
                }
            ],
            "os": {"name": "linux"},
            "schedulingGates": [{"name": "example.com/quota"}],
            "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu-template"}],
            "resources": {"limits": {"memory": "1Gi"}},
            "priority": 0,  # pointers keep their zero values, as Go's JSON does
            "automountServiceAccountToken": False,
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES]
)
def test_pod_spec_fields(body: bytes, expected: dict[str, Any]) -> None:
    assert spec_of(body) == expected


# --- PodStatus: a pod read back and sent again ----------------------------------------


def test_pod_status_as_read_back() -> None:
    running = msg(2, time(1, JAN_1_2024))
    terminated = msg(
        3,
        num(1, 1),
        num(2, 15),
        raw(3, "Error"),
        raw(4, ""),
        time(5, JAN_1_2024),
        time(6, JAN_1_2024 + 60),
        raw(7, "containerd://1"),
    )
    status = msg(
        3,
        raw(1, "Running"),
        msg(
            2, raw(1, "Ready"), raw(2, "True"), msg(3), time(4, JAN_1_2024), raw(5, ""), raw(6, "")
        ),
        raw(5, "192.168.1.10"),
        msg(16, raw(1, "192.168.1.10")),
        raw(6, "10.244.0.7"),
        msg(12, raw(1, "10.244.0.7")),
        time(7, JAN_1_2024),
        msg(
            8,
            raw(1, "app"),
            msg(2, running),
            msg(3, terminated),
            num(4, True),
            num(5, 1),
            raw(6, "python:3.11"),
            raw(7, "docker.io/library/python@sha256:ab"),
            raw(8, "containerd://2"),
            num(9, True),
            msg(12, raw(1, "cfg"), raw(2, "/etc/app"), num(3, True)),
            msg(13, msg(1, num(1, 1000), num(2, 1000), num(3, 1000))),
        ),
        msg(
            10,
            raw(1, "setup"),
            msg(2, msg(1, raw(1, "CrashLoopBackOff"), raw(2, "back-off"))),
            msg(3),
            num(4, False),
            num(5, 0),
            raw(6, "busybox"),
            raw(7, ""),
        ),
        raw(9, "Burstable"),
    )
    obj = decode_k8s_protobuf(pod(msg(1, raw(1, "web"), raw(6, "17")), msg(2), status))
    assert obj["metadata"] == {"name": "web", "resourceVersion": "17"}
    assert obj["spec"] == {}
    assert obj["status"] == {
        "phase": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": JAN_1_2024_JSON,
            }
        ],
        "hostIP": "192.168.1.10",
        "hostIPs": [{"ip": "192.168.1.10"}],
        "podIP": "10.244.0.7",
        "podIPs": [{"ip": "10.244.0.7"}],
        "startTime": JAN_1_2024_JSON,
        "containerStatuses": [
            {
                "name": "app",
                "state": {"running": {"startedAt": JAN_1_2024_JSON}},
                "lastState": {
                    "terminated": {
                        "exitCode": 1,
                        "signal": 15,
                        "reason": "Error",
                        "startedAt": JAN_1_2024_JSON,
                        "finishedAt": "2024-01-01T00:01:00Z",
                        "containerID": "containerd://1",
                    }
                },
                "ready": True,
                "restartCount": 1,
                "image": "python:3.11",
                "imageID": "docker.io/library/python@sha256:ab",
                "containerID": "containerd://2",
                "started": True,
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app", "readOnly": True}],
                "user": {"linux": {"uid": 1000, "gid": 1000, "supplementalGroups": [1000]}},
            }
        ],
        "initContainerStatuses": [
            {
                "name": "setup",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {},
                "ready": False,  # ready, restartCount, image and imageID have no omitempty
                "restartCount": 0,
                "image": "busybox",
                "imageID": "",
            }
        ],
        "qosClass": "Burstable",
    }


# --- what is still refused ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (container(raw(99, "surprise")), "Container: unsupported field number 99"),
        (container(msg(10, num(99, 1))), "Probe: unsupported field number 99"),
        (msg(1, raw(1, "v"), msg(2, raw(99, "x"))), "VolumeSource: unsupported field number 99"),
        (msg(18, msg(1, msg(9, raw(1, "x")))), "NodeAffinity: unsupported field number 9"),
        (msg(14, num(50, 7)), "PodSecurityContext: unsupported field number 50"),
        (container(msg(15, msg(1, num(1, 5)))), "Capabilities.add: unexpected wire type 0"),
    ],
    ids=[
        "container",
        "probe",
        "volume-source",
        "node-affinity",
        "pod-security-context",
        "wire-type",
    ],
)
def test_unknown_or_malformed_fields_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError) as info:
        spec_of(body)
    assert str(info.value).startswith(message)


def test_unknown_fields_holding_zero_values_are_skipped() -> None:
    # a newer client writes its new fields even when unset; those arrive empty
    assert spec_of(container(raw(99, ""), num(98, 0)), raw(97, "")) == {
        "containers": [{"name": "app", "resources": {}}]
    }


def test_every_message_a_table_names_exists() -> None:
    missing = {
        (name, f.message)
        for name, schema in _MESSAGES.items()
        for f in schema.values()
        if f.kind == "message" and f.message not in _MESSAGES
    }
    assert missing == set()
