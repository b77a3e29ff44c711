"""Container validation: ports, env, resources, probes, security context.

Mirrors validateContainerCommon and its callers for regular and init
containers, in upstream order.
"""

from __future__ import annotations

import math
from typing import Any

from kubelite.api import names
from kubelite.api.fielderrors import FieldError
from kubelite.api.validation_meta import (
    BadQuantity,
    Errs,
    Obj,
    PodOptions,
    _d,
    _dl,
    _i,
    _l,
    _s,
    child,
    dns1123_label,
    duplicate,
    forbidden,
    has,
    idx,
    invalid,
    key,
    nonnegative,
    not_supported,
    parse_quantity,
    port_num_or_name,
    pull_policy,
    quantity_string,
    required,
)
from kubelite.api.validation_volumes import (
    _ENV_FIELD_PATHS,
    _local_descending_path,
    _object_field_selector,
    _resource_field_selector,
    _volume_devices,
    _volume_mounts,
)

MAX_INT32 = 2**31 - 1


# --- containers ---


def _container_ports(ports: list[Obj], path: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        ppath = idx(path, i)
        name = _s(port, "name")
        if name:
            msgs = names.is_valid_port_name(name)
            if msgs:
                errs += [invalid(child(ppath, "name"), name, m) for m in msgs]
            elif name in seen:
                errs.append(duplicate(child(ppath, "name"), name))
            else:
                seen.add(name)
        container_port = _i(port, "containerPort")
        if container_port == 0:
            errs.append(required(child(ppath, "containerPort"), ""))
        else:
            errs += [
                invalid(child(ppath, "containerPort"), container_port, m)
                for m in names.is_valid_port_num(container_port)
            ]
        host_port = _i(port, "hostPort")
        if host_port != 0:
            errs += [
                invalid(child(ppath, "hostPort"), host_port, m)
                for m in names.is_valid_port_num(host_port)
            ]
        protocol = _s(port, "protocol")
        if not protocol:
            errs.append(required(child(ppath, "protocol"), ""))
        elif protocol not in ("TCP", "UDP", "SCTP"):
            errs.append(not_supported(child(ppath, "protocol"), protocol, ["SCTP", "TCP", "UDP"]))
    return errs


def _env_name(name: str, path: str, opts: PodOptions) -> Errs:
    check = names.is_relaxed_env_var_name if opts.relaxed_env_names else names.is_env_var_name
    return [invalid(path, name, m) for m in check(name)]


def _key_selector(sel: Obj, path: str) -> Errs:
    errs = [
        invalid(child(path, "name"), _s(sel, "name"), m)
        for m in names.name_is_dns_subdomain(_s(sel, "name"))
    ]
    if not _s(sel, "key"):
        errs.append(required(child(path, "key"), ""))
    else:
        errs += [
            invalid(child(path, "key"), _s(sel, "key"), m)
            for m in names.is_config_map_key(_s(sel, "key"))
        ]
    return errs


def _env(env: list[Obj], path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    for i, ev in enumerate(env):
        epath = idx(path, i)
        if not _s(ev, "name"):
            errs.append(required(child(epath, "name"), ""))
        else:
            errs += _env_name(_s(ev, "name"), child(epath, "name"), opts)
        errs += _env_value_from(ev, child(epath, "valueFrom"))
    return errs


def _env_value_from(ev: Obj, path: str) -> Errs:
    if not has(ev, "valueFrom"):
        return []
    vf, errs, count = _d(ev, "valueFrom"), [], 0
    if has(vf, "fieldRef"):
        count += 1
        errs += _object_field_selector(
            _d(vf, "fieldRef"), _ENV_FIELD_PATHS, child(path, "fieldRef")
        )
    if has(vf, "resourceFieldRef"):
        count += 1
        errs += _resource_field_selector(
            _d(vf, "resourceFieldRef"), child(path, "resourceFieldRef"), False
        )
    if has(vf, "configMapKeyRef"):
        count += 1
        errs += _key_selector(_d(vf, "configMapKeyRef"), child(path, "configMapKeyRef"))
    if has(vf, "secretKeyRef"):
        count += 1
        errs += _key_selector(_d(vf, "secretKeyRef"), child(path, "secretKeyRef"))
    if count == 0:
        errs.append(
            invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, "
                "`configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif _s(ev, "value"):
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _env_from(sources: list[Obj], path: str, opts: PodOptions) -> Errs:
    errs: Errs = []
    for i, ev in enumerate(sources):
        epath = idx(path, i)
        if _s(ev, "prefix"):
            errs += _env_name(_s(ev, "prefix"), child(epath, "prefix"), opts)
        count = 0
        for ref in ("configMapRef", "secretRef"):
            if has(ev, ref):
                count += 1
                name = _s(_d(ev, ref), "name")
                if not name:
                    errs.append(required(child(epath, ref, "name"), ""))
                else:
                    errs += [
                        invalid(child(epath, ref, "name"), name, m)
                        for m in names.name_is_dns_subdomain(name, True)
                    ]
        if count == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


# --- resources ---

_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "requests.storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "services.nodeports",
    "services.loadbalancers",
}
_INTEGER_RESOURCES = {
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
}


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepage_resource(name: str) -> bool:
    return name.startswith("hugepages-")


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not names.is_qualified_name("requests." + name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepage_resource(name)


def _is_integer_resource(name: str) -> bool:
    return name in _INTEGER_RESOURCES or is_extended_resource(name) or name.startswith("count/")


def _container_resource_name(name: str, path: str) -> Errs:
    errs = [invalid(path, name, m) for m in names.is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not is_hugepage_resource(name):
            return [invalid(path, name, "must be a standard resource type or fully qualified")]
        if name not in _STANDARD_CONTAINER_RESOURCES and not is_hugepage_resource(name):
            return [invalid(path, name, "must be a standard resource for containers")]
    elif not is_native_resource(name) and not is_extended_resource(name):
        return [invalid(path, name, "doesn't follow extended resource name standard")]
    return []


def validate_quantity_value(name: str, value: Any, path: str) -> tuple[Any, Errs]:
    """ValidateResourceQuantityValue; returns the parsed value (None if unparsable)."""
    try:
        parsed = parse_quantity(value)
    except BadQuantity as exc:
        # Upstream rejects this while decoding (400); kubelite reports it here.
        return None, [invalid(path, value if isinstance(value, str) else str(value), str(exc))]
    errs: Errs = []
    if parsed < 0:
        errs.append(invalid(path, quantity_string(value), "must be greater than or equal to 0"))
    # MilliValue() rounds up; an integer resource must be a whole number of units.
    if _is_integer_resource(name) and math.ceil(parsed * 1000) % 1000:
        errs.append(invalid(path, quantity_string(value), "must be an integer"))
    return parsed, errs


def _resources(res: Obj, path: str) -> Errs:
    errs: Errs = []
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    limits, requests = _d(res, "limits"), _d(res, "requests")
    parsed_limits: dict[str, Any] = {}
    lim_cpu_mem = req_cpu_mem = lim_huge = req_huge = False
    for name, q in limits.items():
        qpath = key(lim_path, name)
        errs += _container_resource_name(name, qpath)
        parsed_limits[name], qerrs = validate_quantity_value(name, q, qpath)
        errs += qerrs
        lim_huge = lim_huge or is_hugepage_resource(name)
        lim_cpu_mem = lim_cpu_mem or name in ("cpu", "memory")
    for name, q in requests.items():
        qpath = key(req_path, name)
        errs += _container_resource_name(name, qpath)
        parsed, qerrs = validate_quantity_value(name, q, qpath)
        errs += qerrs
        if name in limits:
            limit = parsed_limits.get(name)
            if parsed is not None and limit is not None:
                if parsed != limit and not is_overcommit_allowed(name):
                    errs.append(
                        invalid(
                            req_path,
                            quantity_string(q),
                            f"must be equal to {name} limit of {quantity_string(limits[name])}",
                        )
                    )
                elif parsed > limit:
                    errs.append(
                        invalid(
                            req_path,
                            quantity_string(q),
                            f"must be less than or equal to "
                            f"{name} limit of {quantity_string(limits[name])}",
                        )
                    )
        elif not is_overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
        req_huge = req_huge or is_hugepage_resource(name)
        req_cpu_mem = req_cpu_mem or name in ("cpu", "memory")
    if not lim_cpu_mem and not req_cpu_mem and (req_huge or lim_huge):
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    return errs


def _resize_policy(policies: list[Obj], path: str, restart_policy: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, p in enumerate(policies):
        name, policy = _s(p, "resourceName"), _s(p, "restartPolicy")
        if name in seen:
            errs.append(duplicate(idx(path, i), name))
        seen.add(name)
        if name == "":
            errs.append(required(path, ""))
        elif name not in ("cpu", "memory"):
            errs.append(not_supported(path, name, ["cpu", "memory"]))
        if policy == "":
            errs.append(required(path, ""))
        elif policy not in ("NotRequired", "RestartContainer"):
            errs.append(not_supported(path, policy, ["NotRequired", "RestartContainer"]))
        if restart_policy == "Never" and policy != "NotRequired":
            errs.append(
                invalid(path, policy, "must be 'NotRequired' when `restartPolicy` is 'Never'")
            )
    return errs


def _app_armor_profile(profile: Any, path: str) -> Errs:
    """validateAppArmorProfileField."""
    if not isinstance(profile, dict):
        return []
    kind, local = _s(profile, "type"), profile.get("localhostProfile")
    at = child(path, "localhostProfile")
    if kind == "Localhost":
        if local is None or (isinstance(local, str) and local == local.strip() == ""):
            return [required(at, "must be set when AppArmor type is Localhost")]
        if isinstance(local, str) and local != local.strip():
            return [invalid(at, local, "must not be padded with whitespace")]
        if isinstance(local, str) and len(local) > 4095:
            return [FieldError("FieldValueTooLong", at, "may not be more than 4095 bytes")]
        return []
    if kind in ("RuntimeDefault", "Unconfined"):
        if local is not None:
            return [invalid(at, local, "can only be set when AppArmor type is Localhost")]
        return []
    if kind == "":
        return [required(child(path, "type"), "type is required when appArmorProfile is set")]
    return [not_supported(child(path, "type"), kind, ["Localhost", "RuntimeDefault", "Unconfined"])]


def _seccomp_profile(sp: Any, path: str) -> Errs:
    if not isinstance(sp, dict):
        return []
    kind, errs = _s(sp, "type"), []
    supported = ["Localhost", "RuntimeDefault", "Unconfined"]
    if kind == "":
        errs.append(required(child(path, "type"), "type is required when seccompProfile is set"))
    elif kind not in supported:
        errs.append(not_supported(child(path, "type"), kind, supported))
    if kind == "Localhost":
        if sp.get("localhostProfile") is None:
            errs.append(
                required(
                    child(path, "localhostProfile"), "must be set when seccomp type is Localhost"
                )
            )
        else:
            errs += _local_descending_path(
                _s(sp, "localhostProfile"), child(path, "localhostProfile")
            )
    elif sp.get("localhostProfile") is not None:
        errs.append(
            invalid(
                child(path, "localhostProfile"),
                sp,
                "can only be set when seccomp type is Localhost",
            )
        )
    return errs


def _id_field(sc: Obj, field_name: str, path: str) -> Errs:
    value = sc.get(field_name)
    if isinstance(value, int) and not isinstance(value, bool):
        return [invalid(child(path, field_name), value, m) for m in names.is_valid_user_id(value)]
    return []


def _container_security_context(sc: Any, path: str, host_users: bool) -> Errs:
    if not isinstance(sc, dict):
        return []
    errs = _id_field(sc, "runAsUser", path) + _id_field(sc, "runAsGroup", path)
    proc_mount = sc.get("procMount")
    if proc_mount is not None:
        if proc_mount not in ("Default", "Unmasked"):
            errs.append(
                not_supported(child(path, "procMount"), proc_mount, ["Default", "Unmasked"])
            )
        if host_users and proc_mount == "Unmasked":
            errs.append(
                invalid(
                    child(path, "procMount"),
                    proc_mount,
                    "`hostUsers` must be false to use `Unmasked`",
                )
            )
    errs += _seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile"))
    errs += _app_armor_profile(sc.get("appArmorProfile"), child(path, "appArmorProfile"))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(
                invalid(
                    path,
                    sc,
                    "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                )
            )
        if "CAP_SYS_ADMIN" in _l(_d(sc, "capabilities"), "add"):
            errs.append(
                invalid(
                    path,
                    sc,
                    "cannot set `allowPrivilegeEscalation` to false and "
                    "`capabilities.Add` CAP_SYS_ADMIN",
                )
            )
    return errs


def _container_common(
    c: Obj,
    volumes: dict[str, Obj],
    path: str,
    opts: PodOptions,
    restart_policy: str,
    host_users: bool,
) -> Errs:
    errs: Errs = []
    name_path = child(path, "name")
    if not _s(c, "name"):
        errs.append(required(name_path, ""))
    else:
        errs += dns1123_label(_s(c, "name"), name_path)
    if not _s(c, "image"):
        errs.append(required(child(path, "image"), ""))
    tmp = _s(c, "terminationMessagePolicy")
    if tmp == "":
        errs.append(required(child(path, "terminationMessagePolicy"), ""))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        errs.append(
            not_supported(
                child(path, "terminationMessagePolicy"), tmp, ["File", "FallbackToLogsOnError"]
            )
        )
    mounts = {_s(m, "name"): _s(m, "mountPath") for m in _dl(c, "volumeMounts")}
    devices = {_s(d, "name"): _s(d, "devicePath") for d in _dl(c, "volumeDevices")}
    errs += _container_ports(_dl(c, "ports"), child(path, "ports"))
    errs += _env(_dl(c, "env"), child(path, "env"), opts)
    errs += _env_from(_dl(c, "envFrom"), child(path, "envFrom"), opts)
    errs += _volume_mounts(_dl(c, "volumeMounts"), devices, volumes, c, child(path, "volumeMounts"))
    errs += _volume_devices(_dl(c, "volumeDevices"), mounts, volumes, child(path, "volumeDevices"))
    errs += pull_policy(_s(c, "imagePullPolicy"), child(path, "imagePullPolicy"))
    errs += _resources(_d(c, "resources"), child(path, "resources"))
    errs += _resize_policy(_dl(c, "resizePolicy"), child(path, "resizePolicy"), restart_policy)
    errs += _container_security_context(
        c.get("securityContext"), child(path, "securityContext"), host_users
    )
    return errs


# --- probes and lifecycle handlers ---


def _handler(handler: Obj, grace: int | None, path: str, allow_sleep: bool) -> Errs:
    errs: Errs = []
    count = 0
    kinds = ["exec", "httpGet", "tcpSocket", "grpc"] + (["sleep"] if allow_sleep else [])
    for kind in kinds:
        if not has(handler, kind):
            continue
        if count > 0:
            errs.append(forbidden(child(path, kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        sub, spath = _d(handler, kind), child(path, kind)
        if kind == "exec" and not _l(sub, "command"):
            errs.append(required(child(spath, "command"), ""))
        elif kind == "httpGet":
            errs += _http_get(sub, spath)
        elif kind == "tcpSocket":
            errs += port_num_or_name(sub.get("port"), child(spath, "port"))
        elif kind == "grpc":
            errs += port_num_or_name(_i(sub, "port"), child(spath, "port"))
        elif kind == "sleep":
            seconds = _i(sub, "seconds")
            if grace is not None and (seconds < 0 or seconds > grace):
                errs.append(
                    invalid(
                        spath,
                        seconds,
                        "must be non-negative and less than "
                        f"terminationGracePeriodSeconds ({grace})",
                    )
                )
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _http_get(action: Obj, path: str) -> Errs:
    errs: Errs = []
    if not _s(action, "path"):
        errs.append(required(child(path, "path"), ""))
    errs += port_num_or_name(action.get("port"), child(path, "port"))
    scheme = _s(action, "scheme")
    if scheme not in ("HTTP", "HTTPS"):
        errs.append(not_supported(child(path, "scheme"), scheme, ["HTTP", "HTTPS"]))
    for header in _dl(action, "httpHeaders"):
        errs += [
            invalid(child(path, "httpHeaders"), _s(header, "name"), m)
            for m in names.is_http_header_name(_s(header, "name"))
        ]
    return errs


def _probe(probe: Any, grace: int | None, path: str, kind: str) -> Errs:
    if not isinstance(probe, dict):
        return []
    errs = _handler(probe, grace, path, allow_sleep=False)
    for field_name in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += nonnegative(_i(probe, field_name), child(path, field_name))
    tgps = probe.get("terminationGracePeriodSeconds")
    if isinstance(tgps, int) and tgps <= 0:
        errs.append(
            invalid(child(path, "terminationGracePeriodSeconds"), tgps, "must be greater than 0")
        )
    if kind in ("liveness", "startup") and _i(probe, "successThreshold") != 1:
        errs.append(
            invalid(child(path, "successThreshold"), _i(probe, "successThreshold"), "must be 1")
        )
    if kind == "readiness" and tgps is not None:
        errs.append(
            invalid(
                child(path, "terminationGracePeriodSeconds"),
                tgps,
                "must not be set for readinessProbes",
            )
        )
    return errs


def _lifecycle_and_probes(c: Obj, grace: int | None, path: str) -> Errs:
    errs: Errs = []
    if has(c, "lifecycle"):
        lifecycle = _d(c, "lifecycle")
        for hook in ("postStart", "preStop"):
            if has(lifecycle, hook):
                errs += _handler(_d(lifecycle, hook), grace, child(path, "lifecycle", hook), True)
    errs += _probe(c.get("livenessProbe"), grace, child(path, "livenessProbe"), "liveness")
    errs += _probe(c.get("readinessProbe"), grace, child(path, "readinessProbe"), "readiness")
    errs += _probe(c.get("startupProbe"), grace, child(path, "startupProbe"), "startup")
    return errs


def _host_port_conflicts(containers: list[Obj], path: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(_dl(c, "ports")):
            host_port = _i(port, "hostPort")
            if host_port == 0:
                continue
            tag = f"{_s(port, 'protocol')}/{_s(port, 'hostIP')}/{host_port}"
            if tag in seen:
                errs.append(
                    duplicate(child(idx(child(idx(path, ci), "ports"), pi), "hostPort"), tag)
                )
            seen.add(tag)
    return errs


def _containers(
    containers: list[Obj],
    volumes: dict[str, Obj],
    grace: int | None,
    path: str,
    opts: PodOptions,
    restart_policy: str,
    host_users: bool,
) -> Errs:
    if not containers:
        return [required(path, "")]
    errs: Errs = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cpath = idx(path, i)
        errs += _container_common(c, volumes, cpath, opts, restart_policy, host_users)
        if _s(c, "name") in seen:
            errs.append(duplicate(child(cpath, "name"), _s(c, "name")))
        else:
            seen.add(_s(c, "name"))
        errs += _lifecycle_and_probes(c, grace, cpath)
        if c.get("restartPolicy") is not None:
            errs.append(
                forbidden(child(cpath, "restartPolicy"), "may not be set for non-init containers")
            )
    return errs + _host_port_conflicts(containers, path)


def _init_containers(
    init: list[Obj],
    regular: list[Obj],
    volumes: dict[str, Obj],
    grace: int | None,
    path: str,
    opts: PodOptions,
    restart_policy: str,
    host_users: bool,
) -> Errs:
    errs: Errs = []
    seen = {_s(c, "name") for c in regular}
    for i, c in enumerate(init):
        cpath = idx(path, i)
        errs += _container_common(c, volumes, cpath, opts, restart_policy, host_users)
        always = False
        if c.get("restartPolicy") is not None:
            if c["restartPolicy"] != "Always":
                errs.append(
                    not_supported(child(cpath, "restartPolicy"), c["restartPolicy"], ["Always"])
                )
            always = c["restartPolicy"] == "Always"
        if _s(c, "name") in seen:
            errs.append(duplicate(child(cpath, "name"), _s(c, "name")))
        elif _s(c, "name"):
            seen.add(_s(c, "name"))
        errs += _host_port_conflicts([c], path)
        if always:
            errs += _lifecycle_and_probes(c, grace, cpath)
        else:
            for field_name in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if has(c, field_name):
                    errs.append(
                        forbidden(
                            child(cpath, field_name),
                            "may not be set for init containers without restartPolicy=Always",
                        )
                    )
        if _l(c, "resizePolicy") and not always:
            errs.append(
                invalid(
                    child(cpath, "resizePolicy"),
                    _l(c, "resizePolicy"),
                    "must not be set for init containers",
                )
            )
    return errs
