"""The node refuses a pod bound to it (past the scheduler) as the kubelet's admission does.

Each refused pod ends Failed with upstream's reason, which `kubectl get pod`
shows as its status, and a Warning event; it never starts, and the node and
the pods already running there carry on.
"""

from __future__ import annotations

import json
import socket
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
AFFINITY = "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
PORTS = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"

wait_for = partial(_wait_for, timeout=60, interval=0.3)


def node_name(cluster: Cluster) -> str:
    return str(cluster.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"])


def bound_pod(name: str, node: str, **spec: Any) -> dict[str, Any]:
    """A pod that sleeps, given its node's name: it skips the scheduler."""
    container = {
        "name": "main",
        "image": f"python:{PY}",
        "command": ["python", "-c", "import time; time.sleep(3600)"],
        **spec.pop("container", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [container], **spec},
    }


def apply(cluster: Cluster, ns: str, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(body))


def status(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    return dict(cluster.kubectl_json("get", "pod", name, "-n", ns).get("status") or {})


def failed(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (s := status(cluster, ns, name)).get("phase") == "Failed" and s,
        what=f"pod {name} rejected",
    )


def running_and_ready(cluster: Cluster, ns: str, name: str) -> bool:
    s = status(cluster, ns, name)
    conditions = {c["type"]: c["status"] for c in s.get("conditions") or ()}
    return s.get("phase") == "Running" and conditions.get("Ready") == "True"


def shown_status(cluster: Cluster, ns: str, name: str) -> str:
    """The STATUS column of `kubectl get pod`."""
    line = cluster.kubectl("get", "pod", name, "-n", ns, "--no-headers").stdout.split()
    return line[2]


def warning_reasons(cluster: Cluster, ns: str, name: str) -> list[tuple[str, str]]:
    items = cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return [(e["reason"], e["message"]) for e in items if e["type"] == "Warning"]


@pytest.fixture(scope="module")
def neighbour(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """A pod running on the node before the refused ones come: (namespace, name)."""
    ns = "adm-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", ns)
    apply(cluster, ns, bound_pod("neighbour", node_name(cluster)))
    wait_for(lambda: running_and_ready(cluster, ns, "neighbour"), what="the neighbour running")
    yield ns, "neighbour"


def assert_unharmed(cluster: Cluster, neighbour: tuple[str, str]) -> None:
    ns, name = neighbour
    assert running_and_ready(cluster, ns, name)
    assert status(cluster, ns, name)["containerStatuses"][0]["restartCount"] == 0
    node = cluster.kubectl_json("get", "node", node_name(cluster))
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_a_node_selector_the_node_lacks_fails_the_pod_with_node_affinity(
    cluster: Cluster, namespace: str, neighbour: tuple[str, str]
) -> None:
    body = bound_pod("picky", node_name(cluster), nodeSelector={"disk": "none-such"})
    apply(cluster, namespace, body)
    got = failed(cluster, namespace, "picky")
    assert got["reason"] == "NodeAffinity"
    assert got["message"] == "Pod was rejected: " + AFFINITY
    assert not got.get("containerStatuses")  # never started
    assert shown_status(cluster, namespace, "picky") == "NodeAffinity"
    wait_for(
        lambda: ("NodeAffinity", AFFINITY) in warning_reasons(cluster, namespace, "picky"),
        what="the NodeAffinity event",
    )
    assert_unharmed(cluster, neighbour)


def test_a_label_just_put_on_the_node_admits_the_pod_that_selects_it(
    cluster: Cluster, namespace: str
) -> None:
    node, key = node_name(cluster), "e2e-admission-" + uuid.uuid4().hex[:6]
    cluster.kubectl("label", "node", node, f"{key}=yes")
    try:
        apply(cluster, namespace, bound_pod("selects", node, nodeSelector={key: "yes"}))
        wait_for(lambda: running_and_ready(cluster, namespace, "selects"), what="it running")
    finally:
        cluster.kubectl("label", "node", node, f"{key}-")


def test_a_host_port_in_use_fails_the_pod_with_node_ports(
    cluster: Cluster, namespace: str, neighbour: tuple[str, str]
) -> None:
    node = node_name(cluster)
    with socket.socket() as s:  # a port nothing on this machine listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    ports = {"ports": [{"containerPort": free, "hostPort": free}]}
    apply(cluster, namespace, bound_pod("first", node, container=ports))
    wait_for(lambda: running_and_ready(cluster, namespace, "first"), what="the first running")
    apply(cluster, namespace, bound_pod("second", node, container=ports))
    got = failed(cluster, namespace, "second")
    assert (got["reason"], got["message"]) == ("NodePorts", "Pod was rejected: " + PORTS)
    assert shown_status(cluster, namespace, "second") == "NodePorts"
    assert running_and_ready(cluster, namespace, "first")
    assert_unharmed(cluster, neighbour)


def test_a_pod_for_another_os_fails_with_pod_os_not_supported(
    cluster: Cluster, namespace: str, neighbour: tuple[str, str]
) -> None:
    apply(cluster, namespace, bound_pod("windows", node_name(cluster), os={"name": "windows"}))
    got = failed(cluster, namespace, "windows")
    assert (got["reason"], got["message"]) == (
        "PodOSNotSupported",
        "Pod was rejected: Failed to admit pod as the OS field doesn't match node OS",
    )
    assert shown_status(cluster, namespace, "windows") == "PodOSNotSupported"
    assert_unharmed(cluster, neighbour)
