"""`kubelite build` and `kubelite images`: typer-free so tests call them directly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kubelite.kubelet.build import BuildError
from kubelite.kubelet.build import build as build_image
from kubelite.kubelet.dockerfile import DockerfileError
from kubelite.kubelet.images import ImageStore, normalize, tag_error


class BuildFailed(RuntimeError):
    """One line for the user: what failed and where."""


def build(tag: str, context: Path, data_dir: Path, *, quiet: bool = False) -> str:
    """Build CONTEXT/Dockerfile as TAG; return the image digest."""
    say = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr))
    problem = tag_error(tag)
    if problem is not None:  # before any step runs, as docker build checks it
        raise BuildFailed(f'invalid tag "{tag}": {problem}')
    if not context.is_dir():
        raise BuildFailed(f"build context {context} is not a directory")
    try:
        image = build_image(ImageStore(data_dir), tag, context, say=say)
    except (BuildError, DockerfileError) as exc:
        raise BuildFailed(str(exc)) from None
    say(f"Successfully tagged {normalize(tag)}")
    return image.digest


def list_images(data_dir: Path) -> list[dict[str, Any]]:
    """Built images: ref, repository, tag, digest, size, created."""
    return ImageStore(data_dir).list()


def format_images(images: list[dict[str, Any]]) -> str:
    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for img in images:
        rows.append(
            (
                img["repository"],
                img["tag"],
                img["digest"].removeprefix("sha256:")[:12],
                img["created"],
                _size(int(img.get("size", 0))),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:.1f}TB"
