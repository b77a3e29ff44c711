"""Custom resources against their schema: validation messages, pruning, defaulting."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.crd.defaulting import apply_defaults
from kubelite.api.crd.pruning import prune
from kubelite.api.crd.schema_validation import validate_value

Obj = dict[str, Any]

SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "tags": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 2,
                    "items": {"type": "string"},
                },
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "email": {"type": "string", "format": "email"},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


def errors_of(spec: Obj) -> list[str]:
    return [str(e) for e in validate_value({"spec": spec}, SCHEMA)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, "spec.name: Required value", id="required"),
        pytest.param(
            {"name": "ab", "replicas": "3"},
            'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
            id="type",
        ),
        pytest.param(
            {"name": "ab", "replicas": 0},
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            id="minimum",
        ),
        pytest.param(
            {"name": "ab", "replicas": 11},
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            id="maximum",
        ),
        pytest.param(
            {"name": "ab", "mode": "medium"},
            'spec.mode: Unsupported value: "medium": supported values: "fast", "slow"',
            id="enum",
        ),
        pytest.param(
            {"name": "a"},
            'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long',
            id="minLength",
        ),
        pytest.param(
            {"name": "abcdef"}, "spec.name: Too long: may not be more than 5 bytes", id="maxLength"
        ),
        pytest.param(
            {"name": "AB"},
            "spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'",
            id="pattern",
        ),
        pytest.param(
            {"name": "ab", "tags": ["a", "b", "c"]},
            "spec.tags: Too many: 3: must have at most 2 items",
            id="maxItems",
        ),
        pytest.param(
            {"name": "ab", "tags": []},
            "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
            id="minItems",
        ),
        pytest.param(
            {"name": "ab", "tags": [1]},
            'spec.tags[0]: Invalid value: "integer": spec.tags[0] in body must be of type string: "integer"',
            id="item-type",
        ),
        pytest.param(
            {"name": "ab", "port": True},
            'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
            id="int-or-string",
        ),
        pytest.param(
            {"name": "ab", "email": "nope"},
            'spec.email: Invalid value: "nope": spec.email in body must be of type email: "nope"',
            id="format",
        ),
        pytest.param(
            {"name": "ab", "ratio": 0},
            "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
            id="exclusiveMinimum",
        ),
        pytest.param(
            {"name": "ab", "labels": {"a": 1}},
            'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
            id="additionalProperties",
        ),
    ],
)
def test_validation_messages(spec: Obj, expected: str) -> None:
    assert expected in errors_of(spec)


def test_valid_values_pass() -> None:
    spec = {"name": "ab", "replicas": 2, "port": "http", "note": None, "ratio": 0.5, "tags": ["x"]}
    assert errors_of(spec) == []
    assert errors_of({"name": "ab", "port": 8080}) == []


def test_null_only_where_nullable() -> None:
    assert errors_of({"name": None})[0] == (
        'spec.name: Invalid value: "null": spec.name in body must be of type string: "null"'
    )


def test_pruning_drops_undeclared_fields() -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"name": "ab", "extra": 1, "free": {"any": {"thing": 1}}, "labels": {"k": "v"}},
        "unknown": True,
    }
    assert prune(obj, SCHEMA) == ["spec.extra", "unknown"]
    assert obj == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"name": "ab", "free": {"any": {"thing": 1}}, "labels": {"k": "v"}},
    }


def test_pruning_reports_without_removing() -> None:
    obj = {"spec": {"name": "ab", "extra": 1}}
    assert prune(obj, SCHEMA, remove=False) == ["spec.extra"]
    assert obj["spec"]["extra"] == 1


def test_pruning_in_arrays_and_embedded_resources() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object", "properties": {}}},
            },
        },
    }
    obj = {
        "items": [{"a": "x", "b": 1}],
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"x": 1}, "y": 2},
    }
    assert prune(obj, schema) == ["items[0].b", "template.spec.x", "template.y"]


def test_defaults_fill_missing_and_null_fields_top_down() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "default": {},
                "properties": {
                    "image": {"type": "string", "default": "busybox"},
                    "ports": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"protocol": {"type": "string", "default": "TCP"}},
                        },
                    },
                    "keep": {"type": "string", "nullable": True, "default": "x"},
                },
            }
        },
    }
    obj: Obj = {}
    apply_defaults(obj, schema)
    assert obj == {"spec": {"image": "busybox", "keep": "x"}}
    obj = {"spec": {"image": None, "ports": [{"port": 80}], "keep": None}}
    apply_defaults(obj, schema)
    assert obj["spec"] == {
        "image": "busybox",
        "ports": [{"port": 80, "protocol": "TCP"}],
        "keep": None,
    }
