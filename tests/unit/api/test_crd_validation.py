"""CustomResourceDefinition validation and structural schemas, with upstream's messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.crd.structural import check_structural
from kubelite.api.crd.validation import default_crd, validate_crd, validate_crd_update
from kubelite.api.validation import validate

Obj = dict[str, Any]
ROOT = "spec.versions[0].schema.openAPIV3Schema"


def make_crd(
    *,
    name: str = "widgets.example.com",
    group: str = "example.com",
    plural: str = "widgets",
    kind: str = "Widget",
    scope: str = "Namespaced",
    versions: list[Obj] | None = None,
    schema: Obj | None = None,
) -> Obj:
    schema = schema or {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
    }
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "kind": kind},
            "versions": versions
            if versions is not None
            else [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
    default_crd(crd)
    return crd


def messages(crd: Obj) -> list[str]:
    return [str(e) for e in validate_crd(crd)]


def test_valid_crd_and_its_defaults() -> None:
    crd = make_crd()
    assert validate_crd(crd) == []
    names = crd["spec"]["names"]
    assert (names["singular"], names["listKind"]) == ("widget", "WidgetList")
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert validate(crd) == []  # dispatched from the general entry point


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"name": "widget.example.com"},
            'metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group',
            id="name",
        ),
        pytest.param(
            {"scope": "Global", "name": "widgets.example.com"},
            'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
            id="scope",
        ),
        pytest.param(
            {"group": "example", "name": "widgets.example"},
            'spec.group: Invalid value: "example": should be a domain with at least one dot',
            id="group-dot",
        ),
        pytest.param(
            {"kind": "wid_get"},
            'spec.names.kind: Invalid value: "wid_get": may have mixed case, but should otherwise '
            "match: [a-z]([-a-z0-9]*[a-z0-9])?",
            id="kind",
        ),
    ],
)
def test_crd_field_errors(change: Obj, expected: str) -> None:
    assert expected in messages(make_crd(**change))


def _version(name: str, storage: bool, served: bool = True) -> Obj:
    schema = {"openAPIV3Schema": {"type": "object"}}
    return {"name": name, "served": served, "storage": storage, "schema": schema}


def test_exactly_one_storage_version() -> None:
    msgs = messages(make_crd(versions=[_version("v1", True), _version("v2", True)]))
    assert (
        'spec.versions: Invalid value: ["v1", "v2"]: must have exactly one version marked as storage version'
        in msgs
    )
    msgs = messages(make_crd(versions=[_version("v1", True), _version("v1", False)]))
    assert 'spec.versions[1].name: Duplicate value: "v1"' in msgs


def test_schema_is_required() -> None:
    crd = make_crd(versions=[{"name": "v1", "served": True, "storage": True}])
    assert f"{ROOT}: Required value: schemas are required" in messages(crd)


def test_webhook_conversion_refused() -> None:
    crd = make_crd()
    crd["spec"]["conversion"] = {"strategy": "Webhook"}
    assert any("conversion webhooks are not supported" in m for m in messages(crd))


def test_scale_paths_and_printer_columns() -> None:
    crd = make_crd()
    version = crd["spec"]["versions"][0]
    version["subresources"] = {
        "scale": {"specReplicasPath": ".replicas", "statusReplicasPath": ".status.replicas"}
    }
    version["additionalPrinterColumns"] = [
        {"name": "Size", "type": "float", "jsonPath": ".spec.size"}
    ]
    msgs = messages(crd)
    assert (
        'spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".replicas": '
        "should be a json path under .spec"
    ) in msgs
    assert any(
        m.startswith(
            'spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "float"'
        )
        for m in msgs
    )


def test_scope_is_immutable() -> None:
    old = make_crd()
    old["metadata"]["resourceVersion"] = "1"
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    assert 'spec.scope: Invalid value: "Cluster": field is immutable' in [
        str(e) for e in validate_crd_update(new, old)
    ]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            {"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}},
            f"{ROOT}.properties[spec].type: Required value: must not be empty for specified object fields",
            id="untyped-field",
        ),
        pytest.param(
            {"type": "object", "properties": {"list": {"type": "array"}}},
            f"{ROOT}.properties[list].items: Required value: must be specified",
            id="array-without-items",
        ),
        pytest.param(
            {"type": "object", "properties": {"list": {"type": "array", "items": {}}}},
            f"{ROOT}.properties[list].items.type: Required value: must not be empty for specified array items",
            id="untyped-items",
        ),
        pytest.param(
            {"type": "string"},
            f'{ROOT}.type: Invalid value: "string": must be object at the root',
            id="root-type",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "m": {
                        "type": "object",
                        "properties": {"a": {"type": "string"}},
                        "additionalProperties": {"type": "string"},
                    }
                },
            },
            f"{ROOT}.properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
            id="properties-and-additional",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"port": {"type": "string", "x-kubernetes-int-or-string": True}},
            },
            f'{ROOT}.properties[port].type: Invalid value: "string": must be empty if x-kubernetes-int-or-string is true',
            id="int-or-string-typed",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
                },
            },
            f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and "
            "generateName, but metadata is implicitly specified",
            id="root-metadata",
        ),
        pytest.param(
            {"type": "object", "anyOf": [{"type": "object"}]},
            f"{ROOT}.anyOf[0].type: Forbidden: must be empty to be structural",
            id="typed-junctor",
        ),
        pytest.param(
            {"type": "object", "properties": {"n": {"type": "integer", "default": "x"}}},
            f'{ROOT}.properties[n].default: Invalid value: "x": default: Invalid value: "string": '
            'default in body must be of type integer: "string"',
            id="bad-default",
        ),
    ],
)
def test_non_structural_schemas(schema: Obj, expected: str) -> None:
    assert expected in [str(e) for e in check_structural(schema, ROOT)]


def test_structural_schema_passes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "port": {
                        "x-kubernetes-int-or-string": True,
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                    "n": {"type": "integer", "default": 3},
                },
            },
        },
    }
    assert check_structural(schema, ROOT) == []
