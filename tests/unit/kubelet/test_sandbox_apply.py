"""A sandbox plan's steps: those that need no mount (directories and files), then
whole plans entered in a forked child's mount namespace, where the machine allows one."""

from __future__ import annotations

import json
import os
import stat
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet import sandbox
from kubelite.kubelet.sandbox import Op, VolumeMount, _apply


def test_mkdir_makes_missing_parents_and_accepts_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    _apply(Op("mkdir", str(target)))
    _apply(Op("mkdir", str(target)))
    assert target.is_dir()


def test_mkdir_over_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError):
        _apply(Op("mkdir", str(tmp_path / "f")))


def test_touch_replaces_a_link_with_a_plain_file_and_keeps_a_file(tmp_path: Path) -> None:
    outside = tmp_path / "host-resolv.conf"
    outside.write_text("host")
    link = tmp_path / "root" / "etc" / "resolv.conf"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    _apply(Op("touch", str(link)))
    assert not link.is_symlink() and link.read_text() == "" and outside.read_text() == "host"

    kept = tmp_path / "root" / "etc" / "hosts"
    kept.write_text("127.0.0.1 localhost\n")
    _apply(Op("touch", str(kept)))
    assert kept.read_text() == "127.0.0.1 localhost\n"

    fresh = tmp_path / "root" / "new" / "file"
    _apply(Op("touch", str(fresh)))
    assert fresh.is_file() and oct(fresh.stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def test_touch_replaces_a_dangling_link(tmp_path: Path) -> None:
    link = tmp_path / "resolv.conf"
    link.symlink_to(tmp_path / "missing")
    _apply(Op("touch", str(link)))
    assert link.is_file() and not link.is_symlink()


def test_a_new_file_is_made_with_its_directory_and_writable_by_anyone(tmp_path: Path) -> None:
    path = tmp_path / "containers" / "app" / "01234567"
    _apply(Op("file", "/r/dev/termination-log", source=str(path)))
    assert path.read_text() == "" and stat.S_IMODE(path.stat().st_mode) == 0o666
    path.write_text("stale")
    _apply(Op("file", "/r/dev/termination-log", source=str(path)))
    assert path.read_text() == ""  # an instance starts from an empty file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_unlink_removes_a_file_or_link_and_accepts_none(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "l").symlink_to("f")
    for name in ("f", "l", "missing"):
        _apply(Op("unlink", str(tmp_path / name)))
    assert list(tmp_path.iterdir()) == []


def test_a_layer_directory_has_the_hosts_mode_past_the_umask(tmp_path: Path) -> None:
    _apply(Op("layerdir", str(tmp_path / "upper" / "var" / "tmp"), source="1777"))
    assert stat.S_IMODE((tmp_path / "upper" / "var" / "tmp").stat().st_mode) == 0o1777


# ---- in a mount namespace of the child's own ------------------------------------------

CHECK = """
import errno, json, os, sys
def write(path):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write("x")
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
paths = sys.argv[1:]
seen = [p for p in paths if os.path.exists(p)]
print(json.dumps({"seen": seen, "writes": {p: write(p) for p in paths}}))
"""


def run_in(p: sandbox.Plan, paths: list[str]) -> dict[str, Any]:
    """Enter `p` in a forked child and run CHECK there: what it saw and wrote."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        os.close(r)
        try:
            sandbox.enter(p, as_root=os.geteuid() == 0)
            os.dup2(w, 1)
            os.execv(sys.executable, [sys.executable, "-c", CHECK, *paths])
        except BaseException as exc:  # noqa: BLE001 - the parent reports it
            os.write(w, json.dumps({"error": str(exc)}).encode())
        os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    found: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert "error" not in found, found["error"]
    return found


def container_plan(tmp_path: Path, **kw: Any) -> sandbox.Plan:
    layers = kw.pop("layers", None)
    machine = sandbox.machine_layers()[0]
    if layers is None and machine == sandbox.BINDS:
        pytest.skip("overlayfs is not available here (in a mount namespace of one's own)")
    scratch = tmp_path / "volume"
    scratch.mkdir(exist_ok=True)
    return sandbox.plan(
        root=tmp_path / "root",
        scratch=tmp_path / "scratch",
        image_rootfs=None,
        volumes=[VolumeMount(str(scratch), "/scratch")],
        visible=[Path(sys.prefix), Path(sysconfig.get_paths()["stdlib"])],
        hostname="t",
        workdir="/",
        layers=layers,
        **kw,
    )


@pytest.fixture
def namespaces() -> None:
    if os.geteuid() != 0 and not Path("/proc/self/ns/user").exists():
        pytest.skip("no mount namespaces without root here (no user namespaces)")


def test_a_containers_writes_land_in_its_own_layer(tmp_path: Path, namespaces: None) -> None:
    tag = os.urandom(4).hex()
    paths = [f"/var/log/app-{tag}/x", f"/opt/{tag}", f"/{tag}", f"/tmp/{tag}"]
    if os.access("/root", os.R_OK | os.X_OK) or os.geteuid() != 0:
        paths.append(f"/root/{tag}")
    p = container_plan(tmp_path)
    first = run_in(p, paths)
    assert first == {"seen": [], "writes": dict.fromkeys(paths, "ok")}
    # the next container from the same plan starts afresh, and the host never changed
    assert run_in(p, paths)["seen"] == []
    assert [path for path in paths if os.path.exists(path)] == []


def test_a_read_only_root_refuses_writes_but_volumes_take_them(
    tmp_path: Path, namespaces: None
) -> None:
    tag = os.urandom(4).hex()
    paths = [f"/var/log/{tag}", f"/{tag}", f"/tmp/{tag}", "/scratch/x"]
    got = run_in(container_plan(tmp_path, read_only_root=True), paths)["writes"]
    assert got == {**dict.fromkeys(paths[:3], "EROFS"), "/scratch/x": "ok"}


def test_without_overlayfs_a_container_still_runs(tmp_path: Path, namespaces: None) -> None:
    tag = os.urandom(4).hex()
    paths = [f"/etc/{tag}", f"/var/{tag}", "/scratch/x"]
    got = run_in(container_plan(tmp_path, layers=sandbox.BINDS), paths)["writes"]
    assert got == {f"/etc/{tag}": "ok", f"/var/{tag}": "EROFS", "/scratch/x": "ok"}
    assert not os.path.exists(f"/etc/{tag}")


def test_a_step_this_code_does_not_know_fails_the_start_clearly() -> None:
    """A newer kubelite's plan reaching an older shim must not set up another view."""
    with pytest.raises(sandbox.SandboxError, match="unknown set-up step 'sparkles'.*older"):
        _apply(Op("sparkles", "/nowhere"))
