"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

kubelite stores these so manifests and charts that carry them apply as on a
real cluster; it authorizes every authenticated user (AlwaysAllow), so they
change no answer. Validation is upstream's `rbac/validation`: a rule needs
verbs and, for resources, api groups and resources; non-resource URLs only in
cluster-wide rules; a binding's roleRef names a Role or ClusterRole of this
API group and cannot change.
"""

from __future__ import annotations

import json
from typing import Any

from kubelite.api.fielderrors import FieldError, invalid, not_supported, required
from kubelite.api.names import name_is_dns_subdomain
from kubelite.api.validation_meta import validate_object_meta, validate_object_meta_update

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def rbac_name(name: str, prefix: bool = False) -> list[str]:
    """path.IsValidPathSegmentName: what a name in a URL path may be."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _rules(obj: Obj, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(obj.get("rules") or []):
        path = f"rules[{i}]"
        if not rule.get("verbs"):
            errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                errs.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        urls,
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            errs.append(
                required(f"{path}.apiGroups", "resource rules must supply at least one api group")
            )
        if not rule.get("resources"):
            errs.append(
                required(f"{path}.resources", "resource rules must supply at least one resource")
            )
    return errs


def validate_role(obj: Obj) -> list[FieldError]:
    namespaced = obj.get("kind") == "Role"
    return validate_object_meta(obj, namespaced=namespaced, name_fn=rbac_name) + _rules(
        obj, namespaced
    )


def validate_role_update(new: Obj, old: Obj) -> list[FieldError]:
    return validate_object_meta_update(new, old) + _rules(new, new.get("kind") == "Role")


def _binding(obj: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = obj.get("roleRef") or {}
    kinds = ["Role", "ClusterRole"] if obj.get("kind") == "RoleBinding" else ["ClusterRole"]
    if ref.get("apiGroup") != GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    else:
        errs += [invalid("roleRef.name", ref["name"], m) for m in rbac_name(ref["name"])]
    for i, subject in enumerate(obj.get("subjects") or []):
        path = f"subjects[{i}]"
        kind = subject.get("kind", "")
        if not subject.get("name"):
            errs.append(required(f"{path}.name"))
        if kind not in SUBJECT_KINDS:
            errs.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
        elif kind == "ServiceAccount":
            # ValidateServiceAccountName: the name of an object that can exist. (An
            # empty User/Group name is only "Required": upstream dropped its second
            # "user name cannot be empty" error in 1.12, kubernetes#66203.)
            if subject.get("name"):
                errs += [
                    invalid(f"{path}.name", subject["name"], m)
                    for m in name_is_dns_subdomain(str(subject["name"]))
                ]
            if subject.get("apiGroup"):
                errs.append(not_supported(f"{path}.apiGroup", subject["apiGroup"], [""]))
            if not subject.get("namespace") and obj.get("kind") == "ClusterRoleBinding":
                errs.append(required(f"{path}.namespace"))
        elif kind in ("User", "Group") and subject.get("apiGroup") != GROUP:
            errs.append(not_supported(f"{path}.apiGroup", subject.get("apiGroup", ""), [GROUP]))
    return errs


def validate_binding(obj: Obj) -> list[FieldError]:
    namespaced = obj.get("kind") == "RoleBinding"
    return validate_object_meta(obj, namespaced=namespaced, name_fn=rbac_name) + _binding(obj)


class _GoRoleRef:
    """A roleRef as upstream's field error prints it (Go's %#v of rbac.RoleRef)."""

    def __init__(self, ref: Any) -> None:
        self.ref = ref if isinstance(ref, dict) else {}

    def __str__(self) -> str:
        fields = (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))
        shown = ", ".join(f"{go}:{json.dumps(str(self.ref.get(k) or ''))}" for go, k in fields)
        return "rbac.RoleRef{" + shown + "}"


def validate_binding_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new, old) + _binding(new)
    if (new.get("roleRef") or {}) != (old.get("roleRef") or {}):
        errs.append(invalid("roleRef", _GoRoleRef(new.get("roleRef")), "cannot change roleRef"))
    return errs
