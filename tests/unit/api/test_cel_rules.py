"""x-kubernetes-validations: checked when a CRD is written, evaluated when its objects are."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import cel
from kubelite.api.crd import cel_rules
from kubelite.api.crd.validation import validate_crd

Obj = dict[str, Any]


def schema(*rules: Obj, spec_rules: tuple[Obj, ...] = (), **extra: Obj) -> Obj:
    spec: Obj = {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "minReplicas": {"type": "integer"},
            "mode": {"type": "string"},
            "ratio": {"type": "number"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                },
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            **extra,
        },
    }
    if spec_rules:
        spec["x-kubernetes-validations"] = list(spec_rules)
    root: Obj = {"type": "object", "properties": {"spec": spec}}
    if rules:
        root["x-kubernetes-validations"] = list(rules)
    return root


def crd(openapi: Obj) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi},
                }
            ],
        },
    }


def obj(**spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default", "labels": {"a": "b"}},
        "spec": spec,
    }


def errors(openapi: Obj, new: Obj, old: Obj | None = None) -> list[str]:
    validator = cel_rules.build(openapi, resource_root=True)
    assert validator is not None
    return [str(e) for e in cel_rules.validate_rules(validator, new, old).errors]


# ---- at CRD write ----------------------------------------------------------------------


def test_a_rule_that_does_not_compile_refuses_the_crd() -> None:
    errs = validate_crd(crd(schema(spec_rules=({"rule": "self.replicas >"},))))
    assert len(errs) == 1
    err = errs[0]
    assert err.field == (
        "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    )
    assert err.message.startswith(
        'Invalid value: apiextensions.ValidationRule{Rule:"self.replicas >", Message:"", '
        'MessageExpression:"", Reason:(*apiextensions.FieldValueErrorReason)(nil), '
        'FieldPath:"", OptionalOldSelf:(*bool)(nil)}: compilation failed: ERROR: <input>:1:16: '
        "Syntax error: mismatched input '<EOF>'"
    )


def test_valid_rules_pass_crd_validation() -> None:
    rules = schema(
        {"rule": "self.metadata.name.startsWith('w')"},
        spec_rules=({"rule": "self.minReplicas <= self.replicas", "message": "min > max"},),
    )
    assert validate_crd(crd(rules)) == []


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({"rule": " "}, "rule", "Required value: rule is not specified"),
        ({"rule": "true", "message": " "}, "message", "message must be non-empty if specified"),
        ({"rule": "true", "message": "a\nb"}, "message", "message must not contain line breaks"),
        (
            {"rule": "true\n&& true"},
            "message",
            "Required value: message must be specified if rule contains line breaks",
        ),
        ({"rule": "true", "reason": "Nope"}, "reason", 'Unsupported value: "Nope"'),
        (
            {"rule": "true", "fieldPath": ".nothere"},
            "fieldPath",
            'Invalid value: ".nothere": fieldPath must be a valid path: does not refer to a valid field',
        ),
        (
            {"rule": "true", "fieldPath": ".tags[0]"},
            "fieldPath",
            "fieldPath must be a valid path: expected single quoted string but got 0",
        ),
        (
            {"rule": "self.replicas > 0", "optionalOldSelf": True},
            "optionalOldSelf",
            "Forbidden: may not be set if oldSelf is not used in rule",
        ),
        (
            {"rule": "true", "messageExpression": "'a' +"},
            "messageExpression",
            "messageExpression compilation failed: ERROR: <input>:1:6:",
        ),
    ],
)
def test_malformed_rules_are_refused(rule: Obj, field: str, message: str) -> None:
    errs = validate_crd(crd(schema(spec_rules=(rule,))))
    prefix = "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0]."
    assert [e.field for e in errs] == [prefix + field]
    assert message in errs[0].message


def test_old_self_under_a_plain_list_cannot_be_correlated() -> None:
    tags = {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
        {"rule": "self == oldSelf"}]}}  # fmt: skip
    errs = validate_crd(crd(schema(tags=tags)))
    assert [str(e) for e in errs] == [
        "spec.validation.openAPIV3Schema.properties[spec].properties[tags].items"
        '.x-kubernetes-validations[0].rule: Invalid value: "self == oldSelf": oldSelf cannot be '
        "used on the uncorrelatable portion of the schema within "
        "spec.validation.openAPIV3Schema.properties[spec].properties[tags].items"
    ]


def test_differing_versions_report_their_own_schema_path() -> None:
    bad = crd(schema(spec_rules=({"rule": "nope"},)))
    second = copy.deepcopy(bad["spec"]["versions"][0])
    second.update(name="v2", storage=False, schema={"openAPIV3Schema": schema()})
    bad["spec"]["versions"].append(second)
    errs = validate_crd(bad)
    assert [e.field for e in errs] == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    ]


# ---- at custom resource write ----------------------------------------------------------


def test_a_failing_rule_names_the_node_and_its_type() -> None:
    openapi = schema(spec_rules=({"rule": "self.minReplicas <= self.replicas"},))
    assert errors(openapi, obj(minReplicas=1, replicas=3)) == []
    assert errors(openapi, obj(minReplicas=5, replicas=3)) == [
        'spec: Invalid value: "object": failed rule: self.minReplicas <= self.replicas'
    ]


def test_message_and_message_expression() -> None:
    openapi = schema(
        spec_rules=(
            {"rule": "self.replicas < 10", "message": "too many"},
            {"rule": "self.replicas < 5", "messageExpression": "'got ' + string(self.replicas)"},
        )
    )
    assert errors(openapi, obj(replicas=12)) == [
        'spec: Invalid value: "object": too many',
        'spec: Invalid value: "object": got 12',
    ]


def test_a_message_expression_that_fails_falls_back_to_the_message() -> None:
    rule = {"rule": "false", "message": "plain", "messageExpression": "self.nothere"}
    assert errors(schema(spec_rules=(rule,)), obj()) == ['spec: Invalid value: "object": plain']


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("FieldValueForbidden", "spec: Forbidden: no"),
        ("FieldValueRequired", "spec: Required value: no"),
        ("FieldValueDuplicate", 'spec: Duplicate value: "object"'),
        ("FieldValueInvalid", 'spec: Invalid value: "object": no'),
    ],
)
def test_reason_picks_the_error_type(reason: str, expected: str) -> None:
    rule = {"rule": "false", "message": "no", "reason": reason}
    assert errors(schema(spec_rules=(rule,)), obj()) == [expected]


def test_field_path_moves_the_error() -> None:
    rule = {"rule": "self.replicas > 0", "message": "positive", "fieldPath": ".replicas"}
    assert errors(schema(spec_rules=(rule,)), obj(replicas=0)) == [
        'spec.replicas: Invalid value: "object": positive'
    ]


def test_root_rules_see_type_and_name_but_no_other_metadata() -> None:
    openapi = schema(
        {"rule": "self.kind == 'Widget' && self.metadata.name == 'w'"},
        {"rule": "has(self.metadata.labels)", "message": "labels are not visible"},
    )
    assert errors(openapi, obj()) == ['<nil>: Invalid value: "object": labels are not visible']


def test_rules_on_nested_nodes_items_and_map_values() -> None:
    openapi = schema(
        labels={
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "x-kubernetes-validations": [{"rule": "self.size() < 4"}],
            },
        },
        tags={
            "type": "array",
            "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'"}]},
        },
    )
    assert errors(openapi, obj(labels={"ok": "abc", "bad": "abcd"}, tags=["a", "x"])) == [
        'spec.labels[bad]: Invalid value: "string": failed rule: self.size() < 4',
        "spec.tags[1]: Invalid value: \"string\": failed rule: self != 'x'",
    ]


def test_evaluation_errors_are_reported_with_the_rule() -> None:
    openapi = schema(spec_rules=({"rule": "self.mode == 'a'"},))
    assert errors(openapi, obj()) == [
        "spec: Invalid value: \"object\": no such key: mode evaluating rule: self.mode == 'a'"
    ]


def test_numbers_compare_as_doubles() -> None:
    openapi = schema(spec_rules=({"rule": "self.ratio < 2.5"},))
    assert errors(openapi, obj(ratio=2)) == []


def test_transition_rules_run_only_on_update_with_an_old_value() -> None:
    immutable = {"rule": "self == oldSelf", "message": "mode is immutable"}
    openapi = schema(mode={"type": "string", "x-kubernetes-validations": [immutable]})
    assert errors(openapi, obj(mode="a")) == []  # create: no oldSelf
    assert errors(openapi, obj(mode="a"), obj()) == []  # no old value at that path
    assert errors(openapi, obj(mode="a"), obj(mode="a")) == []
    assert errors(openapi, obj(mode="b"), obj(mode="a")) == [
        'spec.mode: Invalid value: "string": mode is immutable'
    ]


def test_optional_old_self_runs_on_create_too() -> None:
    rule = {
        "rule": "oldSelf.hasValue() || self.replicas == 1",
        "message": "start with one",
        "optionalOldSelf": True,
    }
    openapi = schema(spec_rules=(rule,))
    assert errors(openapi, obj(replicas=2)) == ['spec: Invalid value: "object": start with one']
    assert errors(openapi, obj(replicas=2), obj(replicas=1)) == []


def test_map_lists_correlate_items_by_key() -> None:
    ports = copy.deepcopy(schema()["properties"]["spec"]["properties"]["ports"])
    ports["items"]["properties"]["port"]["x-kubernetes-validations"] = [
        {"rule": "self >= oldSelf", "message": "ports only grow"}
    ]
    openapi = schema(ports=ports)
    old = obj(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 90}])
    new = obj(ports=[{"name": "b", "port": 91}, {"name": "a", "port": 79}])
    assert errors(openapi, new, old) == [
        'spec.ports[1].port: Invalid value: "integer": ports only grow'
    ]


def test_unchanged_values_ratchet_to_warnings() -> None:
    openapi = schema(spec_rules=({"rule": "self.replicas < 3", "message": "at most 2"},))
    validator = cel_rules.build(openapi, resource_root=True)
    assert validator is not None
    old = obj(replicas=5)
    kept = cel_rules.validate_rules(validator, obj(replicas=5), old)
    assert (kept.errors, kept.warnings) == ([], ['spec: Invalid value: "object": at most 2'])
    changed = cel_rules.validate_rules(validator, obj(replicas=4), old)
    assert [str(e) for e in changed.errors] == ['spec: Invalid value: "object": at most 2']


def test_the_call_limit_stops_further_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel, "PER_CALL_LIMIT", 2_000)
    heavy = {"rule": "self.tags.all(a, self.tags.all(b, self.tags.all(c, a + b + c != '')))"}
    openapi = schema(spec_rules=(heavy, {"rule": "false"}))
    out = errors(openapi, obj(tags=[str(i) for i in range(40)]))
    assert len(out) == 1
    assert out[0].startswith(
        "spec: Invalid value: \"object\": 'operation cancelled: actual cost limit exceeded': "
        "no further validation rules will be run due to call cost exceeds limit for rule: "
    )


def test_has_rules_needs_no_cel() -> None:
    assert cel_rules.has_rules(schema(spec_rules=({"rule": "true"},)))
    assert not cel_rules.has_rules(schema())


def test_the_object_budget_is_shared_by_all_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel_rules, "OBJECT_BUDGET", 300)
    each = {"rule": "self.tags.all(t, t != '')"}  # ~30 nodes per tag: 10 tags use the budget
    openapi = schema(spec_rules=(each, each, each))
    out = errors(openapi, obj(tags=[str(i) for i in range(10)]))
    assert out[-1] == (
        'spec: Invalid value: "object": validation failed due to running out of cost budget, '
        "no further validation rules will be run"
    )


def test_a_dynamic_value_of_the_wrong_type_names_the_overload() -> None:
    port = {"x-kubernetes-int-or-string": True, "x-kubernetes-validations": [{"rule": "self > 0"}]}
    assert errors(schema(port=port), obj(port="http")) == [
        "spec.port: Invalid value: \"\": 'no such overload': call arguments did not match a "
        "supported operator, function or macro signature for rule: self > 0"
    ]


def test_all_of_rules_run_on_the_node() -> None:
    mode = {"type": "string", "allOf": [{"x-kubernetes-validations": [{"rule": "self != 'x'"}]}]}
    assert errors(schema(mode=mode), obj(mode="x")) == [
        "spec.mode: Invalid value: \"string\": failed rule: self != 'x'"
    ]


@pytest.mark.parametrize(
    ("rule", "column", "name"),
    [
        # column 5: the `.` before the field, as cel-go places a selection
        ("self.nothere > 0", 5, "nothere"),
        ("self.replicas > 0 && has(self.namespace)", 25, "namespace"),  # has: its `(`
        ("self.labels.app == 'x' || self.ports[0].nope == 1", 0, ""),  # map keys, list items: fine
    ],
)
def test_fields_the_schema_does_not_have_do_not_compile(rule: str, column: int, name: str) -> None:
    errs = validate_crd(crd(schema(spec_rules=({"rule": rule},))))
    if not name:
        assert errs == []
        return
    assert len(errs) == 1
    assert errs[0].field.endswith("properties[spec].x-kubernetes-validations[0].rule")
    assert errs[0].detail.startswith(
        f"compilation failed: ERROR: <input>:1:{column}: undefined field '{name}'"
    )


def test_root_rules_see_only_name_and_generate_name_in_metadata() -> None:
    ok = {"rule": "self.metadata.name.startsWith('w') && self.kind == 'Widget'"}
    assert validate_crd(crd(schema(ok))) == []
    labels = {"rule": "has(self.metadata.labels)"}
    errs = validate_crd(crd(schema(labels)))
    assert "undefined field 'labels'" in errs[0].detail
