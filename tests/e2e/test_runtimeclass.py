"""RuntimeClass through the real kubectl: listed with upstream's columns, and pods
admitted against it (a missing class refused, a class's overhead and scheduling
taken on), as a real cluster admits them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e

GVISOR = {
    "apiVersion": "node.k8s.io/v1",
    "kind": "RuntimeClass",
    "metadata": {"name": "gvisor"},
    "handler": "runsc",
    "overhead": {"podFixed": {"cpu": "250m", "memory": "64Mi"}},
    "scheduling": {"nodeSelector": {"sandbox": "gvisor"}},
}


def pod(name: str, runtime_class_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "runtimeClassName": runtime_class_name,
            "containers": [{"name": "app", "image": "busybox"}],
        },
    }


def test_runtimeclasses_are_served_and_pods_admitted_against_them(cluster: Cluster) -> None:
    none = cluster.kubectl("get", "runtimeclass")
    assert "No resources found" in none.stdout + none.stderr

    cluster.kubectl("apply", "-f", "-", input=json.dumps(GVISOR))
    header, row = cluster.kubectl("get", "runtimeclass").stdout.splitlines()
    assert header.split() == ["NAME", "HANDLER", "AGE"]
    assert row.split()[:2] == ["gvisor", "runsc"]

    refused = cluster.kubectl(
        "create", "-f", "-", input=json.dumps(pod("lost", "missing")), check=False
    )
    assert refused.returncode != 0
    assert (
        'pods "lost" is forbidden: pod rejected: RuntimeClass "missing" not found' in refused.stderr
    )

    # Checked without running it: a dry run goes through admission as a create does.
    admitted = json.loads(
        cluster.kubectl(
            "create", "--dry-run=server", "-o", "json", "-f", "-",
            input=json.dumps(pod("sandboxed", "gvisor")),
        ).stdout
    )  # fmt: skip
    assert admitted["spec"]["overhead"] == {"cpu": "250m", "memory": "64Mi"}
    assert admitted["spec"]["nodeSelector"] == {"sandbox": "gvisor"}
