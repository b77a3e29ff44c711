"""A field that refers to another type never carries that type's description.

`kubectl explain` prints the field's description and then the type's: a
field carrying the type's description printed the same text twice. The
client's models have no description for such fields, so they have none.
"""

from __future__ import annotations

from kubelite.apiserver.openapi import openapi_v2, openapi_v3_group_version
from kubelite.apiserver.openapi_schemas import REF

CONTAINER = "io.k8s.api.core.v1.Container"


def v3_schemas() -> dict[str, dict]:  # type: ignore[type-arg]
    doc = openapi_v3_group_version("api/v1")
    assert doc is not None
    return doc["components"]["schemas"]  # type: ignore[no-any-return]


def test_v3_fields_refer_to_their_type() -> None:
    resources = v3_schemas()[CONTAINER]["properties"]["resources"]
    assert resources["allOf"] == [{"$ref": REF + "io.k8s.api.core.v1.ResourceRequirements"}]
    assert "description" not in resources


def test_no_field_repeats_the_description_of_its_type() -> None:
    schemas = v3_schemas()
    repeated = [
        (name, field)
        for name, schema in schemas.items()
        for field, prop in (schema.get("properties") or {}).items()
        if "allOf" in prop
        and prop.get("description")
        == schemas[prop["allOf"][0]["$ref"].removeprefix(REF)].get("description")
    ]
    assert repeated == []


def test_v2_fields_are_a_plain_ref() -> None:
    props = openapi_v2()["definitions"][CONTAINER]["properties"]
    assert props["resources"] == {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceRequirements"}
    assert "allOf" not in str(openapi_v2()["definitions"]["io.k8s.api.core.v1.PodSpec"])
