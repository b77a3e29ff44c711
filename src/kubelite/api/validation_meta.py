"""Shared pieces of validation: field paths, ObjectMeta, labels, selectors.

Paths are plain strings built the way apimachinery's `field.Path` prints
them (`spec.containers[0].name`, `data[key]`), so a `FieldError` carries the
exact `details.causes[].field` a real cluster returns.

Objects arrive as wire dicts (JSON/YAML decoded, already defaulted). Go's zero
values are what a missing key means: `_s`, `_i`, `_l`, `_d` read a field with
that reading, so `{"name": null}` and `{}` validate the same, as they do
upstream after decoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import (
    FieldError,
    GoValue,
    duplicate,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
)

Obj = dict[str, Any]
Errs = list[FieldError]
NameFn = Callable[[str, bool], list[str]]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)

__all__ = [
    "FIELD_IMMUTABLE",
    "IS_NEGATIVE",
    "Errs",
    "Obj",
    "child",
    "duplicate",
    "forbidden",
    "idx",
    "invalid",
    "key",
    "not_found",
    "not_supported",
    "required",
]


# --- paths ---


def child(path: str, *names_: str) -> str:
    for name in names_:
        path = f"{path}.{name}" if path else name
    return path


def idx(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def too_long(path: str, max_len: int) -> FieldError:
    unit = "byte" if max_len == 1 else "bytes"
    return FieldError("FieldValueTooLong", path, f"may not be more than {max_len} {unit}")


def too_many(path: str, actual: int, max_items: int) -> FieldError:
    unit = "item" if max_items == 1 else "items"
    return FieldError("FieldValueTooMany", path, f"must have at most {max_items} {unit}", actual)


# --- reading wire dicts with Go zero values ---


def _s(obj: Any, k: str) -> str:
    v = obj.get(k) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else ""


def _i(obj: Any, k: str) -> int:
    v = obj.get(k) if isinstance(obj, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _l(obj: Any, k: str) -> list[Any]:
    v = obj.get(k) if isinstance(obj, dict) else None
    return v if isinstance(v, list) else []


def _d(obj: Any, k: str) -> Obj:
    v = obj.get(k) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def _dl(obj: Any, k: str) -> list[Obj]:
    """A list of objects; non-dict entries read as empty objects (zero structs)."""
    return [v if isinstance(v, dict) else {} for v in _l(obj, k)]


def has(obj: Any, k: str) -> bool:
    """A pointer field that is set (non-null)."""
    return isinstance(obj, dict) and obj.get(k) is not None


# --- semantic equality (apiequality.Semantic.DeepEqual on wire dicts) ---


def normalize(value: Any) -> Any:
    """Drop what Go cannot tell from unset: null, "", empty lists and maps."""
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def semantic_equal(a: Any, b: Any) -> bool:
    return normalize(a) == normalize(b)


def immutable(new: Any, old: Any, path: str) -> Errs:
    if semantic_equal(new, old):
        return []
    return [invalid(path, new, FIELD_IMMUTABLE)]


def _go_time(value: Any) -> Any:
    """A time as Go's time.Time prints it in a field error (`2030-01-01 00:00:00 +0000 UTC`)."""
    if not isinstance(value, str):
        return GoValue("null") if value is None else value
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value
    return GoValue(when.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"))


def nonnegative(value: int, path: str) -> Errs:
    return [invalid(path, value, IS_NEGATIVE)] if value < 0 else []


def go_list(values: list[str]) -> str:
    """Go's %#v of a []string."""
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


# --- quantities (kubelite.api.quantity is owned elsewhere: import lazily) ---


class BadQuantity(ValueError):
    pass


def parse_quantity(value: Any) -> Fraction:
    """Parse a wire quantity (string or JSON number); BadQuantity on error."""
    from kubelite.api import quantity as q  # lazy: the module lands separately

    text = value if isinstance(value, str) else _number_text(value)
    try:
        return q.parse_quantity(text)
    except ValueError as exc:  # QuantityError subclasses ValueError
        raise BadQuantity(str(exc)) from exc


def _number_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return repr(value) if isinstance(value, float) else str(value)


def quantity_string(value: Any) -> str:
    """Quantity.String(): the canonical form, when the quantity module offers it."""
    from kubelite.api import quantity as q

    text = value if isinstance(value, str) else _number_text(value)
    for name in ("canonicalize", "canonical"):
        fn = getattr(q, name, None)
        if callable(fn):
            try:
                return str(fn(text))
            except (ValueError, TypeError):
                break
    return text


# --- labels, annotations, selectors (apimachinery meta/v1/validation) ---


def validate_label_name(name: str, path: str) -> Errs:
    return [invalid(path, name, msg) for msg in names.is_qualified_name(name)]


def validate_labels(labels: Any, path: str) -> Errs:
    errs: Errs = []
    if not isinstance(labels, dict):
        return errs
    for k in sorted(labels):  # Go map order is random; sorted keeps output stable
        errs += validate_label_name(k, path)
        v = labels[k] if isinstance(labels[k], str) else ""
        errs += [invalid(path, v, msg) for msg in names.is_valid_label_value(v)]
    return errs


def validate_annotations(annotations: Any, path: str) -> Errs:
    errs: Errs = []
    if not isinstance(annotations, dict):
        return errs
    total = 0
    for k in sorted(annotations):
        errs += [invalid(path, k, msg) for msg in names.is_qualified_name(k.lower())]
        v = annotations[k] if isinstance(annotations[k], str) else ""
        total += len(k.encode()) + len(v.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_label_selector(selector: Any, path: str) -> Errs:
    if not isinstance(selector, dict):
        return []
    errs = validate_labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in enumerate(_dl(selector, "matchExpressions")):
        errs += validate_selector_requirement(expr, idx(child(path, "matchExpressions"), i))
    return errs


def validate_selector_requirement(req: Obj, path: str) -> Errs:
    errs: Errs = []
    op, values = _s(req, "operator"), _l(req, "values")
    if op in ("In", "NotIn"):
        if not values:
            errs.append(
                required(
                    child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    child(path, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    errs += validate_label_name(_s(req, "key"), child(path, "key"))
    for i, v in enumerate(values):
        v = v if isinstance(v, str) else ""
        errs += [
            invalid(idx(child(path, "values"), i), v, m) for m in names.is_valid_label_value(v)
        ]
    return errs


def selector_matches(selector: Any, labels: Any) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels)."""
    labels = labels if isinstance(labels, dict) else {}
    if not isinstance(selector, dict):
        return False  # a nil selector selects nothing
    for k, v in _d(selector, "matchLabels").items():
        if labels.get(k) != v:
            return False
    for expr in _dl(selector, "matchExpressions"):
        k, op, values = _s(expr, "key"), _s(expr, "operator"), _l(expr, "values")
        present = k in labels
        if op == "In" and not (present and labels[k] in values):
            return False
        if op == "NotIn" and present and labels[k] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    return not _d(selector, "matchLabels") and not _l(selector, "matchExpressions")


# --- ObjectMeta ---

_STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}


def _validate_finalizers(finalizers: list[Any], path: str) -> Errs:
    errs: Errs = []
    for f in finalizers:
        f = f if isinstance(f, str) else ""
        errs += [invalid(path, f, msg) for msg in names.is_qualified_name(f)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(
            invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
        )
    return errs


def _validate_kube_finalizers(finalizers: list[Any], path: str) -> Errs:
    errs: Errs = []
    for i, f in enumerate(finalizers):
        f = f if isinstance(f, str) else ""
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            errs.append(
                invalid(
                    idx(path, i),
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errs


def _validate_owner_references(refs: list[Any], path: str) -> Errs:
    errs: Errs = []
    first_controller = ""
    for i, ref in enumerate(refs):
        ref = ref if isinstance(ref, dict) else {}
        p = idx(path, i)
        api_version = _s(ref, "apiVersion")
        parts = api_version.split("/")
        if not api_version:
            errs.append(required(child(p, "apiVersion"), "must not be empty"))
        elif len(parts) > 2 or not parts[-1]:
            errs.append(
                invalid(
                    child(p, "apiVersion"), api_version, "must be <group>/<version> or <version>"
                )
            )
        for field_name in ("kind", "name", "uid"):
            if not _s(ref, field_name):
                errs.append(required(child(p, field_name), "must not be empty"))
        if api_version == "v1" and _s(ref, "kind") == "Event":
            errs.append(invalid(p, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            name = f"{_s(ref, 'kind')}/{_s(ref, 'name')}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        refs,
                        "Only one reference can have Controller set to true. "
                        f'Found "true" in references for {first_controller} and {name}',
                    )
                )
            else:
                first_controller = name
    return errs


def _validate_meta_common(meta: Obj, namespaced: bool, path: str) -> Errs:
    errs: Errs = []
    ns = _s(meta, "namespace")
    if namespaced:
        if not ns:
            errs.append(required(child(path, "namespace"), ""))
        else:
            errs += [
                invalid(child(path, "namespace"), ns, m) for m in names.name_is_dns_label(ns, False)
            ]
    elif ns:
        # The API server clears namespace on cluster-scoped kinds before this
        # runs (rest.BeforeCreate); an object reaching here with one is a bug.
        errs.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    errs += nonnegative(_i(meta, "generation"), child(path, "generation"))
    errs += validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += _validate_owner_references(_l(meta, "ownerReferences"), child(path, "ownerReferences"))
    errs += _validate_finalizers(_l(meta, "finalizers"), child(path, "finalizers"))
    return errs


def validate_object_meta(
    obj: Obj,
    *,
    namespaced: bool,
    name_fn: NameFn,
    path: str = "metadata",
    kube_finalizers: bool = True,
) -> Errs:
    """core/validation.ValidateObjectMeta: create-time metadata rules.

    `kube_finalizers=False` is apimachinery's generic version (CRDs and custom
    resources): finalizer names need not be standard or contain a slash.
    """
    meta = _d(obj, "metadata")
    errs: Errs = []
    generate_name, name = _s(meta, "generateName"), _s(meta, "name")
    if generate_name:
        errs += [
            invalid(child(path, "generateName"), generate_name, m)
            for m in name_fn(generate_name, True)
        ]
    if not name:
        errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs += [invalid(child(path, "name"), name, m) for m in name_fn(name, False)]
    errs += _validate_meta_common(meta, namespaced, path)
    if kube_finalizers:
        errs += _validate_kube_finalizers(_l(meta, "finalizers"), child(path, "finalizers"))
    return errs


def validate_object_meta_update(
    new: Obj, old: Obj, path: str = "metadata", *, kube_finalizers: bool = True
) -> Errs:
    """core/validation.ValidateObjectMetaUpdate (`kube_finalizers` as in `validate_object_meta`)."""
    meta, old_meta = _d(new, "metadata"), _d(old, "metadata")
    errs: Errs = []
    if old_meta.get("deletionTimestamp"):
        old_finalizers = set(_l(old_meta, "finalizers"))
        extra = sorted({f for f in _l(meta, "finalizers") if f not in old_finalizers})
        if extra:
            errs.append(
                forbidden(
                    child(path, "finalizers"),
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {go_list(extra)}",
                )
            )
    if not _s(meta, "resourceVersion"):
        errs.append(invalid(child(path, "resourceVersion"), "", "must be specified for an update"))
    generation = _i(meta, "generation")
    errs += nonnegative(generation, child(path, "generation"))
    if generation < _i(old_meta, "generation"):
        errs.append(invalid(child(path, "generation"), generation, "must not be decremented"))
    for field_name in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        found = immutable(meta.get(field_name), old_meta.get(field_name), child(path, field_name))
        if found and field_name == "deletionTimestamp":
            found = [
                invalid(child(path, field_name), _go_time(meta.get(field_name)), FIELD_IMMUTABLE)
            ]
        errs += found
    errs += validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += _validate_owner_references(_l(meta, "ownerReferences"), child(path, "ownerReferences"))
    if kube_finalizers:
        errs += _validate_kube_finalizers(_l(meta, "finalizers"), child(path, "finalizers"))
    return errs


def validate_template_object_meta(meta: Obj, path: str) -> Errs:
    """ValidateTemplateObjectMeta: only labels and annotations may be set."""
    errs = validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += validate_labels(meta.get("labels"), child(path, "labels"))
    for k in meta:
        if k not in ("labels", "annotations") and meta[k] not in (None, "", [], {}, 0):
            errs.append(forbidden(child(path, k), "cannot be set"))
    return errs


def name_messages(fn: NameFn, value: str, path: str) -> Errs:
    return [invalid(path, value, m) for m in fn(value, False)]


def dns1123_label(value: str, path: str) -> Errs:
    return [invalid(path, value, m) for m in names.is_dns1123_label(value)]


def dns1123_subdomain(value: str, path: str) -> Errs:
    return [invalid(path, value, m) for m in names.is_dns1123_subdomain(value)]


def qualified_name(value: str, path: str) -> Errs:
    return [invalid(path, value, m) for m in names.is_qualified_name(value)]


def ip_address(value: str, path: str) -> Errs:
    return [invalid(path, value, m) for m in names.ip_errors(value)]


def port_num_or_name(port: Any, path: str) -> Errs:
    """ValidatePortNumOrName for an IntOrString (unset reads as the int 0)."""
    if port is None:
        port = 0
    if isinstance(port, int) and not isinstance(port, bool):
        return [invalid(path, port, m) for m in names.is_valid_port_num(port)]
    if isinstance(port, str):
        return [invalid(path, port, m) for m in names.is_valid_port_name(port)]
    return [FieldError("InternalError", path, f"unknown type: {type(port).__name__}")]


def pull_policy(policy: str, path: str) -> Errs:
    """validatePullPolicy (containers and image volumes)."""
    if policy in ("Always", "IfNotPresent", "Never"):
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, ["Always", "IfNotPresent", "Never"])]


@dataclass(frozen=True)
class PodOptions:
    """The PodValidationOptions kubelite varies; the rest are fixed (see validation_pod)."""

    resource_is_pod: bool = False
    relaxed_env_names: bool = True  # RelaxedEnvironmentVariableValidation, on by default
