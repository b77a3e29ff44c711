"""A container spec made into a process spec: its volumes' read-only flags, a
read-only root, and HOME as runc sets it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet import sandbox
from kubelite.kubelet.envvars import Sources, passwd_home, run_as_user
from kubelite.kubelet.images import Image
from kubelite.kubelet.prepare import Context, _mounts, build_spec

PASSWD = "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n"


def make_ctx(tmp_path: Path, *, isolate: bool = True, **spec: Any) -> Context:
    volumes = {v["name"]: str(tmp_path / "vols" / v["name"]) for v in spec.get("volumes", [])}
    return Context(
        pod={"metadata": {"name": "web", "namespace": "ns"}, "spec": spec},
        pod_dir=tmp_path / "pod",
        pod_ip="127.244.0.9",
        host_ip="127.0.0.1",
        volumes=volumes,
        sources=Sources(),
        data_dir=tmp_path / "data",
        isolate=isolate,
        resolv_conf=tmp_path / "pod" / "resolv.conf",
        hosts=tmp_path / "pod" / "hosts",
    )


def make_image(tmp_path: Path, *, passwd: str | None = None, **config: Any) -> Image:
    root = tmp_path / "image"
    (root / "rootfs").mkdir(parents=True, exist_ok=True)
    if passwd is not None:
        (root / "rootfs" / "etc").mkdir(exist_ok=True)
        (root / "rootfs" / "etc" / "passwd").write_text(passwd)
    run = {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["app"], **config}
    return Image(ref="app:1", root=root, config={"config": run}, digest="sha256:0")


# ---- volumes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "read_only"),
    [
        pytest.param({"configMap": {"name": "c"}}, True, id="configMap"),
        pytest.param({"secret": {"secretName": "s"}}, True, id="secret"),
        pytest.param({"downwardAPI": {"items": []}}, True, id="downwardAPI"),
        pytest.param({"projected": {"sources": []}}, True, id="projected"),
        pytest.param(
            {"persistentVolumeClaim": {"claimName": "c", "readOnly": True}}, True, id="ro-pvc"
        ),
        pytest.param({"persistentVolumeClaim": {"claimName": "c"}}, False, id="pvc"),
        pytest.param({"emptyDir": {}}, False, id="emptyDir"),
        pytest.param({"hostPath": {"path": "/srv"}}, False, id="hostPath"),
    ],
)
def test_volumes_whose_plugin_says_read_only_are_mounted_so_whatever_the_mount_says(
    tmp_path: Path, volume: dict[str, Any], read_only: bool
) -> None:
    ctx = make_ctx(tmp_path, volumes=[{"name": "v", **volume}])
    Path(ctx.volumes["v"]).mkdir(parents=True)  # a subPath is made in an existing volume
    mounts = [
        {"name": "v", "mountPath": "/a", "readOnly": False},
        {"name": "v", "mountPath": "/b", "subPath": "x"},
        {"name": "v", "mountPath": "/c", "readOnly": True},
    ]
    got = {m.target: m.read_only for m in _mounts(ctx, {"name": "c", "volumeMounts": mounts})}
    assert got == {
        "/a": read_only,
        "/b": read_only,
        "/c": True,
        "/etc/resolv.conf": False,
        "/etc/hosts": False,
    }


def test_a_read_only_root_makes_resolv_conf_read_only_but_not_the_hosts_file(
    tmp_path: Path,
) -> None:
    # containerd mounts resolv.conf read-only then; the kubelet's /etc/hosts stays writable
    container = {"name": "c", "securityContext": {"readOnlyRootFilesystem": True}}
    got = {m.target: m.read_only for m in _mounts(make_ctx(tmp_path), container)}
    assert got == {"/etc/resolv.conf": True, "/etc/hosts": False}


def test_a_read_only_root_reaches_the_plan(tmp_path: Path) -> None:
    container = {"name": "c", "securityContext": {"readOnlyRootFilesystem": True}}
    spec = build_spec(make_ctx(tmp_path), container, make_image(tmp_path), tmp_path / "log")
    assert spec.plan is not None
    assert spec.plan.ops[-1].kind == "readonly"
    writable = build_spec(make_ctx(tmp_path), {"name": "c"}, make_image(tmp_path), tmp_path / "l")
    assert writable.plan is not None
    assert not any(op.kind == "readonly" for op in writable.plan.ops)


# ---- HOME -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "home"),
    [
        pytest.param("0", "/root", id="root-by-uid"),
        pytest.param("1000", "/home/app", id="uid"),
        pytest.param("app", "/home/app", id="name"),
        pytest.param("app:staff", "/home/app", id="name-and-group"),
        pytest.param("1000:1000", "/home/app", id="uid-and-gid"),
        pytest.param("4242", "/", id="no-entry"),
        pytest.param("ghost", "/", id="no-such-name"),
    ],
)
def test_home_is_the_users_in_passwd_else_slash(user: str, home: str) -> None:
    assert passwd_home(PASSWD, user) == home


def test_home_without_a_passwd_file_is_slash() -> None:
    assert passwd_home(None, "0") == "/"


def test_the_containers_run_as_user_wins_over_the_pods() -> None:
    pod = {"spec": {"securityContext": {"runAsUser": 1000}}}
    assert run_as_user(pod, {"securityContext": {"runAsUser": 0}}) == 0
    assert run_as_user(pod, {}) == 1000
    assert run_as_user({"spec": {}}, {}) is None


def env_home(tmp_path: Path, container: dict[str, Any], image: Image, **kw: Any) -> str:
    ctx = make_ctx(tmp_path, **kw)
    spec = build_spec(ctx, {"name": "c", **container}, image, tmp_path / "log")
    return spec.env["HOME"]


def test_home_comes_from_the_images_passwd_for_the_containers_user(tmp_path: Path) -> None:
    image = make_image(tmp_path, passwd=PASSWD)
    assert env_home(tmp_path, {}, image) == "/root"  # the process's user there: root
    assert env_home(tmp_path, {"securityContext": {"runAsUser": 1000}}, image) == "/home/app"
    pod_user = {"securityContext": {"runAsUser": 1000}}
    assert env_home(tmp_path, {}, image, **pod_user) == "/home/app"
    assert env_home(tmp_path, {}, make_image(tmp_path, passwd=PASSWD, User="app")) == "/home/app"


def test_the_containers_environment_wins_unless_empty(tmp_path: Path) -> None:
    image = make_image(tmp_path, passwd=PASSWD)
    own = {"env": [{"name": "HOME", "value": "/data"}]}
    assert env_home(tmp_path, own, image) == "/data"
    assert env_home(tmp_path, {"env": [{"name": "HOME", "value": ""}]}, image) == "/root"
    from_image = make_image(tmp_path, passwd=PASSWD, Env=["HOME=/app"])
    assert env_home(tmp_path, {}, from_image) == "/app"


def test_a_volume_over_etc_passwd_is_the_file_read(tmp_path: Path) -> None:
    (tmp_path / "vols" / "users").mkdir(parents=True)
    (tmp_path / "vols" / "users" / "passwd").write_text("root:x:0:0::/var/lib/root:/bin/sh\n")
    container = {
        "volumeMounts": [{"name": "users", "mountPath": "/etc/passwd", "subPath": "passwd"}]
    }
    image = make_image(tmp_path, passwd=PASSWD)
    assert env_home(tmp_path, container, image, volumes=[{"name": "users", "emptyDir": {}}]) == (
        "/var/lib/root"
    )


def test_without_an_image_passwd_the_hosts_is_read(tmp_path: Path) -> None:
    try:
        expected = next(
            line.split(":")[5]
            for line in Path("/etc/passwd").read_text().splitlines()
            if line.split(":")[2:3] == ["0"]
        )
    except (OSError, StopIteration):
        expected = "/"
    assert env_home(tmp_path, {}, make_image(tmp_path)) == expected


def test_without_namespaces_home_is_that_of_the_user_running_kubelite(tmp_path: Path) -> None:
    uid = str(os.getuid())
    text = Path("/etc/passwd").read_text() if Path("/etc/passwd").exists() else None
    image = make_image(tmp_path, passwd="root:x:0:0::/image-root:/bin/sh\n")
    assert env_home(tmp_path, {}, image, isolate=False) == passwd_home(text, uid)


def test_home_is_not_offered_for_expansion_in_args(tmp_path: Path) -> None:
    container = {"command": ["echo", "$(HOME)"]}
    spec = build_spec(
        make_ctx(tmp_path), {"name": "c", **container}, make_image(tmp_path), tmp_path / "l"
    )
    assert spec.argv == ["echo", "$(HOME)"]  # upstream expands only the spec's own variables
    assert isinstance(spec.plan, sandbox.Plan)


@pytest.mark.parametrize(
    ("pod_sc", "sc", "image_user", "why"),
    [
        ({}, {}, "", ""),  # not asked
        ({"runAsNonRoot": True}, {}, "", "container has runAsNonRoot and image will run as root"),
        (
            {"runAsNonRoot": True},
            {},
            "0:0",
            "container has runAsNonRoot and image will run as root",
        ),
        ({"runAsNonRoot": True}, {}, "1000", ""),
        ({"runAsNonRoot": True}, {}, "app", "image has non-numeric user (app), cannot verify"),
        ({"runAsNonRoot": True, "runAsUser": 1000}, {}, "", ""),
        ({"runAsNonRoot": True}, {"runAsUser": 0}, "1000", "container's runAsUser breaks non-root"),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, "", ""),  # the container's wins
        ({}, {"runAsNonRoot": True, "runAsUser": 7}, "", ""),
    ],
)
def test_run_as_non_root_is_verified_as_the_kubelet_does(
    pod_sc: dict[str, Any], sc: dict[str, Any], image_user: str, why: str
) -> None:
    from kubelite.kubelet.prepare import run_as_non_root_violation

    pod = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
        "spec": {"securityContext": pod_sc},
    }
    got = run_as_non_root_violation(pod, {"name": "app", "securityContext": sc}, image_user)
    assert (why in got) and bool(got) == bool(why)
    if got:
        assert got.endswith('(pod: "web_shop(u-1)", container: app)')
