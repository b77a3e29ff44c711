"""A container's user: whom `securityContext` makes it (the kubelet's and containerd's
rules), the switch in its child before the executable is looked up, the rootless
mapping, and fsGroup's ownership of the pod's volumes."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.unit.kubelet.test_prepare import make_ctx, make_image

from kubelite.kubelet import forkexec, prepare, process, sandbox
from kubelite.kubelet.prepare import PrepareError, build_spec, container_user
from kubelite.kubelet.sandbox import Op, User, _apply
from kubelite.kubelet.volumes import PodVolumes, _root_mismatch, set_ownership

Obj = dict[str, Any]
ENV = {"PATH": "/usr/bin:/bin"}
PR_SET_DUMPABLE = 4
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "app:x:1000:1000::/home/app:/bin/sh\n"
    "svc:x:1001:1500::/srv:/bin/sh\n"
)
GROUP = "root:x:0:\napp:x:1000:app\nwheel:x:10:svc,app\naudio:x:29:svc\n"
FILES = {prepare.PASSWD: PASSWD, prepare.GROUP: GROUP}

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: only root may switch a process to another user"
)


def user(pod_sc: Obj | None = None, sc: Obj | None = None, image_user: str = "") -> User | None:
    pod = {"spec": {"securityContext": pod_sc or {}}}
    container = {"name": "c", "securityContext": sc or {}}
    return container_user(pod, container, image_user, FILES.get)


# ---- whom the container runs as ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_sc", "sc", "image_user", "expected"),
    [
        # nothing asks for a user: the runtime's own (root), no switch at all
        pytest.param({}, {}, "", None, id="none"),
        pytest.param({"runAsUser": 0}, {}, "", None, id="root-as-asked"),
        # gid: runAsGroup, else the passwd entry's, else 0; groups: the gid first,
        # then /etc/group memberships (Merge), supplementalGroups, fsGroup
        pytest.param({"runAsUser": 1000}, {}, "", User(1000, 1000, (1000, 10)), id="passwd"),
        pytest.param({"runAsUser": 4242}, {}, "", User(4242, 0, (0,)), id="unknown-uid"),
        pytest.param(
            {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
            {},
            "",
            User(1000, 3000, (3000, 10, 2000)),
            id="docs-example",
        ),
        pytest.param(
            {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000},
            {"runAsUser": 1001},  # the container's wins; svc is in wheel and audio
            "",
            User(1001, 3000, (3000, 10, 29, 4000, 2000)),
            id="container-wins",
        ),
        pytest.param(
            {"runAsUser": 1001, "supplementalGroupsPolicy": "Strict", "fsGroup": 2000},
            {},
            "",
            User(1001, 1500, (1500, 2000)),
            id="strict",
        ),
        pytest.param({"runAsGroup": 3000}, {}, "", User(0, 3000, (3000,)), id="group-only"),
        pytest.param({"fsGroup": 2000}, {}, "", User(0, 0, (0, 2000)), id="fsgroup-only"),
        # the image's User: by name or uid, its ":group" part dropped as the kubelet does
        pytest.param({}, {}, "svc", User(1001, 1500, (1500, 10, 29)), id="image-name"),
        pytest.param({}, {}, "1000:77", User(1000, 1000, (1000, 10)), id="image-uid-group"),
        pytest.param({}, {"runAsGroup": 5}, "svc", User(1001, 5, (5, 10, 29)), id="name-group"),
        pytest.param({"runAsUser": 1000}, {}, "svc", User(1000, 1000, (1000, 10)), id="sc-wins"),
    ],
)
def test_the_user_follows_the_kubelet_and_containerd(
    pod_sc: Obj, sc: Obj, image_user: str, expected: User | None
) -> None:
    assert user(pod_sc, sc, image_user) == expected


def test_an_image_user_missing_from_passwd_cannot_be_created() -> None:
    with pytest.raises(PrepareError) as err:
        user(image_user="ghost")
    assert err.value.reason == "CreateContainerError"
    assert err.value.message == "unable to find user ghost: no matching entries in passwd file"


def test_the_spec_carries_the_user_read_from_the_images_passwd_and_group(tmp_path: Path) -> None:
    image = make_image(tmp_path, passwd=PASSWD)
    (image.rootfs / "etc" / "group").write_text(GROUP)
    ctx = make_ctx(tmp_path, securityContext={"runAsUser": 1000, "fsGroup": 2000})
    spec = build_spec(ctx, {"name": "c"}, image, tmp_path / "log")
    assert spec.user == User(1000, 1000, (1000, 10, 2000))
    plain = build_spec(make_ctx(tmp_path), {"name": "c"}, image, tmp_path / "log")
    assert plain.user is None
    wire = process.spec_to_wire(spec)
    assert wire["user"] == [1000, 1000, [1000, 10, 2000]]
    assert process.spec_from_wire(wire).user == spec.user
    assert "user" not in process.spec_to_wire(plain)  # the common request is unchanged


def test_directories_closed_to_the_user_are_made_searchable_in_its_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "_as_root", lambda: True)
    private = tmp_path / "private"
    (private / "data" / "images").mkdir(parents=True)
    private.chmod(0o700)
    image = make_image(tmp_path)
    ctx = make_ctx(tmp_path, securityContext={"runAsUser": 1000})
    ctx.data_dir = private / "data"
    spec = build_spec(ctx, {"name": "c"}, image, tmp_path / "log")
    assert spec.plan is not None
    traverse = [op.target for op in spec.plan.ops if op.kind == "traverse"]
    assert spec.plan.root + str(private) in traverse
    # root passes everywhere: nothing to open up
    ctx = make_ctx(tmp_path, securityContext={"runAsUser": 0, "runAsGroup": 5})
    ctx.data_dir = private / "data"
    spec = build_spec(ctx, {"name": "c"}, image, tmp_path / "log")
    assert spec.plan is not None and not [op for op in spec.plan.ops if op.kind == "traverse"]


def test_the_plan_opens_directories_before_a_read_only_root_and_tmp_is_for_all(
    tmp_path: Path,
) -> None:
    p = sandbox.plan(
        root="/r",
        scratch="/s",
        image_rootfs=None,
        # a volume's directory is the host's own: never changed
        volumes=[sandbox.VolumeMount(str(tmp_path), "/srv/data")],
        visible=[],
        hostname="h",
        workdir="/",
        read_only_root=True,
        layers=sandbox.DIR_OVERLAYS,
        host_mounts=[],
        as_root=True,
        searchable=["/root", "/srv", "/srv/data", "/srv/data/deep"],
    )
    kinds = [op.kind for op in p.ops]
    assert kinds.index("traverse") < kinds.index("readonly")
    traverse = [op.target for op in p.ops if op.kind == "traverse"]
    assert traverse == ["/r/root", "/r/srv"]
    assert Op("tmpfs", "/r/tmp", sandbox.TMP_MODE) in p.ops


def test_traverse_adds_search_for_group_and_others_and_leaves_the_rest(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    _apply(Op("traverse", str(closed)))
    assert stat.S_IMODE(closed.stat().st_mode) == 0o711
    _apply(Op("traverse", str(tmp_path / "missing")))  # nothing to open: no error


def test_an_unmapped_id_is_named_as_runc_names_it() -> None:
    err = sandbox._user_error(OSError(errno.EINVAL, "x"), "setuid", "uid", 1000)
    assert (
        err.strerror == "unable to setup user: cannot setuid to unmapped uid 1000 in user namespace"
    )
    err = sandbox._user_error(OSError(errno.EPERM, "x"), "setgid", "gid", 3000)
    assert err.strerror == "unable to setup user: setgid: operation not permitted"


# ---- the switch, in the child ------------------------------------------------------------


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def output(proc: process.Process, log: Path) -> str:
    await proc.wait()
    return log.read_text()


@needs_root
def test_the_process_runs_as_the_user_with_its_groups(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    script = "id -u; id -g; id -G; echo to-stdout > /dev/stdout"
    spec = process.Spec(["sh", "-c", script], ENV, str(tmp_path), log)
    spec.user = User(1000, 3000, (3000, 2000))

    async def main() -> str:
        return await output(await process.start(spec), log)

    lines = [line.split(" ", 3)[-1] for line in run(main()).splitlines()]
    assert lines[:2] == ["1000", "3000"]
    assert set(lines[2].split()) == {"3000", "2000"}
    assert lines[3] == "to-stdout"  # its stdout is its own: it may open /dev/stdout


@needs_root
def test_cgroups_are_joined_as_root_before_the_switch(tmp_path: Path) -> None:
    seen = tmp_path / "seen"

    def join() -> None:
        seen.write_text(f"{os.geteuid()}")

    async def main() -> int:
        child = await forkexec.spawn(
            ["true"], ENV, join=join, become=lambda: sandbox.become(User(1000, 1000, (1000,)))
        )
        for fd in child.fds():
            os.close(fd)
        _, status = await asyncio.get_running_loop().run_in_executor(None, os.waitpid, child.pid, 0)
        return os.waitstatus_to_exitcode(status)

    assert run(main()) == 0
    assert seen.read_text() == "0"


@needs_root
def test_an_executable_the_user_may_not_reach_fails_the_start(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir()
    tool = closed / "tool"
    tool.write_text("#!/bin/sh\necho ran\n")
    tool.chmod(0o755)
    closed.chmod(0o700)
    spec = process.Spec([str(tool)], ENV, str(tmp_path), tmp_path / "c.log")
    spec.user = User(1000, 1000, (1000,))
    with pytest.raises(process.StartError) as err:
        run(process.start(spec))
    assert str(err.value) == process.start_message(f'exec: "{tool}": permission denied')
    spec.user = None  # root reaches it: the same start succeeds

    async def main() -> str:
        return await output(await process.start(spec), spec.log_path)

    assert run(main()).endswith("ran\n")


@needs_root
def test_without_root_the_user_namespace_maps_the_one_id_to_the_user(tmp_path: Path) -> None:
    if not Path("/proc/self/ns/user").exists():
        pytest.skip("no user namespaces on this kernel")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports and exits
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)  # a user without root, as a rootless kubelite
            # which, never having switched users, may write its own /proc files
            ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            sandbox.unshare(False, User(1000, 3000, (3000, 2000)))
            answer = f"{os.getuid()} {os.getgid()}"
        except BaseException as exc:  # noqa: BLE001 - the parent reports it
            answer = f"error: {exc}"
        os.write(w, answer.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        answer = f.read().decode()
    os.waitpid(pid, 0)
    if answer.startswith("error:"):
        pytest.skip(f"this kernel refuses unprivileged user namespaces ({answer})")
    assert answer == "1000 3000"


# ---- fsGroup: the volumes' ownership -----------------------------------------------------


async def config_map(kind: str, ns: str, name: str) -> Obj | None:
    return {"data": {"mode": "fast"}} if kind == "ConfigMap" else None


def fs_pod(fs_group: int | None, *volumes: Obj) -> Obj:
    sc = {} if fs_group is None else {"fsGroup": fs_group}
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"securityContext": sc, "volumes": list(volumes)},
    }


def test_an_empty_dir_is_writable_by_every_user(tmp_path: Path) -> None:
    vols = PodVolumes(tmp_path)
    run(vols.setup(fs_pod(None, {"name": "e", "emptyDir": {}}), config_map, pod_ip="", host_ip=""))
    assert stat.S_IMODE(os.stat(vols.paths["e"]).st_mode) == 0o777


def test_fs_group_owns_empty_dirs_and_projected_files(tmp_path: Path) -> None:
    gid = 2000 if os.geteuid() == 0 else os.getgid()  # without root only one's own group
    pod = fs_pod(
        gid,
        {"name": "e", "emptyDir": {}},
        {"name": "c", "configMap": {"name": "conf", "defaultMode": 0o600}},
    )
    vols = PodVolumes(tmp_path)
    run(vols.setup(pod, config_map, pod_ip="", host_ip=""))
    empty = os.stat(vols.paths["e"])
    # 0777 | rw for the group | setgid and search for directories (SetVolumeOwnership)
    assert (stat.S_IMODE(empty.st_mode), empty.st_gid) == (0o2777, gid)
    conf = Path(vols.paths["c"])
    data = os.stat(conf / "mode")
    assert (stat.S_IMODE(data.st_mode), data.st_gid) == (0o640, gid)  # 0600 | group read
    top = os.stat(conf)
    assert top.st_gid == gid and top.st_mode & 0o2550 == 0o2550
    # an unchanged payload stays unchanged: the modes were the pass's from the start
    stamp = os.readlink(conf / "..data")
    run(vols.refresh(pod, config_map, pod_ip="", host_ip=""))
    assert os.readlink(conf / "..data") == stamp


def test_set_ownership_leaves_links_and_on_root_mismatch_sees_a_done_root(tmp_path: Path) -> None:
    gid = 2000 if os.geteuid() == 0 else os.getgid()
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("x")
    os.chmod(root / "sub" / "f", 0o600)
    os.symlink("sub/f", root / "link")
    assert _root_mismatch(str(root), gid)
    set_ownership(str(root), gid, read_only=False)
    assert stat.S_IMODE(os.stat(root / "sub" / "f").st_mode) == 0o660
    assert stat.S_IMODE(os.stat(root / "sub").st_mode) & 0o2770 == 0o2770
    assert os.lstat(root / "link").st_gid == os.getgid()  # a link is left as it is
    assert not _root_mismatch(str(root), gid)
