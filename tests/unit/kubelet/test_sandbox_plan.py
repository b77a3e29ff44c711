from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet import sandbox
from kubelite.kubelet.sandbox import BINDS, DIR_OVERLAYS, ROOT_OVERLAY, Op, VolumeMount
from kubelite.kubelet.sandbox import plan as _plan


def plan(**kw: Any) -> sandbox.Plan:
    """A plan for a layout, user and host mounts of the test's choosing (by default the
    tmpfs root with overlays per directory, as root, on a host without mounts)."""
    kw.setdefault("layers", DIR_OVERLAYS)
    kw.setdefault("as_root", True)
    kw.setdefault("host_mounts", [])
    return _plan(**kw)


def fake_host(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    for d in ("usr", "etc", "proc", "tmp", "home"):
        (host / d).mkdir(parents=True, exist_ok=True)
    (host / "bin").symlink_to("usr/bin")
    (host / "marker").write_text("")
    return host


def ops_for(tmp_path: Path, **kw) -> dict[str, list[Op]]:
    image = tmp_path / "img"
    (image / "app").mkdir(parents=True)
    (image / "etc").mkdir()
    p = plan(
        root=Path("/r"),
        scratch=Path("/s"),
        image_rootfs=image,
        volumes=kw.get("volumes", []),
        visible=[Path("/tmp/data/images")],
        hostname="web-1",
        workdir="/app",
        host_root=fake_host(tmp_path),
    )
    by_target: dict[str, list[Op]] = {}
    for op in p.ops:
        by_target.setdefault(op.target, []).append(op)
    return by_target


def test_plan_layers_image_over_host_and_keeps_host_read_only(tmp_path: Path) -> None:
    ops = ops_for(tmp_path, volumes=[VolumeMount("/vol/cfg", "/home/cfg", True)])
    kinds = {t: [o.kind for o in v] for t, v in ops.items()}
    assert kinds["/r"] == ["tmpfs"]
    # image-only dir: an overlay of the image's files, writable into the scratch tmpfs
    assert ops["/r/app"][-1].lowers == (str(tmp_path / "img" / "app"),)
    # dir in both: the image's files win over the host's
    assert ops["/r/etc"][-1].lowers == (
        str(tmp_path / "img" / "etc"),
        str(tmp_path / "host" / "etc"),
    )
    # host-only dir: read-only bind
    assert ops["/r/usr"][-1] == Op(
        "rbind", "/r/usr", source=str(tmp_path / "host" / "usr"), read_only=True
    )
    # a volume's parent becomes an overlay so its mount point can be made
    assert kinds["/r/home"][-1] == "overlay"
    assert ops["/r/home/cfg"][-1] == Op("rbind", "/r/home/cfg", source="/vol/cfg", read_only=True)
    assert kinds["/r/proc"] == ["mkdir", "rbind"] and not ops["/r/proc"][-1].read_only
    assert kinds["/r/tmp"] == ["mkdir", "tmpfs"]
    assert ops["/r/bin"] == [Op("symlink", "/r/bin", source="usr/bin")]
    # the image store stays reachable even under the private /tmp
    assert ops["/r/tmp/data/images"][-1].source == "/tmp/data/images"


# ---- the top-level listings kept between plans ----------------------------------------


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings are kept from the first plan on (not only once a directory has been still)."""
    monkeypatch.setattr(sandbox, "SETTLE_NS", -(10**18))
    monkeypatch.setattr(sandbox, "_listings", {})
    monkeypatch.setattr(sandbox, "_steps", {})


def plan_of(host: Path, image: Path) -> dict[str, list[Op]]:
    p = plan(
        root=Path("/r"),
        scratch=Path("/s"),
        image_rootfs=image,
        volumes=[VolumeMount("/vol/cfg", "/home/cfg", True)],
        visible=[],
        hostname="web-1",
        workdir="/",
        host_root=host,
    )
    by_target: dict[str, list[Op]] = {}
    for op in p.ops:
        by_target.setdefault(op.target, []).append(op)
    return by_target


def still_host_and_image(tmp_path: Path) -> tuple[Path, Path]:
    host, image = fake_host(tmp_path), tmp_path / "img"
    (image / "app").mkdir(parents=True)
    for d in (host, image):
        os.utime(d, ns=(0, 0))  # long unchanged: the next change moves the stat
    return host, image


def test_a_new_top_level_directory_shows_up_in_the_next_plan(tmp_path: Path, kept: None) -> None:
    host, image = still_host_and_image(tmp_path)
    before = plan_of(host, image)
    assert str(host) in sandbox._listings and str(image) in sandbox._listings
    assert "/r/media" not in before and "/r/lib" not in before
    (host / "media").mkdir()
    (image / "lib").mkdir()
    after = plan_of(host, image)
    assert after["/r/media"] == [
        Op("mkdir", "/r/media"),
        Op("rbind", "/r/media", source=str(host / "media"), read_only=True),
    ]
    assert after["/r/lib"][-1].lowers == (str(image / "lib"),)


def test_a_directory_replaced_by_a_link_shows_up_in_the_next_plan(
    tmp_path: Path, kept: None
) -> None:
    host, image = still_host_and_image(tmp_path)
    assert plan_of(host, image)["/r/usr"][0].kind == "mkdir"
    (host / "usr").rmdir()
    (host / "usr").symlink_to("etc")
    assert plan_of(host, image)["/r/usr"] == [Op("symlink", "/r/usr", source="etc")]


def test_an_unchanged_directory_is_listed_once(
    tmp_path: Path, kept: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, image = still_host_and_image(tmp_path)
    listed: list[str] = []
    entries = sandbox._entries
    monkeypatch.setattr(sandbox, "_entries", lambda path: listed.append(path) or entries(path))
    first = plan_of(host, image)
    assert plan_of(host, image) == first
    assert sorted(listed) == sorted([str(host), str(image)])


def test_a_directory_changed_just_now_is_listed_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its timestamps may not move with a change made within the same clock tick.
    monkeypatch.setattr(sandbox, "_listings", {})
    monkeypatch.setattr(sandbox, "_steps", {})
    host, image = fake_host(tmp_path), tmp_path / "img"
    (image / "app").mkdir(parents=True)
    plan_of(host, image)
    (host / "opt").mkdir()
    assert "/r/opt" in plan_of(host, image)
    assert sandbox._listings == {} and sandbox._steps == {}


def test_kept_listings_give_the_same_plan_as_fresh_ones(tmp_path: Path, kept: None) -> None:
    host, image = still_host_and_image(tmp_path)
    fresh = plan_of(host, image)
    assert plan_of(host, image) == fresh  # from the kept listings and steps
    sandbox._listings.clear()
    sandbox._steps.clear()
    assert plan_of(host, image) == fresh


# ---- /dev -------------------------------------------------------------------------------


def dev_plan(tmp_path: Path, shm: str | None, volumes: list[VolumeMount]) -> list[Op]:
    host = fake_host(tmp_path)
    (host / "dev").mkdir()
    return plan(
        root=Path("/r"),
        scratch=Path("/s"),
        image_rootfs=None,
        volumes=volumes,
        visible=[],
        hostname="web-1",
        workdir="/",
        host_root=host,
        shm=shm,
    ).ops


def test_a_container_gets_a_private_dev_with_the_pods_shm_and_its_binds_after_it(
    tmp_path: Path,
) -> None:
    fuse = tmp_path / "fuse"
    fuse.write_text("")  # stands for a device node: anything but a directory
    ops = dev_plan(
        tmp_path,
        "/pods/p/shm",
        [
            VolumeMount(str(fuse), "/dev/fuse"),
            VolumeMount(str(tmp_path), "/dev/shm"),
            VolumeMount("/pods/p/containers/app/0123abcd", "/dev/termination-log", create=True),
        ],
    )
    dev = [op for op in ops if op.target == "/r/dev"]
    assert dev == [Op("mkdir", "/r/dev"), Op("dev", "/r/dev", source="/pods/p/shm")]
    order = [(op.kind, op.target) for op in ops]
    after = order[order.index(("dev", "/r/dev")) + 1 :]
    # the pod's own binds come later, over the private /dev
    assert after[-7:] == [
        ("touch", "/r/dev/fuse"),
        ("rbind", "/r/dev/fuse"),
        ("mkdir", "/r/dev/shm"),
        ("rbind", "/r/dev/shm"),
        ("file", "/r/dev/termination-log"),  # the host file, made first
        ("touch", "/r/dev/termination-log"),
        ("rbind", "/r/dev/termination-log"),
    ]
    assert ops[-3].source == "/pods/p/containers/app/0123abcd"


def test_without_a_shm_a_container_sees_the_hosts_dev(tmp_path: Path) -> None:
    ops = dev_plan(tmp_path, None, [])
    dev = [op for op in ops if op.target == "/r/dev"]
    assert dev == [
        Op("mkdir", "/r/dev"),
        Op("rbind", "/r/dev", source=str(tmp_path / "host" / "dev")),
    ]


# ---- the root's writable layer: one overlay over the host's root -----------------------


def layout_plan(
    tmp_path: Path,
    layers: str,
    *,
    host_mounts: list[str] | None = None,
    image_entries: dict[str, str] | None = None,
    volumes: list[VolumeMount] | None = None,
    **kw: Any,
) -> tuple[Path, list[Op]]:
    """The ops of a plan over `fake_host` (plus /var, /run, /root, /opt, /media, /mnt),
    with an image holding `image_entries` (name -> "dir", "file" or a link's target)."""
    host = fake_host(tmp_path)
    host.chmod(0o755)
    for d in ("var/log", "var/lib", "run", "root", "opt", "media", "mnt", "dev", "sys"):
        (host / d).mkdir(parents=True, exist_ok=True)
    image = tmp_path / "img"
    image.mkdir()
    for name, kind in (image_entries or {}).items():
        if kind == "dir":
            (image / name).mkdir()
        elif kind == "file":
            (image / name).write_text("")
        else:
            (image / name).symlink_to(kind)
    p = plan(
        root=Path("/r"),
        scratch=Path("/s"),
        image_rootfs=image,
        volumes=volumes or [],
        visible=kw.pop("visible", []),
        hostname="web-1",
        workdir="/",
        host_root=host,
        layers=layers,
        host_mounts=[str(host) + m for m in host_mounts or []],
        **kw,
    )
    return host, p.ops


def by_target(ops: list[Op]) -> dict[str, list[Op]]:
    out: dict[str, list[Op]] = {}
    for op in ops:
        out.setdefault(op.target, []).append(op)
    return out


def test_as_root_one_overlay_over_the_hosts_root_makes_every_path_writable(
    tmp_path: Path,
) -> None:
    host, ops = layout_plan(tmp_path, ROOT_OVERLAY, image_entries={"app": "dir", "etc": "dir"})
    assert ops[:5] == [
        Op("tmpfs", "/s"),
        Op("layerdir", "/s/rootfs-upper", source="755"),  # the root's owner and mode
        Op("mkdir", "/s/rootfs-work"),
        Op("mkdir", "/r"),
        Op("overlay", "/r", lowers=(str(host),), upper="/s/rootfs-upper", work="/s/rootfs-work"),
    ]
    targets = by_target(ops)
    # the host's own entries are there already: no op for /usr, /root, /var, /bin, /marker
    for name in ("usr", "root", "var", "opt", "bin", "marker", "etc/x"):
        assert f"/r/{name}" not in targets, name
    # the image's directories are overlaid on it as before (no mkdir: /etc is there)
    assert [o.kind for o in targets["/r/etc"]] == ["overlay"]
    assert targets["/r/etc"][0].lowers == (str(tmp_path / "img" / "etc"), str(host / "etc"))
    assert [o.kind for o in targets["/r/app"]] == ["mkdir", "overlay"]
    assert [o.kind for o in targets["/r/tmp"]] == ["tmpfs"]  # private, on the host's /tmp
    assert [o.kind for o in targets["/r/proc"]] == ["rbind"]
    assert not any(o.kind == "readonly" for o in ops)


def test_an_image_entry_replaces_a_host_file_or_link_in_the_root_overlay(tmp_path: Path) -> None:
    host, ops = layout_plan(
        tmp_path, ROOT_OVERLAY, image_entries={"bin": "dir", "marker": "opt/marker"}
    )
    targets = by_target(ops)
    assert [o.kind for o in targets["/r/bin"]] == ["unlink", "mkdir", "overlay"]
    assert targets["/r/marker"] == [
        Op("unlink", "/r/marker"),
        Op("symlink", "/r/marker", source="opt/marker"),
    ]


def test_an_image_link_over_a_host_directory_falls_back_to_a_tmpfs_root(tmp_path: Path) -> None:
    # overlayfs cannot turn the host's /usr into a link: the root is built as without root
    _, ops = layout_plan(tmp_path, ROOT_OVERLAY, image_entries={"usr": "opt"})
    targets = by_target(ops)
    assert targets["/r"] == [Op("tmpfs", "/r")]
    assert targets["/r/usr"] == [Op("symlink", "/r/usr", source="opt")]


def test_host_mounts_below_the_root_are_bound_read_only_in_place(tmp_path: Path) -> None:
    host, ops = layout_plan(
        tmp_path,
        ROOT_OVERLAY,
        host_mounts=[
            "/",
            "/proc",
            "/tmp/pods/x/shm",
            "/home",  # a top-level mount point apps write to: an overlay of its own
            "/home/usb",
            "/home/usb/inner",  # inside the outer one: bound with it
            "/media",  # any other: bound read-only, as it is
            "/media/cd",
            "/mnt/data",
            "/var/lib/docker/overlay2/a/merged",
            "/var/lib/docker/overlay2/b/merged",
            "/var/lib/docker/overlay2/c/merged",
            "/var/lib/docker/containers/a/mounts/shm",
            "/var/lib/kubelet/pods/p/volumes/v",
            "/root/.kubelite/nodes/n/pods/ns_p_uid/shm",  # another cluster's pod: not shown
            "/run/user/1000",  # the host's runtime state: never shown
        ],
    )
    targets = by_target(ops)
    assert [o.kind for o in targets["/r/home"]] == ["overlay"]
    assert targets["/r/home/usb"] == [
        Op("hostbind", "/r/home/usb", source=str(host / "home/usb"), read_only=True)
    ]
    assert "/r/home/usb/inner" not in targets
    assert targets["/r/media"] == [
        Op("rbind", "/r/media", source=str(host / "media"), read_only=True)
    ]
    # five mounts below /var: bound by the deepest directories holding them in four binds
    assert [t for t, o in targets.items() if o[0].kind == "hostbind"] == [
        "/r/home/usb",
        "/r/mnt/data",
        "/r/var/lib/docker/containers",
        "/r/var/lib/docker/overlay2",
        "/r/var/lib/kubelet/pods",
    ]
    assert not any(t.startswith(("/r/root/", "/r/run/", "/r/proc/", "/r/tmp/")) for t in targets)


def test_too_many_mounts_below_a_directory_leave_it_as_it_is_read_only(tmp_path: Path) -> None:
    snaps = [f"/opt/snap{i}/current" for i in range(sandbox.MAX_HOST_BINDS + 1)]
    host, ops = layout_plan(tmp_path, ROOT_OVERLAY, host_mounts=snaps)
    assert by_target(ops)["/r/opt"] == [
        Op("rbind", "/r/opt", source=str(host / "opt"), read_only=True)
    ]
    # unless a volume goes there: then writable, those mounts unseen
    volume = VolumeMount(str(tmp_path), "/opt/data")
    _, ops = layout_plan(tmp_path / "2", ROOT_OVERLAY, host_mounts=snaps, volumes=[volume])
    assert [o.kind for o in by_target(ops)["/r/opt/data"]] == ["mkdir", "rbind"]
    assert "/r/opt" not in by_target(ops)


@pytest.mark.parametrize(
    ("points", "covers"),
    [
        pytest.param(["/var/a", "/var/b"], ["/var/a", "/var/b"], id="few-each-its-own"),
        pytest.param(
            ["/var/lib/d/1/m", "/var/lib/d/2/m", "/var/lib/d/3/m", "/var/x/y", "/var/z"],
            # depth 5 -> 4: /var/lib/d/1..3 and two others (5); 4 -> 3: /var/lib/d and two
            ["/var/lib/d", "/var/x/y", "/var/z"],
            id="deepest-first",
        ),
        pytest.param([f"/var/{i}" for i in range(9)], ["/var"], id="the-whole-directory"),
    ],
)
def test_covers_are_as_deep_as_the_limit_allows(points: list[str], covers: list[str]) -> None:
    assert list(sandbox._covers(tuple(points), most=4)) == covers


def test_mount_points_come_from_mountinfo_unescaped() -> None:
    data = (
        b"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        b"90 27 0:40 / /mnt/with\\040space\\011tab rw - tmpfs tmpfs rw\n"
        b"91 27 0:41 / /mnt/back\\134slash rw - tmpfs tmpfs rw\n"
    )
    assert sandbox._parse_mountinfo(data) == ["/proc", "/mnt/with space\ttab", "/mnt/back\\slash"]


def test_mount_points_are_read_relative_to_the_host_root() -> None:
    mounts = sandbox._mounts_of(
        "/h",
        ["/h", "/h/home", "/h/home/u/data", "/h/dev/pts", "/other/x", "/h/var/a b"],
        as_root=True,
    )
    assert mounts.tops == {"home"}
    assert mounts.under("home") == ("/home/u/data",) and mounts.under("var") == ("/var/a b",)
    assert mounts.any_below == {"home", "var"}


# ---- without root: a tmpfs root, overlays over the directories apps write to -----------


def test_without_root_the_directories_apps_write_to_get_a_layer_owned_by_the_container(
    tmp_path: Path,
) -> None:
    (tmp_path / "host" / "var").mkdir(parents=True)
    (tmp_path / "host" / "var" / "tmp").mkdir(mode=0o1777)
    os.chmod(tmp_path / "host" / "var" / "tmp", 0o1777)
    host, ops = layout_plan(tmp_path, DIR_OVERLAYS, as_root=False)
    targets = by_target(ops)
    for name in ("var", "opt", "root", "home", "run", "etc"):
        assert [o.kind for o in targets[f"/r/{name}"]] == ["mkdir", "overlay"], name
    assert targets["/r/usr"][-1] == Op("rbind", "/r/usr", source=str(host / "usr"), read_only=True)
    # the host's /var/log and /var/tmp belong to nobody the user namespace knows: the
    # layer has them (same mode), so the container's root may add files there
    assert targets["/s/upper/var/log"] == [Op("layerdir", "/s/upper/var/log", source="755")]
    assert targets["/s/upper/var/tmp"] == [Op("layerdir", "/s/upper/var/tmp", source="1777")]
    order = [(op.kind, op.target) for op in ops]
    assert order.index(("layerdir", "/s/upper/var/tmp")) < order.index(("overlay", "/r/var"))


def test_without_root_mounts_below_a_directory_keep_it_read_only(tmp_path: Path) -> None:
    # a user namespace may not overlay a directory with mounts below it (they are locked)
    host, ops = layout_plan(
        tmp_path,
        DIR_OVERLAYS,
        as_root=False,
        host_mounts=["/var/lib/x", "/run/user/1000", "/root/.kubelite/nodes/n/pods/p/shm"],
    )
    targets = by_target(ops)
    assert targets["/r/var"][-1] == Op("rbind", "/r/var", source=str(host / "var"), read_only=True)
    assert targets["/r/run"] == [Op("mkdir", "/r/run")]  # an empty one of its own
    assert targets["/r/root"][-1] == Op(
        "rbind", "/r/root", source=str(host / "root"), read_only=True
    )


def test_without_root_a_directory_the_user_may_not_read_is_an_empty_one_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = tmp_path / "host"
    monkeypatch.setattr(
        sandbox.os, "access", lambda path, mode: not str(path).endswith("/root")
    )  # root's /root, 0700, as a user sees it
    _, ops = layout_plan(tmp_path, DIR_OVERLAYS, as_root=False)
    assert by_target(ops)["/r/root"] == [Op("mkdir", "/r/root")]
    assert str(host / "root") not in {op.source for op in ops}


# ---- without overlayfs: bound read-only, a tmpfs of binds where files are added --------


def test_without_overlayfs_directories_are_bound_and_etc_is_a_tmpfs_of_binds(
    tmp_path: Path,
) -> None:
    (tmp_path / "host" / "etc").mkdir(parents=True)
    (tmp_path / "host" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tmp_path / "host" / "etc" / "resolv.conf").symlink_to("../run/resolv.conf")
    (tmp_path / "host" / "etc" / "ssl").mkdir()
    host, ops = layout_plan(
        tmp_path,
        BINDS,
        image_entries={"app": "dir"},
        volumes=[VolumeMount(str(tmp_path), "/var/data")],
    )
    assert not any(op.kind == "overlay" for op in ops)
    targets = by_target(ops)
    assert [o.kind for o in targets["/r/etc"]] == ["mkdir", "tmpfs"]
    assert targets["/r/etc/passwd"] == [
        Op("touch", "/r/etc/passwd"),
        Op("hostbind", "/r/etc/passwd", source=str(host / "etc/passwd"), read_only=True),
    ]
    assert targets["/r/etc/resolv.conf"] == [
        Op("symlink", "/r/etc/resolv.conf", source="../run/resolv.conf")
    ]
    assert [o.kind for o in targets["/r/etc/ssl"]] == ["mkdir", "hostbind"]
    assert [o.kind for o in targets["/r/var"]] == ["mkdir", "tmpfs"]  # a volume goes there
    assert [o.kind for o in targets["/r/app"]] == ["mkdir", "tmpfs"]  # the image's files
    assert targets["/r/run"] == [Op("mkdir", "/r/run")]
    assert targets["/r/opt"][-1].kind == "rbind" and targets["/r/opt"][-1].read_only


# ---- readOnlyRootFilesystem, and the paths a container loads code from ----------------


@pytest.mark.parametrize("layers", [ROOT_OVERLAY, DIR_OVERLAYS, BINDS])
def test_a_read_only_root_remounts_the_containers_own_mounts_last(
    tmp_path: Path, layers: str
) -> None:
    volume = VolumeMount(str(tmp_path), "/home/cfg")
    _, ops = layout_plan(
        tmp_path,
        layers,
        image_entries={"app": "dir"},
        volumes=[volume],
        read_only_root=True,
        shm="/pods/p/shm",
    )
    first = next(i for i, op in enumerate(ops) if op.kind == "readonly")
    assert all(op.kind == "readonly" for op in ops[first:])
    assert ops[first - 1].target == "/r/home/cfg"  # after every mount point is made
    remounted = {op.target: op.source for op in ops[first:]}
    assert remounted["/r"] == ("overlay" if layers == ROOT_OVERLAY else "tmpfs")
    assert remounted["/r/tmp"] == "tmpfs"
    assert remounted["/r/app"] == ("tmpfs" if layers == BINDS else "overlay")
    assert "/s" not in remounted and "/r/dev" not in remounted


def test_a_writable_root_remounts_nothing(tmp_path: Path) -> None:
    _, ops = layout_plan(tmp_path, ROOT_OVERLAY, read_only_root=False)
    assert not any(op.kind == "readonly" for op in ops)


def test_code_paths_in_a_layer_are_bound_past_the_overlay(tmp_path: Path) -> None:
    # (a system Python's prefix, /usr, is a whole top-level directory: left writable)
    visible = [Path("/usr/lib/python3"), Path("/tmp/ckout/src"), Path("/media/venv"), Path("/usr")]
    _, root_ops = layout_plan(tmp_path, ROOT_OVERLAY, visible=visible)
    _, dir_ops = layout_plan(tmp_path / "2", DIR_OVERLAYS, visible=visible)

    def bound(ops: list[Op]) -> list[str]:
        return [op.target for op in ops if op.kind == "rbind" and op.source in map(str, visible)]

    # everything is read through the root's overlay; with overlays per directory, what
    # is under one (/media is not) and the private /tmp
    assert bound(root_ops) == ["/r/media/venv", "/r/tmp/ckout/src", "/r/usr/lib/python3"]
    assert bound(dir_ops) == ["/r/tmp/ckout/src"]
