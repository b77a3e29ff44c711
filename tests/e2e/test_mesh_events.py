"""The mesh's Events on a real API server: a repeat counts up on the first Event."""

from __future__ import annotations

from typing import Any

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e


def test_repeated_event_is_one_event_with_a_count(cluster: Cluster, namespace: str) -> None:
    from kubelite.mesh.events import EventRecorder, ObjectRef
    from kubelite.mesh.kube import connect

    cluster.kubectl("create", "configmap", "res", "--from-literal=a=b", "-n", namespace)
    recorder = EventRecorder(connect(cluster.kubeconfig))
    ref = ObjectRef("ConfigMap", "res", namespace)
    for message in ("refused: a", "refused: a", "refused: a", "refused: b"):
        recorder.record(ref, reason="InvalidConfig", message=message, type_="Warning")
    recorder.flush()
    events: list[dict[str, Any]] = cluster.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=res"
    )["items"]
    assert sorted((e["message"], e["count"]) for e in events) == [
        ("refused: a", 3),
        ("refused: b", 1),
    ]
