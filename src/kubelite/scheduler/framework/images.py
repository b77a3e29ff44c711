"""Image references in one spelling, so pod specs and node status compare.

A pod may say ``nginx`` while the node agent reports ``nginx:latest`` or
``docker.io/library/nginx:latest``; the cache and ImageLocality both key
images by the fully qualified form.
"""

from __future__ import annotations

__all__ = ["normalized_image_name"]

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_REPO_PREFIX = "library/"


def normalized_image_name(name: str) -> str:
    """The image reference with the registry defaults spelled out.

    A first path component is a registry only if it has a ``.`` or ``:`` or is
    ``localhost``; otherwise the registry is docker.io, where a one-component
    repository lives under ``library/``. No tag and no digest means ``:latest``.
    """
    if not name:
        return name
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, name
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_REPO_PREFIX + remainder
    full = f"{domain}/{remainder}"
    if full.rfind(":") <= full.rfind("/"):
        full += ":latest"
    return full
