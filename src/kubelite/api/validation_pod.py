"""Pod and pod-template validation (pkg/apis/core/validation, the Pod half).

Follows upstream function by function and in the same order, so the causes
of a 422 come out in the order a real cluster lists them: `ValidatePodSpec`
checks volumes, then containers, init containers, host-network ports,
restartPolicy, dnsPolicy, and so on.

Options a real apiserver derives from feature gates are fixed at the values
of a current release: relaxed env-var names, pods are not on Windows, and
privileged containers are allowed (kubelite is one user's own machine).
"""

from __future__ import annotations

from typing import Any

from kubelite.api import names, sysctls
from kubelite.api.validation_containers import (
    MAX_INT32,
    _app_armor_profile,
    _containers,
    _id_field,
    _init_containers,
    _seccomp_profile,
)
from kubelite.api.validation_ephemeral import validate_ephemeral_containers
from kubelite.api.validation_meta import (
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
    dns1123_subdomain,
    duplicate,
    forbidden,
    has,
    idx,
    invalid,
    ip_address,
    key,
    normalize,
    not_supported,
    qualified_name,
    required,
    semantic_equal,
    validate_annotations,
    validate_label_name,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_volumes import validate_volumes

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"

# --- pod-level fields ---


def _restart_policy(policy: str, path: str) -> Errs:
    if policy in ("Always", "OnFailure", "Never"):
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, ["Always", "OnFailure", "Never"])]


def _dns_policy(policy: str, path: str) -> Errs:
    supported = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    if policy in supported:
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, supported)]


def _pod_security_context(sc: Any, spec: Obj, path: str) -> Errs:
    if not isinstance(sc, dict):
        return []
    errs: Errs = []
    for field_name in ("fsGroup", "runAsUser", "runAsGroup"):
        errs += _id_field(sc, field_name, path)
    for i, gid in enumerate(_l(sc, "supplementalGroups")):
        if isinstance(gid, int):
            errs += [
                invalid(idx(child(path, "supplementalGroups"), i), gid, m)
                for m in names.is_valid_group_id(gid)
            ]
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        errs.append(
            invalid(
                child(path, "shareProcessNamespace"),
                True,
                "ShareProcessNamespace and HostPID cannot both be enabled",
            )
        )
    policy = sc.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(
            not_supported(child(path, "fsGroupChangePolicy"), policy, ["Always", "OnRootMismatch"])
        )
    errs += _seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile"))
    errs += _app_armor_profile(sc.get("appArmorProfile"), child(path, "appArmorProfile"))
    errs += _sysctls(_l(sc, "sysctls"), spec, child(path, "sysctls"))
    sgp = sc.get("supplementalGroupsPolicy")
    if sgp is not None and sgp not in ("Merge", "Strict"):
        errs.append(
            not_supported(child(path, "supplementalGroupsPolicy"), sgp, ["Merge", "Strict"])
        )
    return errs


def _sysctls(items: list[Any], spec: Obj, path: str) -> Errs:
    """validateSysctls: names, duplicates, and none of the host's own namespaces."""
    errs: Errs = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = _s(item, "name") if isinstance(item, dict) else ""
        at = child(idx(path, i), "name")
        if not name:
            errs.append(required(at, ""))
        elif not sysctls.valid_name(name):
            detail = (
                f"must have at most {sysctls.MAX_LENGTH} characters and match regex "
                f"{sysctls.PATTERN}"
            )
            errs.append(invalid(at, name, detail))
        elif name in seen:
            errs.append(duplicate(at, name))
        ns = sysctls.namespace(name)
        if spec.get("hostNetwork") is True and ns == "net":
            errs.append(invalid(at, name, "may not be specified when 'hostNetwork' is true"))
        elif spec.get("hostIPC") is True and ns == "ipc":
            errs.append(invalid(at, name, "may not be specified when 'hostIPC' is true"))
        seen.add(name)
    return errs


def _image_pull_secrets(secrets: list[Any], path: str) -> Errs:
    errs: Errs = []
    for i, ref in enumerate(secrets):
        if isinstance(ref, dict) and set(normalize(ref)) - {"name"}:
            errs.append(invalid(idx(path, i), ref, "only name may be set"))
    return errs


def _node_selector_requirement(req: Obj, path: str, allow_invalid_values: bool) -> Errs:
    errs: Errs = []
    op, values = _s(req, "operator"), _l(req, "values")
    if op in ("In", "NotIn"):
        if not values:
            errs.append(
                required(
                    child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    child(path, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(
                required(
                    child(path, "values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                )
            )
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    errs += validate_label_name(_s(req, "key"), child(path, "key"))
    if not allow_invalid_values:
        for i, v in enumerate(values):
            v = v if isinstance(v, str) else ""
            errs += [
                invalid(idx(child(path, "values"), i), v, m) for m in names.is_valid_label_value(v)
            ]
    return errs


def _node_selector_term(term: Obj, path: str, allow_invalid_values: bool) -> Errs:
    errs: Errs = []
    for j, req in enumerate(_dl(term, "matchExpressions")):
        errs += _node_selector_requirement(
            req, idx(child(path, "matchExpressions"), j), allow_invalid_values
        )
    for j, req in enumerate(_dl(term, "matchFields")):
        rpath = idx(child(path, "matchFields"), j)
        if _s(req, "operator") in ("In", "NotIn"):
            if len(_l(req, "values")) != 1:
                errs.append(
                    required(
                        child(rpath, "values"),
                        "must be only one value when `operator` is "
                        "'In' or 'NotIn' for node field selector",
                    )
                )
        else:
            errs.append(
                invalid(
                    child(rpath, "operator"), _s(req, "operator"), "not a valid selector operator"
                )
            )
        if _s(req, "key") != "metadata.name":
            errs.append(
                invalid(child(rpath, "key"), _s(req, "key"), "not a valid field selector key")
            )
        else:
            for k, v in enumerate(_l(req, "values")):
                v = v if isinstance(v, str) else ""
                errs += [
                    invalid(idx(child(rpath, "values"), k), v, m)
                    for m in names.name_is_dns_subdomain(v)
                ]
    return errs


def validate_node_selector(selector: Obj, path: str, allow_invalid_values: bool = False) -> Errs:
    terms_path = child(path, "nodeSelectorTerms")
    terms = _dl(selector, "nodeSelectorTerms")
    if not terms:
        return [required(terms_path, "must have at least one node selector term")]
    errs: Errs = []
    for i, term in enumerate(terms):
        errs += _node_selector_term(term, idx(terms_path, i), allow_invalid_values)
    return errs


def _pod_affinity_term(term: Obj, path: str) -> Errs:
    errs = validate_label_selector(term.get("labelSelector"), child(path, "labelSelector"))
    errs += validate_label_selector(term.get("namespaceSelector"), child(path, "namespaceSelector"))
    for ns in _l(term, "namespaces"):
        ns = ns if isinstance(ns, str) else ""
        errs += [invalid(child(path, "namespace"), ns, m) for m in names.name_is_dns_label(ns)]
    if not _s(term, "topologyKey"):
        errs.append(required(child(path, "topologyKey"), "can not be empty"))
    return errs + validate_label_name(_s(term, "topologyKey"), child(path, "topologyKey"))


def _affinity(affinity: Any, path: str) -> Errs:
    if not isinstance(affinity, dict):
        return []
    errs: Errs = []
    if has(affinity, "nodeAffinity"):
        na, npath = _d(affinity, "nodeAffinity"), child(path, "nodeAffinity")
        req_key = "requiredDuringSchedulingIgnoredDuringExecution"
        if has(na, req_key):
            errs += validate_node_selector(_d(na, req_key), child(npath, req_key))
        pref_key = "preferredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_dl(na, pref_key)):
            tpath = idx(child(npath, pref_key), i)
            weight = _i(term, "weight")
            if weight <= 0 or weight > 100:
                errs.append(invalid(child(tpath, "weight"), weight, "must be in the range 1-100"))
            errs += _node_selector_term(_d(term, "preference"), child(tpath, "preference"), True)
    for kind in ("podAffinity", "podAntiAffinity"):
        if not has(affinity, kind):
            continue
        pa, ppath = _d(affinity, kind), child(path, kind)
        req_key = "requiredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_dl(pa, req_key)):
            errs += _pod_affinity_term(term, idx(child(ppath, req_key), i))
        pref_key = "preferredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_dl(pa, pref_key)):
            tpath = idx(child(ppath, pref_key), i)
            weight = _i(term, "weight")
            if weight <= 0 or weight > 100:
                errs.append(invalid(child(tpath, "weight"), weight, "must be in the range 1-100"))
            errs += _pod_affinity_term(_d(term, "podAffinityTerm"), child(tpath, "podAffinityTerm"))
    return errs


def _dns_config(config: Any, policy: str, path: str) -> Errs:
    if policy == "None":
        if not isinstance(config, dict):
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not _l(config, "nameservers"):
            return [
                required(
                    child(path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            ]
    if not isinstance(config, dict):
        return []
    errs: Errs = []
    servers, searches = _l(config, "nameservers"), _l(config, "searches")
    if len(servers) > 3:
        errs.append(
            invalid(child(path, "nameservers"), servers, "must not have more than 3 nameservers")
        )
    for i, ns in enumerate(servers):
        errs += ip_address(ns if isinstance(ns, str) else "", idx(child(path, "nameservers"), i))
    if len(searches) > 32:
        errs.append(
            invalid(child(path, "searches"), searches, "must not have more than 32 search paths")
        )
    if len(" ".join(str(s) for s in searches)) > 2048:
        errs.append(
            invalid(
                child(path, "searches"),
                searches,
                "must not have more than 2048 characters (including spaces) in the search list",
            )
        )
    for i, search in enumerate(searches):
        search = search if isinstance(search, str) else ""
        if search != ".":  # AllowRelaxedDNSSearchValidation
            search = search.removesuffix(".")
            errs += [
                invalid(idx(child(path, "searches"), i), search, m)
                for m in _dns1123_subdomain_with_underscore(search)
            ]
    for i, option in enumerate(_dl(config, "options")):
        if not _s(option, "name"):
            errs.append(required(idx(child(path, "options"), i), "must not be empty"))
    return errs


def _dns1123_subdomain_with_underscore(value: str) -> list[str]:
    import re

    fmt = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*"
    errs: list[str] = []
    if len(value) > 253:
        errs.append(names.max_len_error(253))
    if not re.fullmatch(fmt, value):
        errs.append(
            names.regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'_', '-' or '.', and must start and end with an alphanumeric character",
                fmt,
                "example.com",
            )
        )
    return errs


def validate_tolerations(tolerations: list[Obj], path: str) -> Errs:
    errs: Errs = []
    for i, t in enumerate(tolerations):
        tpath = idx(path, i)
        k, op, value, effect = _s(t, "key"), _s(t, "operator"), _s(t, "value"), _s(t, "effect")
        if k:
            errs += validate_label_name(k, child(tpath, "key"))
        if not k and op != "Exists":
            errs.append(
                invalid(
                    child(tpath, "operator"),
                    op,
                    "operator must be Exists when `key` is empty, "
                    'which means "match all values and all keys"',
                )
            )
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                invalid(
                    child(tpath, "effect"),
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if op in ("Equal", ""):
            msgs = names.is_valid_label_value(value)
            if msgs:
                errs.append(invalid(child(tpath, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(
                    invalid(
                        child(tpath, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(not_supported(child(tpath, "operator"), op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(
                not_supported(
                    child(tpath, "effect"), effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]
                )
            )
    return errs


def _topology_spread(constraints: list[Obj], path: str) -> Errs:
    errs: Errs = []
    for i, c in enumerate(constraints):
        cpath = idx(path, i)
        if _i(c, "maxSkew") <= 0:
            errs.append(
                invalid(child(cpath, "maxSkew"), _i(c, "maxSkew"), "must be greater than zero")
            )
        if not _s(c, "topologyKey"):
            errs.append(required(child(cpath, "topologyKey"), "can not be empty"))
        action = _s(c, "whenUnsatisfiable")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(
                not_supported(
                    child(cpath, "whenUnsatisfiable"), action, ["DoNotSchedule", "ScheduleAnyway"]
                )
            )
        for rest in constraints[i + 1 :]:
            if (
                _s(rest, "topologyKey") == _s(c, "topologyKey")
                and _s(rest, "whenUnsatisfiable") == action
            ):
                errs.append(
                    duplicate(
                        child(cpath, "{topologyKey, whenUnsatisfiable}"),
                        f"{{{_s(c, 'topologyKey')}, {action}}}",
                    )
                )
                break
        if c.get("minDomains") is not None:
            md = _i(c, "minDomains")
            if md <= 0:
                errs.append(invalid(child(cpath, "minDomains"), md, "must be greater than zero"))
            if action != "DoNotSchedule":
                errs.append(
                    invalid(
                        child(cpath, "minDomains"),
                        md,
                        f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}",
                    )
                )
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if c.get(policy) is not None and c[policy] not in ("Honor", "Ignore"):
                errs.append(not_supported(child(cpath, policy), c[policy], ["Honor", "Ignore"]))
        errs += validate_label_selector(c.get("labelSelector"), child(cpath, "labelSelector"))
    return errs


def validate_pod_spec(spec: Obj, path: str, opts: PodOptions) -> Errs:
    """ValidatePodSpec."""
    errs: Errs = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(child(path, "terminationGracePeriodSeconds"), ""))
    grace = grace if isinstance(grace, int) else None
    host_users = spec.get("hostUsers") is not False
    restart_policy = _s(spec, "restartPolicy")
    vols, verrs = validate_volumes(_dl(spec, "volumes"), child(path, "volumes"), opts)
    errs += verrs
    errs += _containers(
        _dl(spec, "containers"),
        vols,
        grace,
        child(path, "containers"),
        opts,
        restart_policy,
        host_users,
    )
    errs += _init_containers(
        _dl(spec, "initContainers"),
        _dl(spec, "containers"),
        vols,
        grace,
        child(path, "initContainers"),
        opts,
        restart_policy,
        host_users,
    )
    errs += validate_ephemeral_containers(
        _dl(spec, "ephemeralContainers"), spec, vols, child(path, "ephemeralContainers"), opts
    )
    if spec.get("hostNetwork") is True:
        for i, c in enumerate(_dl(spec, "containers")):
            for j, port in enumerate(_dl(c, "ports")):
                hp, cp = _i(port, "hostPort"), _i(port, "containerPort")
                if (opts.resource_is_pod or hp != 0) and hp != cp:
                    ppath = idx(child(idx(child(path, "containers"), i), "ports"), j)
                    errs.append(
                        invalid(
                            child(ppath, "hostPort"),
                            hp,
                            "must match `containerPort` when `hostNetwork` is true",
                        )
                    )
    errs += _restart_policy(restart_policy, child(path, "restartPolicy"))
    errs += _dns_policy(_s(spec, "dnsPolicy"), child(path, "dnsPolicy"))
    errs += validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector"))
    errs += _pod_security_context(spec.get("securityContext"), spec, child(path, "securityContext"))
    errs += _image_pull_secrets(_l(spec, "imagePullSecrets"), child(path, "imagePullSecrets"))
    errs += _affinity(spec.get("affinity"), child(path, "affinity"))
    errs += _dns_config(spec.get("dnsConfig"), _s(spec, "dnsPolicy"), child(path, "dnsConfig"))
    for i, gate in enumerate(_dl(spec, "readinessGates")):
        errs += qualified_name(
            _s(gate, "conditionType"), child(idx(child(path, "readinessGates"), i), "conditionType")
        )
    seen_gates: set[str] = set()
    for i, gate in enumerate(_dl(spec, "schedulingGates")):
        gpath = idx(child(path, "schedulingGates"), i)
        errs += qualified_name(_s(gate, "name"), gpath)
        if _s(gate, "name") in seen_gates:
            errs.append(duplicate(gpath, _s(gate, "name")))
        seen_gates.add(_s(gate, "name"))
    errs += _topology_spread(
        _dl(spec, "topologySpreadConstraints"), child(path, "topologySpreadConstraints")
    )
    if spec.get("hostUsers") is False:
        for field_name, label in (
            ("hostNetwork", "hostNetwork"),
            ("hostPID", "HostPID"),
            ("hostIPC", "HostIPC"),
        ):
            if spec.get(field_name) is True:
                errs.append(forbidden(child(path, label), "when `pod.Spec.HostUsers` is false"))
    for field_name in ("serviceAccountName", "nodeName"):
        if _s(spec, field_name):
            errs += [
                invalid(child(path, field_name), _s(spec, field_name), m)
                for m in names.name_is_dns_subdomain(_s(spec, field_name))
            ]
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and not (1 <= ads <= MAX_INT32):
        errs.append(
            invalid(
                child(path, "activeDeadlineSeconds"), ads, names.inclusive_range_error(1, MAX_INT32)
            )
        )
    for field_name in ("hostname", "subdomain"):
        if _s(spec, field_name):
            errs += dns1123_label(_s(spec, field_name), child(path, field_name))
    errs += validate_tolerations(_dl(spec, "tolerations"), child(path, "tolerations"))
    for i, alias in enumerate(_dl(spec, "hostAliases")):
        apath = idx(child(path, "hostAliases"), i)
        errs += ip_address(_s(alias, "ip"), child(apath, "ip"))
        for j, hostname in enumerate(_l(alias, "hostnames")):
            errs += dns1123_subdomain(
                hostname if isinstance(hostname, str) else "", idx(child(apath, "hostnames"), j)
            )
    if _s(spec, "priorityClassName"):
        errs += [
            invalid(child(path, "priorityClassName"), _s(spec, "priorityClassName"), m)
            for m in names.name_is_dns_subdomain(_s(spec, "priorityClassName"))
        ]
    if spec.get("runtimeClassName") is not None:
        errs += dns1123_subdomain(_s(spec, "runtimeClassName"), child(path, "runtimeClassName"))
    if spec.get("preemptionPolicy") is not None:
        errs += validate_preemption_policy(
            spec.get("preemptionPolicy"), child(path, "preemptionPolicy")
        )
    if has(spec, "os"):
        os_name = _s(_d(spec, "os"), "name")
        if not os_name:
            errs.append(required(child(path, "os", "name"), "cannot be empty"))
        elif os_name not in ("linux", "windows"):
            errs.append(not_supported(child(path, "os"), os_name, ["linux", "windows"]))
    return errs


def validate_preemption_policy(policy: Any, path: str) -> Errs:
    if policy in ("PreemptLowerPriority", "Never"):
        return []
    if policy == "":
        return [required(path, "")]
    return [not_supported(path, policy, ["PreemptLowerPriority", "Never"])]


def _pod_specific_annotations(annotations: Any, spec: Obj, path: str) -> Errs:
    annotations = annotations if isinstance(annotations, dict) else {}
    errs: Errs = []
    mirror = MIRROR_POD_ANNOTATION
    if mirror in annotations and not _s(spec, "nodeName"):
        errs.append(
            invalid(
                key(path, mirror),
                annotations[mirror],
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    cost_key = "controller.kubernetes.io/pod-deletion-cost"
    if cost_key in annotations:
        try:
            cost = int(str(annotations[cost_key]), 10)
            ok = -(2**31) <= cost <= MAX_INT32 and str(annotations[cost_key]).strip() == str(
                annotations[cost_key]
            )
        except ValueError:
            ok = False
        if not ok:
            errs.append(
                invalid(key(path, cost_key), annotations[cost_key], "must be a 32bit integer")
            )
    return errs


# --- Pods ---


def _pod_metadata_and_spec(pod: Obj) -> Errs:
    opts = PodOptions(resource_is_pod=True)
    spec = _d(pod, "spec")
    errs = validate_object_meta(pod, namespaced=True, name_fn=names.name_is_dns_subdomain)
    errs += _pod_specific_annotations(
        _d(pod, "metadata").get("annotations"), spec, "metadata.annotations"
    )
    errs += validate_pod_spec(spec, "spec", opts)
    if not _s(spec, "serviceAccountName"):
        for vi, vol in enumerate(_dl(spec, "volumes")):
            for si, source in enumerate(_dl(_d(vol, "projected"), "sources")):
                if has(source, "serviceAccountToken"):
                    errs.append(
                        forbidden(
                            f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                            "must not be specified when serviceAccountName is not set",
                        )
                    )
    for key_ in ("containers", "initContainers"):
        for i, c in enumerate(_dl(spec, key_)):
            image = _s(c, "image")
            if image != image.strip():
                errs.append(
                    invalid(
                        f"spec.{key_}[{i}].image",
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    return errs


def validate_pod(pod: Obj) -> Errs:
    """ValidatePodCreate."""
    errs = _pod_metadata_and_spec(pod)
    spec = _d(pod, "spec")
    if _l(spec, "ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if _s(spec, "nodeName") and _l(spec, "schedulingGates"):
        errs.append(
            forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
        )
    return errs


UPDATABLE_POD_SPEC_FIELDS = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
]


def _container_updates(new: list[Obj], old: list[Obj], path: str) -> tuple[Errs, bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: Errs = []
    for i, c in enumerate(new):
        image = _s(c, "image")
        if not image:
            errs.append(required(child(idx(path, i), "image"), ""))
        if image.strip() != image:
            errs.append(
                invalid(
                    child(idx(path, i), "image"),
                    image,
                    "must not have leading or trailing whitespace",
                )
            )
    return errs, False


def _only_added_tolerations(new: list[Obj], old: list[Obj], path: str) -> Errs:
    for o in old:
        want = {k: v for k, v in o.items() if k != "tolerationSeconds"}
        if not any(
            semantic_equal(want, {k: v for k, v in n.items() if k != "tolerationSeconds"})
            for n in new
        ):
            return [
                forbidden(
                    path, "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return validate_tolerations(new, path)


def spec_diff(old: Any, new: Any, type_name: str) -> str:
    """A short stand-in for cmp.Diff: one `-`/`+` line pair per changed leaf."""
    lines: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{where}.{k}" if where else k)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{i}]")
        elif normalize(a) != normalize(b):
            import json

            lines.append(f"- \t{where}: {json.dumps(normalize(a))}")
            lines.append(f"+ \t{where}: {json.dumps(normalize(b))}")

    walk(old, new, "")
    return "  " + type_name + "{\n" + "".join(line + "\n" for line in lines) + "  }\n"


def validate_pod_update(new: Obj, old: Obj) -> Errs:
    """ValidatePodUpdate."""
    errs = validate_object_meta_update(new, old)
    errs += _pod_metadata_and_spec(new)
    new_spec, old_spec = _d(new, "spec"), _d(old, "spec")
    for key_ in ("containers", "initContainers"):
        cerrs, stop = _container_updates(_dl(new_spec, key_), _dl(old_spec, key_), f"spec.{key_}")
        errs += cerrs
        if stop:
            return errs
    new_ads, old_ads = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if isinstance(new_ads, int):
        if new_ads < 0 or new_ads > MAX_INT32:
            errs.append(
                invalid(
                    "spec.activeDeadlineSeconds", new_ads, names.inclusive_range_error(0, MAX_INT32)
                )
            )
            return errs
        if isinstance(old_ads, int) and old_ads < new_ads:
            errs.append(
                invalid(
                    "spec.activeDeadlineSeconds",
                    new_ads,
                    "must be less than or equal to previous value",
                )
            )
            return errs
    elif isinstance(old_ads, int):
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
    errs += _only_added_tolerations(
        _dl(new_spec, "tolerations"), _dl(old_spec, "tolerations"), "spec.tolerations"
    )
    old_gates = {_s(g, "name") for g in _dl(old_spec, "schedulingGates")}
    for i, gate in enumerate(_dl(new_spec, "schedulingGates")):
        if _s(gate, "name") not in old_gates:
            errs.append(
                forbidden(
                    f"spec.schedulingGates[{i}].name",
                    f"only deletion is allowed, but found new scheduling gate '{_s(gate, 'name')}'",
                )
            )
    if semantic_equal(new_spec, old_spec):
        return errs
    munged = _munge_updatable(new_spec, old_spec)
    if not semantic_equal(munged, old_spec):
        detail = "pod updates may not change fields other than " + ",".join(
            UPDATABLE_POD_SPEC_FIELDS
        )
        errs.append(forbidden("spec", detail + "\n" + spec_diff(old_spec, munged, "core.PodSpec")))
    return errs


def validate_pod_status_update(new: Obj, old: Obj) -> Errs:
    """ValidatePodStatusUpdate: `pods/status` writes change only status, so the spec is not re-checked.

    (Upstream names the conditions' path under `metadata`; so does this.)
    """
    errs = validate_object_meta_update(new, old)
    spec = _d(new, "spec")
    errs += _pod_specific_annotations(
        _d(new, "metadata").get("annotations"), spec, "metadata.annotations"
    )
    status, old_status = _d(new, "status"), _d(old, "status")
    for i, cond in enumerate(_dl(status, "conditions")):
        type_ = _s(cond, "type")
        if type_ not in _SYSTEM_POD_CONDITIONS:
            errs += qualified_name(type_, f"metadata.conditions[{i}].Type")
    nominated = _s(status, "nominatedNodeName")
    if nominated and nominated != _s(old_status, "nominatedNodeName"):
        errs += [
            invalid("status.nominatedNodeName", nominated, m)
            for m in names.name_is_dns_subdomain(nominated, False)
        ]
    if _s(status, "qosClass") != _s(old_status, "qosClass"):
        errs.append(invalid("status.qosClass", _s(status, "qosClass"), "field is immutable"))
    old_spec = _d(old, "spec")
    policy = _s(old_spec, "restartPolicy") or "Always"
    for key_ in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        errs += _state_transitions(
            _dl(status, key_),
            _dl(old_status, key_),
            f"status.{key_}",
            "Never" if key_ == "ephemeralContainerStatuses" else policy,
            old_spec,
        )
    errs += _status_ips(status, "podIPs") + _status_ips(status, "hostIPs")
    return errs


def validate_pod_ephemeral_containers_update(new: Obj, old: Obj) -> Errs:
    """ValidatePodEphemeralContainersUpdate: a `pods/ephemeralcontainers` write.

    `new` differs from `old` only in `spec.ephemeralContainers` (the API
    server keeps everything else from the stored pod); the whole pod is
    re-validated, then existing ephemeral containers must be kept unchanged.
    """
    errs = validate_object_meta_update(new, old)
    errs += _pod_metadata_and_spec(new)
    if MIRROR_POD_ANNOTATION in _d(_d(old, "metadata"), "annotations"):
        return [forbidden("", "static pods do not support ephemeral containers")]
    return errs + _ephemeral_container_changes(
        _dl(_d(new, "spec"), "ephemeralContainers"), _dl(_d(old, "spec"), "ephemeralContainers")
    )


def _ephemeral_container_changes(new: list[Obj], old: list[Obj]) -> Errs:
    """Existing ephemeral containers, matched by name (a patch need not keep the order)."""
    path = "spec.ephemeralContainers"
    by_name = {_s(c, "name"): c for c in new}
    errs: Errs = []
    for before in old:
        name = _s(before, "name")
        after = by_name.get(name)
        if after is None:
            errs.append(
                forbidden(path, f'existing ephemeral containers "{name}" may not be removed\n')
            )
        elif not semantic_equal(before, after):
            diff = spec_diff(before, after, "core.EphemeralContainer")
            errs.append(
                forbidden(
                    path, f'existing ephemeral containers "{name}" may not be changed\n{diff}'
                )
            )
    return errs


_SYSTEM_POD_CONDITIONS = frozenset({"PodScheduled", "Ready", "Initialized"})


def _state_transitions(new: list[Obj], old: list[Obj], path: str, policy: str, spec: Obj) -> Errs:
    """A container that may not restart stays terminated (Validate*ContainerStateTransition).

    Indexed by the old status, as upstream reports it.
    """
    if policy == "Always":
        return []
    sidecars = {
        _s(c, "name") for c in _dl(spec, "initContainers") if _s(c, "restartPolicy") == "Always"
    }
    now_running = {_s(c, "name") for c in new if not _d(_d(c, "state"), "terminated")}
    errs: Errs = []
    for i, before in enumerate(old):
        terminated = _d(_d(before, "state"), "terminated")
        if not terminated:
            continue
        if _i(terminated, "exitCode") != 0 and policy == "OnFailure":
            continue
        if _s(before, "name") in sidecars and path.endswith("initContainerStatuses"):
            continue
        if _s(before, "name") in now_running:
            errs.append(
                forbidden(f"{path}[{i}].state", "may not be transitioned to non-terminated state")
            )
    return errs


def _status_ips(status: Obj, field_name: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, entry in enumerate(_dl(status, field_name)):
        ip = _s(entry, "ip")
        path = f"status.{field_name}[{i}].ip"
        problems = ip_address(ip, path)
        errs += problems
        if not problems and ip in seen:
            errs.append(duplicate(path, ip))
        seen.add(ip)
    return errs


def _munge_updatable(new_spec: Obj, old_spec: Obj) -> Obj:
    import copy

    munged = copy.deepcopy(new_spec)
    for key_ in ("containers", "initContainers"):
        for c, o in zip(_dl(munged, key_), _dl(old_spec, key_), strict=False):
            if "image" in o:
                c["image"] = o["image"]
            else:
                c.pop("image", None)
    for field_name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        if field_name in old_spec:
            munged[field_name] = copy.deepcopy(old_spec[field_name])
        else:
            munged.pop(field_name, None)
    old_grace, new_grace = (
        old_spec.get("terminationGracePeriodSeconds"),
        munged.get("terminationGracePeriodSeconds"),
    )
    if isinstance(old_grace, int) and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if _l(old_spec, "schedulingGates"):
        # Gated pods may gain nodeSelector entries and node-affinity terms.
        old_sel, new_sel = _d(old_spec, "nodeSelector"), _d(munged, "nodeSelector")
        if all(new_sel.get(k) == v for k, v in old_sel.items()):
            munged["nodeSelector"] = copy.deepcopy(old_spec.get("nodeSelector"))
    return munged


def validate_pod_template_spec(template: Obj, path: str, opts: PodOptions | None = None) -> Errs:
    """ValidatePodTemplateSpec (note upstream's `<path>.labels`, not `.metadata.labels`)."""
    opts = opts or PodOptions()
    meta, spec = _d(template, "metadata"), _d(template, "spec")
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += _pod_specific_annotations(meta.get("annotations"), spec, child(path, "annotations"))
    errs += validate_pod_spec(spec, child(path, "spec"), opts)
    if _l(spec, "ephemeralContainers"):
        errs.append(
            forbidden(
                child(path, "spec", "ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            )
        )
    return errs
