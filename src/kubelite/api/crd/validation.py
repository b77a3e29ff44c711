"""Validation and defaults of CustomResourceDefinition objects, as apiextensions does.

The rules users meet: `metadata.name` is `<plural>.<group>`, names are DNS
labels, exactly one storage version, every version with a structural
schema, scale paths under `.spec`/`.status`, printer columns with a known
type and a simple JSON path. Conversion webhooks are refused: kubelite runs
no webhooks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubelite.api import names
from kubelite.api.crd.field_path import resolve
from kubelite.api.crd.list_extensions import ListRules, check_list_extensions
from kubelite.api.crd.structural import check_structural
from kubelite.api.crd.types import has_rules
from kubelite.api.fielderrors import (
    FieldError,
    GoValue,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from kubelite.api.validation_meta import (
    too_many,
    validate_object_meta,
    validate_object_meta_update,
)

Obj = dict[str, Any]
Errs = list[FieldError]

MAX_SELECTABLE_FIELDS = 8
COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
COLUMN_FORMATS = ["int32", "int64", "float", "double", "byte", "date", "date-time", "password"]
_SIMPLE_PATH = re.compile(r"^(\.[A-Za-z0-9_\-]+|\[[^\]]+\])+$")
_PROTECTED_GROUP = re.compile(r"(^|\.)(k8s\.io|kubernetes\.io)$")
_APPROVAL = "api-approved.kubernetes.io"


def default_crd(crd: Obj) -> None:
    """SetDefaults for a CRD: singular, listKind, conversion, column priorities."""
    spec = crd.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    names_ = spec.get("names")
    if isinstance(names_, dict) and names_.get("kind"):
        names_.setdefault("singular", str(names_["kind"]).lower())
        names_.setdefault("listKind", f"{names_['kind']}List")
    conversion = spec.setdefault("conversion", {})
    if isinstance(conversion, dict):
        conversion.setdefault("strategy", "None")
    status = crd.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("storedVersions", [])


def _names_errs(value: Any, path: str, *, kind: bool = False) -> Errs:
    text = str(value or "")
    if not text:
        return [required(path, "")]
    check = text.lower() if kind else text
    msgs = names.is_dns1035_label(check)
    if not msgs:
        return []
    if kind:
        return [
            invalid(
                path,
                text,
                "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
            )
        ]
    return [invalid(path, text, m) for m in msgs]


def _validate_names(spec_names: Any, path: str) -> Errs:
    if not isinstance(spec_names, dict):
        return [required(path, "")]
    errs: Errs = []
    errs += _names_errs(spec_names.get("plural"), f"{path}.plural")
    if spec_names.get("singular"):
        errs += _names_errs(spec_names.get("singular"), f"{path}.singular")
    errs += _names_errs(spec_names.get("kind"), f"{path}.kind", kind=True)
    if spec_names.get("listKind"):
        errs += _names_errs(spec_names.get("listKind"), f"{path}.listKind", kind=True)
    if spec_names.get("kind") and spec_names.get("kind") == spec_names.get("listKind"):
        errs.append(
            invalid(
                f"{path}.listKind", spec_names["listKind"], "kind and listKind may not be the same"
            )
        )
    for i, short in enumerate(spec_names.get("shortNames") or []):
        errs += [
            invalid(f"{path}.shortNames[{i}]", short, m) for m in names.is_dns1035_label(str(short))
        ]
    for i, cat in enumerate(spec_names.get("categories") or []):
        errs += [
            invalid(f"{path}.categories[{i}]", cat, m) for m in names.is_dns1035_label(str(cat))
        ]
    return errs


def _versions_summary(versions: list[Any]) -> str:
    """The value upstream prints for `spec.versions` (its Go structs): the names."""
    return json.dumps([v.get("name") for v in versions if isinstance(v, dict)])


def _validate_versions(versions: Any, path: str, rules: ListRules) -> Errs:
    if not isinstance(versions, list) or not versions:
        return [invalid(path, [], "must have exactly one version marked as storage version")]
    errs: Errs = []
    seen: set[str] = set()
    storage = 0
    served = 0
    for i, version in enumerate(versions):
        vpath = f"{path}[{i}]"
        if not isinstance(version, dict):
            errs.append(invalid(vpath, version, "must be an object"))
            continue
        name = str(version.get("name") or "")
        if not name:
            errs.append(required(f"{vpath}.name", ""))
        else:
            errs += [invalid(f"{vpath}.name", name, m) for m in names.is_dns1035_label(name)]
            if name in seen:
                errs.append(duplicate(f"{vpath}.name", name))
            seen.add(name)
        storage += bool(version.get("storage"))
        served += bool(version.get("served"))
        errs += _validate_version(version, vpath, rules)
    summary = _versions_summary(versions)
    if storage != 1:
        errs.append(
            FieldError(
                "FieldValueInvalid",
                path,
                "must have exactly one version marked as storage version",
                GoValue(summary),
            )
        )
    if served == 0:
        errs.append(
            FieldError(
                "FieldValueInvalid", path, "must serve at least one version", GoValue(summary)
            )
        )
    return errs


def _validate_version(version: Obj, path: str, rules: ListRules) -> Errs:
    errs: Errs = []
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    schema_path = f"{path}.schema.openAPIV3Schema"
    if schema is None:
        errs.append(required(schema_path, "schemas are required"))
    else:
        errs += check_list_extensions(schema, schema_path, rules)
        errs += check_structural(schema, schema_path)
    subs = version.get("subresources") or {}
    scale = subs.get("scale") if isinstance(subs, dict) else None
    if isinstance(scale, dict):
        errs += _validate_scale(scale, f"{path}.subresources.scale")
    for i, column in enumerate(version.get("additionalPrinterColumns") or []):
        errs += _validate_column(column, f"{path}.additionalPrinterColumns[{i}]")
    selectable = version.get("selectableFields")
    if selectable:
        if schema is None:
            errs.append(
                invalid(
                    f"{path}.selectableFields",
                    "",
                    "may only be set when `version.schema.openAPIV3Schema` is not included",
                )
            )
        elif isinstance(schema, dict):
            errs += _validate_selectable(selectable, schema, f"{path}.selectableFields")
    return errs


def _validate_selectable(fields: Any, schema: Obj, path: str) -> Errs:
    """ValidateCustomResourceSelectableFields: simple paths to string, boolean or integer
    fields outside metadata, no duplicates, at most MAX_SELECTABLE_FIELDS."""
    errs: Errs = []
    seen: set[str] = set()
    for i, item in enumerate(fields if isinstance(fields, list) else []):
        at = f"{path}[{i}].jsonPath"
        json_path = str((item or {}).get("jsonPath") or "") if isinstance(item, dict) else ""
        if not json_path:
            errs.append(required(at, ""))
            continue
        try:
            names_, node = resolve(json_path, schema)
        except ValueError as exc:
            errs.append(invalid(at, json_path, f"is an invalid path: {exc}"))
            continue
        if names_ and names_[0] == "metadata":
            errs.append(invalid(at, json_path, "must not point to fields in metadata"))
        if not isinstance(node, dict) or node.get("type") not in ("string", "boolean", "integer"):
            errs.append(
                invalid(
                    at,
                    json_path,
                    "must point to a field of type string, boolean or integer. Enum string "
                    "fields and strings with formats are allowed.",
                )
            )
        key = ".".join(names_)
        if key in seen:
            errs.append(duplicate(at, json_path))
        seen.add(key)
    if len(seen) > MAX_SELECTABLE_FIELDS:
        errs.append(too_many(path, len(seen), MAX_SELECTABLE_FIELDS))
    return errs


def _validate_rules(crd: Obj) -> Errs:
    """CEL rules of each version's schema, once it is structural (as upstream orders it)."""
    versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)]
    schemas = [(v.get("schema") or {}).get("openAPIV3Schema") for v in versions]
    if not any(has_rules(s) for s in schemas):
        return []
    # Loaded only for a CRD that has rules: compiling them needs CEL.
    from kubelite.api.crd.cel_rules import check_rules, schema_path

    errs: Errs = []
    seen: set[str] = set()
    for i, schema in enumerate(schemas):
        path = schema_path(crd, i)
        if path in seen or not has_rules(schema):
            continue
        seen.add(path)
        if not check_structural(schema, path):
            errs += check_rules(schema, path)
    return errs


def _validate_scale(scale: Obj, path: str) -> Errs:
    errs: Errs = []
    for key, root in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = str(scale.get(key) or "")
        if not value:
            errs.append(required(f"{path}.{key}", ""))
        elif not value.startswith(root) or not _SIMPLE_PATH.match(value):
            errs.append(invalid(f"{path}.{key}", value, f"should be a json path under {root[:-1]}"))
    selector = scale.get("labelSelectorPath")
    if selector and (
        not (str(selector).startswith(".spec.") or str(selector).startswith(".status."))
        or not _SIMPLE_PATH.match(str(selector))
    ):
        errs.append(
            invalid(
                f"{path}.labelSelectorPath",
                selector,
                "should be a json path under either .spec or .status",
            )
        )
    return errs


def _validate_column(column: Any, path: str) -> Errs:
    if not isinstance(column, dict):
        return [invalid(path, column, "must be an object")]
    errs: Errs = []
    if not column.get("name"):
        errs.append(required(f"{path}.name", ""))
    kind = column.get("type")
    if not kind:
        errs.append(required(f"{path}.type", ""))
    elif kind not in COLUMN_TYPES:
        errs.append(not_supported(f"{path}.type", kind, COLUMN_TYPES))
    fmt = column.get("format")
    if fmt and fmt not in COLUMN_FORMATS:
        errs.append(not_supported(f"{path}.format", fmt, COLUMN_FORMATS))
    priority = column.get("priority", 0)
    if isinstance(priority, int) and priority < 0:
        errs.append(invalid(f"{path}.priority", priority, "must be greater than or equal to 0"))
    json_path = str(column.get("jsonPath") or "")
    if not json_path:
        errs.append(required(f"{path}.jsonPath", ""))
    elif not json_path.startswith("."):
        errs.append(
            invalid(f"{path}.jsonPath", json_path, "must be a simple json path starting with .")
        )
    return errs


def _validate_conversion(conversion: Any, path: str) -> Errs:
    if not isinstance(conversion, dict):
        return []
    strategy = conversion.get("strategy")
    if strategy == "Webhook":
        return [
            forbidden(
                f"{path}.strategy",
                "conversion webhooks are not supported by kubelite; use strategy None",
            )
        ]
    if strategy not in ("None", None):
        return [not_supported(f"{path}.strategy", strategy, ["None", "Webhook"])]
    if conversion.get("webhook") is not None:
        return [
            forbidden(f"{path}.webhook", "should not be set when strategy is not set to Webhook")
        ]
    return []


def _validate_group(crd: Obj, group: str) -> Errs:
    if not group:
        return [required("spec.group", "")]
    errs = [invalid("spec.group", group, m) for m in names.is_dns1123_subdomain(group)]
    if not errs and "." not in group:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    if _PROTECTED_GROUP.search(group) and _APPROVAL not in annotations:
        errs.append(
            required(
                f"metadata.annotations[{_APPROVAL}]",
                "protected groups must have approval annotation "
                f'"{_APPROVAL}", see https://github.com/kubernetes/enhancements/pull/1111',
            )
        )
    return errs


def validate_crd(crd: Obj, rules: ListRules | None = None) -> Errs:
    """Create-time validation of a CustomResourceDefinition (on update, with the
    list rules the old CRD already met)."""
    errs = validate_object_meta(
        crd, namespaced=False, name_fn=names.name_is_dns_subdomain, kube_finalizers=False
    )
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    group = str(spec.get("group") or "")
    spec_names = spec.get("names") or {}
    plural = str(spec_names.get("plural") or "") if isinstance(spec_names, dict) else ""
    name = str((crd.get("metadata") or {}).get("name") or "")
    if name and name != f"{plural}.{group}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    errs += _validate_group(crd, group)
    errs += _validate_names(spec_names, "spec.names")
    scope = spec.get("scope")
    if not scope:
        errs.append(required("spec.scope", ""))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    errs += _validate_versions(spec.get("versions"), "spec.versions", rules or ListRules())
    errs += _validate_rules(crd)
    errs += _validate_conversion(spec.get("conversion"), "spec.conversion")
    return errs


def validate_crd_update(crd: Obj, old: Obj) -> Errs:
    """Update-time validation: the create rules, metadata updates, immutable scope and group."""
    errs = validate_object_meta_update(crd, old, kube_finalizers=False)
    rules = ListRules.for_update(old)
    errs += [e for e in validate_crd(crd, rules) if not e.field.startswith("metadata.")]
    spec, old_spec = crd.get("spec") or {}, old.get("spec") or {}
    for key in ("group", "scope"):
        if spec.get(key) != old_spec.get(key) and old_spec.get(key) is not None:
            errs.append(invalid(f"spec.{key}", spec.get(key), "field is immutable"))
    versions = {v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict)}
    for i, stored in enumerate((old.get("status") or {}).get("storedVersions") or []):
        if stored not in versions:
            errs.append(
                invalid(f"status.storedVersions[{i}]", stored, "must appear in spec.versions")
            )
    return errs
