"""RuntimeClass validation (node.k8s.io/v1).

The rules, field paths and messages of upstream's `pkg/apis/node/validation`
as of Kubernetes 1.32: the name is a DNS-1123 subdomain and the `handler` a
DNS-1123 label (an empty one is invalid, not missing: upstream checks the
string as it decoded it), immutable once created; `overhead.podFixed` is
checked as a container's limits are (the paths say `overhead.limits[cpu]`,
as upstream's do); `scheduling.nodeSelector` holds labels and
`scheduling.tolerations` a pod's tolerations, no two alike.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import GoValue
from kubelite.api.validation_containers import _resources
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _dl,
    _s,
    child,
    duplicate,
    idx,
    immutable,
    invalid,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import validate_tolerations

__all__ = ["validate_runtime_class", "validate_runtime_class_update"]


def validate_runtime_class(rc: Obj) -> Errs:
    errs = validate_object_meta(rc, namespaced=False, name_fn=names.name_is_dns_subdomain)
    handler = _s(rc, "handler")
    errs += [invalid("handler", handler, m) for m in names.name_is_dns_label(handler)]
    if rc.get("overhead") is not None:
        # upstream reuses the container check on `ResourceRequirements{Limits: podFixed}`
        errs += _resources({"limits": _d(_d(rc, "overhead"), "podFixed")}, "overhead")
    if rc.get("scheduling") is not None:
        errs += _scheduling(_d(rc, "scheduling"), "scheduling")
    return errs


def validate_runtime_class_update(new: Obj, old: Obj) -> Errs:
    errs = validate_runtime_class(new)
    errs += validate_object_meta_update(new, old)
    return errs + immutable(_s(new, "handler"), _s(old, "handler"), "handler")


def _scheduling(scheduling: Obj, path: str) -> Errs:
    errs: Errs = []
    if scheduling.get("nodeSelector") is not None:
        errs += validate_labels(scheduling["nodeSelector"], child(path, "nodeSelector"))
    return errs + _tolerations(_dl(scheduling, "tolerations"), child(path, "tolerations"))


def _tolerations(tolerations: list[Obj], path: str) -> Errs:
    """A pod's toleration rules, and no two with the same key, operator, value and effect."""
    errs = validate_tolerations(tolerations, path)
    seen: set[tuple[str, str, str, str]] = set()
    for i, t in enumerate(tolerations):
        list_key = (_s(t, "key"), _s(t, "operator"), _s(t, "value"), _s(t, "effect"))
        if list_key in seen:
            errs.append(duplicate(idx(path, i), _go_toleration(t)))
        seen.add(list_key)
    return errs


def _go_toleration(t: Obj) -> GoValue:
    """The toleration as Go's %#v prints upstream's internal type in the message."""
    seconds: Any = t.get("tolerationSeconds")
    # Go prints the pointer's address, which differs on every request: any will do.
    pointer = "(*int64)(nil)" if seconds is None else "(*int64)(0xc000010000)"
    return GoValue(
        f'core.Toleration{{Key:"{_s(t, "key")}", Operator:"{_s(t, "operator")}", '
        f'Value:"{_s(t, "value")}", Effect:"{_s(t, "effect")}", TolerationSeconds:{pointer}}}'
    )
