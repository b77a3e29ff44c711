"""Memory-backed emptyDir sizes, as upstream's volume plugin sizes them."""

from __future__ import annotations

import pytest

from kubelite.kubelet import volumes


def _limited(*limits: str | None, inits: tuple[str, ...] = ()) -> dict:
    def c(limit: str | None) -> dict:
        return {"name": "c", "resources": {"limits": {"memory": limit}} if limit else {}}

    return {
        "spec": {
            "containers": [c(x) for x in limits],
            "initContainers": [c(x) for x in inits],
        }
    }


@pytest.mark.parametrize(
    ("pod", "spec", "size"),
    [
        (_limited(None), {"medium": "Memory"}, str(24 * 2**30)),  # the node's
        (_limited("100Mi", "50Mi"), {"medium": "Memory"}, str(150 * 2**20)),  # the pod's
        (_limited("100Mi", None), {"medium": "Memory"}, str(24 * 2**30)),  # one has none
        (_limited("100Mi"), {"sizeLimit": "1Gi"}, str(100 * 2**20)),  # larger: ignored
        (_limited("100Mi"), {"sizeLimit": "10Mi"}, str(10 * 2**20)),
        (_limited("10Mi", inits=("300Mi",)), {}, str(300 * 2**20)),  # the largest init
    ],
)
def test_memory_volume_size_as_upstream(pod: dict, spec: dict, size: str) -> None:
    assert volumes.memory_volume_size(pod, {"memory": "24Gi"}, spec) == size


def test_mount_statuses_as_the_kubelet_reports_them() -> None:
    from kubelite.kubelet.status import ContainerRecord, mount_statuses

    container = {
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "token", "mountPath": "/var/run/secrets/x", "readOnly": True},
            {"name": "r", "mountPath": "/r", "readOnly": True, "recursiveReadOnly": "Enabled"},
        ]
    }
    mounts = mount_statuses(container)
    assert mounts == [
        {"mountPath": "/data", "name": "data"},
        {
            "mountPath": "/var/run/secrets/x",
            "name": "token",
            "readOnly": True,
            "recursiveReadOnly": "Disabled",
        },
        {"mountPath": "/r", "name": "r", "readOnly": True, "recursiveReadOnly": "Enabled"},
    ]
    assert ContainerRecord("c", "i", volume_mounts=mounts).to_status()["volumeMounts"] == mounts
    assert "volumeMounts" not in ContainerRecord("c", "i").to_status()
