"""Custom resources as upstream serves them: list-type invariants, metadata pruning,
deprecated versions' warnings and date columns (QA findings G, H, K and N)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.unit.apiserver.test_crd_api import CRDS, MERGE, TABLE, WIDGETS, Api, api, make_crd

from kubelite.api.crd.types import resource_types
from kubelite.apiserver import customresources
from kubelite.apiserver.request_context import collect_warnings
from kubelite.apiserver.tables_custom import printer_for

__all__ = ["api"]  # the fixture, used by name

Obj = dict[str, Any]
STRICT = "?fieldValidation=Strict"


def listy_crd() -> Obj:
    """Widgets with a map list keyed by `key` and a set of tags."""
    crd = make_crd()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["items"] = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["key"],
        "items": {
            "type": "object",
            "required": ["key"],
            "properties": {"key": {"type": "string"}, "val": {"type": "string"}},
        },
    }
    spec["properties"]["tags"] = {
        "type": "array",
        "x-kubernetes-list-type": "set",
        "items": {"type": "string"},
    }
    return crd


def body(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 1, **spec},
    }


# ---- G: set and map lists ------------------------------------------------------------


def test_a_map_list_with_a_repeated_key_is_refused(api: Api) -> None:
    assert api.call("POST", CRDS, listy_crd()).status_code == 201
    items = [{"key": "k", "val": "a"}, {"key": "k", "val": "b"}]
    answer = api.call("POST", WIDGETS, body("w4", items=items))
    assert answer.status_code == 422
    assert answer.json()["message"] == (
        'Widget.example.com "w4" is invalid: spec.items[1]: Duplicate value: '
        'map[string]interface {}{"key":"k"}'
    )


def test_only_the_first_repeat_of_a_set_item_is_reported(api: Api) -> None:
    api.call("POST", CRDS, listy_crd())
    answer = api.call("POST", WIDGETS, body("w5", tags=["x", "x", "x", "y", "y"]))
    causes = [(c["field"], c["message"]) for c in answer.json()["details"]["causes"]]
    # [1] repeats x, [2] repeats it again (not reported), [4] repeats y.
    assert causes == [
        ("spec.tags[1]", 'Duplicate value: "x"'),
        ("spec.tags[4]", 'Duplicate value: "y"'),
    ]


def test_an_update_is_checked_only_when_the_old_object_passed(api: Api) -> None:
    """Ratcheting: an object stored with duplicates (before its CRD said `map`) stays writable."""
    crd = make_crd()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["tags"] = {"type": "array", "items": {"type": "string"}}
    created = api.call("POST", CRDS, crd).json()
    api.call("POST", WIDGETS, body("old", tags=["x", "x"]))
    api.call("POST", WIDGETS, body("new", tags=["x"]))
    listy = copy.deepcopy(created)
    listy["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "tags"
    ]["x-kubernetes-list-type"] = "set"
    assert api.call("PUT", f"{CRDS}/widgets.example.com", listy).status_code == 200
    patch = {"spec": {"size": 2}}
    assert api.call("PATCH", f"{WIDGETS}/old", patch, content_type=MERGE).status_code == 200
    refused = api.call(
        "PATCH", f"{WIDGETS}/new", {"spec": {"tags": ["y", "y"]}}, content_type=MERGE
    )
    assert refused.status_code == 422
    assert refused.json()["details"]["causes"][0]["field"] == "spec.tags[1]"


# ---- K: unknown metadata fields -------------------------------------------------------


def test_unknown_metadata_fields_are_refused_under_strict(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    obj = body("uw6")
    obj["metadata"]["junkMeta"] = 1
    answer = api.call("POST", WIDGETS + STRICT, obj)
    assert answer.status_code == 400
    assert answer.json()["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "metadata.junkMeta"'
    )


def test_unknown_metadata_fields_are_dropped_otherwise(api: Api) -> None:
    api.call("POST", CRDS, make_crd())
    obj = body("uw7")
    obj["metadata"]["junkMeta"] = 1
    created = api.call("POST", WIDGETS, obj)
    assert created.status_code == 201
    assert "junkMeta" not in created.json()["metadata"]
    patched = api.call(
        "PATCH", f"{WIDGETS}/uw7", {"metadata": {"junk2": "x"}}, content_type=MERGE
    ).json()
    assert "junk2" not in patched["metadata"]
    assert "junk2" not in api.call("GET", f"{WIDGETS}/uw7").json()["metadata"]


# ---- N: date columns -----------------------------------------------------------------


def test_a_date_column_that_is_not_a_timestamp_reads_invalid(api: Api) -> None:
    crd = make_crd()
    version = crd["spec"]["versions"][0]
    version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["d"] = {
        "type": "string"
    }
    version["additionalPrinterColumns"] = [{"name": "When", "type": "date", "jsonPath": ".spec.d"}]
    api.call("POST", CRDS, crd)
    for name, value in (("bad", "garbage"), ("empty", ""), ("date-only", "2024-01-01")):
        api.call("POST", WIDGETS, body(name, d=value))
    rows = api.call("GET", WIDGETS, accept=TABLE).json()["rows"]
    assert {r["cells"][0]: r["cells"][1] for r in rows} == {
        "bad": "<invalid>",
        "date-only": "<invalid>",
        "empty": "<unknown>",
    }


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        pytest.param("2025-12-31T23:00:00Z", "60m", id="rfc3339"),
        pytest.param("2025-12-31T23:00:00.5+01:00", "120m", id="fraction-and-offset"),
        pytest.param("0001-01-01T00:00:00Z", "<unknown>", id="zero-time"),
        pytest.param("null", "<unknown>", id="null-text"),
        pytest.param("2025-12-31 23:00:00Z", "<invalid>", id="space"),
        pytest.param("yesterday", "<invalid>", id="words"),
    ],
)
def test_date_cells(value: str, cell: str) -> None:
    printer = printer_for(({"name": "When", "type": "date", "jsonPath": ".spec.d"},))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cells, _ = printer.row({"metadata": {"name": "t"}, "spec": {"d": value}}, now)
    assert cells == ["t", cell]


# ---- H: deprecated versions ------------------------------------------------------------


def _two_versions(**v1beta1: Any) -> Obj:
    crd = make_crd()
    v1 = crd["spec"]["versions"][0]
    crd["spec"]["versions"].append(
        {**copy.deepcopy(v1), "name": "v1beta1", "storage": False, "deprecated": True, **v1beta1}
    )
    crd["status"] = {
        "conditions": [{"type": "Established", "status": "True"}],
        "acceptedNames": {"plural": "widgets", "kind": "Widget"},
    }
    crd["metadata"]["uid"] = "u"
    return crd


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            {},
            "example.com/v1beta1 Widget is deprecated; use example.com/v1 Widget",
            id="default",
        ),
        pytest.param(
            {"deprecationWarning": "v1beta1 goes away in 2027"},
            "v1beta1 goes away in 2027",
            id="deprecationWarning",
        ),
    ],
)
def test_a_deprecated_version_warns(extra: Obj, expected: str) -> None:
    types = {rt.version: rt for rt in resource_types(_two_versions(**extra))}
    warnings = collect_warnings()
    customresources.warn_if_deprecated(types["v1"])
    assert warnings == []
    customresources.warn_if_deprecated(types["v1beta1"])
    assert warnings == [expected]


def test_every_request_to_a_deprecated_version_carries_its_warning(api: Api) -> None:
    crd = _two_versions(deprecationWarning="v1beta1 goes away in 2027")
    for field in ("status",):
        crd.pop(field)
    crd["metadata"].pop("uid")
    assert api.call("POST", CRDS, crd).status_code == 201
    old = WIDGETS.replace("/v1/", "/v1beta1/")
    assert api.call("GET", old).headers.get_list("warning") == ['299 - "v1beta1 goes away in 2027"']
    assert api.call("GET", WIDGETS).headers.get_list("warning") == []
