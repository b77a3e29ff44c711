"""Ingress and IngressClass as served: columns, default class admission, generation, schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors
from kubelite.apiserver.admission import default_plugins
from kubelite.apiserver.bootstrap import bootstrap_objects
from kubelite.apiserver.openapi_schemas import component_schemas
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.tables import to_table
from kubelite.store import Store

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
INGRESS = REGISTRY.by_kind("networking.k8s.io/v1", "Ingress")
INGRESS_CLASS = REGISTRY.by_kind("networking.k8s.io/v1", "IngressClass")


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    table = to_table(kind, [obj], now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    (row,) = table["rows"]
    return dict(zip(names, row["cells"], strict=True))


def rule(host: str = "") -> dict[str, Any]:
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 80}}},
    }
    return {**({"host": host} if host else {}), "http": {"paths": [path]}}


def ingress(name: str = "web", *rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=3)},
        "spec": {"rules": list(rules) or [rule()], **spec},
    }


# ---- printers ----------------------------------------------------------------------------


def test_ingress_columns() -> None:
    columns = to_table("Ingress", [], now=NOW)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0),
        ("Class", 0),
        ("Hosts", 0),
        ("Address", 0),
        ("Ports", 0),
        ("Age", 0),
    ]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            ingress("a", rule()),
            {"Class": "<none>", "Hosts": "*", "Address": "", "Ports": "80"},
            id="no-class-no-host",
        ),
        pytest.param(
            {
                **ingress("b", rule("foo.com"), ingressClassName="kubelite", tls=[{}]),
                "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
            },
            {"Class": "kubelite", "Hosts": "foo.com", "Address": "127.0.0.1", "Ports": "80, 443"},
            id="class-host-tls-address",
        ),
        pytest.param(
            # three hosts shown, then "+ N more..." counts the rules past the third
            ingress("c", rule("a.com"), rule(), rule("b.com"), rule("c.com"), rule("d.com")),
            {
                "Class": "<none>",
                "Hosts": "a.com,b.com,c.com + 2 more...",
                "Address": "",
                "Ports": "80",
            },
            id="more-hosts",
        ),
    ],
)
def test_ingress_cells(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    got = cells("Ingress", obj)
    assert got == {"Name": obj["metadata"]["name"], **expected, "Age": "3m"}


def test_ingress_class_cells() -> None:
    ic = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "ext", "creationTimestamp": ago(days=2)},
        "spec": {
            "controller": "example.com/ingress",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"},
        },
    }
    assert cells("IngressClass", ic) == {
        "Name": "ext",
        "Controller": "example.com/ingress",
        "Parameters": "Params.k8s.example.com/p",
        "Age": "2d",
    }
    ic["spec"].pop("parameters")
    assert cells("IngressClass", ic)["Parameters"] == "<none>"


# ---- served through the REST layer -------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> RestStorage:
    storage = RestStorage(Store(tmp_path / "db.sqlite"), admission=default_plugins())
    for obj in bootstrap_objects(api_port=6443):
        storage.create(storage.registry.by_kind(obj["apiVersion"], obj["kind"]), None, obj)
    return storage


def test_default_class_is_bootstrapped_and_filled_in(storage: RestStorage) -> None:
    assert INGRESS is not None and INGRESS_CLASS is not None
    kv = storage.store.get(INGRESS_CLASS.key(None, "kubelite"))
    assert kv is not None and kv.obj()["spec"]["controller"] == "kubelite.io/ingress"
    created = storage.create(INGRESS, "default", ingress("plain")).obj()
    assert created["spec"]["ingressClassName"] == "kubelite"
    assert created["status"] == {"loadBalancer": {}}
    assert created["metadata"]["generation"] == 1


def test_annotation_or_explicit_class_is_left_alone(storage: RestStorage) -> None:
    assert INGRESS is not None
    annotated = ingress("annotated")
    annotated["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
    assert "ingressClassName" not in storage.create(INGRESS, "default", annotated).obj()["spec"]
    explicit = ingress("explicit", ingressClassName="other")
    assert storage.create(INGRESS, "default", explicit).obj()["spec"]["ingressClassName"] == "other"


def test_newest_default_class_wins(storage: RestStorage) -> None:
    assert INGRESS is not None and INGRESS_CLASS is not None
    newer = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": "newer",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "example.com/ingress"},
    }
    stored = storage.store.get(INGRESS_CLASS.key(None, "kubelite"))
    assert stored is not None
    older = stored.obj()
    older["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    storage.store.update(INGRESS_CLASS.key(None, "kubelite"), older)
    storage.create(INGRESS_CLASS, None, newer)
    created = storage.create(INGRESS, "default", ingress("pick")).obj()
    assert created["spec"]["ingressClassName"] == "newer"


def test_spec_change_bumps_generation_and_status_is_a_subresource(storage: RestStorage) -> None:
    assert INGRESS is not None
    created = storage.create(INGRESS, "default", ingress("gen")).obj()
    created["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    created["spec"]["rules"][0]["host"] = "foo.com"
    updated = storage.update(INGRESS, "default", "gen", created).obj()
    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == {"loadBalancer": {}}  # the main resource ignores status
    updated["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    status = storage.update(INGRESS, "default", "gen", updated, subresource="status").obj()
    assert status["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}]
    assert status["metadata"]["generation"] == 2


def test_invalid_ingress_is_refused_with_the_field(storage: RestStorage) -> None:
    assert INGRESS is not None
    bad = ingress("bad")
    bad["spec"]["rules"][0]["http"]["paths"][0].pop("pathType")
    with pytest.raises(errors.ApiError) as caught:
        storage.create(INGRESS, "default", bad)
    assert caught.value.code == 422
    assert "spec.rules[0].http.paths[0].pathType: Required value" in str(caught.value)
    assert storage.store.get(INGRESS.key("default", "bad")) is None


# ---- schemas for explain -----------------------------------------------------------------


def test_nested_schemas_live_in_the_networking_package() -> None:
    assert INGRESS is not None and INGRESS_CLASS is not None
    schemas = component_schemas([INGRESS, INGRESS_CLASS])
    for bare in (
        "IngressSpec",
        "IngressRule",
        "HTTPIngressRuleValue",
        "HTTPIngressPath",
        "IngressBackend",
        "IngressServiceBackend",
        "ServiceBackendPort",
        "IngressTLS",
        "IngressStatus",
        "IngressLoadBalancerStatus",
        "IngressLoadBalancerIngress",
        "IngressPortStatus",
        "IngressClassSpec",
        "IngressClassParametersReference",
    ):
        assert f"io.k8s.api.networking.v1.{bare}" in schemas, bare
    path = schemas["io.k8s.api.networking.v1.HTTPIngressPath"]
    assert path["required"] == ["backend", "pathType"]
    assert schemas["io.k8s.api.networking.v1.Ingress"]["x-kubernetes-group-version-kind"] == [
        {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}
    ]
