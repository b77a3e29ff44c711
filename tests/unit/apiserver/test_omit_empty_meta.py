"""Empty `omitempty` metadata fields are never stored nor served.

Upstream's round trip through ObjectMeta drops `labels: {}`, `annotations: {}`,
`finalizers: []`, `ownerReferences: []` and `managedFields: []`, so a client
never reads one back, and writing one onto an object without it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

Obj = dict[str, Any]
CMS = "/api/v1/namespaces/default/configmaps"
EMPTY = ("labels", "annotations", "finalizers", "ownerReferences")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def configmap(name: str, **md: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **md}}


def ok(resp: Any) -> Obj:
    assert resp.status_code in (200, 201), resp.text
    return dict(resp.json())


def test_create_drops_empty_metadata_fields(app: ApiApp) -> None:
    body = configmap("c", labels={}, annotations={}, finalizers=[], ownerReferences=[])
    created = ok(call(app, "POST", CMS, body))
    stored = ok(call(app, "GET", f"{CMS}/c"))
    for obj in (created, stored):
        assert not set(EMPTY) & set(obj["metadata"]), obj["metadata"]


def test_emptied_finalizers_and_labels_disappear(app: ApiApp) -> None:
    ok(call(app, "POST", CMS, configmap("fin2", labels={"a": "b"})))
    ok(call(app, "PATCH", f"{CMS}/fin2", {"metadata": {"finalizers": ["a.com/x"]}},
            content_type=MERGE_PATCH))  # fmt: skip
    patch = [
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "remove", "path": "/metadata/labels/a"},
    ]
    patched = ok(call(app, "PATCH", f"{CMS}/fin2", patch, content_type=JSON_PATCH))
    assert "finalizers" not in patched["metadata"]
    assert "labels" not in patched["metadata"]
    listed = ok(call(app, "GET", CMS))["items"]
    assert not {"finalizers", "labels"} & set(listed[0]["metadata"])


def test_writing_only_empty_fields_is_a_no_op(app: ApiApp) -> None:
    created = ok(call(app, "POST", CMS, configmap("same")))
    rv = created["metadata"]["resourceVersion"]
    patched = ok(call(app, "PATCH", f"{CMS}/same", {"metadata": {"labels": {}, "annotations": {}}},
                      content_type=MERGE_PATCH))  # fmt: skip
    assert patched["metadata"]["resourceVersion"] == rv
    assert not {"labels", "annotations"} & set(patched["metadata"])
    put = dict(created, metadata={**created["metadata"], "finalizers": [], "labels": {}})
    replaced = ok(call(app, "PUT", f"{CMS}/same", put))
    assert replaced["metadata"]["resourceVersion"] == rv


def test_a_deletion_with_emptied_finalizers_completes(app: ApiApp) -> None:
    ok(call(app, "POST", CMS, configmap("gone", finalizers=["a.com/x"])))
    assert call(app, "DELETE", f"{CMS}/gone").status_code == 200
    patch: Obj = {"metadata": {"finalizers": []}}
    assert call(app, "PATCH", f"{CMS}/gone", patch, content_type=MERGE_PATCH).status_code == 200
    assert call(app, "GET", f"{CMS}/gone").status_code == 404
