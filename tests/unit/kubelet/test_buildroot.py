"""A RUN line's view: what is mounted where (pure), and what is left in the image after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelite.kubelet import buildroot
from kubelite.kubelet.sandbox import Op


def tree(root: Path, spec: dict[str, str | None]) -> Path:
    """Make files (text), directories (None, or a trailing /) and links ('-> target')."""
    for name, value in spec.items():
        path = root / name.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/") or value is None:
            path.mkdir(exist_ok=True)
        elif value.startswith("-> "):
            os.symlink(value[3:], path)
        else:
            path.write_text(value)
    return root


def rows(ops: list[Op] | tuple[Op, ...], *, root: Path, host: Path) -> list[tuple[str, ...]]:
    """Ops as (kind, target in the view, source on the fake host, "ro" if read-only)."""

    def short(path: str) -> str:
        for base, mark in ((str(root), ""), (str(host), "host:")):
            if path.startswith(base):
                return mark + (path[len(base) :] or "/")
        return path

    return [
        (op.kind, short(op.target), short(op.source), "ro" if op.read_only else "") for op in ops
    ]


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return tree(
        tmp_path / "host",
        {
            "dev/": None,
            "etc/passwd": "root\n",
            "info.json": "{}",
            "lib": "-> usr/lib",
            "proc/": None,
            "tmp/": None,
            "usr/bin/": None,
            "usr/src/linux/": None,
        },
    )


def test_host_only_entries_are_read_only_binds_on_placeholders(tmp_path: Path, host: Path) -> None:
    rootfs = tree(tmp_path / "image", {"code/app.py": "x", "usr/src/app/": None})
    root = buildroot.plan(rootfs, workdir="/code", dev_shm="/shm", host_root=host)
    assert rows(root.plan.ops, root=rootfs, host=host) == [
        ("mkdir", "/dev", "", ""),
        ("dev", "/dev", "/shm", ""),  # a /dev of its own
        ("mkdir", "/etc", "", ""),
        ("rbind", "/etc", "host:/etc", "ro"),  # writing there is EROFS
        ("touch", "/info.json", "", ""),
        ("rbind", "/info.json", "host:/info.json", "ro"),
        ("symlink", "/lib", "usr/lib", ""),
        ("mkdir", "/proc", "", ""),
        ("rbind", "/proc", "host:/proc", ""),
        ("mkdir", "/tmp", "", ""),
        ("tmpfs", "/tmp", "", ""),  # private
        # /usr is the image's too: its own directory, the host's entries bound into it
        ("mkdir", "/usr/bin", "", ""),
        ("rbind", "/usr/bin", "host:/usr/bin", "ro"),
        ("mkdir", "/usr/src/linux", "", ""),
        ("rbind", "/usr/src/linux", "host:/usr/src/linux", "ro"),
    ]
    assert root.plan.root == str(rootfs) and root.plan.workdir == "/code"
    # the mount points made in the image: everything but the mounts themselves
    assert [op.kind for op in root.placeholders] == [
        "mkdir", "mkdir", "touch", "symlink", "mkdir", "mkdir", "mkdir", "mkdir",
    ]  # fmt: skip


def test_image_entries_win_and_dev_is_the_hosts_without_shm(tmp_path: Path, host: Path) -> None:
    rootfs = tree(tmp_path / "image", {"etc": "a file", "lib/": None, "tmp/keep": "k"})
    root = buildroot.plan(rootfs, workdir="/", host_root=host)
    got = rows(root.plan.ops, root=rootfs, host=host)
    assert ("rbind", "/dev", "host:/dev", "") in got
    assert not [r for r in got if r[1] in ("/etc", "/lib")]  # the image's own
    assert ("tmpfs", "/tmp", "", "") not in got  # the image has a /tmp: it merges
    assert root.plan.ops[-1].target == f"{rootfs}/usr"


def test_venv_and_home_are_writable_at_their_own_paths(tmp_path: Path, host: Path) -> None:
    rootfs = tree(tmp_path / "image", {})
    venv, home = Path("/tmp/build/venv"), Path("/srv/images/home")
    root = buildroot.plan(
        rootfs,
        workdir="/",
        writable=[venv, home],
        visible=[Path("/tmp/src"), Path("/opt/python")],
        host_root=host,
    )
    assert rows(root.plan.ops, root=rootfs, host=host)[-5:] == [
        # under the private /tmp: made there (in the tmpfs), then bound
        ("mkdir", "/tmp/build/venv", "", ""),
        ("rbind", "/tmp/build/venv", "/tmp/build/venv", ""),
        ("rbind", "/srv/images/home", "/srv/images/home", ""),
        ("mkdir", "/tmp/src", "", ""),
        ("rbind", "/tmp/src", "/tmp/src", "ro"),
        # /opt/python: the host's read-only /opt shows it already
    ]
    assert all(op.target != f"{rootfs}/tmp/build/venv" for op in root.placeholders)


def test_placeholders_go_and_what_the_line_wrote_stays(tmp_path: Path, host: Path) -> None:
    rootfs = tree(tmp_path / "image", {"usr/src/app/": None})
    root = buildroot.plan(rootfs, workdir="/", host_root=host)
    for op in root.placeholders:  # as the child makes them
        if op.kind == "mkdir":
            os.mkdir(op.target)
        elif op.kind == "touch":
            Path(op.target).touch()
        else:
            os.symlink(op.source, op.target)
    (rootfs / "data").mkdir()  # RUN mkdir /data
    (rootfs / "usr" / "newfile").write_text("n")  # RUN echo n > /usr/newfile
    os.unlink(rootfs / "lib")
    (rootfs / "lib").mkdir()  # RUN rm /lib && mkdir /lib: the line's now
    buildroot.remove_placeholders(root)
    left = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    assert left == ["data", "lib", "usr", "usr/newfile", "usr/src", "usr/src/app"]


def test_no_namespace_is_a_clear_error_and_nothing_runs(tmp_path: Path) -> None:
    missing = buildroot.missing_text(1, as_root=False)
    assert "unprivileged user namespaces" in missing and "Operation not permitted" in missing
    assert "CAP_SYS_ADMIN" in buildroot.missing_text(1, as_root=True)
    marker = tmp_path / "ran"
    with pytest.raises(buildroot.RunError, match="mount namespace of its own"):
        buildroot.run_line(
            ["/bin/sh", "-c", f"touch {marker}"],
            env={},
            rootfs=tmp_path,
            workdir="/",
            found=buildroot.Support(missing, private_dev=False, as_root=False),
        )
    assert not marker.exists()
