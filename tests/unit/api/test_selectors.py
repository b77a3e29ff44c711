"""Label and field selectors: parsing, printing, matching and upstream's error texts."""

from __future__ import annotations

import pytest

from kubelite.api.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    everything,
    field_value,
    nothing,
    parse_field_selector,
    parse_label_selector,
    selector_from_dict,
    selector_from_set,
)

# --- label selectors: the string form ------------------------------------------------

# (input, canonical string): requirements sorted by key, values sorted, spaces dropped
ROUND_TRIP = [
    ("", ""),
    ("a=b", "a=b"),
    ("a==b", "a==b"),
    ("a!=b", "a!=b"),
    ("a in (y,x)", "a in (x,y)"),
    ("a notin (x)", "a notin (x)"),
    ("a", "a"),
    ("!a", "!a"),
    ("a>1", "a>1"),
    ("a<5", "a<5"),
    ("x=", "x="),
    ("x= ,z= ", "x=,z="),
    ("x=a,a=x", "a=x,x=a"),
    ("\rx", "x"),
    ("foo  in\t (abc)", "foo in (abc)"),
    ("x notin\n (abc,def)", "x notin (abc,def)"),
    ("x in (abc,)", "x in (,abc)"),
    ("x in ()", "x in ()"),
    ("x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"),
    ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
    ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
    ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
     "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "canonical"), ROUND_TRIP, ids=[c[0] or "empty" for c in ROUND_TRIP]
)
def test_parse_round_trip(text: str, canonical: str) -> None:
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    assert str(parse_label_selector(canonical)) == canonical


def test_requirements_are_sorted_by_key() -> None:
    selector = parse_label_selector("z=1,a in (q),!m")
    assert [(r.key, r.operator, r.values) for r in selector.requirements] == [
        ("a", "in", ("q",)),
        ("m", "!", ()),
        ("z", "=", ("1",)),
    ]


# (selector, labels, matches)
MATCHES = [
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x==y", {"x": "y"}, True),
    ("x=y", {"x": "z"}, False),
    ("x=y", {}, False),
    ("x!=y", {"x": "z"}, True),
    ("x!=y", {}, True),  # absent counts as "not equal"
    ("x!=y", {"x": "y"}, False),
    ("x in (a,b)", {"x": "b"}, True),
    ("x in (a,b)", {"x": "c"}, False),
    ("x notin (a,b)", {"x": "c"}, True),
    ("x notin (a,b)", {}, True),
    ("x notin (a,b)", {"x": "a"}, False),
    ("x", {"x": ""}, True),
    ("x", {"y": "1"}, False),
    ("!x", {"y": "1"}, True),
    ("!x", {"x": "1"}, False),
    ("x>1", {"x": "2"}, True),
    ("x>1", {"x": "1"}, False),
    ("x>1", {"x": "two"}, False),  # not an integer: no match
    ("x>1", {}, False),
    ("x<5", {"x": "-3"}, True),
    ("x<5", {"x": "5"}, False),
    ("x=a,y in (b)", {"x": "a", "y": "b"}, True),
    ("x=a,y in (b)", {"x": "a", "y": "c"}, False),
    ("x=", {"x": ""}, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character"
)

# (selector, the error message or its start)
ERRORS = [
    ("a=b,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("x,,y", "found ',', expected: identifier after ','"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("x=a||y=b", 'unable to parse requirement: values[0][x]: Invalid value: "a||y": '),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a in (xyz),", "found '', expected: identifier after ','"),
    ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("x nott in (y)",
     "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("!x=a", "found '=', expected: ',' or 'end of string'"),
    ("(", "found '(', expected: !, identifier, or 'end of string'"),
    ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
    ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"),
    ("a =! b", "unable to parse requirement: found '!', expected: identifier"),
    ("x<a", 'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a@b=c", 'unable to parse requirement: <nil>: Invalid value: "a@b": ' + NAME_PART),
    ("-a", 'unable to parse requirement: <nil>: Invalid value: "-a": ' + NAME_PART),
    ("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'),
    ("a=@", 'unable to parse requirement: values[0][a]: Invalid value: "@": '
            "a valid label must be an empty string"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[c[0] for c in ERRORS])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_requires_exact_match() -> None:
    selector = parse_label_selector("app=web,tier in (front),x in (a,b),!y")
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("tier") == "front"
    assert selector.requires_exact_match("x") is None
    assert selector.requires_exact_match("y") is None
    assert selector.requires_exact_match("missing") is None


# --- label selectors: metav1.LabelSelector -------------------------------------------


def test_none_matches_nothing_and_empty_matches_everything() -> None:
    assert selector_from_dict(None) == nothing()
    assert not selector_from_dict(None).matches({"a": "b"})
    assert not selector_from_dict(None).empty
    assert selector_from_dict({}) == everything()
    assert selector_from_dict({"matchLabels": {}, "matchExpressions": []}).empty
    assert selector_from_dict({}).matches({"a": "b"})
    assert everything().matches(None)
    assert not nothing().matches({})


def test_match_labels_and_expressions() -> None:
    selector = selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "team", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env notin (dev),team,tier in (edge,front)"
    assert selector.matches({"app": "web", "tier": "edge", "team": "a"})
    assert not selector.matches({"app": "web", "tier": "edge", "team": "a", "canary": "1"})
    assert not selector.matches({"app": "web", "tier": "edge", "team": "a", "env": "dev"})
    assert not selector.matches({"app": "web", "tier": "back", "team": "a"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
         '"Gt" is not a valid label selector operator'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
         "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
         'values: Invalid value: ["x"]: values set must be empty for exists and does not exist'),
        ({"matchLabels": {"a b": "c"}}, 'key: Invalid value: "a b": ' + NAME_PART),
    ],
)  # fmt: skip
def test_label_selector_dict_errors(selector: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        selector_from_dict(selector)
    assert str(info.value).startswith(message)


def test_selector_from_set() -> None:
    selector = selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert selector_from_set(None).empty
    assert isinstance(selector, LabelSelector)


# --- field selectors -----------------------------------------------------------------

POD_FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}


def test_parse_field_selector() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed", supported=POD_FIELDS)
    assert selector.requirements == (
        ("spec.nodeName", "=", "n1"),
        ("status.phase", "!=", "Failed"),
    )
    assert str(selector) == "spec.nodeName=n1,status.phase!=Failed"


def test_metadata_name_fast_path() -> None:
    selector = parse_field_selector("metadata.name==web", supported=POD_FIELDS)
    assert selector.requirements == (("metadata.name", "==", "web"),)
    assert selector.requires_exact_match("metadata.name") == "web"
    assert parse_field_selector("metadata.name!=web").requires_exact_match("metadata.name") is None


def test_empty_field_selector_matches_everything() -> None:
    selector = parse_field_selector("", supported=POD_FIELDS)
    assert selector.empty
    assert selector.matches({})
    assert FieldSelector().matches({"metadata": {"name": "x"}})


def test_unsupported_field_label() -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector("spec.nodeName=n1,spec.bogus=x", supported=POD_FIELDS)
    assert str(info.value) == "field label not supported: spec.bogus"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),  # Go prints the rune
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


def test_escaped_values() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert selector.requirements == (("metadata.name", "=", "a,b=c\\d"),)
    assert str(selector) == r"metadata.name=a\,b\=c\\d"


def make_pod(*, name: str = "p", node: str | None = None, phase: str = "Running") -> dict:
    spec: dict[str, object] = {"containers": []}
    if node is not None:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("text", "pod", "expected"),
    [
        ("spec.nodeName=n1", make_pod(node="n1"), True),
        ("spec.nodeName=n1", make_pod(node="n2"), False),
        ("spec.nodeName=", make_pod(), True),  # unscheduled pods: missing reads as ""
        ("spec.nodeName!=", make_pod(node="n1"), True),
        ("status.phase!=Succeeded,status.phase!=Failed", make_pod(), True),
        ("status.phase!=Succeeded,status.phase!=Failed", make_pod(phase="Failed"), False),
        ("metadata.namespace=default,metadata.name=p", make_pod(), True),
        ("spec.hostNetwork=false", make_pod(), True),  # Go's zero value for an unset bool
    ],
)
def test_field_matches_objects(text: str, pod: dict, expected: bool) -> None:
    assert parse_field_selector(text).matches(pod) is expected


def test_event_fields() -> None:
    core = {
        "involvedObject": {"kind": "Pod", "name": "p", "uid": "u1", "namespace": "default"},
        "reason": "Started",
        "type": "Normal",
        "source": {"component": "kubelet"},
    }
    selector = parse_field_selector(
        "involvedObject.namespace=default,involvedObject.uid=u1,involvedObject.name=p,"
        "involvedObject.kind=Pod,type=Normal,reason=Started,source=kubelet"
    )
    assert selector.matches(core)
    assert field_value(core, "regarding.name") == "p"  # events.k8s.io names the same field
    assert field_value({"regarding": {"uid": "u2"}}, "involvedObject.uid") == "u2"


def test_matches_with_a_getter() -> None:
    selector = parse_field_selector("custom.field=x")
    assert selector.matches(lambda name: {"custom.field": "x"}.get(name))
    assert not selector.matches(lambda name: None)


def test_field_value_formats_scalars() -> None:
    obj = {"spec": {"unschedulable": True}, "status": {"replicas": 3}}
    assert field_value(obj, "spec.unschedulable") == "true"
    assert field_value(obj, "status.replicas") == "3"
    assert field_value({}, "status.replicas") == "0"
    assert field_value({}, "spec.missing") == ""
