"""`COPY --chown/--chmod` are applied as BuildKit applies them; tags follow the
reference grammar; a Dockerfile with a BOM builds."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from kubelite.cli.build_cmd import BuildFailed, build, list_images
from kubelite.kubelet.images import ImageStore, tag_error

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="giving files an owner needs root")


def context(tmp_path: Path, dockerfile: str, files: dict[str, str]) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    return ctx


def built(tmp_path: Path, dockerfile: str, files: dict[str, str]) -> Path:
    build("t/flags:1", context(tmp_path, dockerfile, files), tmp_path / "data", quiet=True)
    return ImageStore(tmp_path / "data").resolve("t/flags:1").rootfs


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@root_only
def test_chown_and_chmod_reach_the_copied_file(tmp_path: Path) -> None:
    rootfs = built(
        tmp_path,
        "FROM scratch\nCOPY --chown=1000:1000 --chmod=600 f.txt /a/f.txt\n",
        {"f.txt": "hi\n"},
    )
    assert owner_and_mode(rootfs / "a" / "f.txt") == (1000, 1000, 0o600)
    # the directory the copy had to make gets the owner, not the mode (0755 as made)
    assert owner_and_mode(rootfs / "a")[:2] == (1000, 1000)


@root_only
def test_chown_of_a_directory_covers_its_tree_and_a_uid_alone_is_also_the_gid(
    tmp_path: Path,
) -> None:
    rootfs = built(
        tmp_path,
        "FROM scratch\nCOPY --chown=42 --chmod=750 src/ /app/\n",
        {"src/pkg/m.py": "x = 1\n", "src/run.py": "print()\n"},
    )
    for rel in ("app", "app/pkg", "app/pkg/m.py", "app/run.py"):
        assert owner_and_mode(rootfs / rel) == (42, 42, 0o750), rel


@root_only
def test_chown_names_come_from_the_images_passwd_and_group(tmp_path: Path) -> None:
    rootfs = built(
        tmp_path,
        "FROM scratch\nCOPY passwd group /etc/\nCOPY --chown=app f /srv/f\n"
        "COPY --chown=app:web f /srv/g\n",
        {
            "passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1234:555::/home/app:/bin/sh\n",
            "group": "root:x:0:\nweb:x:777:\n",
            "f": "x\n",
        },
    )
    assert owner_and_mode(rootfs / "srv" / "f")[:2] == (1234, 555)  # the user's own group
    assert owner_and_mode(rootfs / "srv" / "g")[:2] == (1234, 777)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        pytest.param(
            "FROM scratch\nCOPY passwd /etc/passwd\nCOPY --chown=nobody-here f /f\n",
            "line 3: COPY --chown: unable to find user nobody-here: no matching entries in "
            "passwd file",
            id="unknown-user",
        ),
        pytest.param(
            "FROM scratch\nCOPY --bogus=1 f /f\n", "line 2: unknown flag: bogus", id="unknown-flag"
        ),
    ],
)
def test_copy_flag_failures_are_one_line(tmp_path: Path, dockerfile: str, message: str) -> None:
    ctx = context(tmp_path, dockerfile, {"f": "x\n", "passwd": "root:x:0:0::/root:/bin/sh\n"})
    with pytest.raises(BuildFailed, match=message):
        build("t/flags:1", ctx, tmp_path / "data", quiet=True)
    assert list_images(tmp_path / "data") == []


def test_chown_to_another_owner_without_root_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ctx = context(tmp_path, "FROM scratch\nCOPY --chown=7:7 f /f\n", {"f": "x\n"})
    with pytest.raises(BuildFailed, match="line 2: COPY --chown=7:7: .* needs kubelite build"):
        build("t/flags:1", ctx, tmp_path / "data", quiet=True)


def test_chown_to_root_without_root_is_what_the_files_are_already(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "lchown", lambda *a: pytest.fail("no chown expected"))
    rootfs = built(tmp_path, "FROM scratch\nCOPY --chown=0:0 --chmod=640 f /f\n", {"f": "x\n"})
    assert owner_and_mode(rootfs / "f")[2] == 0o640


def test_a_dockerfile_with_a_utf8_bom_builds(tmp_path: Path) -> None:
    rootfs = built(tmp_path, "\ufeffFROM scratch\nCOPY f /f\n", {"f": "x\n"})
    assert (rootfs / "f").read_text() == "x\n"


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        pytest.param("UPPER:1", "repository name must be lowercase", id="uppercase"),
        pytest.param("", "invalid reference format", id="empty"),
        pytest.param("a:b:c", "invalid reference format", id="two-colons"),
        pytest.param(":x", "invalid reference format", id="no-name"),
        pytest.param("a b", "invalid reference format", id="space"),
        pytest.param("repo/name:", "invalid reference format", id="empty-tag"),
        pytest.param("x@sha256:abc", "a tag cannot hold a digest", id="digest"),
        pytest.param("a:" + "t" * 129, "invalid reference format", id="tag-too-long"),
        pytest.param("a" * 256, "must not be more than 255 characters", id="name-too-long"),
    ],
)
def test_bad_tags_are_refused_before_any_step(tmp_path: Path, tag: str, message: str) -> None:
    with pytest.raises(BuildFailed, match=re.escape(f'invalid tag "{tag}": ') + ".*" + message):
        build(tag, tmp_path / "no-context-needed", tmp_path / "data", quiet=True)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "tag",
    ["app", "app:1.0-rc_1", "localhost:5000/team/app:v1", "a__b/c--d.e:x", "Reg.io/app:Latest"],
)
def test_good_tags_pass(tag: str) -> None:
    assert tag_error(tag) is None


def test_a_255_character_name_is_stored_and_found(tmp_path: Path) -> None:
    name = "/".join(["abcdefghi"] * 25) + "/abcde"  # 255 characters, each `/` longer on disk
    assert len(name) == 255 and tag_error(name) is None
    ctx = context(tmp_path, "FROM scratch\nCOPY f /f\n", {"f": "x\n"})
    digest = build(name, ctx, tmp_path / "data", quiet=True)
    assert ImageStore(tmp_path / "data").resolve(name).digest == digest
    assert [i["repository"] for i in list_images(tmp_path / "data")] == [name]
