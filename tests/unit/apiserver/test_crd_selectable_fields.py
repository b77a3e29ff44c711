"""CRD `selectableFields` (CustomResourceFieldSelectors, GA in 1.32): validated as
apiextensions validates them, and usable in field selectors on lists and watches."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.apiserver.test_crd_api import CRDS, SCHEMA, WIDGETS, Api, api, make_crd, widget

Obj = dict[str, Any]
__all__ = ["api"]  # the fixture


def crd_with(selectable: list[Obj], schema: Obj | None = None) -> Obj:
    crd = make_crd()
    version = crd["spec"]["versions"][0]
    version["selectableFields"] = selectable
    if schema is not None:
        version["schema"] = {"openAPIV3Schema": schema}
    return crd


def names(api: Api, query: str) -> list[str]:
    r = api.call("GET", f"{WIDGETS}?{query}")
    assert r.status_code == 200, r.text
    return sorted(i["metadata"]["name"] for i in r.json()["items"])


def test_selectable_fields_filter_lists_as_the_crd_declares(api: Api) -> None:
    crd = crd_with([{"jsonPath": ".spec.color"}, {"jsonPath": ".spec.size"}])
    assert api.call("POST", CRDS, crd).status_code == 201
    for name, color, size in (("a", "red", 1), ("b", "blue", 2), ("c", "red", 2)):
        assert api.call("POST", WIDGETS, widget(name, color=color, size=size)).status_code == 201
    assert names(api, "fieldSelector=spec.color%3Dred") == ["a", "c"]
    assert names(api, "fieldSelector=spec.color%21%3Dred") == ["b"]
    assert names(api, "fieldSelector=spec.size%3D2,spec.color%3Dred") == ["c"]
    assert names(api, "fieldSelector=metadata.name%3Db") == ["b"]


def test_a_field_the_crd_does_not_declare_is_refused_with_upstreams_words(api: Api) -> None:
    assert api.call("POST", CRDS, crd_with([{"jsonPath": ".spec.color"}])).status_code == 201
    r = api.call("GET", f"{WIDGETS}?fieldSelector=spec.size%3D1")
    assert r.status_code == 400
    assert r.json()["message"] == "field label not supported: spec.size"


def test_an_unset_selectable_field_is_the_empty_string(api: Api) -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["spec"]["properties"]["tier"] = {"type": "string"}
    assert api.call("POST", CRDS, crd_with([{"jsonPath": ".spec.tier"}], schema)).status_code == 201
    assert api.call("POST", WIDGETS, widget("plain")).status_code == 201
    assert api.call("POST", WIDGETS, widget("gold", tier="gold")).status_code == 201
    assert names(api, "fieldSelector=spec.tier%3D") == ["plain"]
    assert names(api, "fieldSelector=spec.tier%21%3D") == ["gold"]


def test_bad_selectable_fields_are_refused_with_upstreams_messages(api: Api) -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["metadata"] = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
    }
    fields = [
        {"jsonPath": ".spec.nope"},
        {"jsonPath": ".spec"},
        {"jsonPath": ".metadata.name"},
        {"jsonPath": ".spec['color']"},
        {"jsonPath": ".spec.color"},
        {"jsonPath": ".spec.color"},
        {"jsonPath": ""},
    ]
    r = api.call("POST", CRDS, crd_with(fields, schema))
    assert r.status_code == 422, r.text
    causes = [(c["field"], c["message"]) for c in r.json()["details"]["causes"]]
    at = "spec.versions[0].selectableFields"
    kinds = (
        "must point to a field of type string, boolean or integer. Enum string fields and "
        "strings with formats are allowed."
    )
    assert causes == [
        (f"{at}[0].jsonPath", 'Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field'),
        (f"{at}[1].jsonPath", f'Invalid value: ".spec": {kinds}'),
        (f"{at}[2].jsonPath", 'Invalid value: ".metadata.name": must not point to fields in metadata'),
        (f"{at}[3].jsonPath", 'Invalid value: ".spec[\'color\']": is an invalid path: array notation is not allowed'),
        (f"{at}[5].jsonPath", 'Duplicate value: ".spec.color"'),
        (f"{at}[6].jsonPath", "Required value"),
    ]  # fmt: skip
    assert api.call("GET", f"{CRDS}/widgets.example.com").status_code == 404


def test_at_most_eight_selectable_fields(api: Api) -> None:
    schema = copy.deepcopy(SCHEMA)
    props = schema["properties"]["spec"]["properties"]
    props.update({f"f{i}": {"type": "boolean"} for i in range(9)})
    r = api.call("POST", CRDS, crd_with([{"jsonPath": f".spec.f{i}"} for i in range(9)], schema))
    assert r.status_code == 422, r.text
    causes = [(c["field"], c["message"]) for c in r.json()["details"]["causes"]]
    assert causes == [
        ("spec.versions[0].selectableFields", "Too many: 9: must have at most 8 items")
    ]
