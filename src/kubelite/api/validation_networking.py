"""Ingress and IngressClass validation (networking.k8s.io/v1).

The rules, field paths and messages of upstream's
`pkg/apis/networking/validation` as of Kubernetes 1.32: a path needs a
`pathType`; Exact and Prefix paths must be clean absolute paths; a backend
names a Service (by port name or number) or a resource, never both; hosts
are DNS names, `*.` wildcards allowed for one leading label, never IPs.
An update may keep values an older server let through (an invalid TLS
secret name, an invalid rule under a wildcard host), as upstream allows.
"""

from __future__ import annotations

import re
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
    immutable,
    invalid,
    not_supported,
    required,
    too_long,
    validate_object_meta,
    validate_object_meta_update,
)

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")
_MAX_CONTROLLER_LEN = 250
_SCOPES = ["Cluster", "Namespace"]

_WILDCARD_FMT = "\\*\\." + names.DNS1123_SUBDOMAIN_FMT
_WILDCARD_ERR = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character"
)
_wildcard_re = re.compile(_WILDCARD_FMT)
_HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"
_http_path_re = re.compile(_HTTP_PATH_FMT)


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """IsWildcardDNS1123Subdomain: `*.` then a DNS subdomain."""
    errs: list[str] = []
    if len(value.encode()) > names.DNS1123_SUBDOMAIN_MAX:
        errs.append(names.max_len_error(names.DNS1123_SUBDOMAIN_MAX))
    if not _wildcard_re.fullmatch(value):
        errs.append(names.regex_error(_WILDCARD_ERR, _WILDCARD_FMT, "*.example.com"))
    return errs


def _path_segment_name(value: str) -> list[str]:
    """IsValidPathSegmentName: a name that can stand as one URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _host(value: str, path: str) -> Errs:
    if "*" in value:
        return [invalid(path, value, m) for m in is_wildcard_dns1123_subdomain(value)]
    return [invalid(path, value, m) for m in names.is_dns1123_subdomain(value)]


# --- Ingress ---


def _service_backend(service: Obj, path: str) -> Errs:
    errs: Errs = []
    name = _s(service, "name")
    if not name:
        errs.append(required(child(path, "service", "name"), ""))
    else:
        errs += [
            invalid(child(path, "service", "name"), name, m)
            for m in names.name_is_dns1035_label(name)
        ]
    port = _d(service, "port")
    port_name, number = _s(port, "name"), port.get("number") or 0
    if port_name and number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs += [
            invalid(child(path, "service", "port", "name"), port_name, m)
            for m in names.is_valid_port_name(port_name)
        ]
    elif number:
        errs += [
            invalid(child(path, "service", "port", "number"), number, m)
            for m in names.is_valid_port_num(int(number))
        ]
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _typed_reference(ref: Obj, path: str) -> Errs:
    """validateIngressTypedLocalObjectReference (a resource backend)."""
    errs: Errs = []
    if ref.get("apiGroup") is not None:
        group = _s(ref, "apiGroup")
        errs += [
            invalid(child(path, "apiGroup"), group, m) for m in names.is_dns1123_subdomain(group)
        ]
    for field in ("kind", "name"):
        value = _s(ref, field)
        if not value:
            errs.append(required(child(path, field), ""))
        else:
            errs += [invalid(child(path, field), value, m) for m in _path_segment_name(value)]
    return errs


def validate_backend(backend: Obj, path: str) -> Errs:
    """validateIngressBackend: a Service or a resource, exactly one."""
    has_resource = backend.get("resource") is not None
    has_service = backend.get("service") is not None
    if has_resource and has_service:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        return _typed_reference(_d(backend, "resource"), child(path, "resource"))
    if has_service:
        return _service_backend(_d(backend, "service"), path)
    return [invalid(path, "", "resource or service backend is required")]


def _http_path(entry: Obj, path: str) -> Errs:
    path_type = entry.get("pathType")
    if path_type is None:
        return [required(child(path, "pathType"), "pathType must be specified")]
    value = _s(entry, "path")
    errs: Errs = []
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(invalid(child(path, "path"), value, "must be an absolute path"))
        errs += [
            invalid(child(path, "path"), value, f"must not contain '{seq}'")
            for seq in _INVALID_SEQUENCES
            if seq in value
        ]
        errs += [
            invalid(child(path, "path"), value, f"cannot end with '{suffix}'")
            for suffix in _INVALID_SUFFIXES
            if value.endswith(suffix)
        ]
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(invalid(child(path, "path"), value, "must be an absolute path"))
    else:
        errs.append(not_supported(child(path, "pathType"), path_type, PATH_TYPES))
    return errs + validate_backend(_d(entry, "backend"), child(path, "backend"))


def _rule_value(rule: Obj, path: str) -> Errs:
    if rule.get("http") is None:
        return []
    http_path = child(path, "http")
    paths = _dl(_d(rule, "http"), "paths")
    errs: Errs = [] if paths else [required(child(http_path, "paths"), "")]
    for i, entry in enumerate(paths):
        errs += _http_path(entry, idx(child(http_path, "paths"), i))
    return errs


def _rules(rules: list[Obj], path: str, *, lax_wildcard_rules: bool) -> Errs:
    errs: Errs = []
    for i, rule in enumerate(rules):
        host, rule_path = _s(rule, "host"), idx(path, i)
        wildcard = False
        if host:
            if names.parse_ip(host) is not None:
                errs.append(
                    invalid(child(rule_path, "host"), host, "must be a DNS name, not an IP address")
                )
            wildcard = "*" in host
            errs += _host(host, child(rule_path, "host"))
        if not (wildcard and lax_wildcard_rules):
            errs += _rule_value(rule, rule_path)
    return errs


def _tls(tls: list[Obj], path: str, *, lax_secret_names: bool) -> Errs:
    errs: Errs = []
    for i, entry in enumerate(tls):
        for j, host in enumerate(_l(entry, "hosts")):
            host = host if isinstance(host, str) else ""
            errs += _host(host, idx(child(idx(path, i), "hosts"), j))
        secret = _s(entry, "secretName")
        if secret and not lax_secret_names:
            errs += [
                invalid(child(idx(path, i), "secretName"), secret, m)
                for m in names.name_is_dns_subdomain(secret)
            ]
    return errs


def validate_ingress_spec(
    spec: Obj,
    path: str = "spec",
    *,
    lax_secret_names: bool = False,
    lax_wildcard_rules: bool = False,
) -> Errs:
    errs: Errs = []
    rules = _dl(spec, "rules")
    if not rules and spec.get("defaultBackend") is None:
        errs.append(
            invalid(path, spec.get("rules"), "either `defaultBackend` or `rules` must be specified")
        )
    if spec.get("defaultBackend") is not None:
        errs += validate_backend(_d(spec, "defaultBackend"), child(path, "defaultBackend"))
    if rules:
        errs += _rules(rules, child(path, "rules"), lax_wildcard_rules=lax_wildcard_rules)
    tls = _dl(spec, "tls")
    if tls:
        errs += _tls(tls, child(path, "tls"), lax_secret_names=lax_secret_names)
    if spec.get("ingressClassName") is not None:
        name = _s(spec, "ingressClassName")
        errs += [
            invalid(child(path, "ingressClassName"), name, m)
            for m in names.name_is_dns_subdomain(name)
        ]
    return errs


def _load_balancer_status(status: Obj, old: Obj, path: str) -> Errs:
    known = {_s(i, "ip") for i in _dl(old, "ingress")} - {""}
    errs: Errs = []
    for i, entry in enumerate(_dl(status, "ingress")):
        entry_path = idx(child(path, "ingress"), i)
        ip, hostname = _s(entry, "ip"), _s(entry, "hostname")
        if ip and ip not in known and names.parse_ip(ip) is None:
            errs.append(
                invalid(
                    child(entry_path, "ip"),
                    ip,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            )
        if hostname:
            errs += [
                invalid(child(entry_path, "hostname"), hostname, m)
                for m in names.is_dns1123_subdomain(hostname)
            ]
            if names.parse_ip(hostname) is not None:
                errs.append(
                    invalid(
                        child(entry_path, "hostname"),
                        hostname,
                        "must be a DNS name, not an IP address",
                    )
                )
    return errs


def validate_ingress(ingress: Obj) -> Errs:
    """ValidateIngressCreate."""
    errs = validate_object_meta(ingress, namespaced=True, name_fn=names.name_is_dns_subdomain)
    spec = _d(ingress, "spec")
    errs += validate_ingress_spec(spec)
    annotations = _d(_d(ingress, "metadata"), "annotations")
    class_name = spec.get("ingressClassName")
    if (
        INGRESS_CLASS_ANNOTATION in annotations
        and class_name is not None
        and annotations[INGRESS_CLASS_ANNOTATION] != class_name
    ):
        errs.append(
            invalid(
                child("annotations", INGRESS_CLASS_ANNOTATION),
                annotations[INGRESS_CLASS_ANNOTATION],
                "must match `ingressClassName` when both are specified",
            )
        )
    return errs


def _had_invalid_secret_name(old_spec: Obj) -> bool:
    return any(
        names.name_is_dns_subdomain(_s(t, "secretName"))
        for t in _dl(old_spec, "tls")
        if _s(t, "secretName")
    )


def _had_invalid_wildcard_rule(old_spec: Obj) -> bool:
    return any("*" in _s(rule, "host") and _rule_value(rule, "") for rule in _dl(old_spec, "rules"))


def validate_ingress_update(new: Obj, old: Obj) -> Errs:
    """ValidateIngressUpdate; the status a status write brings is checked too."""
    old_spec = _d(old, "spec")
    errs = validate_object_meta_update(new, old)
    errs += validate_object_meta(new, namespaced=True, name_fn=names.name_is_dns_subdomain)
    errs += validate_ingress_spec(
        _d(new, "spec"),
        lax_secret_names=_had_invalid_secret_name(old_spec),
        lax_wildcard_rules=_had_invalid_wildcard_rule(old_spec),
    )
    errs += _load_balancer_status(
        _d(_d(new, "status"), "loadBalancer"),
        _d(_d(old, "status"), "loadBalancer"),
        "status.loadBalancer",
    )
    return errs


# --- IngressClass ---


def _controller(value: str, path: str) -> Errs:
    if not value:
        return [required(path, "")]
    errs: Errs = []
    if len(value.encode()) > _MAX_CONTROLLER_LEN:
        errs.append(too_long(path, _MAX_CONTROLLER_LEN))
    # IsDomainPrefixedPath
    host, slash, rest = value.partition("/")
    if not slash or not host or not rest:
        return errs + [
            invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')
        ]
    errs += [invalid(path, host, m) for m in names.is_dns1123_subdomain(host)]
    if not _http_path_re.fullmatch(rest):
        errs.append(invalid(path, rest, names.regex_error("Invalid path", _HTTP_PATH_FMT)))
    return errs


def _parameters(params: Any, path: str) -> Errs:
    if not isinstance(params, dict):
        return []
    errs = _typed_reference({k: v for k, v in params.items() if k != "scope"}, path)
    scope = params.get("scope")
    if scope is None:
        return errs + [required(child(path, "scope"), "")]
    if scope not in _SCOPES:
        return errs + [not_supported(child(path, "scope"), scope, _SCOPES)]
    namespace = params.get("namespace")
    if scope == "Namespace":
        if namespace is None:
            errs.append(
                required(child(path, "namespace"), "`parameters.scope` is set to 'Namespace'")
            )
        else:
            errs += [
                invalid(child(path, "namespace"), namespace, m)
                for m in names.name_is_dns_label(str(namespace))
            ]
    elif namespace is not None:
        errs.append(forbidden(child(path, "namespace"), "`parameters.scope` is set to 'Cluster'"))
    return errs


def validate_ingress_class(ic: Obj) -> Errs:
    errs = validate_object_meta(ic, namespaced=False, name_fn=names.name_is_dns_subdomain)
    spec = _d(ic, "spec")
    errs += _controller(_s(spec, "controller"), "spec.controller")
    return errs + _parameters(spec.get("parameters"), "spec.parameters")


def validate_ingress_class_update(new: Obj, old: Obj) -> Errs:
    errs = validate_object_meta_update(new, old)
    errs += immutable(
        _s(_d(new, "spec"), "controller"), _s(_d(old, "spec"), "controller"), "spec.controller"
    )
    return errs + validate_ingress_class(new)


__all__ = [
    "INGRESS_CLASS_ANNOTATION",
    "validate_backend",
    "validate_ingress",
    "validate_ingress_class",
    "validate_ingress_class_update",
    "validate_ingress_spec",
    "validate_ingress_update",
    "is_wildcard_dns1123_subdomain",
]
