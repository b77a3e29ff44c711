"""networking.k8s.io/v1 Ingress and IngressClass: defaults and validation, upstream's wording."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate

UID = "0d9a5e2c-1111-2222-3333-444455556666"


def backend(name: str = "web", number: int | None = 80, port_name: str = "") -> dict[str, Any]:
    port: dict[str, Any] = {}
    if number is not None:
        port["number"] = number
    if port_name:
        port["name"] = port_name
    return {"service": {"name": name, "port": port}}


def http_path(path: str = "/", path_type: str | None = "Prefix", **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "backend": kw.pop("backend", backend())}
    if path_type is not None:
        out["pathType"] = path_type
    return out


def ingress(*paths: dict[str, Any], host: str = "foo.com", **spec: Any) -> dict[str, Any]:
    rules = [{"host": host, "http": {"paths": list(paths)}}] if paths else []
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {**({"rules": rules} if rules else {}), **spec},
    }


def ingress_class(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "kubelite", "uid": UID},
        "spec": {"controller": "kubelite.io/ingress", **spec},
    }


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    apply_defaults(obj)
    return [str(e) for e in validate(obj, old=old)]


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["resourceVersion"] = "7"
    return out


def test_valid_ingress_has_no_errors_and_no_pathtype_default() -> None:
    obj = ingress(http_path("/", None, backend=backend()), http_path("/api", "Exact"))
    obj["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "ImplementationSpecific"
    assert messages(obj) == []
    bare = ingress(http_path("/", None))
    apply_defaults(bare)
    assert "pathType" not in bare["spec"]["rules"][0]["http"]["paths"][0]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            ingress(http_path("/", None)),
            [
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
            ],
            id="pathType-required",
        ),
        pytest.param(
            ingress(http_path("/", "Regex")),
            [
                'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": '
                'supported values: "Exact", "ImplementationSpecific", "Prefix"'
            ],
            id="pathType-unsupported",
        ),
        pytest.param(
            ingress(http_path("foo", "Prefix")),
            ['spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path'],
            id="relative-prefix",
        ),
        pytest.param(
            ingress(http_path("foo", "ImplementationSpecific")),
            ['spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path'],
            id="relative-implementation-specific",
        ),
        pytest.param(
            ingress(http_path("/a//b/..", "Exact")),
            [
                "spec.rules[0].http.paths[0].path: Invalid value: \"/a//b/..\": must not contain '//'",
                "spec.rules[0].http.paths[0].path: Invalid value: \"/a//b/..\": cannot end with '/..'",
            ],
            id="unclean-exact",
        ),
        pytest.param(
            ingress(http_path("/a/%2F", "Prefix")),
            ["spec.rules[0].http.paths[0].path: Invalid value: \"/a/%2F\": must not contain '%2F'"],
            id="encoded-slash",
        ),
        pytest.param(
            ingress(http_path(backend=backend(number=80, port_name="http"))),
            [
                'spec.rules[0].http.paths[0].backend: Invalid value: "": '
                "cannot set both port name & port number"
            ],
            id="port-name-and-number",
        ),
        pytest.param(
            ingress(http_path(backend=backend(number=None))),
            [
                "spec.rules[0].http.paths[0].backend: Required value: "
                "port name or number is required"
            ],
            id="no-port",
        ),
        pytest.param(
            ingress(http_path(backend=backend(number=70000))),
            [
                "spec.rules[0].http.paths[0].backend.service.port.number: Invalid value: 70000: "
                "must be between 1 and 65535, inclusive"
            ],
            id="port-number-range",
        ),
        pytest.param(
            ingress(http_path(backend={})),
            [
                'spec.rules[0].http.paths[0].backend: Invalid value: "": '
                "resource or service backend is required"
            ],
            id="empty-backend",
        ),
        pytest.param(
            ingress(
                http_path(
                    backend={**backend(), "resource": {"kind": "Bucket", "name": "b"}},
                )
            ),
            [
                'spec.rules[0].http.paths[0].backend: Invalid value: "": '
                "cannot set both resource and service backends"
            ],
            id="service-and-resource",
        ),
        pytest.param(
            ingress(http_path(backend={"resource": {"kind": "Bucket", "name": "a/b"}})),
            [
                'spec.rules[0].http.paths[0].backend.resource.name: Invalid value: "a/b": '
                "may not contain '/'"
            ],
            id="resource-name-segment",
        ),
        pytest.param(
            ingress(http_path(backend=backend(name="Web"))),
            [
                'spec.rules[0].http.paths[0].backend.service.name: Invalid value: "Web": '
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character "
                "(e.g. 'my-name' or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')"
            ],
            id="service-name",
        ),
        pytest.param(
            ingress(http_path(), host="10.0.0.1"),
            [
                'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, '
                "not an IP address"
            ],
            id="ip-host",
        ),
        pytest.param(
            ingress(http_path(), host="*.*.foo.com"),
            [
                'spec.rules[0].host: Invalid value: "*.*.foo.com": a wildcard DNS-1123 subdomain '
                "must start with '*.', followed by a valid DNS subdomain, which must consist of "
                "lower case alphanumeric characters, '-' or '.' and end with an alphanumeric "
                "character (e.g. '*.example.com', regex used for validation is "
                "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
            id="double-wildcard",
        ),
        pytest.param(
            ingress(),
            [
                "spec: Invalid value: null: either `defaultBackend` or `rules` must be specified",
            ],
            id="nothing-to-route",
        ),
        pytest.param(
            ingress(defaultBackend=backend(number=None, port_name="HTTP")),
            [
                'spec.defaultBackend.service.port.name: Invalid value: "HTTP": '
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                'spec.defaultBackend.service.port.name: Invalid value: "HTTP": '
                "must contain at least one letter (a-z)",
            ],
            id="default-backend-port-name",
        ),
        pytest.param(
            ingress(http_path(), tls=[{"hosts": ["*.foo.com", "Bad_Host"], "secretName": "s"}]),
            [
                'spec.tls[0].hosts[1]: Invalid value: "Bad_Host": a lowercase RFC 1123 '
                "subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex "
                "used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
            id="tls-host",
        ),
        pytest.param(
            ingress(http_path(), ingressClassName="Kube_Lite"),
            [
                'spec.ingressClassName: Invalid value: "Kube_Lite": a lowercase RFC 1123 '
                "subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex "
                "used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
            id="class-name",
        ),
    ],
)
def test_ingress_errors(obj: dict[str, Any], expected: list[str]) -> None:
    assert messages(obj) == expected


def test_wildcard_host_with_valid_rule_is_fine() -> None:
    assert messages(ingress(http_path(), host="*.foo.com")) == []


def test_class_annotation_must_match_class_name_on_create() -> None:
    obj = ingress(http_path(), ingressClassName="kubelite")
    obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
    assert messages(obj) == [
        'annotations.kubernetes.io/ingress.class: Invalid value: "nginx": '
        "must match `ingressClassName` when both are specified"
    ]


def test_update_keeps_an_invalid_secret_name_it_already_had() -> None:
    old = stored(ingress(http_path(), tls=[{"secretName": "Not_Valid"}]))
    new = copy.deepcopy(old)
    new["spec"]["rules"][0]["host"] = "bar.com"
    assert messages(new, old) == []
    fresh = ingress(http_path(), tls=[{"secretName": "Not_Valid"}])
    assert [m.split(":")[0] for m in messages(fresh)] == ["spec.tls[0].secretName"]


def test_status_write_checks_the_load_balancer_address() -> None:
    old = stored(ingress(http_path()))
    new = copy.deepcopy(old)
    new["status"] = {"loadBalancer": {"ingress": [{"ip": "not-an-ip"}, {"hostname": "1.2.3.4"}]}}
    assert messages(new, old) == [
        'status.loadBalancer.ingress[0].ip: Invalid value: "not-an-ip": '
        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        'status.loadBalancer.ingress[1].hostname: Invalid value: "1.2.3.4": '
        "must be a DNS name, not an IP address",
    ]


# ---- IngressClass ------------------------------------------------------------------------


def test_ingress_class_parameters_scope_defaults_to_cluster() -> None:
    obj = apply_defaults(ingress_class(parameters={"kind": "Config", "name": "c"}))
    assert obj["spec"]["parameters"]["scope"] == "Cluster"
    assert messages(obj) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"controller": ""}, ["spec.controller: Required value"], id="required"),
        pytest.param(
            {"controller": "kubelite"},
            [
                'spec.controller: Invalid value: "kubelite": '
                'must be a domain-prefixed path (such as "acme.io/foo")'
            ],
            id="not-domain-prefixed",
        ),
        pytest.param(
            {"controller": "kubelite.io/a b"},
            [
                'spec.controller: Invalid value: "a b": Invalid path (regex used for validation '
                "is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')"
            ],
            id="bad-path",
        ),
        pytest.param(
            {"parameters": {"kind": "Config", "name": "c", "scope": "Namespace"}},
            ["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"],
            id="namespace-scope-needs-namespace",
        ),
        pytest.param(
            {"parameters": {"kind": "Config", "name": "c", "namespace": "x"}},
            ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"],
            id="cluster-scope-forbids-namespace",
        ),
        pytest.param(
            {"parameters": {"name": "c", "scope": "Everywhere"}},
            [
                "spec.parameters.kind: Required value",
                'spec.parameters.scope: Unsupported value: "Everywhere": '
                'supported values: "Cluster", "Namespace"',
            ],
            id="kind-and-scope",
        ),
    ],
)
def test_ingress_class_errors(spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(ingress_class(**spec)) == expected


def test_ingress_class_controller_is_immutable() -> None:
    old = stored(ingress_class())
    new = copy.deepcopy(old)
    new["spec"]["controller"] = "example.com/other"
    assert messages(new, old) == [
        'spec.controller: Invalid value: "example.com/other": field is immutable'
    ]
