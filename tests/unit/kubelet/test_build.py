from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelite.cli.build_cmd import BuildFailed, build, format_images, list_images
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
        ("FROM scratch\nRUN exit 3\n", "line 2: RUN .* failed with exit code 3"),
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
