"""The RuntimeClass admission plugin: a new pod takes what its RuntimeClass says.

As upstream's plugin (`plugin/pkg/admission/runtimeclass`, 1.32), on pod
CREATE only, for a pod with `spec.runtimeClassName`:

- a class that does not exist refuses the pod (`pod rejected: RuntimeClass
  "x" not found`, a 403);
- the class's `overhead.podFixed` becomes the pod's `spec.overhead`; a pod
  that already states a different overhead is refused;
- the class's `scheduling.nodeSelector` is merged into the pod's (a key both
  set to different values is refused) and its tolerations are merged with the
  pod's as upstream's `MergeTolerations` does (one that tolerates a superset of
  another replaces it).

Its validating half refuses a pod whose overhead no class accounts for (set by
the client without a class, or changed by a mutating webhook). Upstream reads
classes from an informer and asks the API when the cache misses; the store is
read directly here, so there is nothing to miss.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kubelite.api.quantity import QuantityError, parse_quantity
from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors
from kubelite.apiserver.webhook_match import admission_forbidden

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes
    from kubelite.apiserver.rest import RestStorage

NAME = "RuntimeClass"
RUNTIME_CLASS = REGISTRY.by_kind("node.k8s.io/v1", "RuntimeClass")

Obj = dict[str, Any]

log = logging.getLogger(__name__)


class RuntimeClassAdmission:
    """Upstream's RuntimeClass plugin: mutating (`admit`) and validating (`validate`)."""

    def admit(
        self, attrs: Attributes, obj: Obj | None, old: Obj | None, storage: RestStorage
    ) -> None:
        if obj is None or not _applies(attrs):
            return
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return  # validation says what is wrong with it
        rc = _runtime_class(attrs, spec, storage)
        if rc is None:
            return
        _set_overhead(attrs, spec, rc)
        _set_scheduling(attrs, spec, rc)
        log.debug(
            "Pod %s/%s takes RuntimeClass %s", attrs.namespace, attrs.name, spec["runtimeClassName"]
        )

    def validate(self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage) -> None:
        if not _applies(attrs):
            return
        spec = obj.get("spec") or {}
        rc = _runtime_class(attrs, spec, storage)
        overhead = spec.get("overhead")
        if not overhead:
            return
        if rc is None or rc.get("overhead") is None:
            raise _forbidden(
                attrs,
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
            )
        if not _same_resources((rc.get("overhead") or {}).get("podFixed"), overhead):
            raise _forbidden(attrs, _OVERHEAD_MISMATCH)


_OVERHEAD_MISMATCH = "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"


def _applies(attrs: Attributes) -> bool:
    """Pods themselves (no subresource), on CREATE: the only writes upstream's handler takes."""
    rt = attrs.resource
    return (
        attrs.operation == "CREATE"
        and not attrs.subresource
        and rt.group == ""
        and rt.kind == "Pod"
    )


def _runtime_class(attrs: Attributes, spec: Obj, storage: RestStorage) -> Obj | None:
    """The class the pod names, None when it names none; a missing one refuses the pod."""
    name = spec.get("runtimeClassName")
    if name is None:
        return None
    assert RUNTIME_CLASS is not None
    kv = storage.store.get(RUNTIME_CLASS.key(None, str(name)))
    if kv is None:
        raise _forbidden(attrs, f'pod rejected: RuntimeClass "{name}" not found')
    return kv.obj()


def _set_overhead(attrs: Attributes, spec: Obj, rc: Obj) -> None:
    overhead = rc.get("overhead")
    if overhead is None:
        return
    pod_fixed = (overhead or {}).get("podFixed") or {}
    if spec.get("overhead") and not _same_resources(pod_fixed, spec["overhead"]):
        raise _forbidden(attrs, _OVERHEAD_MISMATCH)
    if pod_fixed:
        spec["overhead"] = dict(pod_fixed)
    else:
        spec.pop("overhead", None)


def _set_scheduling(attrs: Attributes, spec: Obj, rc: Obj) -> None:
    scheduling = rc.get("scheduling")
    if scheduling is None:
        return
    class_selector: Obj = (scheduling or {}).get("nodeSelector") or {}
    selector = spec.get("nodeSelector")
    if selector is None:
        merged: Obj | None = dict(class_selector) if class_selector else None
    elif isinstance(selector, dict):
        for key, value in class_selector.items():
            if key in selector and selector[key] != value:
                raise _forbidden(
                    attrs,
                    f"conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; "
                    f"pod.spec.nodeSelector[{key}] = {selector[key]}",
                )
            selector[key] = value
        merged = selector
    else:
        return  # not a map: validation says so
    tolerations = spec.get("tolerations") or []
    class_tolerations = (scheduling or {}).get("tolerations") or []
    if not _all_dicts(tolerations) or not _all_dicts(class_tolerations):
        return
    _put(spec, "nodeSelector", merged)
    _put(spec, "tolerations", merge_tolerations(tolerations, class_tolerations))


def _put(spec: Obj, key: str, value: Any) -> None:
    if value:
        spec[key] = value
    else:
        spec.pop(key, None)


def _all_dicts(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(t, dict) for t in items)


# ---- tolerations: pkg/util/tolerations ------------------------------------------------

_Toleration = tuple[str, str, str, str, Any]


def _fields(t: Obj) -> _Toleration:
    """Key, operator, value, effect, seconds: Go's zero values for what is unset."""
    return (
        t.get("key") or "",
        t.get("operator") or "",
        t.get("value") or "",
        t.get("effect") or "",
        t.get("tolerationSeconds"),
    )


def is_superset(ss: Obj, t: Obj) -> bool:
    """Whether `ss` tolerates every taint `t` tolerates."""
    ss_key, ss_op, ss_value, ss_effect, ss_seconds = _fields(ss)
    t_key, t_op, t_value, t_effect, t_seconds = _fields(t)
    if _fields(ss) == _fields(t):
        return True
    # An empty key with Exists matches every key and value.
    if t_key != ss_key and (ss_key != "" or ss_op != "Exists"):
        return False
    # An empty effect matches every effect.
    if t_effect != ss_effect and ss_effect != "":
        return False
    # A bounded NoExecute toleration covers only one bounded as tightly or more.
    if (
        ss_effect == "NoExecute"
        and ss_seconds is not None
        and (t_seconds is None or t_seconds > ss_seconds)
    ):
        return False
    if ss_op in ("Equal", ""):  # empty means Equal
        return t_op == "Equal" and t_value == ss_value
    return ss_op == "Exists"


def merge_tolerations(first: list[Obj], second: list[Obj]) -> list[Obj]:
    """Both lists in order, leaving out each toleration another one covers (of two
    equal ones, the first stays)."""
    every = [*first, *second]
    merged: list[Obj] = []
    for i, t in enumerate(every):
        if any(is_superset(kept, t) for kept in merged):
            continue
        if any(_fields(t) != _fields(later) and is_superset(later, t) for later in every[i + 1 :]):
            continue
        merged.append(t)
    return merged


# ---- helpers -----------------------------------------------------------------------


def _same_resources(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual on two ResourceLists: the same names, equal
    quantities (`1` and `1000m` alike), an empty list the same as none."""
    a, b = a or {}, b or {}
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    try:
        return all(parse_quantity(a[k]) == parse_quantity(b[k]) for k in a)
    except (QuantityError, TypeError, ValueError):
        return a == b


def _forbidden(attrs: Attributes, message: str) -> errors.Forbidden:
    """admission.NewForbidden: `pods "name" is forbidden: <message>`."""
    rt = attrs.resource
    text, details = admission_forbidden(rt.plural, rt.group, attrs.name, message)
    return errors.Forbidden(text, details=details)
