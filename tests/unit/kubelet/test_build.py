from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubelite.cli.build_cmd import BuildFailed, build, format_images, list_images
from kubelite.kubelet import buildcontext, buildroot
from kubelite.kubelet.images import ImageNotFound, ImageStore, host_python_version

PY = "{}.{}".format(*host_python_version())


def context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    return ctx


@pytest.fixture
def namespaces() -> None:
    """RUN lines need a mount namespace of their own (as root, or a user namespace)."""
    missing = buildroot.support().missing
    if missing:
        pytest.skip(f"RUN lines cannot run on this machine: {missing}")


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_scratch_image_places_files_at_dockerfile_paths(tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        "FROM scratch\nWORKDIR /app\nCOPY app.py .\nCOPY conf/ /etc/demo/\nENV MODE=prod\nEXPOSE 8080\n"
        'ENTRYPOINT ["/bin/sh"]\nCMD ["-c", "echo hi"]\n',
        {"app.py": "print(1)\n", "conf/a.ini": "x=1\n"},
    )
    digest = build("demo:1", ctx, tmp_path / "data", quiet=True)
    image = ImageStore(tmp_path / "data").resolve("demo:1")
    assert image.digest == digest and digest.startswith("sha256:")
    assert (image.rootfs / "app" / "app.py").read_text() == "print(1)\n"
    assert (image.rootfs / "etc" / "demo" / "a.ini").exists()
    config = json.loads((image.root / "config.json").read_text())["config"]
    assert config["Entrypoint"] == ["/bin/sh"] and config["Cmd"] == ["-c", "echo hi"]
    assert config["WorkingDir"] == "/app"
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert "MODE=prod" in config["Env"]


@pytest.mark.usefixtures("namespaces")
def test_python_image_runs_run_lines_in_its_venv(tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        f"FROM python:{PY}-slim\nRUN python -c \"import sys; open('prefix','w').write(sys.prefix)\"\nCMD python\n",
    )
    build("py:latest", ctx, tmp_path / "data", quiet=True)
    image = ImageStore(tmp_path / "data").resolve("py")
    assert image.venv is not None
    assert (image.rootfs / "prefix").read_text() == str(image.venv)
    assert image.run_config["Cmd"] == ["/bin/sh", "-c", "python"]


def test_entrypoint_resets_inherited_cmd(tmp_path: Path) -> None:
    build(
        "e:1",
        context(tmp_path, f'FROM python:{PY}\nENTRYPOINT ["python"]\n'),
        tmp_path / "d",
        quiet=True,
    )
    assert "Cmd" not in ImageStore(tmp_path / "d").resolve("e:1").run_config


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM scratch\nVOLUME /x\n", "line 2: unsupported instruction VOLUME"),
        ("FROM python:2.7\n", "asks for Python 2.7"),
        ("FROM ubuntu:22.04\n", "not supported"),
        ("FROM scratch\nCOPY nothere /x\n", "line 2: COPY nothere: no such file"),
        ("FROM scratch\nCOPY ../x /x\n", "outside the build context"),
    ],
)
def test_build_errors_are_one_line(tmp_path: Path, dockerfile: str, message: str) -> None:
    with pytest.raises(BuildFailed, match=message):
        build("bad:1", context(tmp_path, dockerfile), tmp_path / "data", quiet=True)
    assert list_images(tmp_path / "data") == []


def test_images_listing_and_builtin_python(tmp_path: Path) -> None:
    build("a/b:2", context(tmp_path, "FROM scratch\nCMD x\n"), tmp_path / "data", quiet=True)
    images = list_images(tmp_path / "data")
    assert [(i["repository"], i["tag"]) for i in images] == [("a/b", "2")]
    assert format_images(images).splitlines()[0].split() == [
        "REPOSITORY",
        "TAG",
        "IMAGE",
        "ID",
        "CREATED",
        "SIZE",
    ]
    store = ImageStore(tmp_path / "data")
    builtin = store.resolve(f"python:{PY}")
    assert (builtin.root / "rootfs-bin" / "python").exists()
    with pytest.raises(ImageNotFound):
        store.resolve("python:2.7")
    with pytest.raises(ImageNotFound):
        store.resolve("nothing")


# ---- RUN lines: in the image's own view --------------------------------------------


@pytest.mark.usefixtures("namespaces")
def test_run_sees_and_writes_the_image_at_its_absolute_paths(tmp_path: Path) -> None:
    # The FastAPI docs' shape: COPY to an absolute path, then RUN reads it there.
    ctx = context(
        tmp_path,
        f"FROM python:{PY}\nWORKDIR /code\n"
        "COPY ./requirements.txt /code/requirements.txt\n"
        "RUN cat /code/requirements.txt > /code/seen && mkdir /data && echo d > /data/x\n"
        "RUN python -c \"import sys, pathlib; pathlib.Path(sys.prefix, 'mark').write_text('v')\"\n"
        "RUN test -f /data/x && cp seen seen2\n",
        {"requirements.txt": "tiny==1\n"},
    )
    build("fa:1", ctx, tmp_path / "data", quiet=True)
    image = ImageStore(tmp_path / "data").resolve("fa:1")
    assert (image.rootfs / "code" / "seen2").read_text() == "tiny==1\n"
    assert (image.rootfs / "data" / "x").read_text() == "d\n"
    assert image.venv is not None and (image.venv / "mark").read_text() == "v"
    # what the line wrote, and not one of the mount points its view needed
    assert files_under(image.rootfs) == [
        "code",
        "code/requirements.txt",
        "code/seen",
        "code/seen2",
        "data",
        "data/x",
    ]


@pytest.mark.usefixtures("namespaces")
def test_run_cannot_change_the_host(tmp_path: Path) -> None:
    name = f"kubelite-test-{tmp_path.name}"
    ctx = context(
        tmp_path,
        f"FROM scratch\nRUN mkdir -p /tmp/{name} && echo x > /tmp/{name}/f\n"
        f"RUN echo image > /etc/{name}\n",
    )
    if buildroot.overlays() is None:  # no overlayfs: the host's /etc is a read-only bind
        with pytest.raises(BuildFailed, match=r"^Dockerfile line 3: RUN .* failed with exit"):
            build("host:1", ctx, tmp_path / "data", quiet=True)
    else:  # as under docker build, the line writes /etc into the image
        build("host:1", ctx, tmp_path / "data", quiet=True)
        rootfs = ImageStore(tmp_path / "data").resolve("host:1").rootfs
        assert (rootfs / "etc" / name).read_text() == "image\n"
    assert not Path(f"/tmp/{name}").exists()  # its /tmp is its own
    assert not Path(f"/etc/{name}").exists()


@pytest.mark.usefixtures("namespaces")
@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("RUN exit 3", r"line 2: RUN .* failed with exit code 3", id="exit-code"),
        pytest.param(
            'RUN ["no-such-tool", "x"]',
            r"line 2: RUN no-such-tool x: exec no-such-tool: No such file or directory",
            id="not-found",
        ),
    ],
)
def test_run_failures_are_one_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(BuildFailed, match=message):
        build("bad:1", context(tmp_path, f"FROM scratch\n{line}\n"), tmp_path / "data", quiet=True)


# ---- .dockerignore -------------------------------------------------------------------

IGNORED_CONTEXT = {
    ".dockerignore": "# keep the image small\nsecrets\n.venv\ndocs\n!docs/README.md\n"
    "**/*.pyc\nDockerfile\n.dockerignore\n",
    "app.py": "print(1)\n",
    "secrets/key": "k",
    ".venv/big": "b",
    "docs/README.md": "r",
    "docs/other.md": "o",
    "sub/x.pyc": "c",
    "sub/y.py": "y",
}


def test_dockerignore_shapes_what_copy_sees(tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        "FROM scratch\nWORKDIR /app\nCOPY . .\nCOPY docs /docs\nCOPY *.py sub/*.py* /py/\n",
        IGNORED_CONTEXT,
    )
    build("ign:1", ctx, tmp_path / "data", quiet=True)
    rootfs = ImageStore(tmp_path / "data").resolve("ign:1").rootfs
    assert files_under(rootfs / "app") == [
        "app.py",
        "docs",  # excluded, but comes back with the README an exception brought back
        "docs/README.md",
        "sub",
        "sub/y.py",
    ]
    assert files_under(rootfs / "docs") == ["README.md"]
    assert files_under(rootfs / "py") == ["app.py", "y.py"]


@pytest.mark.parametrize(
    ("ignore", "line", "message"),
    [
        pytest.param(
            None,
            "COPY secrets/key /k",
            r"^Dockerfile line 2: COPY secrets/key: no such file or directory "
            r"\(excluded by .dockerignore\)$",
            id="excluded-source",
        ),
        pytest.param(
            None, "COPY .venv/* /v/", "line 2: COPY .venv/[*]: no source files", id="glob"
        ),
        pytest.param(
            "ok\n[a-\n", "COPY . .", r"^.dockerignore line 2: bad pattern", id="bad-pattern"
        ),
        pytest.param("", "COPY . .", "^cannot read .dockerignore: Is a directory", id="unreadable"),
    ],
)
def test_dockerignore_errors_are_one_line(
    tmp_path: Path, ignore: str | None, line: str, message: str
) -> None:
    files = dict(IGNORED_CONTEXT)
    if ignore is not None:
        files[".dockerignore"] = ignore
    ctx = context(tmp_path, f"FROM scratch\n{line}\n", files)
    if ignore == "":
        (ctx / ".dockerignore").unlink()
        (ctx / ".dockerignore").mkdir()
    with pytest.raises(BuildFailed, match=message):
        build("bad:1", ctx, tmp_path / "data", quiet=True)


def test_copy_globs_match_as_docker_matches(tmp_path: Path) -> None:
    """COPY wildcards follow Go's filepath.Match: `*` takes dotfiles, `[^...]` negates."""
    ctx = context(
        tmp_path,
        "FROM scratch\nCOPY * /all/\nCOPY [^a]*.txt /neg/\nCOPY d?r/x.* /q/\n",
        {
            ".env": "e",
            "a.txt": "a",
            "b.txt": "b",
            "dir/x.cfg": "x",
        },
    )
    build("glob:1", ctx, tmp_path / "data", quiet=True)
    rootfs = ImageStore(tmp_path / "data").resolve("glob:1").rootfs
    assert ".env" in files_under(rootfs / "all")
    assert files_under(rootfs / "neg") == ["b.txt"]
    assert files_under(rootfs / "q") == ["x.cfg"]


def test_copy_glob_with_a_bad_class_is_one_line(tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM scratch\nCOPY [a- /x/\n", {"a": "a"})
    with pytest.raises(BuildFailed, match=r"line 2: COPY \[a-: syntax error in pattern"):
        build("bad:1", ctx, tmp_path / "data", quiet=True)


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", ".env", True),
        ("[^a]x", "bx", True),
        ("[^a]x", "ax", False),
        ("[!a]", "!", True),  # Go negates with ^ only: this class holds ! and a
        ("[!a]", "b", False),
        ("[\\d]", "d", True),  # an escape inside a class is the character itself
        ("[\\d]", "5", False),
        ("[a-c]?", "bz", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
    ],
)
def test_copy_wildcard_components_follow_go_match(pattern: str, name: str, matches: bool) -> None:
    regexp = buildcontext._component_regexp(pattern)
    assert bool(re.fullmatch(regexp, name, re.DOTALL)) is matches
