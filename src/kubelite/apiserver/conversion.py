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

Most kinds validate the stored version whichever version wrote it (what
upstream's internal version amounts to). Events are the exception upstream
makes: their strategy validates by the request's group version, stricter
for events.k8s.io. Such a conversion sets `validate_served`, and a write
through it validates the served view of the object (`served_view`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import errors, events_v1, hpa_v1

Obj = dict[str, Any]
Convert = Callable[[Obj], Obj]


@dataclass(frozen=True)
class Conversion:
    """How one served version maps onto the stored version of the same kind."""

    served: ResourceType
    storage: ResourceType
    to_storage: Convert
    from_storage: Convert
    # Field selector labels of the served version -> the stored version's (None: the same).
    field_labels: dict[str, str] | None = None
    # Validate a write as the served version (see the module docstring).
    validate_served: bool = False

    def served_view(self, obj: Obj) -> Obj:
        """`obj` as the served version has it, if it is one of the stored version's."""
        stored = (self.storage.api_version, self.storage.kind)
        if (obj.get("apiVersion"), obj.get("kind")) != stored:
            return obj
        return self.from_storage(obj)

    def field_selector(self, text: str | None) -> str | None:
        """A field selector in the served version's labels, in the stored version's;
        a label the served version does not have is refused as upstream refuses it."""
        if not text or self.field_labels is None:
            return text
        from kubelite.api.selectors import SelectorError, parse_field_selector

        try:
            parsed = parse_field_selector(text, supported=self.field_labels)
        except SelectorError as exc:
            raise errors.BadRequest(str(exc)) from None
        return ",".join(
            f"{self.field_labels[name]}{'!=' if op == '!=' else '='}{_escape(value)}"
            for name, op, value in parsed.requirements
        )

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
    ("events.k8s.io", "v1", "Event"): (events_v1.to_core, events_v1.to_events),
}
# Served versions with field labels of their own, and those validated as served.
_FIELD_LABELS = {("events.k8s.io", "v1", "Event"): events_v1.SELECTOR_LABELS}
_VALIDATE_SERVED = frozenset({("events.k8s.io", "v1", "Event")})


def _escape(value: str) -> str:
    from kubelite.api.selectors import escape_field_value

    return escape_field_value(value)


@cache
def conversion_for(rt: ResourceType) -> Conversion | None:
    """The conversion serving `rt`, or None for a type stored as itself."""
    if not rt.storage_version:
        return None
    key = (rt.group, rt.version, rt.kind)
    converters = _CONVERTERS.get(key)
    group_version = rt.storage_api_version
    storage = REGISTRY.by_kind(group_version, rt.kind)
    if converters is None or storage is None or not storage.stored:
        raise LookupError(f"no conversion from {rt.api_version} {rt.kind} to {group_version}")
    return Conversion(
        rt,
        storage,
        *converters,
        field_labels=_FIELD_LABELS.get(key),
        validate_served=key in _VALIDATE_SERVED,
    )
