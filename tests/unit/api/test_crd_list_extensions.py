"""x-kubernetes-list-type / -list-map-keys / -map-type in CRD schemas (QA finding I), the
list invariants of custom resources (G) and the metadata they keep (K)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit.api.test_crd_validation import make_crd

from kubelite.api.crd.listtype import list_errors
from kubelite.api.crd.pruning import prune_resource
from kubelite.api.crd.validation import validate_crd, validate_crd_update

Obj = dict[str, Any]
E = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[e]"
OBJ_ITEMS = {"type": "object", "properties": {"k": {"type": "string"}}}


def crd_with(e: Obj) -> Obj:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"e": e}}}}
    return make_crd(schema=schema)


def messages(e: Obj) -> list[str]:
    return [str(err) for err in validate_crd(crd_with(e))]


@pytest.mark.parametrize(
    ("e", "expected"),
    [
        pytest.param(
            {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bogus"},
            [
                f'{E}.x-kubernetes-list-type: Unsupported value: "bogus": '
                'supported values: "atomic", "set", "map"'
            ],
            id="unknown-list-type",
        ),
        pytest.param(
            {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "map"},
            [
                f"{E}.x-kubernetes-list-map-keys: Required value: must not be empty if "
                "x-kubernetes-list-type is map",
                f'{E}.items.type: Invalid value: "string": must be object if parent array\'s '
                "x-kubernetes-list-type is map",
            ],
            id="map-of-strings",
        ),
        pytest.param(
            {"type": "string", "x-kubernetes-list-type": "map"},
            [
                f'{E}.type: Invalid value: "string": must be array if x-kubernetes-list-type is '
                "specified",
                f"{E}.x-kubernetes-list-map-keys: Required value: must not be empty if "
                "x-kubernetes-list-type is map",
                f"{E}.items: Required value: must have a schema if x-kubernetes-list-type is map",
            ],
            id="list-type-on-a-string",
        ),
        pytest.param(
            {"type": "array", "items": OBJ_ITEMS, "x-kubernetes-list-type": "set"},
            [
                f'{E}.items.x-kubernetes-map-type: Invalid value: "null": must be atomic as item '
                "of a list with x-kubernetes-list-type=set"
            ],
            id="set-of-granular-maps",
        ),
        pytest.param(
            {
                "type": "array",
                "items": OBJ_ITEMS,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["zz"],
            },
            [
                f'{E}.x-kubernetes-list-map-keys: Invalid value: []string{{"zz"}}: entries must '
                "all be names of item properties"
            ],
            id="key-not-a-property",
        ),
        pytest.param(
            {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-map-keys": ["a"]},
            [
                f"{E}.x-kubernetes-list-type: Required value: must be map if "
                "x-kubernetes-list-map-keys is non-empty"
            ],
            id="keys-without-map",
        ),
        pytest.param(
            {"type": "string", "x-kubernetes-map-type": "atomic"},
            [
                f'{E}.type: Invalid value: "string": must be object if x-kubernetes-map-type is '
                "specified"
            ],
            id="map-type-on-a-string",
        ),
        pytest.param(
            {"type": "object", "x-kubernetes-map-type": "loose"},
            [
                f'{E}.x-kubernetes-map-type: Unsupported value: "loose": '
                'supported values: "atomic", "granular"'
            ],
            id="unknown-map-type",
        ),
        pytest.param(
            {
                "type": "array",
                "items": {"type": "object", "properties": {"k": {"type": "object"}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["k", "k"],
            },
            [
                f'{E}.items.properties[k].type: Invalid value: "object": must be a scalar type '
                "if parent array's x-kubernetes-list-type is map",
                f'{E}.items.properties[k].type: Invalid value: "object": must be a scalar type '
                "if parent array's x-kubernetes-list-type is map",
                f'{E}.x-kubernetes-list-map-keys: Invalid value: []string{{"k", "k"}}: must not '
                "contain duplicate entries",
            ],
            id="object-key-listed-twice",
        ),
    ],
)
def test_list_extensions_refused(e: Obj, expected: list[str]) -> None:
    assert messages(e) == expected


@pytest.mark.parametrize(
    "e",
    [
        pytest.param(
            {
                "type": "array",
                "items": {**OBJ_ITEMS, "required": ["k"]},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["k"],
            },
            id="map-list",
        ),
        pytest.param(
            {
                "type": "array",
                "items": {**OBJ_ITEMS, "x-kubernetes-map-type": "atomic"},
                "x-kubernetes-list-type": "set",
            },
            id="set-of-atomic-maps",
        ),
        pytest.param(
            {"type": "array", "items": {"type": "integer"}, "x-kubernetes-list-type": "atomic"},
            id="atomic",
        ),
        pytest.param({"type": "object", "x-kubernetes-map-type": "granular"}, id="granular"),
    ],
)
def test_list_extensions_accepted(e: Obj) -> None:
    assert messages(e) == []


def test_ratcheted_rules_stay_off_for_a_crd_that_already_broke_them() -> None:
    """A stored CRD with a set of granular maps may still be updated (requireAtomicSetType)."""
    old = crd_with({"type": "array", "items": OBJ_ITEMS, "x-kubernetes-list-type": "set"})
    old["metadata"]["resourceVersion"] = "7"
    new = copy.deepcopy(old)
    new["spec"]["names"]["shortNames"] = ["wd"]
    assert validate_crd_update(new, old) == []
    fine = crd_with({"type": "array", "items": {"type": "string"}})
    fine["metadata"]["resourceVersion"] = "7"
    assert [e.field for e in validate_crd_update(new, fine)] == [f"{E}.items.x-kubernetes-map-type"]


# ---- G: duplicates in custom resources ---------------------------------------------------

MAP_LIST = {
    "type": "object",
    "properties": {
        "l": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["a", "b"],
            "items": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
        "one": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["a"],
            "items": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
        "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object"}},
        "m": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "x-kubernetes-list-type": "set",
                "items": {"type": "integer"},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {"l": [{"a": "x", "b": 1}, {"a": "x", "b": 1}, {"a": "x"}]},
            ['l[1]: Duplicate value: map[string]interface {}{"a":"x", "b":1}'],
            id="two-key-fields",
        ),
        pytest.param(
            {"one": [{}, None, {"a": 1}]},
            ["one[1]: Duplicate value: map[string]interface {}{}"],
            id="unspecified-keys-collide",
        ),
        pytest.param(
            {"one": [{"a": 1}, "x"]},
            ['one[1]: Invalid value: "x": must be an object for an array of list-type map'],
            id="not-an-object",
        ),
        pytest.param(
            {"s": [{"z": [1.5]}, {"z": [1.5]}]},
            ['s[1]: Duplicate value: map[string]interface {}{"z":[]interface {}{1.5}}'],
            id="set-of-objects",
        ),
        pytest.param(
            {"m": {"k": [1, 1]}},
            ["m[k][1]: Duplicate value: 1"],
            id="under-additionalProperties",
        ),
    ],
)
def test_list_errors(obj: Obj, expected: list[str]) -> None:
    assert [str(e) for e in list_errors(obj, MAP_LIST)] == expected


# ---- K: metadata keeps what ObjectMeta declares --------------------------------------------


def test_prune_resource_drops_unknown_metadata_fields_first() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        },
    }
    obj = {
        "metadata": {
            "name": "a",
            "zz": 1,
            "ownerReferences": [{"name": "o", "bad": True}],
            "aa": 2,
        },
        "spec": {"junk": 1, "template": {"metadata": {"labels": {}, "nope": 1}}},
    }
    kept = copy.deepcopy(obj)
    expected = [
        "metadata.aa",
        "metadata.ownerReferences[0].bad",
        "metadata.zz",
        "spec.junk",
        "spec.template.metadata.nope",
    ]
    assert prune_resource(kept, schema, remove=False) == expected
    assert kept == obj
    assert prune_resource(obj, schema, remove=True) == expected
    assert obj == {
        "metadata": {"name": "a", "ownerReferences": [{"name": "o"}]},
        "spec": {"template": {"metadata": {"labels": {}}}},
    }
