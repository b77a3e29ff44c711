"""ConfigMap, Secret, Namespace, Node, ServiceAccount, Event, PriorityClass, Lease."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kubelite.api import gojson, names
from kubelite.api.fielderrors import FieldError
from kubelite.api.validation_containers import validate_quantity_value
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    _d,
    _dl,
    _i,
    _l,
    _s,
    child,
    duplicate,
    forbidden,
    idx,
    immutable,
    invalid,
    key,
    not_supported,
    qualified_name,
    required,
    semantic_equal,
    too_long,
    validate_label_name,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation_pod import validate_preemption_policy

MAX_SECRET_SIZE = 1 * 1024 * 1024  # also the ConfigMap limit


# --- ConfigMap ---


def validate_config_map(cm: Obj) -> Errs:
    errs = validate_object_meta(cm, namespaced=True, name_fn=names.name_is_dns_subdomain)
    data, binary = _d(cm, "data"), _d(cm, "binaryData")
    total = 0
    for k, v in data.items():
        errs += [invalid(key("data", k), k, m) for m in names.is_config_map_key(k)]
        if k in binary:
            errs.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
        total += len(str(v).encode())
    for k, v in binary.items():
        errs += [invalid(key("binaryData", k), k, m) for m in names.is_config_map_key(k)]
        total += len(_b64_bytes(v))
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))  # "" names the whole object
    return errs


def validate_config_map_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for field_name in ("data", "binaryData"):
            if (new.get(field_name) or {}) != (old.get(field_name) or {}):
                errs.append(forbidden(field_name, "field is immutable when `immutable` is set"))
    return errs + validate_config_map(new)


# --- Secret ---


def base64_error(value: Any) -> str | None:
    """Go's base64.StdEncoding error for `value`, or None when it decodes."""
    if not isinstance(value, str):
        return "illegal base64 data at input byte 0"
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    body = value.rstrip("\r\n")
    for i, ch in enumerate(body):
        if ch == "=":
            break
        if ch not in alphabet and ch not in "\r\n":
            return f"illegal base64 data at input byte {i}"
    try:
        base64.b64decode(value, validate=False)
        if len(value.replace("\n", "").replace("\r", "")) % 4:
            raise binascii.Error
    except (binascii.Error, ValueError):
        return f"illegal base64 data at input byte {max(len(value) - len(value) % 4, 0)}"
    return None


def _b64_bytes(value: Any) -> bytes:
    try:
        return base64.b64decode(value) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        return value.encode() if isinstance(value, str) else b""


def validate_secret(secret: Obj) -> Errs:
    errs = validate_object_meta(secret, namespaced=True, name_fn=names.name_is_dns_subdomain)
    data = _d(secret, "data")
    decoded: dict[str, bytes] = {}
    total = 0
    for k, v in data.items():
        errs += [invalid(key("data", k), k, m) for m in names.is_config_map_key(k)]
        problem = base64_error(v)
        if problem:
            # Upstream refuses this while decoding the body (400 BadRequest).
            errs.append(invalid(key("data", k), "<secret contents redacted>", problem))
        decoded[k] = _b64_bytes(v)
        total += len(decoded[k])
    for k, v in _d(secret, "stringData").items():
        errs += [invalid(key("data", k), k, m) for m in names.is_config_map_key(k)]
        if k not in decoded:
            total += len(str(v).encode())
        decoded[k] = str(v).encode()
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    return errs + _secret_type_rules(secret, decoded)


def _secret_type_rules(secret: Obj, data: dict[str, bytes]) -> Errs:
    kind = _s(secret, "type")
    errs: Errs = []
    if kind == "kubernetes.io/service-account-token":
        sa_key = "kubernetes.io/service-account.name"
        if not _s(_d(_d(secret, "metadata"), "annotations"), sa_key):
            errs.append(required(key("metadata.annotations", sa_key), ""))
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        data_key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if data_key not in data:
            errs.append(required(key("data", data_key), ""))
        else:
            try:
                gojson.unmarshal_map(data[data_key])
            except gojson.GoJSONError as exc:
                errs.append(invalid(key("data", data_key), "<secret contents redacted>", str(exc)))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(required(key("data", "username"), ""))
            errs.append(required(key("data", "password"), ""))
    elif kind == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required(key("data", "ssh-privatekey"), ""))
    elif kind == "kubernetes.io/tls":
        for data_key in ("tls.crt", "tls.key"):
            if data_key not in data:
                errs.append(required(key("data", data_key), ""))
    return errs


def validate_secret_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += immutable(new.get("type"), old.get("type"), "type")
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        if (new.get("data") or {}) != (old.get("data") or {}):
            errs.append(forbidden("data", "field is immutable when `immutable` is set"))
    return errs + validate_secret(new)


# --- Namespace ---


def validate_namespace(ns: Obj) -> Errs:
    errs = validate_object_meta(ns, namespaced=False, name_fn=names.name_is_dns_label)
    for f in _l(_d(ns, "spec"), "finalizers"):
        f = f if isinstance(f, str) else ""
        errs += qualified_name(f, "spec.finalizers")
        if "/" not in f and f not in ("kubernetes", "orphan", "foregroundDeletion"):
            errs.append(
                invalid(
                    "spec.finalizers",
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errs


def validate_namespace_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old)


def validate_namespace_status_update(new: Obj, old: Obj) -> Errs:
    """The phase follows the deletion: a status write cannot end or fake one."""
    errs = validate_object_meta_update(new, old)
    phase = (new.get("status") or {}).get("phase") or ""
    if not (new.get("metadata") or {}).get("deletionTimestamp"):
        if phase != "Active":
            errs.append(invalid("status.Phase", phase,
                                "may only be 'Active' if `deletionTimestamp` is empty"))  # fmt: skip
    elif phase != "Terminating":
        errs.append(invalid("status.Phase", phase,
                            "may only be 'Terminating' if `deletionTimestamp` is not empty"))  # fmt: skip
    return errs


# --- Node ---


def _node_taints(taints: list[Obj], path: str) -> Errs:
    errs: Errs = []
    seen: dict[str, set[str]] = {}
    for i, taint in enumerate(taints):
        tpath = idx(path, i)
        errs += validate_label_name(_s(taint, "key"), child(tpath, "key"))
        msgs = names.is_valid_label_value(_s(taint, "value"))
        if msgs:
            errs.append(invalid(child(tpath, "value"), _s(taint, "value"), ";".join(msgs)))
        effect = _s(taint, "effect")
        if not effect:
            errs.append(required(child(tpath, "effect"), ""))
        elif effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(
                not_supported(
                    child(tpath, "effect"), effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]
                )
            )
        if _s(taint, "key") in seen.get(effect, set()):
            errs.append(
                FieldError(
                    "FieldValueDuplicate",
                    tpath,
                    "taints must be unique by key and effect pair",
                    taint,
                )
            )
            continue
        seen.setdefault(effect, set()).add(_s(taint, "key"))
    return errs


def _node_resources(node: Obj) -> Errs:
    errs: Errs = []
    status = _d(node, "status")
    for section in ("capacity", "allocatable"):
        for name, q in _d(status, section).items():
            errs += validate_quantity_value(name, q, f"status.{section}.{name}")[1]
    return errs


def validate_node(node: Obj) -> Errs:
    errs = validate_object_meta(node, namespaced=False, name_fn=names.name_is_dns_subdomain)
    spec = _d(node, "spec")
    if _l(spec, "taints"):
        errs += _node_taints(_dl(spec, "taints"), "metadata.taints")  # sic: upstream path
    errs += _node_resources(node)
    cidrs = _l(spec, "podCIDRs")
    for i, cidr in enumerate(cidrs):
        errs += [invalid(idx("spec.podCIDRs", i), cidr, m) for m in names.cidr_errors(str(cidr))]
    if len(cidrs) > 1:
        families = {":" in str(c) for c in cidrs}
        if len(families) != len(cidrs) or len(cidrs) > 2:
            errs.append(
                invalid(
                    "spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family"
                )
            )
        seen: set[str] = set()
        for i, cidr in enumerate(cidrs):
            if cidr in seen:
                errs.append(duplicate(idx("spec.podCIDRs", i), cidr))
            seen.add(cidr)
    return errs


def validate_node_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old) + _node_resources(new)
    seen: list[Any] = []
    for i, address in enumerate(_dl(_d(new, "status"), "addresses")):
        if address in seen:
            errs.append(duplicate(idx("status.addresses", i), address))
        seen.append(address)
    spec, old_spec = _d(new, "spec"), _d(old, "spec")
    old_cidrs, cidrs = _l(old_spec, "podCIDRs"), _l(spec, "podCIDRs")
    if old_cidrs and old_cidrs != cidrs:
        errs.append(
            forbidden(
                "spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'
            )
        )
    if _s(old_spec, "providerID") and _s(old_spec, "providerID") != _s(spec, "providerID"):
        errs.append(
            forbidden(
                "spec.providerID", 'node updates may not change providerID except from "" to valid'
            )
        )
    if _l(spec, "taints"):
        errs += _node_taints(_dl(spec, "taints"), "metadata.taints")
    if _s(spec, "externalID") != _s(old_spec, "externalID"):
        errs.append(forbidden("spec.externalID", "may not be updated"))
    return errs


# --- ServiceAccount ---


def validate_service_account(sa: Obj) -> Errs:
    return validate_object_meta(sa, namespaced=True, name_fn=names.name_is_dns_subdomain)


def validate_service_account_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old) + validate_service_account(new)


# --- Event ---


def _core_event_view(ev: Obj) -> Obj:
    """The internal Event's fields, read from a core/v1 Event."""
    return {
        "namespace": _s(_d(ev, "metadata"), "namespace"),
        "involvedObject": _d(ev, "involvedObject"),
        "eventTime": ev.get("eventTime"),
        "reportingController": _s(ev, "reportingComponent"),
        "reportingInstance": _s(ev, "reportingInstance"),
        "action": _s(ev, "action"),
        "reason": _s(ev, "reason"),
        "message": _s(ev, "message"),
    }


def _events_v1_view(ev: Obj) -> Obj:
    """The internal Event's fields, read from an events.k8s.io/v1 Event."""
    return {
        "namespace": _s(_d(ev, "metadata"), "namespace"),
        "involvedObject": _d(ev, "regarding"),
        "eventTime": ev.get("eventTime"),
        "reportingController": _s(ev, "reportingController"),
        "reportingInstance": _s(ev, "reportingInstance"),
        "action": _s(ev, "action"),
        "reason": _s(ev, "reason"),
        "message": _s(ev, "note"),
        "series": ev.get("series"),
        "type": _s(ev, "type"),
        "firstTimestamp": ev.get("deprecatedFirstTimestamp"),
        "lastTimestamp": ev.get("deprecatedLastTimestamp"),
        "count": _i(ev, "deprecatedCount"),
        "source": _d(ev, "deprecatedSource"),
    }


def _legacy_event(v: Obj) -> Errs:
    errs: Errs = []
    ns, involved_ns = v["namespace"], _s(v["involvedObject"], "namespace")
    if not v.get("eventTime"):
        if not involved_ns:
            if ns not in ("", "default"):
                errs.append(
                    invalid(
                        "involvedObject.namespace", involved_ns, "does not match event.namespace"
                    )
                )
        elif ns != involved_ns:
            errs.append(
                invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
            )
    else:
        if not involved_ns and ns not in ("default", "kube-system"):
            errs.append(
                invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
            )
        if not v["reportingController"]:
            errs.append(required("reportingController", ""))
        errs += qualified_name(v["reportingController"], "reportingController")
        for field_name, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            if not v[field_name]:
                errs.append(required(field_name, ""))
            if len(v[field_name]) > limit:
                errs.append(invalid(field_name, "", f"can have at most {limit} characters"))
        if len(v["message"]) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    return errs + [invalid("namespace", ns, m) for m in names.is_dns1123_subdomain(ns)]


def _strict_event(ev: Obj, v: Obj) -> Errs:
    errs = validate_object_meta(ev, namespaced=True, name_fn=names.name_is_dns_subdomain)
    errs += _event_series(v)
    if not v.get("eventTime"):
        errs.append(required("eventTime", ""))
    if v["type"] not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {v['type']}"))
    for field_name in ("firstTimestamp", "lastTimestamp"):
        if v.get(field_name):
            errs.append(invalid(field_name, "", "needs to be unset"))
    if v["count"]:
        errs.append(invalid("count", "", "needs to be unset"))
    if _s(v["source"], "component") or _s(v["source"], "host"):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


def _event_series(v: Obj) -> Errs:
    series = v.get("series")
    if not isinstance(series, dict):
        return []
    errs: Errs = []
    if _i(series, "count") < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime", ""))
    return errs


def validate_event(ev: Obj) -> Errs:
    if ev.get("apiVersion") == "events.k8s.io/v1":
        v = _events_v1_view(ev)
        return _legacy_event(v) + _strict_event(ev, v)
    return _legacy_event(_core_event_view(ev))  # core/v1: legacy rules only


def validate_event_update(new: Obj, old: Obj) -> Errs:
    if new.get("apiVersion") != "events.k8s.io/v1":
        return _legacy_event(_core_event_view(new))
    v, ov = _events_v1_view(new), _events_v1_view(old)
    errs = _legacy_event(v) + validate_object_meta_update(new, old)
    if not semantic_equal(v.get("series"), ov.get("series")):
        errs += _event_series(v)
    for field_name in (
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "reason",
        "type",
        "eventTime",
        "action",
        "reportingController",
        "reportingInstance",
    ):
        errs += immutable(v.get(field_name), ov.get(field_name), field_name)
    errs += immutable(new.get("related"), old.get("related"), "related")
    return errs


# --- PriorityClass ---

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
_SYSTEM_PRIORITY_CLASSES = {
    "system-node-critical": 2_000_001_000,
    "system-cluster-critical": 2_000_000_000,
}


def _known_system_class(name: str, value: int, global_default: bool) -> str | None:
    if name not in _SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != _SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {_SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


def validate_priority_class(pc: Obj) -> Errs:
    errs = validate_object_meta(pc, namespaced=False, name_fn=names.name_is_dns_subdomain)
    name, value = _s(_d(pc, "metadata"), "name"), _i(pc, "value")
    if name.startswith("system-"):
        problem = _known_system_class(name, value, pc.get("globalDefault") is True)
        if problem:
            errs.append(
                forbidden(
                    "metadata.name",
                    "priority class names with 'system-' prefix are reserved "
                    f"for system use only. error: {problem}",
                )
            )
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(
            forbidden(
                "value",
                f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}",
            )
        )
    if pc.get("preemptionPolicy") is not None:
        errs += validate_preemption_policy(pc["preemptionPolicy"], "preemptionPolicy")
    return errs


def validate_priority_class_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    if _i(new, "value") != _i(old, "value"):
        errs.append(forbidden("value", "may not be changed in an update."))
    return errs + immutable(
        new.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy"
    )


# --- Lease ---


def _lease_spec(spec: Obj) -> Errs:
    errs: Errs = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and transitions < 0:
        errs.append(
            invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    strategy = spec.get("strategy")
    if strategy is not None:
        if "/" not in str(strategy):
            if strategy != "OldestEmulationVersion":
                errs.append(
                    not_supported("spec.strategy.strategy", strategy, ["OldestEmulationVersion"])
                )
        else:
            errs += qualified_name(str(strategy), "spec.strategy.strategy")
    if _s(spec, "preferredHolder") and not strategy:
        errs.append(
            forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined")
        )
    return errs


def validate_lease(lease: Obj) -> Errs:
    errs = validate_object_meta(lease, namespaced=True, name_fn=names.name_is_dns_subdomain)
    return errs + _lease_spec(_d(lease, "spec"))


def validate_lease_update(new: Obj, old: Obj) -> Errs:
    return validate_object_meta_update(new, old) + _lease_spec(_d(new, "spec"))
