"""ReplicationController validation (core/v1), with upstream's paths and messages.

The RC predates label-selector expressions: its selector is a map that must
not be empty, every key equal in the template's labels. Unlike a
ReplicaSet's, the selector may change on update. Its pods restart Always and
have no deadline, since the controller replaces them; with more than one
replica a GCE PD can only be shared read-only. A status write is checked on
its own: no count negative, none above `replicas`, available within ready.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import names
from kubelite.api.selectors import selector_from_set
from kubelite.api.validation_apps import runs_until_replaced
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _i,
    child,
    idx,
    invalid,
    nonnegative,
    required,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import validate_pod_template_spec

_SHARED_PD = (
    "must be true for replicated pods > 1; GCE PD can only be mounted on multiple machines "
    "if it is read-only"
)


def _selector_map(spec: Obj) -> dict[str, str]:
    selector = spec.get("selector")
    return {str(k): str(v) for k, v in selector.items()} if isinstance(selector, dict) else {}


def _read_only_disks(volumes: Any, path: str) -> Errs:
    errs: Errs = []
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        disk = volume.get("gcePersistentDisk") if isinstance(volume, dict) else None
        if isinstance(disk, dict) and not disk.get("readOnly"):
            errs.append(
                invalid(child(idx(path, i), "gcePersistentDisk", "readOnly"), False, _SHARED_PD)
            )
    return errs


def _template_for_rc(spec: Obj, path: str) -> Errs:
    """ValidatePodTemplateSpecForRC."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [required(path, "")]
    errs: Errs = []
    selector = _selector_map(spec)
    labels = _d(template, "metadata").get("labels") or {}
    if selector and not selector_from_set(selector).matches(labels):
        errs.append(
            invalid(
                child(path, "metadata", "labels"),
                labels,
                "`selector` does not match template `labels`",
            )
        )
    errs += validate_pod_template_spec(template, path)
    template_spec = _d(template, "spec")
    if _i(spec, "replicas") > 1:
        errs += _read_only_disks(template_spec.get("volumes"), child(path, "spec", "volumes"))
    return errs + runs_until_replaced(template, path, "ReplicationController")


def _spec(spec: Obj, path: str) -> Errs:
    errs = nonnegative(_i(spec, "minReadySeconds"), child(path, "minReadySeconds"))
    if not _selector_map(spec):
        errs.append(required(child(path, "selector"), ""))
    errs += nonnegative(_i(spec, "replicas"), child(path, "replicas"))
    return errs + _template_for_rc(spec, child(path, "template"))


def validate_replication_controller(rc: Obj) -> Errs:
    errs = validate_object_meta(rc, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _spec(_d(rc, "spec"), "spec")


def validate_replication_controller_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    return errs + _spec(_d(new, "spec"), "spec")


def validate_replication_controller_status_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    status, path = _d(new, "status"), "status"
    counts = {
        f: _i(status, f)
        for f in (
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        )
    }
    for field_name, value in counts.items():
        errs += nonnegative(value, child(path, field_name))
    for field_name in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if counts[field_name] > counts["replicas"]:
            errs.append(
                invalid(
                    child(path, field_name),
                    counts[field_name],
                    "cannot be greater than status.replicas",
                )
            )
    if counts["availableReplicas"] > counts["readyReplicas"]:
        errs.append(
            invalid(
                child(path, "availableReplicas"),
                counts["availableReplicas"],
                "cannot be greater than readyReplicas",
            )
        )
    return errs


__all__ = [
    "validate_replication_controller",
    "validate_replication_controller_status_update",
    "validate_replication_controller_update",
]
