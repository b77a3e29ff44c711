from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelite.kubelet import sandbox
from kubelite.kubelet.sandbox import Op, VolumeMount, plan


def fake_host(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    for d in ("usr", "etc", "proc", "tmp", "home"):
        (host / d).mkdir(parents=True)
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
    assert "/r/opt" not in before and "/r/lib" not in before
    (host / "opt").mkdir()
    (image / "lib").mkdir()
    after = plan_of(host, image)
    assert after["/r/opt"] == [
        Op("mkdir", "/r/opt"),
        Op("rbind", "/r/opt", source=str(host / "opt"), read_only=True),
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
