"""`/openapi/v2` as gnostic's `openapi.v2.Document`: the whole document, not a header.

Read back with the wire-format reader and gnostic's field numbers
(Document.definitions = 9, NamedSchema name/value = 1/2, Schema.description = 4,
Schema.properties = 25, Schema._ref = 1, Schema.vendor_extension = 31, Any.yaml = 2).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import yaml
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.api.protobuf import fields
from kubelite.apiserver import openapi
from kubelite.apiserver.openapi import openapi_v2, openapi_v2_protobuf


def message(buf: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for number, _, value in fields(buf):
        out[number].append(value)
    return out


def named(buf: bytes, number: int = 1) -> dict[str, bytes]:
    """A map message: its repeated Named* entries (name 1, value 2) by name."""
    out = {}
    for entry in message(buf)[number]:
        m = message(entry)
        out[m[1][0].decode()] = m[2][0]
    return out


def definitions() -> dict[str, bytes]:
    document = message(openapi_v2_protobuf())
    assert document[1] == [b"2.0"]
    return named(document[9][0])


def extensions(schema: dict[int, list[Any]], number: int = 31) -> dict[str, Any]:
    out = {}
    for entry in schema[number]:
        m = message(entry)
        out[m[1][0].decode()] = yaml.safe_load(message(m[2][0])[2][0])
    return out


def test_every_definition_of_the_json_form_is_in_the_protobuf_form() -> None:
    assert set(definitions()) == set(openapi_v2()["definitions"])
    assert len(definitions()) > 100


def test_a_kind_carries_its_description_properties_and_gvk() -> None:
    pod = message(definitions()["io.k8s.api.core.v1.Pod"])
    assert pod[4][0].decode().startswith("Pod is a collection of containers")
    assert message(pod[22][0])[1] == [b"object"]  # type: object
    props = named(pod[25][0])
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(props)
    assert extensions(pod)["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}
    ]


def test_a_field_of_another_type_is_a_ref() -> None:
    container = message(definitions()["io.k8s.api.core.v1.Container"])
    resources = message(named(container[25][0])["resources"])
    assert resources[1] == [b"#/definitions/io.k8s.api.core.v1.ResourceRequirements"]
    ports = message(named(container[25][0])["ports"])
    assert message(ports[22][0])[1] == [b"array"]
    item = message(message(ports[23][0])[1][0])
    assert item[1] == [b"#/definitions/io.k8s.api.core.v1.ContainerPort"]


def test_paths_carry_operations_with_their_gvk() -> None:
    paths = named(message(openapi_v2_protobuf())[8][0], number=2)
    item = message(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"])
    patch = message(item[8][0])
    assert patch[5] == [b"patchAppsV1NamespacedDeployment"]
    assert extensions(patch, 13)["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    # a query parameter: ParametersItem.parameter -> Parameter.non_body -> query sub-schema
    names, body = [], []
    for p in patch[8]:
        parameter = message(message(p)[1][0])
        if 1 in parameter:  # the body parameter
            body += message(parameter[1][0])[2]
            continue
        query = message(message(parameter[2][0]).get(3, [b""])[0])
        names += [n.decode() for n in query.get(4, [])]
    assert "fieldValidation" in names
    assert body == [b"body"]


def test_served_with_the_json_forms_etag_and_cached_per_version(tmp_path: Any) -> None:
    accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    with api_app(tmp_path) as app:
        r = call(app, "GET", "/openapi/v2", accept=accept)
        assert r.status_code == 200
        assert r.content == openapi_v2_protobuf()
        assert r.headers["etag"] == openapi.openapi_v2_etag()
        assert call(app, "GET", "/openapi/v2").headers["etag"] == r.headers["etag"]
        again = call(app, "GET", "/openapi/v2", accept=accept, if_none_match=r.headers["etag"])
        assert again.status_code == 304
    assert openapi_v2_protobuf() is openapi_v2_protobuf()  # built once per version
    assert orjson.loads(openapi.openapi_v2_bytes())["swagger"] == "2.0"
