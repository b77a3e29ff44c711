"""`kubectl debug` with the real kubectl 1.32, which sends the Pods it creates as protobuf.

`debug node/N` builds a privileged pod of its own; `debug POD --copy-to` copies
the whole spec of an existing pod (probes, volumes, env, resources, ...), so
both only work when every Pod field decodes from protobuf.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
PROTOBUF = "Content-Type: application/vnd.kubernetes.protobuf"

wait_for = partial(_wait_for, timeout=60, interval=0.3)


def node_name(cluster: Cluster) -> str:
    return str(cluster.status["nodes"][0]["name"])


def pods(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return list(cluster.kubectl_json("get", "pods", "-n", ns)["items"])


def logs(cluster: Cluster, ns: str, name: str) -> str:
    return cluster.kubectl("logs", name, "-n", ns, check=False).stdout


def test_debug_node_runs_a_host_pod(cluster: Cluster, namespace: str) -> None:
    node = node_name(cluster)
    script = "ls /host/etc >/dev/null && echo host-ok"
    proc = cluster.kubectl(
        "debug", f"node/{node}", "-n", namespace, f"--image=python:{PY}", "-v=8",
        "--", "sh", "-c", script,
    )  # fmt: skip
    assert PROTOBUF in proc.stderr  # the create really went out as protobuf
    assert "Creating debugging pod node-debugger-" in proc.stdout + proc.stderr

    (pod,) = pods(cluster, namespace)
    name = pod["metadata"]["name"]
    assert name.startswith(f"node-debugger-{node}-")
    spec = pod["spec"]
    assert spec["nodeName"] == node
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["tolerations"] == [{"operator": "Exists"}]
    host_root = [v for v in spec["volumes"] if v.get("hostPath", {}).get("path") == "/"]
    assert len(host_root) == 1
    (container,) = spec["containers"]
    assert container["image"] == f"python:{PY}"
    assert container["command"] == ["sh", "-c", script]
    assert {"name": host_root[0]["name"], "mountPath": "/host"} in container["volumeMounts"]

    wait_for(lambda: "host-ok" in logs(cluster, namespace, name), f"{name} to log host-ok")


def web_pod(node: str) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": f"python:{PY}",
        "command": ["python", "-m", "http.server", "8080"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "envFrom": [{"configMapRef": {"name": "app-cfg"}}],
        "env": [
            {"name": "GREETING", "value": "hi"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5},
        "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
        "lifecycle": {"preStop": {"sleep": {"seconds": 1}}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app", "readOnly": True}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "nodeName": node,
            "containers": [container],
            "volumes": [
                {
                    "name": "cfg",
                    "configMap": {
                        "name": "app-cfg",
                        "items": [{"key": "app.conf", "path": "app.conf"}],
                    },
                }
            ],
            "tolerations": [
                {"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}
            ],
            "securityContext": {"supplementalGroups": [1000]},
        },
    }


def test_debug_copy_to_copies_the_whole_pod(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl(
        "create", "configmap", "app-cfg", "-n", namespace,
        "--from-literal=MODE=fast", "--from-literal=app.conf=x=1",
    )  # fmt: skip
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(web_pod(node_name(cluster)))
    )
    original = cluster.kubectl_json("get", "pod", "web", "-n", namespace)

    proc = cluster.kubectl(
        "debug", "web", "-n", namespace, "--copy-to=web-copy", f"--image=python:{PY}",
        "--container=main", "-v=8", "--", "sleep", "60",
    )  # fmt: skip
    assert PROTOBUF in proc.stderr

    copy = cluster.kubectl_json("get", "pod", "web-copy", "-n", namespace)
    (before,), (after,) = original["spec"]["containers"], copy["spec"]["containers"]
    assert after["image"] == f"python:{PY}"
    assert after["command"] == ["sleep", "60"]
    for key in (
        "readinessProbe", "livenessProbe", "startupProbe", "lifecycle", "securityContext",
        "envFrom", "env", "resources", "ports", "volumeMounts",
    ):  # fmt: skip
        assert after[key] == before[key], key
    assert after["resources"]["limits"] == {"memory": "128Mi"}
    assert after["readinessProbe"]["httpGet"]["port"] == "http"
    assert after["envFrom"] == [{"configMapRef": {"name": "app-cfg"}}]
    spec, copied = original["spec"], copy["spec"]
    for key in ("volumes", "tolerations", "securityContext"):
        assert copied[key] == spec[key], key
    assert {"name": "cfg", "configMap": spec["volumes"][0]["configMap"]} in copied["volumes"]
