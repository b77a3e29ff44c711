"""NetworkPolicy validation (networking.k8s.io/v1), with upstream's paths and messages.

kubelite stores and serves NetworkPolicies but does not enforce them (as a
cluster whose network plugin lacks policy support), so what matters is that
manifests are accepted and refused exactly as a real API server would: label
selectors, ports (a numeric `port` may open a range up to `endPort`), peers
(exactly one `ipBlock`, or pod and namespace selectors) and `policyTypes`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubelite.api import names
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _dl,
    _l,
    _s,
    child,
    forbidden,
    idx,
    invalid,
    not_supported,
    required,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

PROTOCOLS = ["TCP", "UDP", "SCTP"]
POLICY_TYPES = ["Ingress", "Egress"]
_CIDR_MESSAGE = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _port(port: Obj, path: str) -> Errs:
    errs: Errs = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), protocol, PROTOCOLS))
    value, end = port.get("port"), port.get("endPort")
    if value is None:
        if end is not None:
            errs.append(
                invalid(
                    child(path, "endPort"), end, "may not be specified when `port` is not specified"
                )
            )
        return errs
    if isinstance(value, int) and not isinstance(value, bool):
        errs += [invalid(child(path, "port"), value, m) for m in names.is_valid_port_num(value)]
        if end is not None:
            if int(end) < value:
                errs.append(
                    invalid(
                        child(path, "endPort"), value, "must be greater than or equal to `port`"
                    )
                )
            errs += [
                invalid(child(path, "endPort"), end, m) for m in names.is_valid_port_num(int(end))
            ]
        return errs
    if end is not None:
        errs.append(
            invalid(child(path, "endPort"), end, "may not be specified when `port` is non-numeric")
        )
    errs += [
        invalid(child(path, "port"), str(value), m) for m in names.is_valid_port_name(str(value))
    ]
    return errs


def _network(value: str) -> Network | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _ip_block(block: Obj, path: str) -> Errs:
    cidr = _s(block, "cidr")
    if not cidr:
        return [required(child(path, "cidr"), "")]
    outer = _network(cidr)
    if outer is None:
        return [invalid(child(path, "cidr"), cidr, _CIDR_MESSAGE)]
    errs: Errs = []
    for i, raw in enumerate(_l(block, "except")):
        epath = idx(child(path, "except"), i)
        text = str(raw)
        inner = _network(text)
        if inner is None:
            errs.append(invalid(epath, text, _CIDR_MESSAGE))
            continue
        inside = inner.version == outer.version and inner.network_address in outer
        if not inside or outer.prefixlen >= inner.prefixlen:
            errs.append(invalid(epath, text, "must be a strict subset of `cidr`"))
    return errs


def _peer(peer: Obj, path: str) -> Errs:
    errs: Errs = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            errs += validate_label_selector(peer[key], child(path, key))
    if peer.get("ipBlock") is not None:
        count += 1
        errs += _ip_block(_d(peer, "ipBlock"), child(path, "ipBlock"))
    if count == 0:
        errs.append(required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _rules(spec: Obj, path: str, direction: str, peers: str) -> Errs:
    errs: Errs = []
    for i, rule in enumerate(_dl(spec, direction)):
        rpath = idx(child(path, direction), i)
        for j, port in enumerate(_dl(rule, "ports")):
            errs += _port(port, idx(child(rpath, "ports"), j))
        for j, peer in enumerate(_dl(rule, peers)):
            errs += _peer(peer, idx(child(rpath, peers), j))
    return errs


def validate_network_policy_spec(spec: Obj, path: str = "spec") -> Errs:
    errs = validate_label_selector(spec.get("podSelector") or {}, child(path, "podSelector"))
    errs += _rules(spec, path, "ingress", "from")
    errs += _rules(spec, path, "egress", "to")
    types: list[Any] = _l(spec, "policyTypes")
    if len(types) > len(POLICY_TYPES):
        errs.append(
            invalid(child(path, "policyTypes"), types, "may not specify more than two policyTypes")
        )
        return errs
    for i, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            errs.append(not_supported(idx(child(path, "policyTypes"), i), kind, POLICY_TYPES))
    return errs


def validate_network_policy(np: Obj) -> Errs:
    errs = validate_object_meta(np, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + validate_network_policy_spec(_d(np, "spec"))


def validate_network_policy_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    return errs + validate_network_policy_spec(_d(new, "spec"))


__all__ = [
    "validate_network_policy",
    "validate_network_policy_spec",
    "validate_network_policy_update",
]
