"""Defaults for the policy kinds: NetworkPolicy and LimitRange.

Kept apart from `defaults` so that module stays one table over the workload
kinds; both functions mirror upstream's `SetDefaults_*` and never overwrite a
value the user set.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def default_network_policy(np: Obj) -> None:
    """SetDefaults_NetworkPolicy(Port): ports are TCP; no policyTypes means Ingress,
    plus Egress when egress rules are given.

    Also the wire shape of the Go type: `podSelector` is a non-pointer field without
    omitempty, so an omitted one reads back as `{}` (all pods); empty `ingress`/`egress`
    lists are omitempty, so they read back absent."""
    spec = np.get("spec")
    if not isinstance(spec, dict):
        spec = np["spec"] = {}
    if spec.get("podSelector") is None:
        spec["podSelector"] = {}
    for direction in ("ingress", "egress"):
        if spec.get(direction) == []:
            del spec[direction]
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _resource_map(item: Obj, field: str) -> Obj:
    value = item.get(field)
    return value if isinstance(value, dict) else {}


def default_limit_range(lr: Obj) -> None:
    """SetDefaults_LimitRangeItem for each Container item: `default` falls back to
    `max`, `defaultRequest` to `default` and then to `min`."""
    for item in _dicts((lr.get("spec") or {}).get("limits")):
        if item.get("type") != "Container":
            continue
        default, request = _resource_map(item, "default"), _resource_map(item, "defaultRequest")
        for source, target in (
            (_resource_map(item, "max"), default),
            (default, request),
            (_resource_map(item, "min"), request),
        ):
            for name, value in source.items():
                target.setdefault(name, value)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


__all__ = ["default_limit_range", "default_network_policy"]
