"""Versions served by conversion: one stored object, more than one API version.

Upstream keeps each kind once, in its storage version, and serves the other
versions by converting at the edge of every request: the body is converted
to the stored version before defaults, admission and validation, the answer
back to the version asked for. resourceVersion, uid and managedFields are the
object's own, so they agree whichever version a client reads. kubelite does
the same for the kinds listed here, which the registry marks with
`storage_version` (served, not stored under their own version).

A `Conversion` is the seam: `converted` serves every verb of a served
version through one, and the patch code applies a patch to the served view
of the stored object. Adding a version is one entry in `_CONVERTERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import errors, hpa_v1

Obj = dict[str, Any]
Convert = Callable[[Obj], Obj]


@dataclass(frozen=True)
class Conversion:
    """How one served version maps onto the stored version of the same kind."""

    served: ResourceType
    storage: ResourceType
    to_storage: Convert
    from_storage: Convert

    def check_kind(self, obj: Obj) -> None:
        """A body (or patched object) must be the served version's kind, or say nothing.

        Refused with upstream's wording: a v2 body sent to the v1 path is not
        quietly converted from the wrong version.
        """
        rt = self.served
        api_version, kind = obj.get("apiVersion") or rt.api_version, obj.get("kind") or rt.kind
        if api_version != rt.api_version:
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
            )
        if kind != rt.kind:
            raise errors.BadRequest(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )


# (group, served version, kind) -> (to storage, from storage).
_CONVERTERS: dict[tuple[str, str, str], tuple[Convert, Convert]] = {
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): (hpa_v1.to_v2, hpa_v1.to_v1),
}


@cache
def conversion_for(rt: ResourceType) -> Conversion | None:
    """The conversion serving `rt`, or None for a type stored as itself."""
    if not rt.storage_version:
        return None
    converters = _CONVERTERS.get((rt.group, rt.version, rt.kind))
    group_version = f"{rt.group}/{rt.storage_version}" if rt.group else rt.storage_version
    storage = REGISTRY.by_kind(group_version, rt.kind)
    if converters is None or storage is None or not storage.stored:
        raise LookupError(f"no conversion from {rt.api_version} {rt.kind} to {group_version}")
    return Conversion(rt, storage, *converters)
