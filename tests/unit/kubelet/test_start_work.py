"""What a container start computes: images kept between starts, the checkpoint, cgroup steps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kubelite.kubelet import checkpoint, images
from kubelite.kubelet.cgroups import CpuWeights, Manager, milli_cpu_to_shares, shares_to_weight
from kubelite.kubelet.envvars import Sources, container_env
from kubelite.kubelet.images import ImageStore, host_python_version
from kubelite.kubelet.status import ContainerRecord

PY = "{}.{}".format(*host_python_version())


# ---- images kept between starts ---------------------------------------------------------


def test_the_builtin_python_image_is_worked_out_once(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image = store.resolve(f"python:{PY}")
    assert store.resolve(f"docker.io/library/python:{PY}") is image


def test_a_removed_builtin_python_image_is_made_again(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image = store.resolve(f"python:{PY}")
    link = image.root / "rootfs-bin" / "python"
    link.unlink()
    assert store.resolve(f"python:{PY}") == image
    assert link.is_symlink()


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as long unchanged at once, so what is read from them is kept."""
    monkeypatch.setattr(images, "SETTLE_NS", -(10**18))


def built(store: ImageStore, tmp_path: Path, name: str, env: list[str]) -> Path:
    image_dir = tmp_path / name
    image_dir.mkdir()
    config = image_dir / "config.json"
    config.write_text(json.dumps({"config": {"Env": env}}))
    store.record("app:1", image_dir, f"sha256:{name}", 1, "2026-01-01T00:00:00Z")
    for path in (config, store.ref_file("app:1")):
        os.utime(path, ns=(0, 0))  # long unchanged: the next change moves the stat
    return config


def test_a_kept_image_is_reused_until_its_reference_changes(tmp_path: Path, kept: None) -> None:
    store = ImageStore(tmp_path)
    built(store, tmp_path, "one", ["A=1"])
    first = store.resolve("app:1")
    assert store.resolve("app:1") is first
    built(store, tmp_path, "two", ["A=2"])  # rebuilt: the reference names a new directory
    second = store.resolve("app:1")
    assert (second.digest, second.env) == ("sha256:two", ["A=2"])


def test_a_kept_image_follows_its_config(tmp_path: Path, kept: None) -> None:
    store = ImageStore(tmp_path)
    config = built(store, tmp_path, "one", ["A=1"])
    assert store.resolve("app:1").env == ["A=1"]
    config.write_text(json.dumps({"config": {"Env": ["A=22"]}}))
    assert store.resolve("app:1").env == ["A=22"]


def test_a_built_image_named_like_python_wins_over_the_builtin_one(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    assert store.resolve(f"python:{PY}").digest != "sha256:mine"
    image_dir = tmp_path / "mine"
    image_dir.mkdir()
    (image_dir / "config.json").write_text("{}")
    store.record(f"python:{PY}", image_dir, "sha256:mine", 1, "2026-01-01T00:00:00Z")
    assert store.resolve(f"python:{PY}").digest == "sha256:mine"


# ---- the checkpoint -------------------------------------------------------------------


def test_checkpoint_is_json_written_whole(tmp_path: Path) -> None:
    data = {"uid": "u1", "name": "wéb", "containers": [{"pid": 7, "state": {"running": {}}}]}
    pod_dir = tmp_path / "pods" / "p1"  # made on the first save
    checkpoint.save(pod_dir, data)
    checkpoint.save(pod_dir, data)
    assert json.loads((pod_dir / checkpoint.FILE).read_bytes()) == data
    assert checkpoint.load(pod_dir) == data
    assert sorted(p.name for p in pod_dir.iterdir()) == [checkpoint.FILE]


def test_checkpoint_of_what_only_json_encodes(tmp_path: Path) -> None:
    data = {"uid": "u1", "big": 2**70, "by": {1: "one"}}
    checkpoint.save(tmp_path, data)
    assert checkpoint.load(tmp_path) == json.loads(json.dumps(data))


def test_start_time_of_this_process() -> None:
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    assert checkpoint.proc_start_time(os.getpid()) == int(fields[19])
    assert checkpoint.proc_start_time(2**22 + 1) is None  # above any pid_max


def test_a_checkpoint_keeps_the_start_time_the_runtime_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_reading(pid: int) -> int:
        raise AssertionError("a reported start time is not read again from /proc")

    rec = ContainerRecord("app", "img")
    monkeypatch.setattr(checkpoint, "proc_start_time", no_reading)
    assert checkpoint.container_entry(rec, 4242, 99)["pidStartTime"] == 99
    assert checkpoint.container_entry(rec, None)["pidStartTime"] is None
    monkeypatch.setattr(checkpoint, "proc_start_time", lambda pid: 7)
    # a process from a shim that did not report it: read from /proc
    assert checkpoint.container_entry(rec, 4242)["pidStartTime"] == 7


# ---- cgroup steps -----------------------------------------------------------------------


def test_v2_steps(tmp_path: Path) -> None:
    c = {
        "name": "app",
        "resources": {
            "requests": {"memory": "64Mi", "cpu": "250m"},
            "limits": {"memory": "64Mi", "cpu": "250m"},
        },
    }
    weights = CpuWeights("Guaranteed", pod_millis=250, node_millis=2000)
    placement = Manager(2, "kubelite/n1", pids_max=50, root=tmp_path).prepare("u1", c, weights)
    r = str(tmp_path)
    subtree = "+memory +cpu +pids"
    assert placement.ops == [
        ("try", f"{r}/cgroup.subtree_control", subtree),
        ("mkdir", f"{r}/kubelite", ""),
        ("try", f"{r}/kubelite/cgroup.subtree_control", subtree),
        ("mkdir", f"{r}/kubelite/n1", ""),
        ("try", f"{r}/kubelite/n1/cgroup.subtree_control", subtree),
        ("mkdir", f"{r}/kubelite/n1/podu1", ""),
        ("try", f"{r}/kubelite/n1/podu1/cgroup.subtree_control", subtree),
        ("mkdir", f"{r}/kubelite/n1/podu1/app", ""),
        # weights: 2048 shares for two cores, 256 for 250m, as runc converts them
        ("try", f"{r}/kubelite/n1/cpu.weight", "79"),
        ("try", f"{r}/kubelite/n1/podu1/cpu.weight", "10"),
        ("try", f"{r}/kubelite/n1/podu1/app/cpu.weight", "10"),
        ("write", f"{r}/kubelite/n1/podu1/app/memory.max", str(64 * 2**20)),
        ("try", f"{r}/kubelite/n1/podu1/app/memory.swap.max", "0"),
        ("write", f"{r}/kubelite/n1/podu1/app/cpu.max", "25000 100000"),
        ("write", f"{r}/kubelite/n1/podu1/app/pids.max", "50"),
    ]
    assert placement.procs == [f"{r}/kubelite/n1/podu1/app/cgroup.procs"]


def test_v2_best_effort_pods_sit_in_their_tier(tmp_path: Path) -> None:
    manager = Manager(2, "kubelite/n1", pids_max=50, root=tmp_path)
    placement = manager.prepare("u1", {"name": "app"}, CpuWeights("BestEffort"))
    node = f"{tmp_path}/kubelite/n1"
    assert placement.procs == [f"{node}/besteffort/podu1/app/cgroup.procs"]
    made = [path for kind, path, _ in placement.ops if kind == "mkdir"]
    assert made[-3:] == [f"{node}/besteffort", f"{node}/besteffort/podu1", placement.procs[0][:-13]]
    assert ("try", f"{node}/besteffort/cpu.weight", "1") in placement.ops


def test_v1_steps(tmp_path: Path) -> None:
    c = {"name": "app", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}}
    weights = CpuWeights("Burstable", pod_millis=2000, burstable_millis=2100, node_millis=2000)
    placement = Manager(1, "kubelite/n1", pids_max=50, root=tmp_path).prepare("u1", c, weights)
    mem, cpu, pids = (
        f"{tmp_path}/{h}/kubelite/n1/burstable/podu1/app" for h in ("memory", "cpu", "pids")
    )
    node = f"{tmp_path}/cpu/kubelite/n1"
    assert placement.ops == [
        ("mkdir", mem, ""),
        ("mkdir", cpu, ""),
        ("mkdir", pids, ""),
        ("try", f"{node}/cpu.shares", "2048"),
        ("try", f"{node}/burstable/cpu.shares", "2150"),
        ("try", f"{node}/burstable/podu1/cpu.shares", "2048"),
        ("try", f"{cpu}/cpu.shares", "2048"),
        ("write", f"{cpu}/cpu.cfs_period_us", "100000"),
        ("write", f"{cpu}/cpu.cfs_quota_us", "200000"),
        ("write", f"{pids}/pids.max", "50"),
    ]
    assert placement.procs == [f"{mem}/tasks", f"{cpu}/tasks", f"{pids}/tasks"]


def test_node_and_tier_weights_are_written_when_they_change(tmp_path: Path) -> None:
    manager = Manager(1, "kubelite/n1", root=tmp_path)
    node = f"{tmp_path}/cpu/kubelite/n1"

    def shares(uid: str, burstable: int) -> dict[str, str]:
        c = {"name": "app", "resources": {"requests": {"cpu": "100m"}}}
        weights = CpuWeights("Burstable", 100, burstable, 2000)
        ops = manager.prepare(uid, c, weights).ops
        return {path: value for _, path, value in ops if path.endswith("cpu.shares")}

    first = shares("a", 100)
    assert first[f"{node}/cpu.shares"] == "2048"
    assert first[f"{node}/burstable/cpu.shares"] == "102"
    second = shares("b", 200)
    assert f"{node}/cpu.shares" not in second  # unchanged: not written again
    assert second[f"{node}/burstable/cpu.shares"] == "204"
    assert second[f"{node}/burstable/podb/cpu.shares"] == "102"  # each pod's every time
    assert f"{node}/burstable/cpu.shares" not in shares("c", 200)


def test_shares_and_weights_as_upstream_converts_them() -> None:
    assert [milli_cpu_to_shares(m) for m in (0, 1, 100, 1000, 10**6)] == [2, 2, 102, 1024, 262144]
    assert [shares_to_weight(s) for s in (2, 1024, 262144)] == [1, 39, 10000]


def test_a_pod_is_found_in_its_tier_after_a_restart(tmp_path: Path) -> None:
    for h in ("memory", "cpu", "pids"):
        (tmp_path / h / "kubelite" / "n1" / "burstable" / "podu1" / "app").mkdir(parents=True)
    fresh = Manager(1, "kubelite/n1", root=tmp_path)  # knows nothing of u1
    fresh.remove("u1")
    assert not (tmp_path / "cpu" / "kubelite" / "n1" / "burstable" / "podu1").exists()
    assert (tmp_path / "cpu" / "kubelite" / "n1" / "burstable").is_dir()


def test_the_burstable_tier_is_reweighed_when_a_pod_leaves(tmp_path: Path) -> None:
    manager = Manager(1, "kubelite/n1", root=tmp_path)
    tier = tmp_path / "cpu" / "kubelite" / "n1" / "burstable"
    manager.set_burstable(500)  # no tier yet: nothing to weigh
    assert not tier.exists()
    tier.mkdir(parents=True)
    manager.set_burstable(500)
    assert (tier / "cpu.shares").read_text() == "512"


# ---- environment ------------------------------------------------------------------------


def test_service_variables_follow_and_never_replace_kubelites_own() -> None:
    pod = {"metadata": {"name": "web-0", "namespace": "shop"}}
    services = {"HOSTNAME": "svc", "A_SERVICE_HOST": "127.96.0.9", "B": "svc"}
    full, defined = container_env(
        pod,
        {"name": "c", "env": [{"name": "B", "value": "own"}]},
        image_env=["PATH=/bin"],
        pod_ip="127.244.0.2",
        host_ip="127.0.0.1",
        sources=Sources(services=services),
    )
    assert list(defined.items()) == [
        ("HOSTNAME", "web-0"),
        ("POD_IP", "127.244.0.2"),
        ("POD_NAME", "web-0"),
        ("POD_NAMESPACE", "shop"),
        ("OTEL_SERVICE_NAME", "web-0"),
        ("A_SERVICE_HOST", "127.96.0.9"),
        ("B", "own"),
    ]
    assert list(full) == ["PATH", *defined]
