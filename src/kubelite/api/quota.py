"""What an object costs against a ResourceQuota, as upstream's quota evaluators count it.

The ResourceQuota admission plugin and the resource-quota controller must
agree to the unit on what a pod, a Service or a claim uses, so both call
this module. A usage is a resource list: resource name -> `Quantity`, the
value plus the format it prints in (a sum prints in its first addend's
format, as `Quantity.Add` keeps it, so 512Mi + 512Mi shows as `1Gi`).

Evaluators are chosen by (group, plural):

- pods: `pods`, `count/pods`, `cpu`/`memory`/`ephemeral-storage` and their
  `requests.`/`limits.` forms, hugepages and `requests.<extended>`. Terminal
  pods (Succeeded, Failed) and pods past their deletion grace period count
  only for `count/pods`, as `QuotaV1Pod` decides.
- services: `services`, `count/services`, `services.nodeports`,
  `services.loadbalancers`.
- persistentvolumeclaims: `persistentvolumeclaims`, `requests.storage` and
  the per-StorageClass forms `<class>.storageclass.storage.k8s.io/...`.
- everything else: `count/<resource>[.<group>]`, plus the legacy names
  `configmaps`, `secrets`, `resourcequotas`, `replicationcontrollers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from fractions import Fraction
from typing import Any

from kubelite.api import quantity as q
from kubelite.api.quantity import Quantity
from kubelite.api.selectors import SelectorError, selector_from_dict

Obj = Mapping[str, Any]
ResourceList = dict[str, Quantity]

ZERO = Quantity(Fraction(0), "DecimalSI")
ONE = Quantity(Fraction(1), "DecimalSI")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"

_COMPUTE = ("cpu", "memory", "ephemeral-storage")
POD_RESOURCES = frozenset(
    {
        "count/pods",
        "pods",
        *_COMPUTE,
        *(f"requests.{r}" for r in _COMPUTE),
        *(f"limits.{r}" for r in _COMPUTE),
    }
)
# The resources a pod must state for every container when a quota limits them
# (upstream keeps this "mistake" for compatibility and adds nothing to it).
MUST_SPECIFY = frozenset(
    {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
)
SERVICE_RESOURCES = frozenset(
    {"count/services", "services", "services.nodeports", "services.loadbalancers"}
)
PVC_RESOURCES = frozenset(
    {"count/persistentvolumeclaims", "persistentvolumeclaims", "requests.storage"}
)
# Object counts quota also knows under their pre-`count/` names.
LEGACY_COUNTS = {
    "configmaps": "configmaps",
    "secrets": "secrets",
    "resourcequotas": "resourcequotas",
    "replicationcontrollers": "replicationcontrollers",
}
SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass")


# ---- resource lists -------------------------------------------------------------------


def parse_list(values: Any) -> ResourceList:
    """A wire ResourceList; unparsable entries (validation refuses them) are left out."""
    out: ResourceList = {}
    if not isinstance(values, Mapping):
        return out
    for name, raw in values.items():
        try:
            out[str(name)] = q.parse(raw)
        except (ValueError, TypeError):
            continue
    return out


def to_wire(values: ResourceList) -> dict[str, str]:
    return {name: str(values[name]) for name in sorted(values)}


def _sum(a: Quantity, b: Quantity) -> Quantity:
    """`a.Add(b)`: the format of `a`, unless `a` is zero."""
    return Quantity(a.value + b.value, a.format if a.value != 0 else b.format)


def add(a: ResourceList, b: ResourceList) -> ResourceList:
    out = dict(a)
    for name, value in b.items():
        out[name] = _sum(out[name], value) if name in out else value
    return out


def subtract_non_negative(a: ResourceList, b: ResourceList) -> ResourceList:
    out: ResourceList = {}
    for name, value in a.items():
        rest = value.value - (b[name].value if name in b else 0)
        out[name] = Quantity(max(rest, Fraction(0)), value.format)
    return out


def mask(values: ResourceList, names: Iterable[str]) -> ResourceList:
    wanted = set(names)
    return {k: v for k, v in values.items() if k in wanted}


def remove_zeros(values: ResourceList) -> ResourceList:
    return {k: v for k, v in values.items() if v.value != 0}


def exceeded(usage: ResourceList, hard: ResourceList) -> list[str]:
    """The names in `usage` above their `hard` value (absent from `hard`: not limited)."""
    return sorted(k for k, v in usage.items() if k in hard and v.value > hard[k].value)


def pretty(values: ResourceList) -> str:
    """`prettyPrint`: `name=value` sorted by name, comma-joined."""
    return ",".join(f"{k}={values[k]}" for k in sorted(values))


def _max_into(into: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        if name not in into or value.value > into[name].value:
            into[name] = value


# ---- pods -----------------------------------------------------------------------------


def _resources(container: Obj, key: str) -> ResourceList:
    return parse_list((container.get("resources") or {}).get(key))


def pod_totals(spec: Obj, key: str, *, overhead: bool = True) -> ResourceList:
    """`PodRequests`/`PodLimits` (key "requests"/"limits"): containers summed, sidecar
    init containers added, the largest plain init container taken when bigger."""
    total: ResourceList = {}
    for c in spec.get("containers") or []:
        total = add(total, _resources(c, key))
    sidecars: ResourceList = {}
    init_max: ResourceList = {}
    for c in spec.get("initContainers") or []:
        own = _resources(c, key)
        if c.get("restartPolicy") == "Always":
            total = add(total, own)
            sidecars = add(sidecars, own)
            _max_into(init_max, sidecars)
        else:
            _max_into(init_max, add(own, sidecars))
    _max_into(total, init_max)
    return add(total, parse_list(spec.get("overhead"))) if overhead else total


def _native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """`podComputeUsageHelper`: what one pod (or container) charges."""
    out: ResourceList = {"pods": ONE}
    for name in _COMPUTE:
        if name in requests:
            out[name] = out[f"requests.{name}"] = requests[name]
        if name in limits:
            out[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = out[f"requests.{name}"] = value
        elif not _native(name):
            out[f"requests.{name}"] = value
    return out


def pod_charged(pod: Obj, now: float) -> bool:
    """`QuotaV1Pod`: not terminal, and not past its deletion grace period."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    md = pod.get("metadata") or {}
    stamp, grace = md.get("deletionTimestamp"), md.get("deletionGracePeriodSeconds")
    if stamp and grace is not None:
        return now <= datetime.fromisoformat(str(stamp)).timestamp() + int(grace)
    return True


def pod_usage(pod: Obj, now: float) -> ResourceList:
    usage: ResourceList = {"count/pods": ONE}
    if not pod_charged(pod, now):
        return usage
    spec = pod.get("spec") or {}
    return add(usage, compute_usage(pod_totals(spec, "requests"), pod_totals(spec, "limits")))


def best_effort(spec: Obj) -> bool:
    """QoS BestEffort: no container asks for or limits cpu or memory."""
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                values = parse_list(res.get(part))
                if any(values[r].value != 0 for r in ("cpu", "memory") if r in values):
                    return False
    return True


def missing_compute(pod: Obj, tracked: Iterable[str]) -> str:
    """The pod evaluator's Constraints: "" or `must specify limits.cpu for: c; ...`."""
    required = set(tracked) & MUST_SPECIFY
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            have = compute_usage(_resources(c, "requests"), _resources(c, "limits"))
            for name in required - set(have):
                missing.setdefault(name, set()).add(str(c.get("name", "")))
    if not missing:
        return ""
    parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
    return "must specify " + "; ".join(parts)


# ---- other kinds ----------------------------------------------------------------------


def count_name(group: str, plural: str) -> str:
    return f"count/{plural}" if not group else f"count/{plural}.{group}"


def _service_usage(svc: Obj) -> ResourceList:
    usage: ResourceList = {"count/services": ONE, "services": ONE}
    spec = svc.get("spec") or {}
    ports = spec.get("ports") or []
    kind = spec.get("type")
    if kind == "NodePort":
        usage["services.nodeports"] = Quantity(Fraction(len(ports)), "DecimalSI")
    elif kind == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is False:
            ports = [p for p in ports if p.get("nodePort")]
        usage["services.nodeports"] = Quantity(Fraction(len(ports)), "DecimalSI")
        usage["services.loadbalancers"] = ONE
    return usage


def _claim_usage(pvc: Obj) -> ResourceList:
    usage: ResourceList = {"count/persistentvolumeclaims": ONE, "persistentvolumeclaims": ONE}
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    requests = parse_list((spec.get("resources") or {}).get("requests"))
    allocated = parse_list(status.get("allocatedResources"))
    storage = requests.get("storage")
    if "storage" in allocated and (storage is None or allocated["storage"].value > storage.value):
        storage = allocated["storage"]
    cls = spec.get("storageClassName")
    if cls:
        usage[f"{cls}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    if storage is not None:
        usage["requests.storage"] = storage
        if cls:
            usage[f"{cls}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
    return usage


def usage(group: str, plural: str, obj: Obj, now: float) -> ResourceList:
    """What one object of (group, plural) charges."""
    if (group, plural) == ("", "pods"):
        return pod_usage(obj, now)
    if (group, plural) == ("", "services"):
        return _service_usage(obj)
    if (group, plural) == ("", "persistentvolumeclaims"):
        return _claim_usage(obj)
    out = {count_name(group, plural): ONE}
    if not group and plural in LEGACY_COUNTS:
        out[LEGACY_COUNTS[plural]] = ONE
    return out


def tracked(group: str, plural: str, names: Iterable[str]) -> set[str]:
    """`MatchingResources`: which of a quota's resource names (group, plural) affects."""
    names = set(names)
    if (group, plural) == ("", "pods"):
        return {
            n
            for n in names
            if n in POD_RESOURCES
            or n.startswith(("hugepages-", "requests.hugepages-"))
            or (n.startswith("requests.") and not _native(n))
        }
    if (group, plural) == ("", "services"):
        return names & SERVICE_RESOURCES
    if (group, plural) == ("", "persistentvolumeclaims"):
        return {
            n
            for n in names
            if n in PVC_RESOURCES
            or (
                STORAGE_CLASS_SUFFIX in n
                and n.endswith(("/requests.storage", "/persistentvolumeclaims"))
            )
        }
    own = {count_name(group, plural)}
    if not group and plural in LEGACY_COUNTS:
        own.add(LEGACY_COUNTS[plural])
    return names & own


# ---- scopes ---------------------------------------------------------------------------


def scope_selectors(quota: Obj) -> list[dict[str, Any]]:
    """`spec.scopes` as Exists requirements, then `spec.scopeSelector.matchExpressions`."""
    spec = quota.get("spec") or {}
    out: list[dict[str, Any]] = [
        {"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []
    ]
    out += list((spec.get("scopeSelector") or {}).get("matchExpressions") or [])
    return out


def _pod_in_scope(pod: Obj, req: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    scope = req.get("scopeName")
    terminating = spec.get("activeDeadlineSeconds") is not None
    if scope == "Terminating":
        return terminating
    if scope == "NotTerminating":
        return not terminating
    if scope == "BestEffort":
        return best_effort(spec)
    if scope == "NotBestEffort":
        return not best_effort(spec)
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        if req.get("operator") == "Exists":
            return bool(name)
        expr = {
            "key": "priorityClass",
            "operator": req.get("operator"),
            "values": req.get("values"),
        }
        try:
            return selector_from_dict({"matchExpressions": [expr]}).matches(
                {"priorityClass": name} if name else {}
            )
        except SelectorError:
            return False
    return False  # CrossNamespacePodAffinity and unknown scopes: kubelite matches none


def in_scope(group: str, plural: str, obj: Obj, quota: Obj) -> bool:
    """Every scope of the quota matches; only pods can match a scope."""
    selectors = scope_selectors(quota)
    if not selectors:
        return True
    if (group, plural) != ("", "pods"):
        return False
    return all(_pod_in_scope(obj, req) for req in selectors)


def namespace_usage(
    group: str,
    plural: str,
    objects: Iterable[Obj],
    quota: Obj,
    names: Iterable[str],
    now: float,
) -> ResourceList:
    """`CalculateUsageStats`: the `names` usage of every object in scope, zeros included."""
    names = set(names)
    total: ResourceList = dict.fromkeys(sorted(names), ZERO)
    for obj in objects:
        if in_scope(group, plural, obj, quota):
            total = add(total, mask(usage(group, plural, obj, now), names))
    return total


__all__ = [
    "SCOPES",
    "ResourceList",
    "add",
    "best_effort",
    "count_name",
    "exceeded",
    "in_scope",
    "mask",
    "missing_compute",
    "namespace_usage",
    "parse_list",
    "pod_totals",
    "pretty",
    "remove_zeros",
    "subtract_non_negative",
    "to_wire",
    "tracked",
    "usage",
]
