"""PodTemplate validation (core/v1): an object that is only a pod template.

Charts ship PodTemplates for controllers that stamp pods out of them, so the
template is checked exactly as a Deployment's would be (upstream's
ValidatePodTemplateSpec under the `template` path); nothing in kubelite
creates pods from one.
"""

from __future__ import annotations

from kubelite.api import names
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import validate_pod_template_spec


def validate_pod_template(pt: Obj) -> Errs:
    errs = validate_object_meta(pt, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + validate_pod_template_spec(_d(pt, "template"), "template")


def validate_pod_template_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    return errs + validate_pod_template_spec(_d(new, "template"), "template")


__all__ = ["validate_pod_template", "validate_pod_template_update"]
