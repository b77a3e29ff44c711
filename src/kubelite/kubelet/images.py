"""The local image store: what `image: NAME:TAG` means on this machine.

An image is a directory (`rootfs/` with the files the Dockerfile copied, and
for Python images a `venv/`) plus a config JSON with the OCI image-config
fields and a content digest. References (`NAME:TAG` -> build directory) live
in `refs/`, so a rebuild never pulls files from under a running pod.
Images named `python:X.Y` need no build: they stand for the host interpreter.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PYTHON_REF = re.compile(r"^(?:docker\.io/)?(?:library/)?python:(\d+)\.(\d+)(?:[.\-][\w.\-]*)?$")


class ImageNotFound(LookupError):
    pass


# The grammar of github.com/distribution/reference (regexp.go): a name is an
# optional domain then `/`-separated lowercase path components, at most 255
# characters; a tag is `[\w][\w.-]{0,127}`.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_TAGGED = re.compile(
    rf"(?P<name>{_NAME})(?::(?P<tag>[\w][\w.-]{{0,127}}))?",
    re.ASCII,  # Go's \w
)
NAME_TOTAL_LENGTH_MAX = 255


def tag_error(ref: str) -> str | None:
    """Why `ref` cannot name an image built with `-t` (None if it can), in the words
    of distribution/reference's errors: a digest is no tag, and names are lowercase."""
    if "@" in ref:
        return "a tag cannot hold a digest (@...)"
    m = _TAGGED.fullmatch(ref)
    if m is None:
        if _TAGGED.fullmatch(ref.lower()) is not None:
            return "repository name must be lowercase"
        return "invalid reference format"
    if len(m.group("name")) > NAME_TOTAL_LENGTH_MAX:
        return f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
    return None


@dataclass(frozen=True)
class Image:
    ref: str
    root: Path  # the image directory
    config: dict[str, Any]  # OCI image config: {"config": {...}, ...}
    digest: str  # "sha256:<hex>"

    @functools.cached_property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def venv(self) -> Path | None:
        venv = self.root / "venv"
        return venv if venv.is_dir() else None

    @property
    def run_config(self) -> dict[str, Any]:
        return dict(self.config.get("config") or {})

    @property
    def env(self) -> list[str]:
        return list(self.run_config.get("Env") or [])

    @property
    def image_id(self) -> str:
        return self.digest


def normalize(ref: str) -> str:
    """`app` means `app:latest`; a docker.io/library prefix is dropped."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    last = ref.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        ref += ":latest"
    return ref


def python_version(ref: str) -> tuple[int, int] | None:
    m = _PYTHON_REF.match(ref)
    return (int(m.group(1)), int(m.group(2))) if m else None


def host_python_version() -> tuple[int, int]:
    return sys.version_info[:2]


def base_python() -> str:
    """The host interpreter itself, not kubelite's own virtualenv."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return str(Path(base).resolve())


# A file changed this recently may change again without its stat moving
# (timestamps advance in clock ticks), so what was read from it is not kept.
SETTLE_NS = 2_000_000_000


def _file_key(path: Path | str) -> tuple[int, ...] | None:
    """What identifies a file's version: None when it is missing or changed just now."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if max(st.st_mtime_ns, st.st_ctime_ns) >= time.time_ns() - SETTLE_NS:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class _Resolved:
    image: Image
    ref_key: tuple[int, ...]
    config_key: tuple[int, ...]


class ImageStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "images"
        # Every container start resolves its image: built images by the stat of
        # their two files, built-in ones (nothing on disk but the interpreter links) by ref.
        self._built: dict[str, _Resolved] = {}
        self._builtin: dict[str, tuple[Image, str]] = {}  # and its python link

    @property
    def refs(self) -> Path:
        return self.root / "refs"

    def ref_file(self, ref: str) -> Path:
        return self.refs / _ref_file_name(normalize(ref))

    def resolve(self, ref: str) -> Image:
        ref = normalize(ref)
        # as ref_file(), without building Paths: a built image of the name wins
        path = f"{self.root}/refs/{_ref_file_name(ref)}"
        if os.path.exists(path):
            return self._resolve_built(ref, Path(path))
        version = python_version(ref)
        if version is not None and version == host_python_version():
            seen = self._builtin.get(ref)
            if seen is not None and os.path.exists(seen[1]):
                return seen[0]
            image = self._builtin_python(ref, version)
            self._builtin[ref] = (image, str(image.root / "rootfs-bin" / "python"))
            return image
        raise ImageNotFound(ref)

    def _resolve_built(self, ref: str, path: Path) -> Image:
        seen = self._built.get(ref)
        ref_key = _file_key(path)
        if (
            seen is not None
            and ref_key == seen.ref_key
            and _file_key(seen.image.root / "config.json") == seen.config_key
        ):
            return seen.image
        entry = json.loads(path.read_text())
        root = Path(entry["dir"])
        config_path = root / "config.json"
        config_key = _file_key(config_path)
        config = json.loads(config_path.read_text())
        image = Image(ref=ref, root=root, config=config, digest=entry["digest"])
        if ref_key is not None and config_key is not None:
            self._built[ref] = _Resolved(image, ref_key, config_key)
        return image

    def _builtin_python(self, ref: str, version: tuple[int, int]) -> Image:
        from kubelite.kubelet.imageconfig import content_digest, oci_config

        root = self.root / "builtin" / f"python-{version[0]}.{version[1]}"
        bindir = root / "rootfs-bin"
        if not (bindir / "python").exists():
            bindir.mkdir(parents=True, exist_ok=True)
            (root / "rootfs").mkdir(exist_ok=True)
            for name in ("python", "python3", f"python{version[0]}.{version[1]}"):
                link = bindir / name
                if not link.is_symlink():
                    os.symlink(base_python(), link)
        env = [f"PATH={bindir}:{DEFAULT_PATH}", f"PYTHON_VERSION={version[0]}.{version[1]}"]
        config = oci_config(env=env, cmd=["python3"])
        return Image(ref=ref, root=root, config=config, digest=content_digest(config))

    def version(self) -> int:
        """Changes whenever a reference is added, replaced or removed (the refs dir's mtime)."""
        try:
            return self.refs.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def list(self) -> list[dict[str, Any]]:
        images: list[dict[str, Any]] = []
        if not self.refs.is_dir():
            return images
        for path in sorted(self.refs.glob("*.json")):
            entry = json.loads(path.read_text())
            images.append(entry)
        return images

    def record(self, ref: str, image_dir: Path, digest: str, size: int, created: str) -> None:
        from kubelite.cli.datadir import write_private

        self.refs.mkdir(parents=True, exist_ok=True)
        name, _, tag = normalize(ref).rpartition(":")
        entry = {
            "ref": normalize(ref),
            "repository": name,
            "tag": tag,
            "digest": digest,
            "dir": str(image_dir),
            "size": size,
            "created": created,
        }
        write_private(self.ref_file(ref), json.dumps(entry, indent=2))


def _ref_file_name(ref: str) -> str:
    """A normalized reference's file in `refs/`: the reference itself, or where that
    would pass the 255-byte limit on a file name, its hash (the JSON inside names it)."""
    name = ref.replace("/", "%2F")
    if len(name.encode(errors="surrogateescape")) > 200:
        name = "sha256-" + hashlib.sha256(ref.encode(errors="surrogateescape")).hexdigest()
    return name + ".json"


def how_to_build(ref: str) -> str:
    return f"build it with: kubelite build -t {normalize(ref)} DIR"
