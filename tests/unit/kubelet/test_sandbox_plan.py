from __future__ import annotations

from pathlib import Path

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
