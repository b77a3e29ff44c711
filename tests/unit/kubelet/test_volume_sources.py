"""Volume sources: a projected secret, a generic ephemeral volume's claim, and the
release of a pod's mounts whichever way its worker ended."""

from __future__ import annotations

import asyncio
import base64
import ctypes
import os
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet.volumes import PodVolumes, VolumeError, release_orphans

Obj = dict[str, Any]
ROOT = os.geteuid() == 0


def run_setup(tmp_path: Path, pod: Obj, objects: dict[tuple[str, str], Obj]) -> PodVolumes:
    async def get(kind: str, ns: str, name: str) -> Obj | None:
        return objects.get((kind, name))

    vols = PodVolumes(tmp_path / "pod")
    asyncio.run(vols.setup(pod, get, pod_ip="127.244.0.2", host_ip="127.0.0.1"))
    return vols


def pod_with(volume: Obj) -> Obj:
    md = {"name": "eph", "namespace": "ns", "uid": "pod-uid"}
    return {"metadata": md, "spec": {"volumes": [{"name": "data", **volume}]}}


SECRET = {"data": {"k": base64.b64encode(b"v").decode()}}


@pytest.mark.parametrize(
    "source",
    [
        pytest.param({"secret": {"name": "s", "items": [{"key": "k", "path": "kk"}]}}, id="items"),
        pytest.param({"secret": {"name": "s"}}, id="all-keys"),
    ],
)
def test_a_projected_secret_is_named_by_name(tmp_path: Path, source: Obj) -> None:
    pod = pod_with({"projected": {"sources": [source, {"configMap": {"name": "cm"}}]}})
    objects = {("Secret", "s"): SECRET, ("ConfigMap", "cm"): {"data": {"c": "d"}}}
    vols = run_setup(tmp_path, pod, objects)
    root = Path(vols.paths["data"])
    key = "kk" if "items" in source["secret"] else "k"
    assert (root / key).read_text() == "v" and (root / "c").read_text() == "d"


def claim(owner_uid: str | None, *, phase: str = "Bound") -> Obj:
    refs = [{"kind": "Pod", "name": "eph", "uid": owner_uid, "controller": True}]
    return {
        "metadata": {
            "name": "eph-data",
            "namespace": "ns",
            "ownerReferences": refs if owner_uid else [],
        },
        "spec": {"volumeName": "pv1"},
        "status": {"phase": phase},
    }


def test_an_ephemeral_volume_mounts_the_pods_own_claim(tmp_path: Path) -> None:
    target = tmp_path / "pv"
    pv = {
        "metadata": {"name": "pv1"},
        "spec": {"hostPath": {"path": str(target), "type": "DirectoryOrCreate"}},
    }
    objects = {
        ("PersistentVolumeClaim", "eph-data"): claim("pod-uid"),
        ("PersistentVolume", "pv1"): pv,
    }
    vols = run_setup(
        tmp_path, pod_with({"ephemeral": {"volumeClaimTemplate": {"spec": {}}}}), objects
    )
    assert vols.paths["data"] == str(target) and target.is_dir()


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        pytest.param({}, 'persistentvolumeclaim "eph-data" not found', id="not-yet-made"),
        pytest.param(
            {("PersistentVolumeClaim", "eph-data"): claim("someone-else")},
            "PVC ns/eph-data was not created for pod ns/eph (pod is not owner)",
            id="not-the-pods",
        ),
        pytest.param(
            {("PersistentVolumeClaim", "eph-data"): claim(None)},
            "PVC ns/eph-data was not created for pod ns/eph (pod is not owner)",
            id="no-owner",
        ),
        pytest.param(
            {("PersistentVolumeClaim", "eph-data"): claim("pod-uid", phase="Pending")},
            'pod has unbound immediate PersistentVolumeClaims (claim "eph-data")',
            id="unbound",
        ),
    ],
)
def test_an_ephemeral_volume_waits_for_its_claim(
    tmp_path: Path, objects: dict[tuple[str, str], Obj], message: str
) -> None:
    with pytest.raises(VolumeError) as err:
        run_setup(tmp_path, pod_with({"ephemeral": {"volumeClaimTemplate": {}}}), objects)
    assert str(err.value) == message


# ---- mounts released ------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    assert _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", 0, b"size=1m") == 0


def mounted_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [p for line in f if (p := line.split()[4]).startswith(str(path) + "/")]


@pytest.mark.skipif(not ROOT, reason="mounts need root")
def test_teardown_releases_every_mount_of_the_pod(tmp_path: Path) -> None:
    # a shm mounted by a kubelite before a restart, a subPath bind of this one
    vols = PodVolumes(tmp_path / "pod")
    mount_tmpfs(tmp_path / "pod" / "shm")
    mount_tmpfs(tmp_path / "pod" / "volume-subpaths" / "v" / "c" / "0")
    vols.teardown()
    assert mounted_under(tmp_path) == []


@pytest.mark.skipif(not ROOT, reason="mounts need root")
def test_mounts_of_pods_no_worker_holds_are_released(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    mount_tmpfs(pods / "ns_gone_uid-1" / "shm")
    mount_tmpfs(pods / "ns_live_uid-2" / "shm")
    try:
        release_orphans(pods, {"uid-2"})
        assert mounted_under(tmp_path) == [str(pods / "ns_live_uid-2" / "shm")]
    finally:
        release_orphans(pods, set())
    assert mounted_under(tmp_path) == []
