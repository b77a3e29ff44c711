"""Service, Endpoints and EndpointSlice validation.

`validate_service` also does what the Service REST storage checks before
validation proper: a requested nodePort outside the cluster's range is
refused by the port allocator with its own message, alone, as a real
cluster does (`provided port is not in the valid range. The range of valid
ports is 30000-32767`).

kubelite deviation: Endpoints and EndpointSlice addresses may be loopback
addresses, because kubelite's pod IPs live in 127.244.0.0/16 (DESIGN.md).
Upstream forbids 127.0.0.0/8 there; `strict_endpoint_ips=True` restores it.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from kubelite.api import names
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _dl,
    _i,
    _l,
    _s,
    child,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    idx,
    immutable,
    invalid,
    ip_address,
    key,
    not_supported,
    port_num_or_name,
    qualified_name,
    required,
    too_many,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

DEFAULT_NODE_PORT_RANGE = (30000, 32767)
_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _is_headless(spec: Obj) -> bool:
    ips = _l(spec, "clusterIPs")
    return len(ips) == 1 and ips[0] == "None"


def _externally_accessible(spec: Obj) -> bool:
    kind = _s(spec, "type")
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(_l(spec, "externalIPs"))
    )


def _needs_health_check(spec: Obj) -> bool:
    return _s(spec, "type") == "LoadBalancer" and _s(spec, "externalTrafficPolicy") == "Local"


def non_special_ip(value: str, path: str, *, allow_loopback: bool = False) -> Errs:
    """ValidateNonSpecialIP."""
    ip = names.parse_ip(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    errs: Errs = []
    if ip.is_unspecified:
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback and not allow_loopback:
        errs.append(invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local:
        errs.append(
            invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")
        )
    if ip in ipaddress.ip_network("224.0.0.0/24") or (
        ip.version == 6 and ip in ipaddress.ip_network("ff02::/16")
    ):
        errs.append(
            invalid(
                path,
                value,
                "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
            )
        )
    return errs


def _service_port(sp: Obj, require_name: bool, seen: set[str], path: str) -> Errs:
    errs: Errs = []
    name = _s(sp, "name")
    if require_name and not name:
        errs.append(required(child(path, "name"), ""))
    elif name:
        errs += dns1123_label(name, child(path, "name"))
        if name in seen:
            errs.append(duplicate(child(path, "name"), name))
        else:
            seen.add(name)
    port = _i(sp, "port")
    errs += [invalid(child(path, "port"), port, m) for m in names.is_valid_port_num(port)]
    protocol = _s(sp, "protocol")
    if not protocol:
        errs.append(required(child(path, "protocol"), ""))
    elif protocol not in _PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), protocol, _PROTOCOLS))
    errs += port_num_or_name(sp.get("targetPort"), child(path, "targetPort"))
    if sp.get("appProtocol") is not None:
        errs += qualified_name(_s(sp, "appProtocol"), child(path, "appProtocol"))
    return errs


def _cluster_ips_related(spec: Obj) -> Errs:
    """ValidateServiceClusterIPsRelatedFields."""
    if _s(spec, "type") == "ExternalName":
        return []
    errs: Errs = []
    ips, families = _l(spec, "clusterIPs"), _l(spec, "ipFamilies")
    cluster_ip = _s(spec, "clusterIP")
    if cluster_ip:
        if not ips:
            errs.append(required("spec.clusterIPs", ""))
        elif ips[0] != cluster_ip:
            errs.append(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    elif ips:
        errs.append(
            invalid("spec.clusterIPs", ips, "must be empty when `clusterIP` is not specified")
        )
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            errs.append(not_supported(idx("spec.ipFamilies", i), family, ["IPv4", "IPv6"]))
        if family in seen:
            errs.append(duplicate(idx("spec.ipFamilies", i), family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.append(
            not_supported(
                "spec.ipFamilyPolicy",
                policy,
                ["PreferDualStack", "RequireDualStack", "SingleStack"],
            )
        )
    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                errs.append(
                    invalid("spec.clusterIPs", ips, "'None' must be the first and only value")
                )
            continue
        ip_errs = ip_address(ip if isinstance(ip, str) else "", idx("spec.clusterIPs", i))
        bad_ips = bad_ips or bool(ip_errs)
        errs += ip_errs
    if len(ips) > 2:
        errs.append(invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(ips) > 1:
        versions = {names.parse_ip(ip).version for ip in ips if names.parse_ip(ip)}  # type: ignore[union-attr]
        if len(versions) != len(ips):
            errs.append(
                invalid(
                    "spec.clusterIPs", ips, "may specify no more than one IP for each IP family"
                )
            )
    if not _is_headless(spec) and ips and families:
        for i, ip in enumerate(ips[: len(families)]):
            parsed = names.parse_ip(ip)
            is_v6 = parsed is not None and parsed.version == 6
            if families[i] == "IPv4" and is_v6:
                errs.append(
                    invalid(
                        idx("spec.clusterIPs", i),
                        ip,
                        f"expected an IPv4 value as indicated by `ipFamilies[{i}]`",
                    )
                )
            if families[i] == "IPv6" and not is_v6:
                errs.append(
                    invalid(
                        idx("spec.clusterIPs", i),
                        ip,
                        f"expected an IPv6 value as indicated by `ipFamilies[{i}]`",
                    )
                )
    return errs


def _go_service_port(protocol: str, port: int, node_port: int = 0) -> dict[str, Any]:
    """core.ServicePort as Go marshals the untagged internal struct."""
    return {
        "Name": "",
        "Protocol": protocol,
        "AppProtocol": None,
        "Port": port,
        "TargetPort": 0,
        "NodePort": node_port,
    }


def _validate_service_spec(svc: Obj) -> Errs:
    spec = _d(svc, "spec")
    kind = _s(spec, "type")
    headless = _is_headless(spec)
    errs: Errs = []
    ports = _dl(spec, "ports")
    if not ports and not headless and kind != "ExternalName":
        errs.append(required("spec.ports", ""))
    if kind in ("LoadBalancer", "NodePort") and headless:
        errs.append(
            invalid(
                "spec.clusterIPs[0]",
                _l(spec, "clusterIPs")[0],
                f"may not be set to 'None' for {kind} services",
            )
        )
    elif kind == "ExternalName":
        if _l(spec, "clusterIPs"):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if _l(spec, "ipFamilies"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(
                forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services")
            )
        cname = _s(spec, "externalName").removesuffix(".")
        if cname:
            errs += dns1123_subdomain(cname, "spec.externalName")
        else:
            errs.append(required("spec.externalName", ""))
    seen: set[str] = set()
    for i, sp in enumerate(ports):
        errs += _service_port(sp, len(ports) > 1, seen, idx("spec.ports", i))
    if spec.get("selector") is not None:
        errs += validate_labels(spec.get("selector"), "spec.selector")
    affinity = _s(spec, "sessionAffinity")
    if not affinity:
        errs.append(required("spec.sessionAffinity", ""))
    elif affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    errs += _session_affinity_config(spec, affinity)
    errs += _cluster_ips_related(spec)
    for i, ip in enumerate(_l(spec, "externalIPs")):
        ip = ip if isinstance(ip, str) else ""
        ip_errs = ip_address(ip, idx("spec.externalIPs", i))
        errs += ip_errs or non_special_ip(ip, idx("spec.externalIPs", i))
    if not kind:
        errs.append(required("spec.type", ""))
    elif kind not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", kind, _SERVICE_TYPES))
    if kind == "ClusterIP":
        for i, sp in enumerate(ports):
            if _i(sp, "nodePort"):
                errs.append(
                    forbidden(
                        child(idx("spec.ports", i), "nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    node_ports: set[tuple[str, int]] = set()
    for i, sp in enumerate(ports):
        np = _i(sp, "nodePort")
        if np == 0:
            continue
        if (_s(sp, "protocol"), np) in node_ports:
            errs.append(duplicate(child(idx("spec.ports", i), "nodePort"), np))
        node_ports.add((_s(sp, "protocol"), np))
    seen_ports: set[tuple[str, int]] = set()
    for i, sp in enumerate(ports):
        pair = (_s(sp, "protocol"), _i(sp, "port"))
        if pair in seen_ports:
            errs.append(duplicate(idx("spec.ports", i), _go_service_port(*pair)))
        seen_ports.add(pair)
    errs += _load_balancer_fields(svc, spec, kind)
    errs += _traffic_policies(spec)
    return errs


def _session_affinity_config(spec: Obj, affinity: str) -> Errs:
    config = spec.get("sessionAffinityConfig")
    path = "spec.sessionAffinityConfig"
    if affinity == "ClientIP":
        if not isinstance(config, dict):
            return [required(path, "when session affinity type is ClientIP")]
        if not isinstance(config.get("clientIP"), dict):
            return [required(child(path, "clientIP"), "when session affinity type is ClientIP")]
        timeout = config["clientIP"].get("timeoutSeconds")
        if timeout is None:
            return [
                required(
                    child(path, "clientIP", "timeoutSeconds"),
                    "when session affinity type is ClientIP",
                )
            ]
        if not isinstance(timeout, int) or timeout <= 0 or timeout > 86400:
            return [
                invalid(
                    child(path, "clientIP", "timeoutSeconds"),
                    timeout,
                    "must be greater than 0 and less than 86400",
                )
            ]
    elif affinity == "None" and config is not None:
        return [forbidden(path, "must not be set when session affinity is None")]
    return []


def _load_balancer_fields(svc: Obj, spec: Obj, kind: str) -> Errs:
    errs: Errs = []
    ranges = _l(spec, "loadBalancerSourceRanges")
    annotation = "service.beta.kubernetes.io/load-balancer-source-ranges"
    annotations = _d(_d(svc, "metadata"), "annotations")
    if ranges:
        path = "spec.LoadBalancerSourceRanges"
        if kind != "LoadBalancer":
            errs.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
        for i, value in enumerate(ranges):
            value = value.strip() if isinstance(value, str) else ""
            errs += [invalid(idx(path, i), value, m) for m in names.cidr_errors(value)]
    elif annotation in annotations:
        path = key("metadata.annotations", annotation)
        if kind != "LoadBalancer":
            errs.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
        value = str(annotations[annotation]).strip()
        for cidr in value.split(",") if value else []:
            cidr = cidr.strip()
            errs += [invalid(path, cidr, m) for m in names.cidr_errors(cidr)]
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        errs.append(
            forbidden(
                "spec.allocateLoadBalancerNodePorts",
                "may only be used when `type` is 'LoadBalancer'",
            )
        )
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts", ""))  # sic: upstream path
    if spec.get("loadBalancerClass") is not None:
        if kind == "LoadBalancer":
            errs += qualified_name(_s(spec, "loadBalancerClass"), "spec.loadBalancerClass")
        else:
            errs.append(
                forbidden(
                    "spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"
                )
            )
    return errs


def _traffic_policies(spec: Obj) -> Errs:
    errs: Errs = []
    etp = _s(spec, "externalTrafficPolicy")
    if not _externally_accessible(spec):
        if etp:
            errs.append(
                invalid(
                    "spec.externalTrafficPolicy",
                    etp,
                    "may only be set for externally-accessible services",
                )
            )
    elif not etp:
        errs.append(required("spec.externalTrafficPolicy", ""))
    elif etp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"]))
    hcnp = _i(spec, "healthCheckNodePort")
    if not _needs_health_check(spec):
        if hcnp:
            errs.append(
                invalid(
                    "spec.healthCheckNodePort",
                    hcnp,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                )
            )
    elif not hcnp:
        errs.append(required("spec.healthCheckNodePort", ""))
    else:
        errs += [
            invalid("spec.healthCheckNodePort", hcnp, m) for m in names.is_valid_port_num(hcnp)
        ]
    itp = spec.get("internalTrafficPolicy")
    if itp is None:
        if _s(spec, "type") in ("NodePort", "LoadBalancer", "ClusterIP"):
            errs.append(required("spec.internalTrafficPolicy", ""))
    elif itp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    td = spec.get("trafficDistribution")
    supported_td = ["PreferClose", "PreferSameZone", "PreferSameNode"]
    if td is not None and td not in supported_td:
        errs.append(not_supported("spec.trafficDistribution", td, supported_td))
    return errs


def _node_port_allocation(
    spec: Obj, old_spec: Obj | None, node_port_range: tuple[int, int]
) -> Errs:
    """The allocator's refusal of an out-of-range nodePort (runs before validation)."""
    if _s(spec, "type") not in ("NodePort", "LoadBalancer"):
        return []
    lo, hi = node_port_range
    kept = {_i(p, "nodePort") for p in _dl(old_spec, "ports")} if old_spec is not None else set()
    for i, sp in enumerate(_dl(spec, "ports")):
        np = _i(sp, "nodePort")
        if np and np not in kept and not lo <= np <= hi:
            return [
                invalid(
                    child(idx("spec.ports", i), "nodePort"),
                    np,
                    f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}",
                )
            ]
    return []


def validate_service(
    svc: Obj, *, node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
) -> Errs:
    spec = _d(svc, "spec")
    # The REST layer runs initIPFamilyFields and the allocators before
    # validation; each failure is reported on its own.
    pre = _cluster_ips_related(spec)
    if pre:
        return pre
    alloc = _node_port_allocation(spec, None, node_port_range)
    if alloc:
        return alloc
    return _validate_service(svc)


def _validate_service(svc: Obj) -> Errs:
    errs = validate_object_meta(svc, namespaced=True, name_fn=names.name_is_dns1035_label)
    annotations = _d(_d(svc, "metadata"), "annotations")
    hints, mode = (
        "service.kubernetes.io/topology-aware-hints",
        "service.kubernetes.io/topology-mode",
    )
    if hints in annotations and mode in annotations and annotations[hints] != annotations[mode]:
        errs.append(
            invalid(
                key("metadata.annotations", mode),
                annotations[mode],
                f"must match annotations[{hints}] when both are specified",
            )
        )
    return errs + _validate_service_spec(svc)


def prepare_service_update(new: Obj, old: Obj) -> Obj:
    """What the Service REST update does before validating: keep allocated values.

    patchAllocatedValues (clusterIP(s), nodePorts, healthCheckNodePort the
    client left out) and NormalizeClusterIPs. Mutates and returns `new`.
    """
    spec, old_spec = new.setdefault("spec", {}), _d(old, "spec")
    needs_ip = lambda s: _s(s, "type") != "ExternalName"  # noqa: E731
    if needs_ip(old_spec) and needs_ip(spec):
        if not _s(spec, "clusterIP") and _s(old_spec, "clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not _l(spec, "clusterIPs") and _l(old_spec, "clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if _s(spec, "type") in ("NodePort", "LoadBalancer") and _s(old_spec, "type") in (
        "NodePort",
        "LoadBalancer",
    ):
        old_ports = {
            (_s(p, "protocol"), _i(p, "port")): _i(p, "nodePort") for p in _dl(old_spec, "ports")
        }
        for port in _dl(spec, "ports"):
            if not _i(port, "nodePort"):
                np = old_ports.get((_s(port, "protocol"), _i(port, "port")))
                if np:
                    port["nodePort"] = np
    if (
        _needs_health_check(old_spec)
        and _needs_health_check(spec)
        and not _i(spec, "healthCheckNodePort")
    ):
        spec["healthCheckNodePort"] = _i(old_spec, "healthCheckNodePort")
    if spec.get("ipFamilyPolicy") is None and old_spec.get("ipFamilyPolicy") is not None:
        spec["ipFamilyPolicy"] = old_spec["ipFamilyPolicy"]
    if not _l(spec, "ipFamilies") and _l(old_spec, "ipFamilies") and needs_ip(spec):
        spec["ipFamilies"] = list(old_spec["ipFamilies"])
    # NormalizeClusterIPs (update)
    same_ips = _l(spec, "clusterIPs") == _l(old_spec, "clusterIPs")
    if _s(old_spec, "clusterIP") != _s(spec, "clusterIP"):
        if _s(old_spec, "clusterIP") and not _s(spec, "clusterIP"):
            if same_ips:
                spec.pop("clusterIPs", None)
        elif same_ips:
            spec["clusterIPs"] = [_s(spec, "clusterIP")]
    drop_type_dependent_fields(new, old)
    return new


def _needs_node_port(spec: Obj) -> bool:
    if _s(spec, "type") == "NodePort":
        return True
    return _s(spec, "type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") in (
        None,
        True,
    )


def _node_ports(spec: Obj) -> list[int]:
    return sorted(_i(p, "nodePort") for p in _dl(spec, "ports") if _i(p, "nodePort"))


def drop_type_dependent_fields(new: Obj, old: Obj) -> None:
    """The Service strategy's dropTypeDependentFields: when the type changes, a field
    only the old type used goes, if the client left it as it was (a patch or an
    apply carried it over). So `type: NodePort` -> `ClusterIP` drops the node ports
    and externalTrafficPolicy instead of refusing them."""
    spec, old_spec = new.setdefault("spec", {}), _d(old, "spec")
    needs_ip = lambda s: _s(s, "type") != "ExternalName"  # noqa: E731
    if needs_ip(old_spec) and not needs_ip(spec):
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if field in spec and spec.get(field) == old_spec.get(field):
                spec.pop(field)
    if (
        _needs_node_port(old_spec)
        and not _needs_node_port(spec)
        and _node_ports(spec) == _node_ports(old_spec)
    ):
        for port in _dl(spec, "ports"):
            port.pop("nodePort", None)
    same_hc_port = _i(spec, "healthCheckNodePort") == _i(old_spec, "healthCheckNodePort")
    if _needs_health_check(old_spec) and not _needs_health_check(spec) and same_hc_port:
        spec.pop("healthCheckNodePort", None)
    was_lb, is_lb = _s(old_spec, "type") == "LoadBalancer", _s(spec, "type") == "LoadBalancer"
    if was_lb and not is_lb:
        for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(field) is not None and spec.get(field) == old_spec.get(field):
                spec.pop(field)
    same_policy = spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")
    if _externally_accessible(old_spec) and not _externally_accessible(spec) and same_policy:
        spec.pop("externalTrafficPolicy", None)
    status = new.get("status")
    if not is_lb and isinstance(status, dict) and status.get("loadBalancer"):
        status["loadBalancer"] = {}


def _upgrade_downgrade_cluster_ips(old_spec: Obj, spec: Obj) -> Errs:
    if "ExternalName" in (_s(spec, "type"), _s(old_spec, "type")):
        return []
    if _is_headless(old_spec) and _is_headless(spec):
        return []
    old_ips, ips = _l(old_spec, "clusterIPs"), _l(spec, "clusterIPs")
    errs: Errs = []
    if len(old_ips) == len(ips):
        for i, ip in enumerate(old_ips):
            if ip != ips[i]:
                errs.append(invalid(idx("spec.clusterIPs", i), ips, "may not change once set"))
    elif len(old_ips) > len(ips):
        if not ips:
            errs.append(invalid("spec.clusterIPs[0]", ips, "primary clusterIP can not be unset"))
        if old_ips and ips and ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", ips, "may not change once set"))
        if len(ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(
                invalid(
                    "spec.ipFamilyPolicy",
                    spec.get("ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                )
            )
    elif old_ips and ips[0] != old_ips[0]:
        errs.append(invalid("spec.clusterIPs[0]", ips, "may not change once set"))
    return errs


def _upgrade_downgrade_families(old_spec: Obj, spec: Obj) -> Errs:
    if "ExternalName" in (_s(spec, "type"), _s(old_spec, "type")):
        return []
    if _is_headless(old_spec) or _is_headless(spec):
        return []
    old_f, new_f = _l(old_spec, "ipFamilies"), _l(spec, "ipFamilies")
    errs: Errs = []
    if len(old_f) == len(new_f):
        for i, fam in enumerate(old_f):
            if fam != new_f[i]:
                errs.append(invalid("spec.ipFamilies[0]", new_f, "may not change once set"))
    elif len(old_f) > len(new_f):
        if not _l(spec, "clusterIPs"):
            errs.append(invalid("spec.ipFamilies[0]", new_f, "primary ipFamily can not be unset"))
        if new_f and new_f[0] != old_f[0]:
            errs.append(
                invalid("spec.ipFamilies[0]", _l(spec, "clusterIPs"), "may not change once set")
            )
        if len(new_f) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(
                invalid(
                    "spec.ipFamilyPolicy",
                    spec.get("ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                )
            )
    elif old_f and new_f and new_f[0] != old_f[0]:
        errs.append(
            invalid("spec.ipFamilies[0]", _l(spec, "clusterIPs"), "may not change once set")
        )
    return errs


def validate_service_update(
    new: Obj, old: Obj, *, node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
) -> Errs:
    new = prepare_service_update(copy.deepcopy(new), old)
    spec, old_spec = _d(new, "spec"), _d(old, "spec")
    alloc = _node_port_allocation(spec, old_spec, node_port_range)
    if alloc:
        return alloc
    errs = validate_object_meta_update(new, old)
    errs += _upgrade_downgrade_cluster_ips(old_spec, spec)
    errs += _upgrade_downgrade_families(old_spec, spec)
    both_lb = _s(old_spec, "type") == "LoadBalancer" == _s(spec, "type")
    if both_lb and old_spec.get("loadBalancerClass") != spec.get("loadBalancerClass"):
        errs.append(
            invalid(
                "spec.loadBalancerClass", spec.get("loadBalancerClass"), "may not change once set"
            )
        )
    both_hc = _needs_health_check(old_spec) and _needs_health_check(spec)
    if both_hc and _i(spec, "healthCheckNodePort") != _i(old_spec, "healthCheckNodePort"):
        errs.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    return errs + _validate_service(new)


# --- Endpoints ---


def _endpoint_address(addr: Obj, path: str, strict: bool) -> Errs:
    ip = _s(addr, "ip")
    errs = ip_address(ip, child(path, "ip"))
    if _s(addr, "hostname"):
        errs += dns1123_label(_s(addr, "hostname"), child(path, "hostname"))
    if addr.get("nodeName") is not None:
        errs += [
            invalid(child(path, "nodeName"), _s(addr, "nodeName"), m)
            for m in names.name_is_dns_subdomain(_s(addr, "nodeName"))
        ]
    return errs + non_special_ip(ip, child(path, "ip"), allow_loopback=not strict)


def _endpoint_port(port: Obj, require_name: bool, path: str) -> Errs:
    errs: Errs = []
    if require_name and not _s(port, "name"):
        errs.append(required(child(path, "name"), ""))
    elif _s(port, "name"):
        errs += dns1123_label(_s(port, "name"), child(path, "name"))
    errs += [
        invalid(child(path, "port"), _i(port, "port"), m)
        for m in names.is_valid_port_num(_i(port, "port"))
    ]
    protocol = _s(port, "protocol")
    if not protocol:
        errs.append(required(child(path, "protocol"), ""))
    elif protocol not in _PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), protocol, _PROTOCOLS))
    if port.get("appProtocol") is not None:
        errs += qualified_name(_s(port, "appProtocol"), child(path, "appProtocol"))
    return errs


def validate_endpoints(ep: Obj, *, strict_endpoint_ips: bool = False) -> Errs:
    errs = validate_object_meta(ep, namespaced=True, name_fn=names.name_is_dns_subdomain)
    for i, subset in enumerate(_dl(ep, "subsets")):
        spath = idx("subsets", i)
        if not _l(subset, "addresses") and not _l(subset, "notReadyAddresses"):
            errs.append(required(spath, "must specify `addresses` or `notReadyAddresses`"))
        for field_name in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(_dl(subset, field_name)):
                errs += _endpoint_address(
                    addr, idx(child(spath, field_name), j), strict_endpoint_ips
                )
        ports = _dl(subset, "ports")
        for j, port in enumerate(ports):
            errs += _endpoint_port(port, len(ports) > 1, idx(child(spath, "ports"), j))
    return errs


def validate_endpoints_update(new: Obj, old: Obj, *, strict_endpoint_ips: bool = False) -> Errs:
    return validate_object_meta_update(new, old) + validate_endpoints(
        new, strict_endpoint_ips=strict_endpoint_ips
    )


# --- EndpointSlice ---

_ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]


def _fqdn_errors(value: str, path: str) -> Errs:
    if not value:
        return [required(path, "")]
    name = value.removesuffix(".")
    msgs = names.is_dns1123_subdomain(name)
    if msgs:
        return [invalid(path, name, ",".join(msgs))]
    if len(name.split(".")) < 2:
        return [
            invalid(path, name, "should be a domain with at least two segments separated by dots")
        ]
    for label in name.split("."):
        msgs = names.is_dns1123_label(label)
        if msgs:
            return [invalid(path, label, ",".join(msgs))]
    return []


def validate_endpoint_slice(
    eps: Obj, *, valid_types: list[str] | None = None, strict_endpoint_ips: bool = False
) -> Errs:
    valid_types = valid_types or _ADDRESS_TYPES
    errs = validate_object_meta(eps, namespaced=True, name_fn=names.name_is_dns_subdomain)
    address_type = _s(eps, "addressType")
    if not address_type:
        errs.append(required("addressType", ""))
    elif address_type not in valid_types:
        errs.append(not_supported("addressType", address_type, valid_types))
    endpoints = _dl(eps, "endpoints")
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    else:
        for i, ep in enumerate(endpoints):
            errs += _slice_endpoint(ep, address_type, idx("endpoints", i), strict_endpoint_ips)
    errs += _slice_ports(_dl(eps, "ports"))
    return errs


def _slice_endpoint(ep: Obj, address_type: str, path: str, strict: bool) -> Errs:
    errs: Errs = []
    apath = child(path, "addresses")
    addresses = _l(ep, "addresses")
    if not addresses:
        errs.append(required(apath, "must contain at least 1 address"))
    elif len(addresses) > 100:
        errs.append(too_many(apath, len(addresses), 100))
    for i, addr in enumerate(addresses):
        addr = addr if isinstance(addr, str) else ""
        ipath = idx(apath, i)
        if address_type in ("IPv4", "IPv6"):
            parsed = names.parse_ip(addr)
            want = 4 if address_type == "IPv4" else 6
            if parsed is None or parsed.version != want:
                errs.append(invalid(ipath, addr, f"must be a valid {address_type} address"))
            errs += non_special_ip(addr, ipath, allow_loopback=not strict)
        elif address_type == "FQDN":
            errs += _fqdn_errors(addr, ipath)
    topology = _d(ep, "topology")
    if len(topology) > 16:
        errs.append(too_many(child(path, "topology"), len(topology), 16))
    errs += validate_labels(topology, child(path, "topology"))
    if ep.get("hostname") is not None:
        errs += dns1123_label(_s(ep, "hostname"), child(path, "hostname"))
    return errs


def _slice_ports(ports: list[Obj]) -> Errs:
    if len(ports) > 100:
        return [too_many("ports", len(ports), 100)]
    errs: Errs = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        ppath = idx("ports", i)
        name = _s(port, "name")
        if name:
            errs += dns1123_label(name, child(ppath, "name"))
        if name in seen:
            errs.append(duplicate(child(ppath, "name"), name))
        seen.add(name)
        if port.get("protocol") is None:
            errs.append(required(child(ppath, "protocol"), ""))
        elif port["protocol"] not in _PROTOCOLS:
            errs.append(not_supported(child(ppath, "protocol"), port["protocol"], _PROTOCOLS))
        if port.get("appProtocol") is not None:
            errs += qualified_name(_s(port, "appProtocol"), child(ppath, "appProtocol"))
    return errs


def validate_endpoint_slice_update(
    new: Obj, old: Obj, *, strict_endpoint_ips: bool = False
) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += validate_endpoint_slice(
        new, valid_types=[*_ADDRESS_TYPES, "IP"], strict_endpoint_ips=strict_endpoint_ips
    )
    return errs + immutable(new.get("addressType"), old.get("addressType"), "addressType")
