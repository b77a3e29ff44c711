"""A volumeMount's subPath: expanded, made and opened inside its volume, never
through a symlink out of it (upstream's subpath_linux.go, CVE-2017-1002101)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.unit.kubelet.test_prepare import make_ctx

from kubelite.kubelet import subpath
from kubelite.kubelet.prepare import PrepareError, _mounts

ROOT = os.geteuid() == 0


def ctx_with_volume(tmp_path: Path) -> Any:
    ctx = make_ctx(tmp_path, volumes=[{"name": "v", "emptyDir": {}}])
    Path(ctx.volumes["v"]).mkdir(parents=True)
    return ctx


def mount_of(
    tmp_path: Path, ctx: Any, vm: dict[str, Any], env: dict[str, str] | None = None
) -> str:
    got = _mounts(ctx, {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/m", **vm}]}, env)
    return got[0].source


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("{outside}", id="to-a-host-directory"),
        pytest.param("/", id="to-the-host-root"),
        pytest.param("../../..", id="relative-out"),
    ],
)
def test_a_symlink_out_of_the_volume_is_refused(tmp_path: Path, link: str) -> None:
    outside = tmp_path / "host-target"
    outside.mkdir()
    ctx = ctx_with_volume(tmp_path)
    os.symlink(link.format(outside=outside), Path(ctx.volumes["v"]) / "link")
    with pytest.raises(PrepareError) as err:
        mount_of(tmp_path, ctx, {"subPath": "link"})
    assert err.value.reason == "CreateContainerConfigError"
    assert err.value.message == 'failed to prepare subPath for volumeMount "v" of container "c"'


def test_a_dangling_symlink_out_is_not_made_on_the_host(tmp_path: Path) -> None:
    ctx = ctx_with_volume(tmp_path)
    target = tmp_path / "not-yet"
    os.symlink(target, Path(ctx.volumes["v"]) / "link")
    with pytest.raises(PrepareError) as err:
        mount_of(tmp_path, ctx, {"subPath": "link/x"})
    assert err.value.message == (
        'failed to create subPath directory for volumeMount "v" of container "c"'
    )
    assert not target.exists()


def test_a_symlink_swapped_in_after_the_check_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ctx_with_volume(tmp_path)
    vol = Path(ctx.volumes["v"])
    (vol / "d").mkdir()
    resolve = subpath._inside

    # between resolving the path and opening it, the container swaps `d` for a link
    def racing(root: str, sub: str) -> list[str]:
        parts = resolve(root, sub)
        (vol / "d").rmdir()
        os.symlink("/", vol / "d")
        return parts

    monkeypatch.setattr(subpath, "_inside", racing)
    with pytest.raises(PrepareError) as err:
        mount_of(tmp_path, ctx, {"subPath": "d"})
    assert err.value.message == 'failed to prepare subPath for volumeMount "v" of container "c"'


def test_a_symlink_inside_the_volume_is_followed(tmp_path: Path) -> None:
    # a configMap's `key -> ..data/key`: what a subPath of one file mounts
    ctx = ctx_with_volume(tmp_path)
    vol = Path(ctx.volumes["v"])
    (vol / "..data").mkdir()
    (vol / "..data" / "key").write_text("value")
    os.symlink("..data/key", vol / "key")
    source = mount_of(tmp_path, ctx, {"subPath": "key"})
    assert Path(source).read_text() == "value"
    assert os.path.samefile(source, vol / "..data" / "key")


def test_a_missing_subpath_is_made_with_the_volume_roots_mode(tmp_path: Path) -> None:
    ctx = ctx_with_volume(tmp_path)
    vol = Path(ctx.volumes["v"])
    os.chmod(vol, 0o777)
    source = mount_of(tmp_path, ctx, {"subPath": "a/b"})
    assert (vol / "a" / "b").is_dir()
    assert (vol / "a" / "b").stat().st_mode & 0o777 == 0o777
    assert os.path.samefile(source, vol / "a" / "b")


@pytest.mark.skipif(not ROOT, reason="binds only as root")
def test_as_root_the_container_gets_a_bind_of_the_opened_directory(tmp_path: Path) -> None:
    ctx = ctx_with_volume(tmp_path)
    vol = Path(ctx.volumes["v"])
    (vol / "d").mkdir()
    source = mount_of(tmp_path, ctx, {"subPath": "d"})
    assert source == str(ctx.pod_dir / "volume-subpaths" / "v" / "c" / "0")
    assert os.path.samefile(source, vol / "d")
    # the volume may change afterwards: the pinned mount stays the directory checked
    (vol / "d").rename(vol / "moved")
    os.symlink("/", vol / "d")
    assert os.path.samefile(source, vol / "moved")


@pytest.mark.parametrize(
    ("vm", "env", "expected"),
    [
        pytest.param({"subPathExpr": "logs/$(NODE)"}, {"NODE": "vm"}, "logs/vm", id="expanded"),
        pytest.param({"subPathExpr": "$$(NODE)"}, {"NODE": "vm"}, "$(NODE)", id="escaped"),
    ],
)
def test_subpath_expr_is_expanded_from_the_containers_env(
    tmp_path: Path, vm: dict[str, Any], env: dict[str, str], expected: str
) -> None:
    ctx = ctx_with_volume(tmp_path)
    source = mount_of(tmp_path, ctx, vm, env)
    assert os.path.samefile(source, Path(ctx.volumes["v"]) / expected)


@pytest.mark.parametrize(
    ("vm", "message"),
    [
        pytest.param({"subPathExpr": "$(B)/$(A)"}, "missing value for A, B", id="unset"),
        pytest.param({"subPathExpr": "x/$(EMPTY)"}, "missing value for EMPTY", id="empty"),
        pytest.param(
            {"subPathExpr": "$(ABS)"},
            "error SubPath `/etc` must not be an absolute path",
            id="absolute",
        ),
        pytest.param(
            {"subPathExpr": "a/$(UP)"},
            "unable to provision SubPath `a/../..`: must not contain '..'",
            id="backsteps",
        ),
    ],
)
def test_a_bad_subpath_expr_is_a_config_error(
    tmp_path: Path, vm: dict[str, Any], message: str
) -> None:
    ctx = ctx_with_volume(tmp_path)
    env = {"EMPTY": "", "ABS": "/etc", "UP": "../.."}
    with pytest.raises(PrepareError) as err:
        mount_of(tmp_path, ctx, vm, env)
    assert (err.value.reason, err.value.message) == ("CreateContainerConfigError", message)
