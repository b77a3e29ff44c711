"""The types an established CRD serves: one `ResourceType` per served version.

Each carries a `CustomResource` with what serving needs (the version's
schema, subresources, printer columns), so the API server never re-reads the
CRD on a request. Every version shares one store prefix, `/<group>/<plural>/`:
objects are kept once, in the storage version, as upstream keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubelite.api.registry import ResourceType

Obj = dict[str, Any]

CRD_GROUP = "apiextensions.k8s.io"
CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


@dataclass(frozen=True, eq=False)
class Scale:
    """`subresources.scale`: where replicas and the selector live in the object."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str = ""


@dataclass(frozen=True, eq=False)
class CustomResource:
    crd_name: str
    schema: Obj  # the version's openAPIV3Schema (structural)
    storage_version: str
    singular: str
    list_kind: str
    status: bool = False
    scale: Scale | None = None
    columns: tuple[Obj, ...] = ()
    terminating: bool = False
    has_defaults: bool = False
    has_rules: bool = False  # x-kubernetes-validations anywhere: CEL runs on writes
    # The version's selectableFields, as field selectors name them (`spec.color`).
    selectable: tuple[str, ...] = ()
    # A deprecated version's `Warning` on every request to it; "" when not deprecated.
    deprecation_warning: str = ""


def condition(crd: Obj, kind: str) -> Obj | None:
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_established(crd: Obj) -> bool:
    cond = condition(crd, "Established")
    return cond is not None and cond.get("status") == "True"


def storage_version(crd: Obj) -> str:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("storage"):
            return str(v.get("name", ""))
    return ""


def _has_default(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if "default" in schema:
        return True
    children = list((schema.get("properties") or {}).values())
    children += [schema.get("items"), schema.get("additionalProperties")]
    return any(_has_default(c) for c in children)


def has_rules(schema: Any) -> bool:
    """Whether any node of `schema` carries `x-kubernetes-validations` (no CEL needed)."""
    if not isinstance(schema, dict):
        return False
    if schema.get("x-kubernetes-validations"):
        return True
    children = list((schema.get("properties") or {}).values())
    children += [schema.get("items"), schema.get("additionalProperties")]
    children += list(schema.get("allOf") or [])
    return any(has_rules(c) for c in children)


def _scale(version: Obj) -> Scale | None:
    scale = (version.get("subresources") or {}).get("scale")
    if not isinstance(scale, dict):
        return None
    return Scale(
        str(scale.get("specReplicasPath", "")),
        str(scale.get("statusReplicasPath", "")),
        str(scale.get("labelSelectorPath") or ""),
    )


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in upstream's order: v2, v1, v1beta2, v1beta1, v1alpha1, foo."""
    m = _KUBE_VERSION.match(name)
    if m is None:
        return (3, 0, 0, name)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), name)


def deprecation_warning(crd: Obj, version: Obj) -> str:
    """The warning requests to a deprecated `version` get: its `deprecationWarning`, else
    upstream's default, naming the most preferred served, not deprecated, newer version."""
    if not version.get("deprecated"):
        return ""
    if version.get("deprecationWarning") is not None:
        return str(version["deprecationWarning"])
    spec = crd.get("spec") or {}
    group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
    name = str(version.get("name", ""))
    text = f"{group}/{name} {kind} is deprecated"
    newer = [
        str(v.get("name", ""))
        for v in spec.get("versions") or []
        if v.get("served")
        and not v.get("deprecated")
        and version_priority(str(v.get("name", ""))) < version_priority(name)
    ]
    if not newer:
        return text
    return f"{text}; use {group}/{min(newer, key=version_priority)} {kind}"


def resource_types(crd: Obj) -> tuple[ResourceType, ...]:
    """The served versions of an established CRD, under its accepted names; () otherwise."""
    if not is_established(crd):
        return ()
    spec = crd.get("spec") or {}
    names = (crd.get("status") or {}).get("acceptedNames") or {}
    if not names.get("plural") or not names.get("kind"):
        return ()
    terminating = bool((crd.get("metadata") or {}).get("deletionTimestamp"))
    stored = storage_version(crd)
    out = []
    versions = sorted(
        spec.get("versions") or [], key=lambda v: version_priority(str(v.get("name")))
    )
    for version in versions:
        if not version.get("served"):
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        subresources = version.get("subresources") or {}
        subs = tuple(s for s in ("status", "scale") if isinstance(subresources.get(s), dict))
        custom = CustomResource(
            crd_name=str(crd["metadata"]["name"]),
            schema=schema,
            storage_version=stored,
            singular=str(names.get("singular") or names["kind"].lower()),
            list_kind=str(names.get("listKind") or names["kind"] + "List"),
            status="status" in subs,
            scale=_scale(version),
            columns=tuple(version.get("additionalPrinterColumns") or ()),
            terminating=terminating,
            has_defaults=_has_default(schema),
            has_rules=has_rules(schema),
            selectable=tuple(
                str(f.get("jsonPath", "")).removeprefix(".")
                for f in version.get("selectableFields") or ()
                if isinstance(f, dict)
            ),
            deprecation_warning=deprecation_warning(crd, version),
        )
        out.append(
            ResourceType(
                str(spec.get("group", "")),
                str(version["name"]),
                str(names["kind"]),
                str(names["plural"]),
                spec.get("scope") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                subs,
                tuple(names.get("categories") or ()),
                custom=custom,
            )
        )
    return tuple(out)
