"""Node status parts: images as the kubelet lists them, and the condition for unenforced limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelite.kubelet import cgroups
from kubelite.kubelet.images import ImageStore
from kubelite.kubelet.node import LIMITS_CONDITION, limits_condition, node_images, node_status
from kubelite.kubelet.process import _cgroups


def ref(name: str, tag: str, digest: str, size: int) -> dict:
    return {
        "ref": f"{name}:{tag}",
        "repository": name,
        "tag": tag,
        "digest": digest,
        "size": size,
    }


def test_images_grouped_by_digest_largest_first() -> None:
    entries = [
        ref("small", "v1", "sha256:aa", 10),
        ref("big", "v1", "sha256:bb", 300),
        ref("big", "latest", "sha256:bb", 300),  # same content, second tag
        ref("mid", "v2", "sha256:cc", 200),
    ]
    assert node_images(entries) == [
        {"names": ["big@sha256:bb", "big:latest", "big:v1"], "sizeBytes": 300},
        {"names": ["mid@sha256:cc", "mid:v2"], "sizeBytes": 200},
        {"names": ["small@sha256:aa", "small:v1"], "sizeBytes": 10},
    ]


def test_images_capped_at_fifty_by_default() -> None:
    entries = [ref(f"img{i}", "v1", f"sha256:{i:04x}", i) for i in range(60)]
    images = node_images(entries)
    assert len(images) == 50
    assert images[0]["sizeBytes"] == 59 and images[-1]["sizeBytes"] == 10


def test_image_store_version_changes_when_an_image_is_recorded(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    before = store.version()
    store.record("app:v1", tmp_path / "images" / "x", "sha256:ab", 123, "2026-01-01T00:00:00Z")
    assert store.version() != before
    assert node_images(store.list()) == [{"names": ["app@sha256:ab", "app:v1"], "sizeBytes": 123}]


def test_node_status_carries_images_and_keeps_previous_when_not_given() -> None:
    images = [{"names": ["a:v1"], "sizeBytes": 1}]
    first = node_status("n1", capacity={}, info={}, now=0, images=images)
    assert first["images"] == images
    assert node_status("n1", capacity={}, info={}, now=10, previous=first)["images"] == images


# ---- cgroups: detection on a fake root, and what the node says without them --------------


def test_no_writable_cgroups_means_a_condition_saying_limits_are_not_enforced(
    tmp_path: Path,
) -> None:
    manager = cgroups.Manager.detect("kubelite/n1", root=tmp_path)  # an empty hierarchy
    assert manager is None
    extra = limits_condition(manager is not None)
    status = node_status("n1", capacity={}, info={}, now=0, extra_conditions=extra)
    cond = next(c for c in status["conditions"] if c["type"] == LIMITS_CONDITION)
    assert (cond["status"], cond["reason"]) == ("True", "CgroupsNotWritable")
    assert "limits are not enforced" in cond["message"]
    # the transition time holds while the condition does
    later = node_status(
        "n1", capacity={}, info={}, now=100, previous=status, extra_conditions=extra
    )
    again = next(c for c in later["conditions"] if c["type"] == LIMITS_CONDITION)
    assert again["lastTransitionTime"] == cond["lastTransitionTime"]
    assert again["lastHeartbeatTime"] != cond["lastHeartbeatTime"]


def test_writable_v2_root_means_no_condition_and_limits_under_that_root(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    manager = cgroups.Manager.detect("kubelite/n1", root=tmp_path)
    assert manager is not None and manager.version == 2
    assert limits_condition(True) == []
    placement = manager.prepare(
        "uid1",
        {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}},
        cgroups.CpuWeights("Guaranteed", 500),
    )
    leaf = tmp_path / "kubelite" / "n1" / "poduid1" / "app"  # Guaranteed: no tier
    assert not leaf.exists()  # the agent only describes; the container's process makes them
    assert placement.procs == [str(leaf / "cgroup.procs")]
    _take_steps(placement)
    assert (leaf / "memory.max").read_text() == str(64 * 2**20)
    assert (leaf / "cpu.max").read_text() == "50000 100000"
    assert (leaf / "pids.max").read_text() == str(cgroups.DEFAULT_PIDS_MAX)


@pytest.mark.parametrize("missing", ["memory", "cpu", "pids"])
def test_v1_needs_all_three_hierarchies(tmp_path: Path, missing: str) -> None:
    for c in ("memory", "cpu", "pids"):
        if c != missing:
            (tmp_path / c).mkdir()
    assert cgroups.Manager.detect("kubelite/n1", root=tmp_path) is None


def test_v1_containers_join_by_thread_id_in_each_hierarchy(tmp_path: Path) -> None:
    for c in ("memory", "cpu", "pids"):
        (tmp_path / c).mkdir()
    manager = cgroups.Manager.detect("kubelite/n1", root=tmp_path)
    assert manager is not None and manager.version == 1
    placement = manager.prepare(
        "uid1",
        {"name": "app", "resources": {"limits": {"cpu": "250m"}}},
        cgroups.CpuWeights("Burstable", 250),
    )
    # `tasks`, not `cgroup.procs`: moving one thread needs no RCU grace period
    assert placement.procs == [
        str(tmp_path / c / "kubelite" / "n1" / "burstable" / "poduid1" / "app" / "tasks")
        for c in ("memory", "cpu", "pids")
    ]
    _take_steps(placement)
    cpu = tmp_path / "cpu" / "kubelite" / "n1" / "burstable" / "poduid1" / "app"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "25000"


def _take_steps(placement: cgroups.Placement) -> None:
    """The steps as a cgroupfs would take them (its knob files exist once the dir does)."""
    for kind, path, value in placement.ops:
        if kind == "mkdir":
            Path(path).mkdir(parents=True, exist_ok=True)
        elif Path(path).parent.is_dir():
            Path(path).write_text(value)
        else:
            assert kind == "try", f"a required write outside a made cgroup: {path}"


def test_a_cgroup_that_cannot_be_made_means_no_join_not_a_failed_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ops = [("mkdir", str(blocker / "sub"), b"")]
    assert _cgroups(ops, [str(tmp_path / "tasks")]) == []


def test_an_optional_write_may_fail_a_required_one_may_not(tmp_path: Path) -> None:
    (tmp_path / "tasks").write_text("")
    missing = str(tmp_path / "no" / "such" / "file")
    fds = _cgroups([("try", missing, b"0")], [str(tmp_path / "tasks")])
    assert len(fds) == 1
    for fd in fds:
        os.close(fd)
    assert _cgroups([("write", missing, b"0")], [str(tmp_path / "tasks")]) == []
