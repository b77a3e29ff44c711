"""Quantities written as JSON numbers (`cpu: 1` in YAML) are accepted, as Quantity.UnmarshalJSON does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.schema import TypeMismatch, check_fields


def _rt(kind: str) -> ResourceType:
    rt = REGISTRY.by_kind("v1", kind)
    assert rt is not None
    return rt


def _pod(resources: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "q"},
        "spec": {"containers": [{"name": "c", "image": "x", "resources": resources}], **spec},
    }


@pytest.mark.parametrize(
    ("number", "stored"),
    [(1, "1"), (0.5, "500m"), (1000.0, "1k"), (1e9, "1G"), (0, "0"), (2, "2")],
)
def test_a_number_becomes_the_canonical_string(number: float, stored: str) -> None:
    pod = _pod({"requests": {"cpu": number}, "limits": {"memory": number}})
    assert check_fields(_rt("Pod"), pod, prune=True) == []
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": stored}, "limits": {"memory": stored}}


def test_strings_are_left_alone_and_other_string_fields_still_refuse_numbers() -> None:
    pod = _pod({"requests": {"cpu": "1000m"}})
    check_fields(_rt("Pod"), pod, prune=True)
    assert pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1000m"
    with pytest.raises(
        TypeMismatch, match=r"Go struct field Container\.spec\.containers\.image of type string"
    ):
        bad = _pod({})
        bad["spec"]["containers"][0]["image"] = 1
        check_fields(_rt("Pod"), bad, prune=True)


def test_single_quantity_fields_and_other_kinds() -> None:
    pod = _pod({}, volumes=[{"name": "v", "emptyDir": {"sizeLimit": 1024}}], overhead={"cpu": 0.25})
    check_fields(_rt("Pod"), pod, prune=True)
    assert pod["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == "1024"
    assert pod["spec"]["overhead"] == {"cpu": "250m"}
    quota = {"metadata": {"name": "q"}, "spec": {"hard": {"pods": 10, "requests.cpu": 1.5}}}
    check_fields(_rt("ResourceQuota"), quota, prune=True)
    assert quota["spec"]["hard"] == {"pods": "10", "requests.cpu": "1500m"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def test_a_pod_with_numeric_requests_is_created(app: ApiApp) -> None:
    body = _pod({"requests": {"cpu": 1, "memory": 1e9}, "limits": {"cpu": 2}})
    created = call(app, "POST", "/api/v1/namespaces/default/pods", body)
    assert created.status_code == 201, created.text
    resources = created.json()["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "1G"}, "limits": {"cpu": "2"}}
