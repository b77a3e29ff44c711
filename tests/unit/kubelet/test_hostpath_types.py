"""hostPath `type` checks, inline and through a PersistentVolume (upstream's
hostPath plugin, checkTypeInternal): a mismatch is a FailedMount the pod
retries, never a crash of its worker."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet.volumes import PodVolumes, VolumeError

Obj = dict[str, Any]


def pod_with(volume: Obj, **md: Any) -> Obj:
    meta = {"name": "p", "namespace": "ns", "uid": "u1", **md}
    return {"metadata": meta, "spec": {"volumes": [{"name": "h", **volume}]}}


def setup(tmp_path: Path, pod: Obj, objects: dict[tuple[str, str], Obj] | None = None) -> str:
    async def get(kind: str, ns: str, name: str) -> Obj | None:
        return (objects or {}).get((kind, name))

    vols = PodVolumes(tmp_path / "pod")
    asyncio.run(vols.setup(pod, get, pod_ip="127.244.0.2", host_ip="127.0.0.1"))
    return vols.paths["h"]


def failed_mount(tmp_path: Path, pod: Obj, objects: Any = None) -> str:
    with pytest.raises(VolumeError) as err:
        setup(tmp_path, pod, objects)
    return str(err.value)


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    path = tmp_path / "afile"
    path.write_text("x")
    return path


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("Socket", "socket file"),
        ("CharDevice", "character device"),
        ("BlockDevice", "block device"),
        ("DirectoryOrCreate", "directory"),
    ],
)
def test_a_regular_file_of_the_wrong_type_fails_the_mount(
    tmp_path: Path, afile: Path, kind: str, what: str
) -> None:
    message = failed_mount(tmp_path, pod_with({"hostPath": {"path": str(afile), "type": kind}}))
    assert message == (
        f'MountVolume.SetUp failed for volume "h" : '
        f"hostPath type check failed: {afile} is not a {what}"
    )
    assert afile.read_text() == "x"


def test_a_missing_socket_fails_the_mount(tmp_path: Path) -> None:
    path = tmp_path / "no.sock"
    message = failed_mount(tmp_path, pod_with({"hostPath": {"path": str(path), "type": "Socket"}}))
    assert message.endswith(f"hostPath type check failed: {path} is not a socket file")
    assert not path.exists()
    with socket.socket(socket.AF_UNIX) as s:  # once there, it passes
        s.bind(str(path))
        got = setup(tmp_path, pod_with({"hostPath": {"path": str(path), "type": "Socket"}}))
    assert got == str(path)


def test_dev_null_is_a_character_device_not_a_block_device(tmp_path: Path) -> None:
    assert setup(tmp_path, pod_with({"hostPath": {"path": "/dev/null", "type": "CharDevice"}}))
    message = failed_mount(
        tmp_path, pod_with({"hostPath": {"path": "/dev/null", "type": "BlockDevice"}})
    )
    assert message.endswith("hostPath type check failed: /dev/null is not a block device")


def test_file_or_create_makes_the_file_but_not_its_directory(tmp_path: Path) -> None:
    made = tmp_path / "dir" / "f"
    (tmp_path / "dir").mkdir()
    setup(tmp_path, pod_with({"hostPath": {"path": str(made), "type": "FileOrCreate"}}))
    assert made.is_file() and made.stat().st_mode & 0o777 == 0o644
    orphan = tmp_path / "noparent" / "x"
    message = failed_mount(
        tmp_path, pod_with({"hostPath": {"path": str(orphan), "type": "FileOrCreate"}})
    )
    assert message.endswith(f"open {orphan}: no such file or directory")
    assert not orphan.parent.exists()


# ---- PersistentVolumes ----------------------------------------------------------------


def claim_objects(pv_spec: Obj, **claim_md: Any) -> dict[tuple[str, str], Obj]:
    pvc = {
        "metadata": {"name": "c", "namespace": "ns", **claim_md},
        "spec": {"volumeName": "pv1"},
        "status": {"phase": "Bound"},
    }
    return {
        ("PersistentVolumeClaim", "c"): pvc,
        ("PersistentVolumeClaim", "p-h"): {**pvc, "metadata": {**pvc["metadata"], "name": "p-h"}},
        ("PersistentVolume", "pv1"): {"metadata": {"name": "pv1"}, "spec": pv_spec},
    }


def test_a_file_pv_is_mounted_as_the_file(tmp_path: Path, afile: Path) -> None:
    objects = claim_objects({"hostPath": {"path": str(afile), "type": "File"}})
    got = setup(tmp_path, pod_with({"persistentVolumeClaim": {"claimName": "c"}}), objects)
    assert got == str(afile) and afile.read_text() == "x"


def test_a_missing_directory_pv_is_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    objects = claim_objects({"hostPath": {"path": str(missing), "type": "Directory"}})
    message = failed_mount(
        tmp_path, pod_with({"persistentVolumeClaim": {"claimName": "c"}}), objects
    )
    assert message == (
        'MountVolume.SetUp failed for volume "pv1" : '
        f"hostPath type check failed: {missing} is not a directory"
    )
    assert not missing.parent.parent.exists()


def test_a_missing_local_pv_path_fails(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    objects = claim_objects({"local": {"path": str(missing)}})
    message = failed_mount(
        tmp_path, pod_with({"persistentVolumeClaim": {"claimName": "c"}}), objects
    )
    assert message == (
        'MountVolume.NewMounter initialization failed for volume "pv1" : '
        f'path "{missing}" does not exist'
    )
    assert not missing.exists()


def test_an_unexpected_host_error_is_a_failed_mount(tmp_path: Path, afile: Path) -> None:
    # no type: a missing path is made as a directory, here below a file
    message = failed_mount(tmp_path, pod_with({"hostPath": {"path": str(afile / "sub")}}))
    assert message.startswith('MountVolume.SetUp failed for volume "h" : ')
    assert "Not a directory" in message
