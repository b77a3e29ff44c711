"""The control plane's cgroup, on a fake hierarchy: what is written where, v1 and v2."""

from __future__ import annotations

import os
from pathlib import Path

from kubelite.cli import control_plane_cgroup as cp
from kubelite.kubelet.cgroups import shares_to_weight


def test_v1_weighs_the_control_plane_above_the_cores_and_moves_the_thread(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    group = cp.join(root=tmp_path, pid=4242)
    assert group == tmp_path / "cpu" / cp.NAME
    cores = os.cpu_count() or 1
    assert (group / "cpu.shares").read_text() == str(8 * 1024 * cores)
    assert (group / "tasks").read_text() == "4242"
    # only the cpu controller: nothing is made in the memory or pids hierarchies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu"]


def test_v2_sets_a_weight_and_moves_the_process(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    group = cp.join(root=tmp_path, pid=4242)
    assert group == tmp_path / cp.NAME
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    shares = cp.control_plane_shares(os.cpu_count() or 1)
    assert (group / "cpu.weight").read_text() == str(shares_to_weight(shares))
    assert (group / "cgroup.procs").read_text() == "4242"


def test_v2_without_the_cpu_controller_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    assert cp.join(root=tmp_path, pid=4242) is None
    assert not (tmp_path / cp.NAME).exists()


def test_a_hierarchy_it_cannot_write_is_not_an_error(tmp_path: Path) -> None:
    assert cp.join(root=tmp_path / "absent", pid=4242) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / cp.NAME).write_text("")  # in the way of the cgroup: mkdir fails
    assert cp.join(root=tmp_path, pid=4242) is None
    assert (tmp_path / "cpu" / cp.NAME).read_text() == ""


def test_shares_stay_within_the_kernels_bound() -> None:
    assert cp.control_plane_shares(1) == 8192
    assert cp.control_plane_shares(10_000) == 262144
