"""The request's options (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions)
validated as kube-apiserver validates them before anything else: a 422 naming the
options kind (`CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value:
[]string{"Foo"}: supported values: "All"`). Upstream's ValidateCreateOptions and
its siblings in apimachinery's meta/v1 validation.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from kubelite.api.fielderrors import (
    FieldError,
    GoValue,
    forbidden,
    invalid,
    not_supported,
    required,
)
from kubelite.api.validation_meta import go_list, too_long
from kubelite.apiserver import errors

FIELD_MANAGER_MAX_LENGTH = 128
_DRY_RUN_VALUES = ["All"]
_FIELD_VALIDATION_VALUES = ["", "Ignore", "Strict", "Warn"]
_PROPAGATION = ("Foreground", "Background", "Orphan")


def _dry_run(values: list[str]) -> list[FieldError]:
    if all(v in _DRY_RUN_VALUES for v in values):
        return []
    return [not_supported("dryRun", GoValue(go_list(values)), _DRY_RUN_VALUES)]


def _field_manager(manager: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if len(manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        errs.append(too_long("fieldManager", FIELD_MANAGER_MAX_LENGTH))
    for i, ch in enumerate(manager):
        if not _printable(ch):  # %#U of a rune that is not printable: its code alone
            detail = f"invalid character U+{ord(ch):04X} (at position {i})"
            errs.append(invalid("fieldManager", manager, detail))
    return errs


def _printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _field_validation(value: str | None) -> list[FieldError]:
    if value is None or value in _FIELD_VALIDATION_VALUES:
        return []
    return [not_supported("fieldValidation", value, _FIELD_VALIDATION_VALUES)]


def _raise(kind: str, errs: list[FieldError]) -> None:
    if errs:
        raise errors.Invalid.fields(kind, "meta.k8s.io", "", errs)


def _query_dry_run(query: dict[str, str]) -> list[str]:
    value = query.get("dryRun")
    return [value] if value else []


def check_write(method: str, query: dict[str, str]) -> None:
    """CreateOptions (POST) or UpdateOptions (PUT) of a request."""
    errs = _field_manager(query.get("fieldManager", ""))
    errs += _dry_run(_query_dry_run(query))
    errs += _field_validation(query.get("fieldValidation"))
    _raise("CreateOptions" if method == "POST" else "UpdateOptions", errs)


def check_patch(query: dict[str, str], *, apply: bool) -> None:
    errs: list[FieldError] = []
    manager = query.get("fieldManager", "")
    if not apply:
        if "force" in query:
            errs.append(forbidden("force", "may not be specified for non-apply patch"))
    elif not manager:
        errs.append(required("fieldManager", "is required for apply patch"))
    errs += _field_manager(manager)
    errs += _dry_run(_query_dry_run(query))
    errs += _field_validation(query.get("fieldValidation"))
    _raise("PatchOptions", errs)


def check_delete(options: dict[str, Any]) -> None:
    """DeleteOptions, as the body has them (or the query, read as a body)."""
    errs: list[FieldError] = []
    orphan = options.get("orphanDependents")
    policy = options.get("propagationPolicy")
    if orphan is not None and policy is not None:
        errs.append(
            invalid(
                "propagationPolicy",
                policy,
                "orphanDependents and deletionPropagation cannot be both set",
            )
        )
    if policy is not None and policy not in _PROPAGATION:
        errs.append(not_supported("propagationPolicy", policy, [*_PROPAGATION, "nil"]))
    dry = options.get("dryRun")
    errs += _dry_run([str(v) for v in dry] if isinstance(dry, list) else [])
    _raise("DeleteOptions", errs)
