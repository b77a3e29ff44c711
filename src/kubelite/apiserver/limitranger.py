"""The LimitRanger admission plugin: a namespace's LimitRanges, applied as upstream does.

On a pod create, every container (and init container) without a request or
limit for a resource gets the `defaultRequest`/`default` of the namespace's
Container items, and the pod is annotated `kubernetes.io/limit-ranger:
LimitRanger plugin set: cpu, memory request for container app; ...` — this is
the mutating half, so a Deployment's pods get their defaults through the
same path as `kubectl run`'s. Then, once the pod is defaulted and valid, the
validating half enforces `min`, `max` and `maxLimitRequestRatio` per
Container and per Pod (summed as the scheduler sums them), and a claim's
storage request against PersistentVolumeClaim items. A refusal is a 403 with
upstream's words: `pods "x" is forbidden: maximum memory usage per Container
is 1Gi, but limit is 2Gi`.

Upstream runs after decoding has defaulted the pod, so a container that only
sets limits already requests as much; kubelite admits before defaulting, so
that one default (requests from limits) is applied here first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import quantity as q
from kubelite.api import quota as rl
from kubelite.api.quantity import Quantity
from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes
    from kubelite.apiserver.rest import RestStorage

NAME = "LimitRanger"
ANNOTATION = "kubernetes.io/limit-ranger"
LIMIT_RANGE = REGISTRY.by_kind("v1", "LimitRange")
_MAX_MILLI = ((1 << 63) - 1) // 1000

Obj = dict[str, Any]


def limit_ranges(storage: RestStorage, namespace: str | None) -> list[Obj]:
    assert LIMIT_RANGE is not None
    if not namespace:
        return []
    items, _, _ = storage.store.list(LIMIT_RANGE.prefix(namespace))
    return [kv.obj() for kv in items]


def _items(lr: Obj) -> list[Obj]:
    return [i for i in (lr.get("spec") or {}).get("limits") or [] if isinstance(i, dict)]


# ---- mutation -------------------------------------------------------------------------


def _requests_from_limits(container: Obj) -> None:
    """SetDefaults_Pod's part that upstream applies before admission."""
    res = container.get("resources")
    if not isinstance(res, dict) or not isinstance(res.get("limits"), dict):
        return
    requests = res.get("requests")
    if not isinstance(requests, dict):
        requests = res["requests"] = {}
    for name, value in res["limits"].items():
        requests.setdefault(name, value)


def _fill(container: Obj, field: str, defaults: dict[str, Any]) -> list[str]:
    """Set the missing `resources.<field>` entries; the names set, sorted."""
    res = container.get("resources")
    have = (res or {}).get(field) if isinstance(res, dict) else None
    missing = sorted(k for k in defaults if not isinstance(have, dict) or k not in have)
    if not missing:
        return []
    if not isinstance(res, dict):
        res = container["resources"] = {}
    if not isinstance(res.get(field), dict):
        res[field] = {}
    for name in missing:
        res[field][name] = defaults[name]
    return missing


def apply_defaults(lr: Obj, pod: Obj) -> None:
    """PodMutateLimitFunc: one LimitRange's Container defaults into `pod`."""
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    for item in _items(lr):
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    notes: list[str] = []
    spec = pod.get("spec") or {}
    for key, label in (("containers", "container"), ("initContainers", "init container")):
        for c in spec.get(key) or []:
            set_limits = _fill(c, "limits", limits)
            set_requests = _fill(c, "requests", requests)
            name = c.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(set_requests)} request for {label} {name}")
            if set_limits:
                notes.append(f"{', '.join(set_limits)} limit for {label} {name}")
    if notes:
        md = pod.setdefault("metadata", {})
        if not isinstance(md.get("annotations"), dict):
            md["annotations"] = {}
        md["annotations"][ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


# ---- validation -----------------------------------------------------------------------


def _enforced(
    observed: Quantity | None, other: Quantity | None, enforced: Quantity
) -> tuple[int, int, int]:
    """requestLimitEnforcedValues: milli-units when nothing overflows, else units."""
    values = [x.value if x is not None else 0 for x in (observed, other, enforced)]
    if all(q.value(v) <= _MAX_MILLI for v in values):
        a, b, c = (q.milli_value(v) for v in values)
    else:
        a, b, c = (q.value(v) for v in values)
    return a, b, c


def min_constraint(
    kind: str, name: str, enforced: Quantity, req: rl.ResourceList, lim: rl.ResourceList
) -> str:
    request, limit = req.get(name), lim.get(name)
    observed_req, observed_lim, bound = _enforced(request, limit, enforced)
    if request is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_req < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {request}"
    if limit is not None and observed_lim < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {limit}"
    return ""


def max_constraint(
    kind: str, name: str, enforced: Quantity, req: rl.ResourceList, lim: rl.ResourceList
) -> str:
    request, limit = req.get(name), lim.get(name)
    observed_req, observed_lim, bound = _enforced(request, limit, enforced)
    if limit is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_lim > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {limit}"
    if request is not None and observed_req > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request}"
    return ""


def max_request_constraint(kind: str, name: str, enforced: Quantity, req: rl.ResourceList) -> str:
    request = req.get(name)
    observed, _, bound = _enforced(request, None, enforced)
    if request is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request}"
    return ""


def ratio_constraint(
    kind: str, name: str, enforced: Quantity, req: rl.ResourceList, lim: rl.ResourceList
) -> str:
    request, limit = req.get(name), lim.get(name)
    observed_req, observed_lim, _ = _enforced(request, limit, enforced)
    head = f"{name} max limit to request ratio per {kind} is {enforced}"
    if request is None or observed_req == 0:
        return f"{head}, but no request is specified or request is 0"
    if limit is None or observed_lim == 0:
        return f"{head}, but no limit is specified or limit is 0"
    ratio = observed_lim / observed_req
    allowed = float(q.value(enforced.value))
    compared = ratio
    if q.value(enforced.value) <= _MAX_MILLI:
        compared, allowed = ratio * 1000, float(q.milli_value(enforced.value))
    if compared > allowed:
        return f"{head}, but provided ratio is {ratio:f}"
    return ""


def _check(kind: str, item: Obj, req: rl.ResourceList, lim: rl.ResourceList) -> list[str]:
    out: list[str] = []
    for field, check in (
        ("min", min_constraint),
        ("max", max_constraint),
        ("maxLimitRequestRatio", ratio_constraint),
    ):
        for name, bound in sorted(rl.parse_list(item.get(field)).items()):
            out.append(check(kind, name, bound, req, lim))
    return [m for m in out if m]


def pod_violations(lr: Obj, pod: Obj) -> list[str]:
    """PodValidateLimitFunc: the messages for one LimitRange, in upstream's order."""
    out: list[str] = []
    spec = pod.get("spec") or {}
    for item in _items(lr):
        if item.get("type") == "Container":
            for key in ("containers", "initContainers"):
                for c in spec.get(key) or []:
                    res = c.get("resources") or {}
                    req, lim = rl.parse_list(res.get("requests")), rl.parse_list(res.get("limits"))
                    out += _check("Container", item, req, lim)
        elif item.get("type") == "Pod":
            req = rl.pod_totals(spec, "requests", overhead=False)
            lim = rl.pod_totals(spec, "limits", overhead=False)
            out += _check("Pod", item, req, lim)
    return out


def claim_violations(lr: Obj, pvc: Obj) -> list[str]:
    """PersistentVolumeClaimValidateLimitFunc: storage requests within min and max."""
    out: list[str] = []
    requests = rl.parse_list(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
    for item in _items(lr):
        if item.get("type") != "PersistentVolumeClaim":
            continue
        for name, bound in sorted(rl.parse_list(item.get("min")).items()):
            out.append(min_constraint("PersistentVolumeClaim", name, bound, requests, {}))
        for name, bound in sorted(rl.parse_list(item.get("max")).items()):
            out.append(max_request_constraint("PersistentVolumeClaim", name, bound, requests))
    return [m for m in out if m]


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate's text: one message plain, several in brackets."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


class LimitRanger:
    """Defaults on admit, bounds on validate; pods on create, claims on create and update."""

    def admit(
        self, attrs: Attributes, obj: Obj | None, old: Obj | None, storage: RestStorage
    ) -> None:
        if attrs.operation != "CREATE" or attrs.subresource or attrs.resource.kind != "Pod":
            return
        if obj is None or attrs.resource.group:
            return
        ranges = limit_ranges(storage, attrs.namespace)
        if not ranges:
            return
        for key in ("containers", "initContainers"):
            for c in (obj.get("spec") or {}).get(key) or []:
                if isinstance(c, dict):
                    _requests_from_limits(c)
        for lr in ranges:
            apply_defaults(lr, obj)

    def validate(self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage) -> None:
        kind = attrs.resource.kind
        if (
            attrs.subresource
            or attrs.resource.group
            or kind not in ("Pod", "PersistentVolumeClaim")
        ):
            return
        if kind == "Pod" and attrs.operation != "CREATE":
            return
        if old is not None and (old.get("metadata") or {}).get("deletionTimestamp"):
            return
        for lr in limit_ranges(storage, attrs.namespace):
            found = pod_violations(lr, obj) if kind == "Pod" else claim_violations(lr, obj)
            if found:
                raise errors.Forbidden(
                    f'{attrs.resource.plural} "{attrs.name}" is forbidden: {aggregate(found)}',
                    details={"name": attrs.name, "kind": attrs.resource.plural},
                )


__all__ = [
    "ANNOTATION",
    "NAME",
    "LimitRanger",
    "apply_defaults",
    "claim_violations",
    "pod_violations",
]
