"""`pods/ephemeralcontainers` end to end: the real `kubectl debug` and the official client.

Only the API side is checked: the ephemeral container is recorded in the pod's
spec (whether the node agent runs it is its own test's business), refused
with upstream's wording when invalid, and the pod stays readable by `get`
and `describe`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e
IMAGE = "python:3.11"


def make_pod(cluster: Cluster, ns: str, name: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "300"]}],
            "restartPolicy": "Never",
        },
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def ephemeral(cluster: Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    pod = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return list(pod["spec"].get("ephemeralContainers") or [])


def test_kubectl_debug_adds_an_ephemeral_container(cluster: Cluster, namespace: str) -> None:
    make_pod(cluster, namespace, "target")
    cluster.kubectl(
        "debug", "target", "-n", namespace, f"--image={IMAGE}", "--container=dbg", "--",
        "sleep", "30",
    )  # fmt: skip
    name = cluster.kubectl(
        "get", "pod", "target", "-n", namespace,
        "-o", "jsonpath={.spec.ephemeralContainers[0].name}",
    ).stdout  # fmt: skip
    assert name == "dbg"
    (ec,) = ephemeral(cluster, namespace, "target")
    assert (ec["image"], ec["command"]) == (IMAGE, ["sleep", "30"])
    assert (ec["terminationMessagePath"], ec["imagePullPolicy"]) == (
        "/dev/termination-log",
        "IfNotPresent",
    )


def test_a_second_debug_with_the_same_name_changes_nothing(
    cluster: Cluster, namespace: str
) -> None:
    """kubectl's patch merges the new container into the existing one, then restores it
    from the copy it also sends: upstream accepts that as a no-op, and so do we."""
    make_pod(cluster, namespace, "twice")
    args = ("debug", "twice", "-n", namespace, f"--image={IMAGE}", "--container=dbg")
    cluster.kubectl(*args, "--", "sleep", "30")
    before = ephemeral(cluster, namespace, "twice")
    cluster.kubectl(*args, "--", "sleep", "60")
    assert ephemeral(cluster, namespace, "twice") == before


def test_a_debug_container_named_like_a_container_is_refused(
    cluster: Cluster, namespace: str
) -> None:
    make_pod(cluster, namespace, "clash")
    proc = cluster.kubectl(
        "debug", "clash", "-n", namespace, f"--image={IMAGE}", "--container=main", "--",
        "sleep", "30",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert (
        'The Pod "clash" is invalid: spec.ephemeralContainers[0].name: Duplicate value: "main"'
        in proc.stderr
    )
    assert ephemeral(cluster, namespace, "clash") == []


def test_an_unknown_target_container_is_refused(cluster: Cluster, namespace: str) -> None:
    make_pod(cluster, namespace, "aimless")
    proc = cluster.kubectl(
        "debug", "aimless", "-n", namespace, f"--image={IMAGE}", "--container=dbg",
        "--target=nope", "--", "sleep", "30",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'spec.ephemeralContainers[0].targetContainerName: Not found: "nope"' in proc.stderr


def test_get_and_describe_show_ephemeral_containers(cluster: Cluster, namespace: str) -> None:
    make_pod(cluster, namespace, "shown")
    cluster.kubectl(
        "debug", "shown", "-n", namespace, f"--image={IMAGE}", "--container=dbg", "--",
        "sleep", "30",
    )  # fmt: skip
    yaml_out = cluster.kubectl("get", "pod", "shown", "-n", namespace, "-o", "yaml").stdout
    assert "ephemeralContainers:" in yaml_out
    described = cluster.kubectl("describe", "pod", "shown", "-n", namespace).stdout
    assert "Ephemeral Containers:" in described
    assert "  dbg:" in described


def test_pod_updates_cannot_remove_them(cluster: Cluster, namespace: str) -> None:
    make_pod(cluster, namespace, "kept")
    cluster.kubectl(
        "debug", "kept", "-n", namespace, f"--image={IMAGE}", "--container=dbg", "--",
        "sleep", "30",
    )  # fmt: skip
    remove = '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]'
    for extra in ((), ("--subresource=ephemeralcontainers",)):
        proc = cluster.kubectl(
            "patch", "pod", "kept", "-n", namespace, "--type=json", "-p", remove, *extra,
            check=False,
        )  # fmt: skip
        assert proc.returncode != 0
    assert 'existing ephemeral containers "dbg" may not be removed' in proc.stderr
    assert [c["name"] for c in ephemeral(cluster, namespace, "kept")] == ["dbg"]


def test_the_official_client(cluster: Cluster, namespace: str) -> None:
    make_pod(cluster, namespace, "sdk")
    api, client = cluster.api_client()
    core = client.CoreV1Api(api)
    body = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": IMAGE, "stdin": True}]}}
    pod = core.patch_namespaced_pod_ephemeralcontainers("sdk", namespace, body)
    assert [c.name for c in pod.spec.ephemeral_containers] == ["dbg"]
    read = core.read_namespaced_pod_ephemeralcontainers("sdk", namespace)
    assert [c.name for c in read.spec.ephemeral_containers] == ["dbg"]
    assert int(read.metadata.resource_version) >= int(pod.metadata.resource_version)

    changed = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "python:3.12"}]}}
    with pytest.raises(client.ApiException) as refused:
        core.patch_namespaced_pod_ephemeralcontainers("sdk", namespace, changed)
    assert refused.value.status == 422
    status = json.loads(refused.value.body)
    assert status["details"]["causes"][0]["field"] == "spec.ephemeralContainers"
    assert 'existing ephemeral containers "dbg" may not be changed' in status["message"]
