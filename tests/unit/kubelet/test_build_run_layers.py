"""A RUN line writes anywhere into the image, as Docker's RUN writes into its layer:
the host's directories are overlays whose upper layer is the image's directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelite.cli.build_cmd import build
from kubelite.kubelet import buildroot
from kubelite.kubelet.images import ImageStore, host_python_version

from .test_buildroot import rows, tree

PY = "{}.{}".format(*host_python_version())


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return tree(
        tmp_path / "host",
        {
            "etc/passwd": "root\n",
            "info.json": "{}",
            "proc/": None,
            "tmp/": None,
            "usr/bin/": None,
            "var/lib/db/": None,
            "var/lib/mnt/": None,  # a mount point: its parents are not overlays
            "var/cache/": None,
            "data/images/img/": None,  # the data dir, holding the image
        },
    )


def test_host_directories_are_overlays_into_the_images(tmp_path: Path, host: Path) -> None:
    rootfs = tree(host / "data" / "images" / "img" / "rootfs", {"usr/src/app/": None})
    work = str(rootfs.parent / ".run-work")
    layers = buildroot.Layers("userxattr", work, frozenset({f"{host}/var/lib/mnt"}))
    root = buildroot.plan(rootfs, workdir="/", host_root=host, layers=layers)
    got = [
        r for r in rows(root.plan.ops, root=rootfs, host=host) if r[0] != "mkdir" or r[1][0] == "/"
    ]
    overlays = {op.target: op for op in root.plan.ops if op.kind == "overlay"}
    assert got == [
        # the data dir holds the image: the image's own, its entries one level down...
        ("mkdir", "/data", "", ""),
        ("mkdir", "/data/images", "", ""),
        ("mkdir", "/data/images/img", "", ""),
        # ...down to the image's own directory, never layered over itself
        ("rbind", "/data/images/img", "host:/data/images/img", "ro"),
        ("mkdir", "/etc", "", ""),
        ("overlay", "/etc", "userxattr", ""),  # writes to /etc/passwd land in the image
        ("touch", "/info.json", "", ""),
        ("rbind", "/info.json", "host:/info.json", "ro"),
        ("mkdir", "/proc", "", ""),
        ("rbind", "/proc", "host:/proc", ""),
        ("mkdir", "/tmp", "", ""),
        ("tmpfs", "/tmp", "", ""),  # private, never the host's
        ("overlay", "/usr", "userxattr", ""),  # the image's /usr is the upper layer
        # a mount below /var/lib: /var is the image's, its other entries overlays
        ("mkdir", "/var", "", ""),
        ("mkdir", "/var/cache", "", ""),
        ("overlay", "/var/cache", "userxattr", ""),
        ("mkdir", "/var/lib", "", ""),
        ("mkdir", "/var/lib/db", "", ""),
        ("overlay", "/var/lib/db", "userxattr", ""),
        ("mkdir", "/var/lib/mnt", "", ""),
        ("overlay", "/var/lib/mnt", "userxattr", ""),  # the mounted file system, layered
    ]
    usr = overlays[f"{rootfs}/usr"]
    assert usr.lowers == (f"{host}/usr",) and usr.upper == f"{rootfs}/usr"
    assert usr.work.startswith(work + "/")
    assert len({op.work for op in overlays.values()}) == len(overlays)


@pytest.fixture
def overlays() -> None:
    found = buildroot.support()
    if found.missing or found.overlay is None:
        pytest.skip("RUN lines cannot overlay the host's directories on this machine")


@pytest.mark.usefixtures("overlays")
def test_run_writes_etc_root_and_opt_into_the_image_and_never_the_host(tmp_path: Path) -> None:
    marker = f"kubelite-test-{os.getpid()}"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM python:{PY}\n"
        f'RUN echo "{marker}:x:4321:4321::/home/{marker}:/bin/sh" >> /etc/passwd'
        f" && mkdir -p /opt/{marker} /root/{marker} && echo $HOME > /opt/{marker}/home\n"
        f"RUN grep -q {marker} /etc/passwd && test -d /root/{marker}\n"
    )
    build("t/layers:1", ctx, tmp_path / "data", quiet=True)
    rootfs = ImageStore(tmp_path / "data").resolve("t/layers:1").rootfs
    assert marker in (rootfs / "etc" / "passwd").read_text()
    assert "root:" in (rootfs / "etc" / "passwd").read_text()  # copied up, then appended
    assert (rootfs / "opt" / marker / "home").read_text() == "/root\n"
    assert (rootfs / "root" / marker).is_dir()
    assert marker not in Path("/etc/passwd").read_text()
    assert not Path(f"/opt/{marker}").exists() and not Path(f"/root/{marker}").exists()
    assert not (rootfs.parent / ".run-work").exists()


@pytest.mark.usefixtures("overlays")
def test_a_file_the_line_removes_stays_removed_for_the_next(tmp_path: Path) -> None:
    host_file = Path("/etc/hostname")
    if not host_file.exists():
        pytest.skip("no /etc/hostname to remove")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM python:{PY}\nRUN rm /etc/hostname\nRUN test ! -e /etc/hostname\n"
    )
    build("t/whiteout:1", ctx, tmp_path / "data", quiet=True)  # the digest reads the whiteout
    assert host_file.exists()


@pytest.mark.usefixtures("overlays")
def test_an_overlay_the_kernel_refuses_falls_back_to_read_only_binds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[str] = []
    monkeypatch.setattr(buildroot, "_overlays_refused", refused)
    found = buildroot.support()
    bogus = buildroot.Support("", found.private_dev, found.as_root, overlay="nosuchoption")
    rootfs = tmp_path / "img" / "rootfs"
    rootfs.mkdir(parents=True)
    code = buildroot.run_line(
        ["/bin/sh", "-c", "test -r /etc/passwd && ! touch /etc/kubelite-test"],
        env={"PATH": "/usr/bin:/bin"},
        rootfs=rootfs,
        workdir="/",
        found=bogus,
    )
    assert code == 0 and refused and buildroot.overlays() is None
    assert not (tmp_path / "img" / ".run-work").exists()
    assert not Path("/etc/kubelite-test").exists()
